"""update_many on MongoDB: a verified compare-and-set per document (backends/mongo/updates.py).

The races are made deterministic: a command listener performs another client's write right
after ``update_many`` has read the documents and before it writes, so every test sees the lost
race happen, through the public API (sync and async).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from bson import ObjectId
from pydantic import BaseModel, model_validator
from pymongo import MongoClient, monitoring

from mindtrace.database import DocumentTooLargeError, DuplicateInsertError, MindtraceModel, QueryError
from mindtrace.database.backends.mongo.clients import MongoClients
from mindtrace.database.backends.mongo_odm_backend import MongoMindtraceODMBackend
from mindtrace.database.core.indexes import Index
from mindtrace.database.testing.mongo_server import MongoTestTarget


class Range(MindtraceModel):
    name: str
    low: int = 0
    high: int = 10
    hits: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        return self

    class Settings:
        name = "ranges"


class Floaty(BaseModel):
    name: str
    values: list[float] = []
    nested: dict[str, float] = {}
    n: int = 0

    class Settings:
        name = "floaty"


class Tagged(MindtraceModel):
    tag: str
    body: str = ""

    class Settings:
        name = "tagged"
        indexes = [Index("tag", unique=True)]


@dataclass
class Interposer(monitoring.CommandListener):
    """Runs ``action`` once, right after the first ``find`` on ``collection`` succeeded."""

    collection: str
    action: Callable[[], None] | None = None
    finds: int = 0
    commands: list[str] = field(default_factory=list)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name == "find":
            self.finds += 1
            action, self.action = self.action, None
            if action is not None:
                action()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@dataclass
class Race:
    backend: MongoMindtraceODMBackend[Any]
    other: Any  # another client's view of the same collection (pymongo Collection)
    listener: Interposer
    api: str

    async def update_many(self, *args: Any, **kwargs: Any) -> Any:
        if self.api == "async":
            return await self.backend.update_many(*args, **kwargs)
        return self.backend.update_many_sync(*args, **kwargs)


@pytest.fixture
def model_cls() -> type[BaseModel]:
    """The model of the race's backend; a test picks another with ``parametrize("model_cls", ...)``."""
    return Range


@pytest.fixture(params=["async", "sync"])
async def race(
    request: pytest.FixtureRequest, mongo_test_target: MongoTestTarget, model_cls: Any
) -> AsyncIterator[Race]:
    listener = Interposer(model_cls.Settings.name)
    db_name = mongo_test_target.new_database_name("updates")
    backend: MongoMindtraceODMBackend[Any] = MongoMindtraceODMBackend(
        model_cls, mongo_test_target.url, db_name, clients=MongoClients(event_listeners=[listener])
    )
    other: MongoClient[dict[str, Any]] = MongoClient(mongo_test_target.url)
    try:
        await backend.initialize()
        yield Race(backend, other[db_name][model_cls.Settings.name], listener, request.param)
    finally:
        await backend.close()
        other.drop_database(db_name)
        other.close()


async def test_a_concurrent_increment_is_not_lost(race: Race) -> None:
    stored = await race.backend.insert(Range(name="a"))
    race.listener.action = lambda: race.other.update_one({"name": "a"}, {"$inc": {"hits": 5}})
    result = await race.update_many({"name": "a"}, {"$inc": {"hits": 1}})
    assert race.listener.finds == 2  # the lost race made it read the document again
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert (await race.backend.get(stored.id)).hits == 6  # both increments


async def test_a_concurrent_change_that_makes_the_update_invalid_is_refused(race: Race) -> None:
    stored = await race.backend.insert(Range(name="a", low=4, high=10))
    # Valid on the version read (low 5 <= high 10), invalid once the other writer lowered high.
    race.listener.action = lambda: race.other.update_one({"name": "a"}, {"$set": {"high": 4}})
    with pytest.raises(QueryError, match="invalid for Range"):
        await race.update_many({"name": "a"}, {"$inc": {"low": 1}})
    got = await race.backend.get(stored.id)
    assert (got.low, got.high) == (4, 4)  # the other writer's version, still readable


async def test_a_document_deleted_meanwhile_is_not_brought_back(race: Race) -> None:
    a, _ = await race.backend.insert_many([Range(name="a"), Range(name="b")])
    race.listener.action = lambda: race.other.delete_one({"name": "a"})
    result = await race.update_many({}, {"$inc": {"hits": 1}})
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert [r.name for r in await race.backend.find({})] == ["b"]
    assert race.other.count_documents({"_id": ObjectId(a.id)}) == 0


