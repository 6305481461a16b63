"""No store ever keeps a document its model rejects: update_many results are validated first.

An update whose result the model would refuse — a value outside an Enum through ``$set``, the
``$unset`` of a required field, an upsert that inserts a document missing required fields —
raises ``QueryError`` ("the update would leave document ... invalid for Model ...; fix the
update") before anything is written, on every store; the collection stays readable. MongoDB
included: it applies the update in the package's engine and writes each document with a
compare-and-set (docs/decisions.md, "update_many on MongoDB").
"""

from __future__ import annotations

import enum
from typing import Any

import pytest
from pydantic import model_validator

from mindtrace.database import MindtraceModel, QueryError
from tests.conformance.conftest import Api, Database


class Status(enum.Enum):
    OPEN = "open"
    DONE = "done"


class Task(MindtraceModel):
    title: str
    status: Status = Status.OPEN
    priority: int = 0
    low: int = 0
    high: int = 10

    @model_validator(mode="after")
    def _ordered(self) -> Task:
        # A rule no server-side schema would express: only the model can check it.
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self

    class Settings:
        name = "fidelity_tasks"


REFUSAL = (
    r"the update would leave document .* of collection 'fidelity_tasks' invalid for Task: .*; fix the update"
)


async def state(tasks: Api) -> list[dict[str, Any]]:
    """Every stored task, read through find, iterate and count (all must work)."""
    found = sorted((t.model_dump() for t in await tasks.find({})), key=lambda d: str(d["id"]))
    streamed = sorted((t.model_dump() for t in await tasks.collect()), key=lambda d: str(d["id"]))
    assert found == streamed
    assert await tasks.count() == len(found)
    return found


async def seeded(db: Database) -> tuple[Api, list[Task]]:
    tasks = await db.open(Task)
    stored = await tasks.insert_many([Task(title=f"t{i}", priority=i) for i in range(3)])
    return tasks, stored


async def test_set_outside_an_enum_is_refused(db: Database) -> None:
    tasks, stored = await seeded(db)
    before = await state(tasks)
    with pytest.raises(QueryError, match=REFUSAL):
        await tasks.update_many({"_id": stored[1].id}, {"$set": {"status": "bogus"}})
    assert await state(tasks) == before
    # A value the Enum has is fine, and reads back as the member.
    result = await tasks.update_many({"_id": stored[1].id}, {"$set": {"status": "done"}})
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert (await tasks.get(stored[1].id)).status is Status.DONE


async def test_unset_of_a_required_field_is_refused(db: Database) -> None:
    tasks, _ = await seeded(db)
    before = await state(tasks)
    with pytest.raises(QueryError, match=REFUSAL):
        await tasks.update_many({}, {"$unset": {"title": ""}})
    with pytest.raises(QueryError, match=REFUSAL):
        await tasks.update_many({"title": "t0"}, [{"$unset": "title"}])
    assert await state(tasks) == before
    # Unsetting a field with a default is valid: the model reads the default back.
    await tasks.update_many({"title": "t0"}, {"$unset": {"priority": ""}})
    assert (await tasks.find_one({"title": "t0"})).priority == 0


async def test_upsert_missing_required_fields_is_refused(db: Database) -> None:
    tasks, _ = await seeded(db)
    before = await state(tasks)
    with pytest.raises(QueryError, match=REFUSAL):
        await tasks.update_many({"priority": 99}, {"$set": {"status": "done"}}, upsert=True)
    assert await state(tasks) == before
    # With the required field in the filter (or the update), the upsert inserts.
    result = await tasks.update_many({"title": "new"}, {"$set": {"priority": 99}}, upsert=True)
    assert result.matched_count == 0 and result.upserted_id is not None
    assert (await tasks.get(result.upserted_id)).model_dump(exclude={"id"}) == Task(
        title="new", priority=99
    ).model_dump(exclude={"id"})


async def test_a_rule_across_fields_is_checked(db: Database) -> None:
    tasks, _ = await seeded(db)
    before = await state(tasks)
    with pytest.raises(QueryError, match=REFUSAL):
        await tasks.update_many({}, {"$inc": {"low": 11}})
    assert await state(tasks) == before


async def test_one_refused_document_means_nothing_is_written(db: Database) -> None:
    tasks = await db.open(Task)
    await tasks.insert_many([Task(title=str(i), priority=i) for i in range(20)])
    before = await state(tasks)
    # Every document would get a valid priority except the last one, which would get a string.
    update = [{"$set": {"priority": {"$cond": [{"$eq": ["$title", "19"]}, "nineteen", 0]}}}]
    with pytest.raises(QueryError, match=REFUSAL):
        await tasks.update_many({}, update)
    assert await state(tasks) == before
