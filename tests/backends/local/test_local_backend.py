"""Local-specific behaviour: unique constraints, errors, size limit, index upkeep, streaming,
types through SQL, $lookup across tables, and the JSON fast path."""

from __future__ import annotations

import datetime as dt
import sqlite3
import tracemalloc
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pytest
from beanie import Indexed
from pydantic import BaseModel, ConfigDict, Field

from mindtrace.database import (
    DocumentNotFoundError,
    DocumentTooLargeError,
    DuplicateInsertError,
    Index,
    QueryError,
)
from mindtrace.database.backends.engine_backed import split_pipeline
from mindtrace.database.backends.local_odm_backend import MAX_DOCUMENT_BYTES, LocalODMBackend
from tests.backends.local.conftest import MakeBackend


class Account(BaseModel):
    id: str | None = None
    handle: Annotated[str, Indexed(unique=True)]
    email: Annotated[str | None, Index(unique=True)] = None
    team: str = "a"

    class Settings:
        name = "accounts"
        indexes = [Index("team", "-handle")]


def test_unique_violation_names_collection_field_and_value(make: MakeBackend) -> None:
    accounts = make(Account)
    accounts.insert_sync(Account(handle="ada", email="a@x"))
    with pytest.raises(DuplicateInsertError) as info:
        accounts.insert_sync(Account(handle="ada", email="b@x"))
    error = info.value
    assert (error.collection, error.field, error.value) == ("accounts", "handle", "ada")
    assert "accounts" in str(error) and "'ada'" in str(error) and "handle" in str(error)
    assert isinstance(error.__cause__, sqlite3.IntegrityError)


def test_duplicate_id_is_a_duplicate(make: MakeBackend) -> None:
    accounts = make(Account)
    first = accounts.insert_sync(Account(handle="a", email="a@x"))
    with pytest.raises(DuplicateInsertError) as info:
        accounts.insert_sync(Account(id=first.id, handle="b", email="b@x"))
    assert (info.value.field, info.value.value) == ("_id", first.id)


def test_missing_unique_field_counts_once_like_mongodb(make: MakeBackend) -> None:
    accounts = make(Account)
    accounts.insert_sync(Account(handle="a"))  # email None
    with pytest.raises(DuplicateInsertError) as info:
        accounts.insert_sync(Account(handle="b"))
    assert info.value.field == "email" and info.value.value is None
    assert "missing or null" in str(info.value)


def test_insert_many_is_ordered_and_reports_what_was_stored(make: MakeBackend) -> None:
    accounts = make(Account)
    batch = [Account(handle=f"h{i % 3}", email=f"{i}@x") for i in range(5)]
    with pytest.raises(DuplicateInsertError) as info:
        accounts.insert_many_sync(batch)
    error = info.value
    assert error.failed == [3, 4] and len(error.inserted_ids) == 3
    assert error.field == "handle" and error.value == "h0"
    assert sorted(a.id for a in accounts.all_sync()) == sorted(error.inserted_ids)


def test_update_into_a_duplicate_rolls_back_everything(make: MakeBackend) -> None:
    accounts = make(Account)
    accounts.insert_many_sync([Account(handle=f"h{i}", email=f"{i}@x", team="t") for i in range(5)])
    before = {a.id: a for a in accounts.all_sync()}
    with pytest.raises(DuplicateInsertError) as info:
        # h0 -> h0!, h1 -> h1!, ... then h3 gets "h4" while h4 still has it.
        accounts.update_many_sync(
            {"team": "t"}, [{"$set": {"handle": {"$cond": [{"$eq": ["$handle", "h3"]}, "h4", "$handle"]}}}]
        )
    assert info.value.field == "handle" and info.value.value == "h4"
    assert {a.id: a for a in accounts.all_sync()} == before
    a = next(iter(before.values()))
    with pytest.raises(DuplicateInsertError):
        accounts.update_sync(a.model_copy(update={"handle": "h4"}))
    assert accounts.get_sync(a.id) == a


