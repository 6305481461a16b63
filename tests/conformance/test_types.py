"""Every value type round-trips exactly and can be queried, on every backend."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from bson import ObjectId

from tests.conformance.conftest import Api, Database
from tests.conformance.models import Color, Everything, Inner, Level

SKIP = {"id", "aware", "mapping"}  # id differs; the datetimes are compared as instants below
PARIS_SUMMER = dt.timezone(dt.timedelta(hours=2))


def sample(i: int) -> Everything:
    return Everything(
        aware=dt.datetime(2024, 6, 1 + i, 12, 30, 15, 123000, tzinfo=PARIS_SUMMER),
        naive=dt.datetime(2023, 1, 2, 3, 4, 5, 6000) + dt.timedelta(days=i),
        day=dt.date(2020, 2, 29) + dt.timedelta(days=i),
        price=Decimal("12.340") + i,
        uid=uuid.UUID(int=i + 1),
        blob=bytes([0, 255, i]) + b"\x00tail",
        ref=ObjectId(f"{i:024x}"),
        color=Color.GREEN if i % 2 else Color.RED,
        level=Level.HIGH if i % 2 else Level.LOW,
        inner=Inner(label=f"in{i}", values=[0.1, 2.5e-300, -0.0]),
        inners=[Inner(label="a"), Inner(label="b", values=[1.5])],
        mapping={"k": [1, {"deep": None}], "when": dt.datetime(2001, 1, 1, tzinfo=dt.UTC), "n": i},
        numbers=[1, 2.5, 2**40],
        maybe=None if i % 2 else "x",
        flag=bool(i % 2),
        big=2**62 + i,
    )


def same_instant(got: dt.datetime, want: dt.datetime) -> bool:
    """Equal instants; a naive ``got`` is read as UTC (backends without ``keeps_utc_offset``)."""
    return (got if got.tzinfo else got.replace(tzinfo=dt.UTC)) == want


def assert_same(got: Everything, want: Everything, keeps_offset: bool) -> None:
    assert got.model_dump(exclude=SKIP) == want.model_dump(exclude=SKIP)
    assert same_instant(got.aware, want.aware)
    if keeps_offset:
        assert got.aware.utcoffset() == want.aware.utcoffset()
    else:
        assert got.aware.utcoffset() in (None, dt.timedelta(0))
    assert got.mapping["k"] == want.mapping["k"] and got.mapping["n"] == want.mapping["n"]
    assert same_instant(got.mapping["when"], want.mapping["when"])
    # Types, not just equal values (1 == 1.0 == True, Decimal("1") == 1).
    assert type(got.price) is Decimal and str(got.price) == str(want.price)
    assert type(got.ref) is ObjectId and type(got.uid) is uuid.UUID and type(got.blob) is bytes
    assert type(got.day) is dt.date and type(got.naive) is dt.datetime and got.naive.tzinfo is None
    assert got.color is want.color and got.level is want.level
    assert [type(n) for n in got.numbers] == [int, float, int]
    assert type(got.big) is int and type(got.flag) is bool


async def stored_samples(db: Database, n: int = 4) -> tuple[Api, list[Everything]]:
    things = await db.open(Everything)
    return things, await things.insert_many([sample(i) for i in range(n)])


async def test_round_trip_through_get_find_and_all(db: Database) -> None:
    things, stored = await stored_samples(db)
    keeps = db.caps.keeps_utc_offset
    for i, s in enumerate(stored):
        # insert returns what the store gives back (docs/decisions.md, "Datetimes on every store")
        assert_same(s, sample(i), keeps)
        assert await things.get(s.id) == s
    by_id = {s.id: i for i, s in enumerate(stored)}
    for got in await things.find({}):
        assert_same(got, sample(by_id[got.id]), keeps)
    assert len(await things.all()) == len(stored)
    for got in await things.collect():
        assert_same(got, sample(by_id[got.id]), keeps)


async def test_round_trip_through_update(db: Database) -> None:
    things, stored = await stored_samples(db, 1)
    changed = sample(3).model_copy(update={"id": stored[0].id})
    await things.update(changed)
    assert_same(await things.get(stored[0].id), sample(3), db.caps.keeps_utc_offset)


async def count(things: Api, query: Any) -> int:
    result: int = await things.count(query)
    return result


async def test_query_by_typed_values(db: Database) -> None:
    things, _ = await stored_samples(db)
    n = 4
    # Aware datetimes compare as instants, whatever the offset they were given in.
    cut = dt.datetime(2024, 6, 3, 10, 30, 15, 123000, tzinfo=dt.UTC)  # == sample(2).aware
    assert await count(things, Everything.aware >= cut) == n - 2
    assert await count(things, Everything.aware == sample(1).aware) == 1
    assert await count(things, Everything.naive < dt.datetime(2023, 1, 3, 3, 4, 5, 6000)) == 1
    assert await count(things, Everything.price > Decimal("13.34")) == n - 2
    assert await count(things, Everything.price == Decimal("12.34")) == 1  # 12.340 == 12.34
    assert await count(things, Everything.uid == uuid.UUID(int=3)) == 1
    assert await count(things, Everything.uid.in_([uuid.UUID(int=1), uuid.UUID(int=4)])) == 2
    assert await count(things, Everything.blob == sample(2).blob) == 1
    assert await count(things, Everything.ref == ObjectId(f"{1:024x}")) == 1
    assert await count(things, Everything.ref > ObjectId(f"{1:024x}")) == n - 2
    assert await count(things, Everything.color == Color.GREEN) == n // 2
    assert await count(things, {"color": "green"}) == n // 2
    assert await count(things, Everything.level >= Level.HIGH) == n // 2
    assert await count(things, Everything.inner.label == "in3") == 1
    assert await count(things, Everything.inners.label == "b") == n
    assert await count(things, {"inners.values": 1.5}) == n
    assert await count(things, Everything.mapping.k == {"deep": None}) == n
    assert await count(things, Everything.maybe == None) == n // 2  # noqa: E711
    assert await count(things, Everything.flag == True) == n // 2  # noqa: E712
    assert await count(things, Everything.big > 2**62) == n - 1
    assert await count(things, Everything.numbers == 2**40) == n
    # 1 == 1.0 across int and float, as in MongoDB.
    assert await count(things, Everything.numbers == 1.0) == n
    assert await count(things, Everything.day >= dt.date(2020, 3, 2)) == n - 2