async def test_a_document_that_no_longer_matches_is_left_alone(race: Race) -> None:
    stored = await race.backend.insert(Range(name="a"))
    race.listener.action = lambda: race.other.update_one({"name": "a"}, {"$set": {"name": "renamed"}})
    result = await race.update_many({"name": "a"}, {"$inc": {"hits": 1}})
    assert (result.matched_count, result.modified_count) == (0, 0)
    got = await race.backend.get(stored.id)
    assert (got.name, got.hits) == ("renamed", 0)


async def test_no_op_updates_write_nothing(race: Race) -> None:
    await race.backend.insert_many([Range(name="a", hits=1), Range(name="b", hits=2)])
    race.listener.commands.clear()
    result = await race.update_many({}, {"$set": {"hits": 1}})
    assert (result.matched_count, result.modified_count) == (2, 1)
    race.listener.commands.clear()
    result = await race.update_many({}, {"$max": {"hits": 0}})
    assert (result.matched_count, result.modified_count) == (2, 0)
    assert race.listener.commands == ["find"]  # nothing changed, nothing sent


@pytest.mark.parametrize("model_cls", [Floaty])
async def test_documents_holding_nan_are_updated(race: Race) -> None:
    # Some servers find documents holding NaN unequal to themselves; the compare-and-set then
    # compares such documents part by part.
    nan = float("nan")
    stored = await race.backend.insert(Floaty(name="f", values=[nan, 1.0], nested={"x": nan, "y": 2.0}))
    result = await race.update_many({"name": "f"}, {"$inc": {"n": 1}})
    assert race.listener.finds == 1  # the comparison held at the first try
    assert (result.matched_count, result.modified_count) == (1, 1)
    got = await race.backend.get(stored.id)
    assert got.n == 1 and math.isnan(got.values[0]) and math.isnan(got.nested["x"])
    # The part-by-part comparison still notices a concurrent change.
    race.listener.action = lambda: race.other.update_one({"name": "f"}, {"$set": {"nested.y": 3.0}})
    await race.update_many({"name": "f"}, {"$inc": {"n": 1}})
    got = await race.backend.get(stored.id)
    assert (got.n, got.nested["y"]) == (2, 3.0)


@pytest.mark.parametrize("model_cls", [Tagged])
async def test_a_duplicate_leaves_that_document_and_writes_the_others(race: Race) -> None:
    await race.backend.insert_many([Tagged(tag="a"), Tagged(tag="b"), Tagged(tag="c")])
    with pytest.raises(DuplicateInsertError) as caught:
        await race.update_many(
            {"tag": {"$in": ["a", "c"]}}, [{"$set": {"tag": {"$cond": [{"$eq": ["$tag", "a"]}, "b", "d"]}}}]
        )
    assert caught.value.field == "tag" and caught.value.value == "b"
    assert sorted(t.tag for t in await race.backend.find({})) == ["a", "b", "d"]


@pytest.mark.parametrize("model_cls", [Tagged])
async def test_a_document_too_large_to_compare_and_set(race: Race) -> None:
    stored = await race.backend.insert(Tagged(tag="big", body="x" * (9 * 1024 * 1024)))
    with pytest.raises(DocumentTooLargeError, match=r"update\(obj\)"):
        await race.update_many({"tag": "big"}, {"$set": {"tag": "bigger"}})
    assert (await race.backend.get(stored.id)).tag == "big"
    await race.backend.update(stored.model_copy(update={"tag": "bigger"}))
    assert (await race.backend.get(stored.id)).tag == "bigger"


async def test_upsert_ids(race: Race) -> None:
    given = ObjectId()
    result = await race.update_many(
        {"name": "x"}, {"$setOnInsert": {"_id": given}, "$set": {"hits": 1}}, upsert=True
    )
    assert result.upserted_id == str(given)
    assert (await race.backend.get(str(given))).hits == 1
    with pytest.raises(QueryError, match="ids are ObjectIds"):
        await race.update_many({"_id": 5}, {"$set": {"name": "y"}}, upsert=True)
    with pytest.raises(QueryError, match="invalid for Range"):
        await race.update_many({"name": "y"}, {"$set": {"low": 11}}, upsert=True)
    assert race.other.count_documents({}) == 1
