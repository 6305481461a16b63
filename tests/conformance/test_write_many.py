"""update_many, delete_many and iterate on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from mindtrace.database import QueryError, UpdateResult
from tests.conformance.conftest import Database
from tests.conformance.models import PEOPLE, User, names, people


async def test_update_many_set_and_counts(db: Database) -> None:
    users = await db.open(User)
    await users.insert_many(people())
    twenty_five = [p["name"] for p in PEOPLE if p["age"] == 25]
    result = await users.update_many({"age": 25}, {"$set": {"email": "hidden"}})
    assert isinstance(result, UpdateResult)
    assert (result.matched_count, result.modified_count) == (len(twenty_five), len(twenty_five))
    assert sorted(names(await users.find({"email": "hidden"}))) == sorted(twenty_five)
    # Setting the value a document already has matches it but does not modify it.
    again = await users.update_many({"age": 25}, {"$set": {"email": "hidden"}})
    assert (again.matched_count, again.modified_count) == (len(twenty_five), 0)
    none = await users.update_many({"name": "Zed"}, {"$set": {"age": 1}})
    assert (none.matched_count, none.modified_count, none.upserted_id) == (0, 0, None)


async def test_update_many_operators(db: Database) -> None:
    users = await db.open(User)
    stored = await users.insert_many(people())
    result = await users.update_many({"tags": "eng"}, {"$inc": {"age": 1}, "$push": {"tags": "senior"}})
    engineers = [p for p in PEOPLE if "eng" in p["tags"]]
    assert result.matched_count == result.modified_count == len(engineers)
    housed = await users.update_many(
        {"address.city": {"$exists": True}}, {"$set": {"address.city": "Remote"}}
    )
    assert housed.modified_count == sum(1 for p in PEOPLE if p.get("address"))
    for before in stored:
        after = await users.get(before.id)
        engineer = "eng" in before.tags
        assert after.age == before.age + engineer
        assert after.tags == ([*before.tags, "senior"] if engineer else before.tags)
        if before.address is None:
            assert after.address is None
        else:  # only the nested field changed
            assert after.address == before.address.model_copy(update={"city": "Remote"})
    await users.update_many({}, {"$pull": {"tags": "senior"}, "$unset": {"email": ""}, "$max": {"age": 30}})
    for before in stored:
        after = (await users.find({"_id": before.id}, projection={"_id": 0}))[0]
        assert "email" not in after
        assert after["age"] == max(30, before.age + (1 if "eng" in before.tags else 0))
        assert after["tags"] == before.tags


async def test_update_many_with_field_expressions_and_pipeline(db: Database) -> None:
    users = await db.open(User)
    await users.insert_many(people())
    result = await users.update_many(User.age < 30, [{"$set": {"email": {"$concat": ["$name", "@young"]}}}])
    young = [p["name"] for p in PEOPLE if p["age"] < 30]
    assert result.modified_count == len(young)
    found = await users.find({"email": {"$regex": "@young$"}})
    assert sorted((u.name, u.email) for u in found) == sorted((n, f"{n}@young") for n in young)


async def test_update_many_upsert_inserts_when_nothing_matches(db: Database) -> None:
    users = await db.open(User)
    result = await users.update_many({"name": "Zed"}, {"$set": {"age": 70}}, upsert=True)
    assert (result.matched_count, result.modified_count) == (0, 0)
    assert result.upserted_id is not None
    zed = await users.get(result.upserted_id)
    assert (zed.name, zed.age) == ("Zed", 70)


@pytest.mark.parametrize(
    "update",
    [
        {},
        {"age": 3},  # a replacement document, not operators
        {"$set": {"age": 1}, "name": "x"},
        {"$frobnicate": {"age": 1}},
        {"$inc": {"name": 1}},  # $inc on a string
        {"$set": {"age": 1}, "$inc": {"age": 1}},  # conflicting paths
        "age = 3",
    ],
    ids=repr,
)
async def test_invalid_update_is_a_query_error_and_changes_nothing(db: Database, update: Any) -> None:
    users = await db.open(User)
    stored = await users.insert_many(people())
    with pytest.raises(QueryError):
        await users.update_many({}, update)
    for before in stored:
        assert await users.get(before.id) == before


async def test_delete_many(db: Database) -> None:
    users = await db.open(User)
    await users.insert_many(people())
    assert await users.delete_many({"age": {"$gt": 100}}) == 0
    gone = [p["name"] for p in PEOPLE if p["age"] == 25 or "art" in p["tags"]]
    assert await users.delete_many({"$or": [{"age": 25}, {"tags": "art"}]}) == len(gone)
    assert sorted(names(await users.all())) == sorted(p["name"] for p in PEOPLE if p["name"] not in gone)
    assert await users.delete_many() == len(PEOPLE) - len(gone)
    assert await users.count() == 0


async def test_delete_many_with_invalid_filter_deletes_nothing(db: Database) -> None:
    users = await db.open(User)
    await users.insert_many(people())
    with pytest.raises(QueryError):
        await users.delete_many({"age": {"$bogus": 1}})
    assert await users.count() == len(PEOPLE)


@pytest.mark.parametrize("batch_size", [1, 2, 1000])
async def test_iterate_streams_every_match_in_order(db: Database, batch_size: int) -> None:
    users = await db.open(User)
    stored = await users.insert_many([User(name=f"u{i:02d}", age=i % 7) for i in range(23)])
    everything = await users.collect(batch_size=batch_size)
    assert sorted(u.id for u in everything) == sorted(u.id for u in stored)
    assert all(isinstance(u, User) for u in everything)
    ordered = await users.collect(
        {"age": {"$gte": 3}}, sort=[("age", -1), ("name", 1)], batch_size=batch_size
    )
    expected = sorted((u for u in stored if u.age >= 3), key=lambda u: (-u.age, u.name))
    assert ordered == expected
    assert await users.collect(User.age > 100, batch_size=batch_size) == []


async def test_iterate_can_stop_early(db: Database) -> None:
    users = await db.open(User)
    await users.insert_many([User(name=f"u{i:02d}", age=i) for i in range(10)])
    taken: list[str] = []
    if db.mode == "async":
        async for u in users.raw.iterate(sort="age", batch_size=3):
            taken.append(u.name)
            if len(taken) == 4:
                break
    else:
        for u in users.raw.iterate_sync(sort="age", batch_size=3):
            taken.append(u.name)
            if len(taken) == 4:
                break
    assert taken == ["u00", "u01", "u02", "u03"]
    # The abandoned cursor does not block further work on the same backend.
    assert await users.count() == 10
    await users.delete_many({"age": {"$lt": 5}})
    assert await users.count() == 5