def test_update_that_breaks_the_model_is_refused(make: MakeBackend) -> None:
    accounts = make(Account)
    a = accounts.insert_sync(Account(handle="x"))
    with pytest.raises(QueryError, match="invalid for Account"):
        accounts.update_many_sync({}, {"$unset": {"handle": ""}})
    with pytest.raises(QueryError, match="invalid for Account"):
        accounts.update_many_sync({}, {"$set": {"team": ["not", "a", "string"]}})
    assert accounts.get_sync(a.id) == a


def test_unset_field_stays_absent_in_storage(make: MakeBackend) -> None:
    accounts = make(Account)
    a = accounts.insert_sync(Account(handle="x", email="e"))
    accounts.update_many_sync({}, {"$unset": {"email": ""}})
    assert accounts.find_sync({}, projection={"_id": 0}) == [{"handle": "x", "team": "a"}]
    assert accounts.get_sync(a.id).email is None


def test_upsert_inserts_the_seeded_document(make: MakeBackend) -> None:
    accounts = make(Account)
    result = accounts.update_many_sync({"handle": "new"}, {"$set": {"team": "b"}}, upsert=True)
    assert (result.matched_count, result.modified_count) == (0, 0)
    assert result.upserted_id is not None
    got = accounts.get_sync(result.upserted_id)
    assert (got.handle, got.team) == ("new", "b")


def test_documents_over_16_mib_are_refused(make: MakeBackend) -> None:
    class Blob(BaseModel):
        data: str

    blobs = make(Blob)
    with pytest.raises(DocumentTooLargeError, match="16777216|limit"):
        blobs.insert_sync(Blob(data="x" * MAX_DOCUMENT_BYTES))
    with pytest.raises(DocumentTooLargeError):
        blobs.insert_many_sync([Blob(data="ok"), Blob(data="x" * MAX_DOCUMENT_BYTES)])
    assert blobs.count_sync() == 0


@pytest.mark.parametrize("bad", ["nope", "", "zz" * 12, "0" * 23, 123, None])
def test_malformed_or_missing_ids_are_not_found(make: MakeBackend, bad: Any) -> None:
    accounts = make(Account)
    with pytest.raises(DocumentNotFoundError):
        accounts.get_sync(bad)
    with pytest.raises(DocumentNotFoundError):
        accounts.delete_sync(bad)
    with pytest.raises(DocumentNotFoundError, match="accounts"):
        accounts.get_sync("0" * 24)


def test_declared_indexes_exist_and_are_used(make: MakeBackend) -> None:
    accounts = make(Account)
    names = {r[0] for r in accounts._db.raw_execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"accounts__handle_1", "accounts__email_1", "accounts__team_1_handle_-1"} <= names
    accounts.insert_many_sync([Account(handle=f"h{i}", email=f"{i}@x") for i in range(50)])
    assert any("USING INDEX accounts__handle_1" in line for line in accounts.explain({"handle": "h3"}))
    assert any(
        "USING INDEX accounts__email_1" in line
        for line in accounts.explain({"email": {"$in": ["1@x", "2@x"]}})
    )
    assert any("accounts__team_1_handle_-1" in line for line in accounts.explain({"team": "a"}))


def test_becoming_unique_rebuilds_the_index(db_path: Path) -> None:
    class V1(BaseModel):
        code: Annotated[str, Index()]

        class Settings:
            name = "codes"

    class V2(BaseModel):
        code: Annotated[str, Index(unique=True)]

        class Settings:
            name = "codes"

    with LocalODMBackend(V1, db_path) as v1:
        v1.insert_many_sync([V1(code="a"), V1(code="b")])
    with LocalODMBackend(V2, db_path) as v2, pytest.raises(DuplicateInsertError):
        v2.insert_sync(V2(code="a"))
    with LocalODMBackend(V1, db_path) as v1:
        v1.insert_sync(V1(code="a"))  # V1 declares a plain index again
    with pytest.raises(DuplicateInsertError, match="code"):
        LocalODMBackend(V2, db_path).initialize_sync()


