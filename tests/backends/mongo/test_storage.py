"""What the MongoDB backend stores: ordinary MongoDB data (ObjectId ids, BSON types); exact round trips."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, NotRequired

import pytest
from bson import Binary, Decimal128, ObjectId
from pydantic import AwareDatetime, BaseModel
from pymongo import MongoClient
from typing_extensions import TypedDict  # Pydantic refuses typing's before Python 3.12

from mindtrace.database import MindtraceModel
from tests.backends.mongo.conftest import Setup
from tests.backends.mongo.models import Color, Inner, MyDoc, Typed


def typed(**changes: Any) -> Typed:
    values: dict[str, Any] = {
        "when": dt.datetime(2024, 5, 6, 7, 8, 9, 123000),
        "day": dt.date(2024, 2, 29),
        "price": Decimal("12.340"),
        "ref": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "blob": b"\x00\x01bytes",
        "color": Color.BLUE,
        "inner": Inner(label="in", weight=Decimal("0.5")),
        "other": ObjectId("65a1b2c3d4e5f60718293a4b"),
        "tags": ["a", "b"],
    }
    values.update(changes)
    return Typed(**values)


@pytest.mark.parametrize("api", ["async", "sync"])
async def test_plain_pydantic_model_round_trips_every_type(mongo: Setup, api: str) -> None:
    store = mongo.backend(Typed)
    original = typed()
    if api == "async":
        inserted = await store.insert(original)
        fetched = await store.get(inserted.id)
    else:
        inserted = store.insert_sync(original)
        fetched = store.get_sync(inserted.id)
    assert original.id is None  # the caller's object is left alone
    assert fetched == inserted == original.model_copy(update={"id": inserted.id})
    assert type(fetched.price) is Decimal and type(fetched.day) is dt.date and type(fetched.ref) is uuid.UUID


async def test_stored_data_is_ordinary_mongodb_data(mongo: Setup) -> None:
    store = mongo.backend(Typed)
    inserted = await store.insert(typed())
    plain: MongoClient[dict[str, Any]] = MongoClient(mongo.url)  # PyMongo's default decoding
    try:
        raw = plain[mongo.db_name]["typed"].find_one()
    finally:
        plain.close()
    assert raw is not None
    assert raw["_id"] == ObjectId(inserted.id)
    assert raw["price"] == Decimal128("12.340")
    assert raw["inner"] == {"label": "in", "weight": Decimal128("0.5")}
    assert raw["ref"] == Binary(uuid.UUID("12345678-1234-5678-1234-567812345678").bytes, 4)
    assert raw["color"] == "blue"
    assert raw["day"] == dt.datetime(2024, 2, 29)  # BSON has no date type: midnight UTC
    assert raw["other"] == ObjectId("65a1b2c3d4e5f60718293a4b")
    assert "id" not in raw


class Stamped(BaseModel):
    id: str | None = None
    plain: dt.datetime
    declared: AwareDatetime
    maybe: AwareDatetime | None = None


async def test_datetimes_keep_their_instant_at_millisecond_precision(mongo: Setup) -> None:
    store = mongo.backend(Stamped)
    paris = dt.timezone(dt.timedelta(hours=2))
    naive = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)
    aware = dt.datetime(2024, 5, 6, 9, 8, 9, 123456, tzinfo=paris)
    saved = await store.insert(Stamped(plain=naive, declared=aware, maybe=aware))
    got = await store.get(saved.id)
    # A naive datetime round-trips naive, as on the other backends (BSON keeps milliseconds).
    assert got.plain == dt.datetime(2024, 5, 6, 7, 8, 9, 123000) and got.plain.tzinfo is None
    # Fields declared aware come back aware, in UTC: same instant, offset not kept.
    assert got.declared == dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC)
    assert got.declared.utcoffset() == dt.timedelta(0) and got.maybe == got.declared
    # An aware value in a plain datetime field comes back as the same instant, naive UTC.
    other = store.insert_sync(Stamped(plain=aware, declared=aware))
    assert store.get_sync(other.id).plain == dt.datetime(2024, 5, 6, 7, 8, 9, 123000)
    assert await store.find(
        {"plain": {"$gt": dt.datetime(2024, 5, 6, 7, 0, tzinfo=dt.UTC)}}, sort="plain"
    ) == [
        got,
        store.get_sync(other.id),
    ]


@dataclasses.dataclass
class Slot:
    start: AwareDatetime
    seen: dt.datetime | None = None


class Booking(TypedDict):
    at: NotRequired[AwareDatetime]
    seen: dt.datetime


class Calendar(BaseModel):
    id: str | None = None
    slots: list[Slot] = []
    bookings: dict[str, Booking] = {}


@pytest.mark.parametrize("api", ["async", "sync"])
async def test_aware_datetimes_in_dataclasses_and_typed_dicts_read_back(mongo: Setup, api: str) -> None:
    store = mongo.backend(Calendar)
    paris = dt.timezone(dt.timedelta(hours=2))
    aware = dt.datetime(2024, 5, 6, 9, 8, 9, 123456, tzinfo=paris)
    utc = dt.datetime(2024, 5, 6, 7, 8, 9, 123000)
    original = Calendar(slots=[Slot(start=aware, seen=aware)], bookings={"a": {"at": aware, "seen": aware}})
    if api == "async":
        saved = await store.insert(original)
        got = await store.get(saved.id)
    else:
        saved = store.insert_sync(original)
        got = store.get_sync(saved.id)
    # Declared aware: UTC attached on read, at any depth; a plain datetime comes back naive UTC.
    # What insert() returned is already what a read gives.
    for held in (saved, got):
        assert held.slots[0].start == utc.replace(tzinfo=dt.UTC) and held.slots[0].start.tzinfo is dt.UTC
        assert held.slots[0].seen == utc and held.slots[0].seen.tzinfo is None
        assert held.bookings["a"]["at"].tzinfo is dt.UTC and held.bookings["a"]["seen"] == utc
    assert got == saved


async def test_queries_on_converted_types(mongo: Setup) -> None:
    store = mongo.backend(Typed)
    cheap = await store.insert(typed(price=Decimal("1.5"), day=dt.date(2020, 1, 1), color=Color.RED))
    dear = await store.insert(typed(price=Decimal("99"), day=dt.date(2021, 1, 1)))
    assert await store.find({"price": {"$lt": Decimal("10")}}) == [cheap]
    assert await store.find({"day": dt.date(2021, 1, 1)}) == [dear]
    assert await store.find({"color": Color.RED}) == [cheap]
    assert await store.find({"ref": uuid.UUID("12345678-1234-5678-1234-567812345678")}, sort="price") == [
        cheap,
        dear,
    ]


async def test_string_ids_in_filters_and_leading_match_stages(mongo: Setup) -> None:
    docs = mongo.backend(MyDoc)
    a, b, c = await docs.insert_many([MyDoc(name=n, value=i) for i, n in enumerate("abc")])
    ids = [str(a.id), str(b.id), str(c.id)]
    assert await docs.find({"_id": ids[1]}) == [b]
    assert await docs.find({"_id": {"$in": [ids[0], ids[2]]}}, sort="value") == [a, c]
    assert await docs.find({"$or": [{"_id": ids[0]}, {"_id": {"$gt": ids[1]}}]}, sort="value") == [a, c]
    assert await docs.count({"_id": {"$ne": ids[0]}}) == 2
    assert await docs.find(MyDoc.id == a.id) == [a]
    out = await docs.aggregate([{"$match": {"_id": {"$in": ids[:2]}}}, {"$sort": {"value": -1}}])
    assert out == [{"_id": ids[1], "name": "b", "value": 1}, {"_id": ids[0], "name": "a", "value": 0}]
    # After a $group, _id is the group key: a 24-hex string there stays a string.
    grouped = await docs.aggregate(
        [{"$group": {"_id": ids[0], "n": {"$sum": 1}}}, {"$match": {"_id": ids[0]}}]
    )
    assert grouped == [{"_id": ids[0], "n": 3}]


class Note(BaseModel):
    text: str


class Person(MindtraceModel):
    name: str

    class Settings:
        name = "people"


async def test_models_without_id_field_and_mindtrace_models(mongo: Setup) -> None:
    notes = mongo.backend(Note)
    saved = await notes.insert(Note(text="hi"))
    assert isinstance(saved, Note) and saved.id is not None  # type: ignore[attr-defined]
    assert (await notes.get(saved.id)).text == "hi"  # type: ignore[attr-defined]
    people = mongo.backend(Person)
    bob = people.insert_sync(Person(name="bob"))
    assert await people.find(Person.name == "bob") == [bob]
    assert isinstance(bob.id, str)


async def test_update_many_and_upsert(mongo: Setup) -> None:
    docs = mongo.backend(MyDoc)
    await docs.insert_many([MyDoc(name="a", value=1), MyDoc(name="b", value=2)])
    result = await docs.update_many({"value": {"$gte": 1}}, {"$inc": {"value": 10}})
    assert (result.matched_count, result.modified_count, result.upserted_id) == (2, 2, None)
    upsert = docs.update_many_sync({"name": "z"}, {"$set": {"value": 5}}, upsert=True)
    assert upsert.matched_count == 0 and upsert.upserted_id is not None
    assert (await docs.get(upsert.upserted_id)).value == 5
    piped = await docs.update_many({"name": "a"}, [{"$set": {"value": {"$multiply": ["$value", 2]}}}])
    assert piped.modified_count == 1
    assert sorted(d.value for d in await docs.all()) == [5, 12, 22]


async def test_iterate_streams_in_batches(mongo: Setup) -> None:
    docs = mongo.backend(MyDoc)
    await docs.insert_many([MyDoc(name=str(i), value=i) for i in range(25)])
    mongo.log.clear()
    seen = [d.value async for d in docs.iterate({"value": {"$gte": 0}}, sort="value", batch_size=10)]
    assert seen == list(range(25))
    names = mongo.log.names(mongo.db_name)
    assert names.count("find") == 1 and names.count("getMore") == 2
    mongo.log.clear()
    assert [d.value for d in docs.iterate_sync(sort="-value", batch_size=7)] == list(range(24, -1, -1))
    assert mongo.log.names(mongo.db_name).count("getMore") == 3


async def test_bulk_operations_are_single_round_trips(mongo: Setup) -> None:
    docs = mongo.backend(MyDoc)
    await docs.initialize()
    mongo.log.clear()
    inserted = await docs.insert_many([MyDoc(name=str(i), value=i) for i in range(500)])
    assert mongo.log.names(mongo.db_name) == ["insert"]
    mongo.log.clear()
    # A verified read-modify-write: one read, then one bulk compare-and-set (backends.mongo.updates).
    await docs.update_many({}, {"$set": {"name": "x"}})
    assert mongo.log.names(mongo.db_name) == ["find", "update"]
    mongo.log.clear()
    await docs.delete(inserted[0].id)
    assert mongo.log.names(mongo.db_name) == ["delete"]
    mongo.log.clear()
    assert await docs.delete_many({"value": {"$lt": 100}}) == 99
    assert mongo.log.names(mongo.db_name) == ["delete"]


async def test_find_sort_skip_limit_projection(mongo: Setup) -> None:
    docs = mongo.backend(MyDoc)
    await docs.insert_many([MyDoc(name=n, value=i) for i, n in enumerate("abcde")])
    page = await docs.find(sort=[("value", -1)], skip=1, limit=2)
    assert [d.name for d in page] == ["d", "c"]
    projected = docs.find_sync({"value": {"$gt": 2}}, projection={"name": 1, "_id": 0}, sort="name")
    assert projected == [{"name": "d"}, {"name": "e"}]
    first = await docs.find_one(sort="-value")
    assert first is not None and first.name == "e"
    assert await docs.find_one({"name": "zz"}) is None