class Everything(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str | None = None
    when: dt.datetime
    day: dt.date
    price: Decimal
    uid: uuid.UUID
    blob: bytes
    extra: dict[str, Any] = {}


def sample(i: int) -> Everything:
    tz = dt.timezone(dt.timedelta(hours=i - 2))
    return Everything(
        when=dt.datetime(2024, 1, 1, 12, tzinfo=tz) + dt.timedelta(hours=3 * i),  # 14:00Z + 2h * i
        day=dt.date(2024, 1, 1 + i),
        price=Decimal(f"{i}.50"),
        uid=uuid.UUID(int=i),
        blob=bytes([i, 0, 255]),
        extra={"n": 2**70 + i, "nan": float("nan"), "$weird": [dt.time(1, i)]},
    )


def test_types_round_trip_and_query_through_sql(make: MakeBackend) -> None:
    things = make(Everything)
    stored = things.insert_many_sync([sample(i) for i in range(5)])
    for s in stored:
        got = things.get_sync(s.id)
        assert got.when == s.when and got.when.utcoffset() == s.when.utcoffset()
        assert str(got.price) == str(s.price) and got.extra["n"] == s.extra["n"]
        assert got.extra["$weird"] == s.extra["$weird"]
    cut = stored[2].when
    assert [t.id for t in things.find_sync({"when": {"$gte": cut}})] == [s.id for s in stored[2:]]
    assert things.count_sync({"day": {"$lt": dt.datetime(2024, 1, 3)}}) == 2
    assert things.count_sync({"price": {"$gt": Decimal("2.5")}}) == 2
    assert things.count_sync({"price": 3.5}) == 1
    assert things.count_sync({"uid": uuid.UUID(int=4)}) == 1
    assert things.count_sync({"blob": bytes([1, 0, 255])}) == 1
    assert things.count_sync({"extra.n": {"$gt": 2**70 + 2}}) == 2
    assert [t.day.day for t in things.find_sync({}, sort="-when", limit=2)] == [5, 4]


def test_model_validate_json_fast_path_matches_the_exact_path(make: MakeBackend) -> None:
    class Plain(BaseModel):
        id: str | None = None
        name: str
        score: float
        tags: list[str]
        nested: dict[str, list[int]] = {}

    plains = make(Plain)
    stored = plains.insert_sync(Plain(name="x", score=1, tags=["a"], nested={"k": [1]}))
    text = plains._db.raw_execute("SELECT doc FROM Plain")[0][0]
    assert '"$' not in text  # no tags: Pydantic parses the stored JSON directly
    found = plains._get_doc_sync(stored.id)
    assert type(found) is tuple
    assert plains.get_sync(stored.id) == plains.codec.from_document(plains.codec.decode_stored(*found))
    assert type(plains.get_sync(stored.id).score) is float


def test_plain_models_still_tag_what_json_cannot_hold(make: MakeBackend) -> None:
    class Measure(BaseModel):
        id: str | None = None
        value: float
        count: int

    class Tagged(Measure):
        ref: uuid.UUID

    measures = make(Measure)
    odd = [Measure(value=float("nan"), count=1), Measure(value=float("-inf"), count=2**70)]
    for m in measures.insert_many_sync(odd):
        got = measures.get_sync(m.id)
        assert (got.value != got.value and m.value != m.value) or got.value == m.value
        assert got.count == m.count
    # A subclass instance may carry fields the model does not declare: encoded exactly too.
    stored = measures.insert_sync(Tagged(value=1.5, count=3, ref=uuid.UUID(int=9)))
    text = measures._db.raw_execute("SELECT doc FROM Measure WHERE id = ?", (stored.id,))[0][0]
    assert '"$uuid"' in text


def test_models_without_id_and_with_aliases(make: MakeBackend) -> None:
    class Note(BaseModel):
        text_value: str = Field(alias="text")

    notes = make(Note)
    stored = notes.insert_sync(Note(text="hi"))
    assert stored.id is not None and notes.get_sync(stored.id).text_value == "hi"
    assert notes.find_sync({"text": "hi"})[0].id == stored.id


class Order(BaseModel):
    id: str | None = None
    user: str
    total: int

    class Settings:
        name = "orders"


class User(BaseModel):
    id: str | None = None
    name: str

    class Settings:
        name = "users"


def test_lookup_reads_other_tables_lazily(make: MakeBackend) -> None:
    users, orders = make(User), make(Order)
    users.insert_many_sync([User(name="ada"), User(name="bob")])
    orders.insert_many_sync([Order(user="ada", total=3), Order(user="ada", total=4)])
    result = users.aggregate_sync(
        [
            {"$lookup": {"from": "orders", "localField": "name", "foreignField": "user", "as": "o"}},
            {"$project": {"_id": 0, "name": 1, "n": {"$size": "$o"}}},
        ]
    )
    assert result == [{"name": "ada", "n": 2}, {"name": "bob", "n": 0}]
    missing = users.aggregate_sync(
        [{"$lookup": {"from": "nope", "localField": "name", "foreignField": "x", "as": "o"}}]
    )
    assert all(doc["o"] == [] for doc in missing)
    # A table that is not a collection of this package (another app's) counts as empty too.
    users._db.read(lambda db: db.execute("CREATE TABLE other (x INTEGER)"))
    foreign = users.aggregate_sync(
        [{"$lookup": {"from": "other", "localField": "name", "foreignField": "x", "as": "o"}}]
    )
    assert all(doc["o"] == [] for doc in foreign)


def test_aggregate_pushes_match_sort_and_window(make: MakeBackend) -> None:
    orders = make(Order)
    orders.insert_many_sync([Order(user=f"u{i % 3}", total=i) for i in range(30)])
    query, rest = split_pipeline(
        [
            {"$match": {"user": "u1"}},
            {"$sort": {"total": -1}},
            {"$skip": 1},
            {"$limit": 2},
            {"$project": {"total": 1}},
        ]
    )
    assert (query.filter, query.sort, query.skip, query.limit) == ({"user": "u1"}, (("total", -1),), 1, 2)
    assert rest == [{"$project": {"total": 1}}]
    got = orders.aggregate_sync(
        [{"$match": {"user": "u1"}}, {"$sort": {"total": -1}}, {"$skip": 1}, {"$limit": 2}]
    )
    assert [d["total"] for d in got] == [25, 22]
    with pytest.raises(QueryError):
        orders.aggregate_sync([{"$match": {"user": "u1"}}, {"$limit": 0}])


def test_iterate_streams_with_bounded_memory(make: MakeBackend) -> None:
    class Row(BaseModel):
        payload: str

    rows = make(Row)
    n = 20_000
    payload = "p" * 500
    for _start in range(0, n, 5000):
        rows.insert_many_sync([Row(payload=payload) for _ in range(5000)])
    tracemalloc.start()
    try:
        seen = 0
        base = tracemalloc.get_traced_memory()[0]
        for row in rows.iterate_sync(batch_size=500):
            seen += len(row.payload) > 0
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert seen == n
    # All rows at once would need n * ~1 KB = ~20 MB; a batch of 500 needs well under 2 MB.
    assert peak < 4 * 1024 * 1024, peak


async def test_async_iterate_and_find_match_sync(make: MakeBackend) -> None:
    orders = make(Order)
    orders.insert_many_sync([Order(user=f"u{i % 4}", total=i) for i in range(2500)])
    got = [o.total async for o in orders.iterate({"user": "u2"}, batch_size=100)]
    assert got == [o.total for o in orders.iterate_sync({"user": "u2"}, batch_size=100)]
    assert [o.total for o in await orders.find({"total": {"$gte": 100}}, sort="-total", limit=3)] == [
        2499,
        2498,
        2497,
    ]
    assert len(await orders.find({})) == 2500
