"""Aggregation pipelines on every backend, including $lookup between two collections."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest

from mindtrace.database import QueryError
from tests.conformance.conftest import Database
from tests.conformance.models import PEOPLE, Order, User, people

ORDERS: list[dict[str, Any]] = [
    {"user_name": "Ada", "total": 30, "items": ["pen", "ink"]},
    {"user_name": "Ada", "total": 12, "items": ["pad"]},
    {"user_name": "Eve", "total": 50, "items": ["pen"]},
    {"user_name": "Nobody", "total": 5, "items": []},
]


async def test_match_group_sort(db: Database) -> None:
    users = await db.open(User)
    await users.insert_many(people())
    result = await users.aggregate(
        [
            {"$match": {"age": {"$gte": 20}}},
            {"$group": {"_id": "$age", "count": {"$sum": 1}, "names": {"$push": "$name"}}},
            {"$sort": {"count": -1, "_id": 1}},
        ]
    )
    by_age: dict[int, list[str]] = defaultdict(list)
    for p in PEOPLE:
        if p["age"] >= 20:
            by_age[p["age"]].append(p["name"])
    expected = sorted(by_age.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    assert [(r["_id"], r["count"], sorted(r["names"])) for r in result] == [
        (age, len(ns), sorted(ns)) for age, ns in expected
    ]


async def test_group_accumulators_and_project(db: Database) -> None:
    users = await db.open(User)
    await users.insert_many(people())
    [row] = await users.aggregate(
        [
            {
                "$group": {
                    "_id": None,
                    "total": {"$sum": "$age"},
                    "avg": {"$avg": "$age"},
                    "top": {"$max": "$age"},
                }
            },
            {"$project": {"_id": 0, "total": 1, "top": 1, "avg_rounded": {"$round": ["$avg", 2]}}},
        ]
    )
    ages = [p["age"] for p in PEOPLE]
    assert row == {"total": sum(ages), "top": max(ages), "avg_rounded": round(sum(ages) / len(ages), 2)}


async def test_unwind_and_count_per_tag(db: Database) -> None:
    users = await db.open(User)
    await users.insert_many(people())
    result = await users.aggregate(
        [
            {"$unwind": "$tags"},
            {"$group": {"_id": "$tags", "n": {"$sum": 1}}},
            {"$sort": {"n": -1, "_id": 1}},
        ]
    )
    counts = Counter(tag for p in PEOPLE for tag in p["tags"])
    assert [(r["_id"], r["n"]) for r in result] == sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


async def test_project_skip_limit_count(db: Database) -> None:
    users = await db.open(User)
    await users.insert_many(people())
    result = await users.aggregate(
        [
            {"$sort": {"age": 1, "name": 1}},
            {"$skip": 1},
            {"$limit": 3},
            {"$project": {"_id": 0, "name": 1, "city": "$address.city"}},
        ]
    )
    expected = sorted(PEOPLE, key=lambda p: (p["age"], p["name"]))[1:4]
    assert result == [
        {"name": p["name"], **({"city": p["address"]["city"]} if p.get("address") else {})} for p in expected
    ]
    assert await users.aggregate([{"$match": {"tags": "eng"}}, {"$count": "engineers"}]) == [
        {"engineers": sum("eng" in p["tags"] for p in PEOPLE)}
    ]
    assert await users.aggregate([{"$match": {"name": "Zed"}}]) == []


async def test_lookup_between_two_collections(db: Database) -> None:
    db.require("shared_database")
    users = await db.open(User)
    orders = await db.open(Order)
    await users.insert_many(people())
    await orders.insert_many([Order.model_validate(o) for o in ORDERS])
    join = {"from": "orders", "localField": "name", "foreignField": "user_name", "as": "orders"}
    result = await users.aggregate(
        [
            {"$lookup": join},
            {"$project": {"_id": 0, "name": 1, "orders": 1, "n": {"$size": "$orders"}}},
            {"$sort": {"name": 1}},
        ]
    )
    totals: dict[str, list[int]] = defaultdict(list)
    for o in ORDERS:
        totals[o["user_name"]].append(o["total"])
    assert [(r["name"], sorted(o["total"] for o in r["orders"]), r["n"]) for r in result] == [
        (p["name"], sorted(totals[p["name"]]), len(totals[p["name"]]))
        for p in sorted(PEOPLE, key=lambda p: p["name"])
    ]
    # And the other way round, from the second collection's backend.
    unmatched = await orders.aggregate(
        [
            {"$lookup": {"from": "users", "localField": "user_name", "foreignField": "name", "as": "who"}},
            {"$match": {"who": {"$size": 0}}},
            {"$project": {"_id": 0, "user_name": 1}},
        ]
    )
    known = {p["name"] for p in PEOPLE}
    assert unmatched == [{"user_name": o["user_name"]} for o in ORDERS if o["user_name"] not in known]


async def test_aggregate_results_are_plain_dicts_with_ids(db: Database) -> None:
    users = await db.open(User)
    stored = await users.insert_many(people())
    result = await users.aggregate([{"$match": {"name": "Ada"}}])
    assert len(result) == 1 and type(result[0]) is dict
    assert str(result[0]["_id"]) == stored[0].id
    assert result[0]["address"] == {"city": "London", "zip": "N1"}


INVALID_PIPELINES: list[Any] = [
    {"$match": {}},  # not a list
    [{"$bogus": {}}],
    [{"$match": {}, "$limit": 1}],  # two stages in one dict
    ["$match"],
    [{"$group": {"count": {"$sum": 1}}}],  # $group without _id
    [{"$group": {"_id": None, "n": {"$frobnicate": 1}}}],
    [{"$match": {"age": {"$bogus": 1}}}],
    [{"$limit": -1}],
    [{"$sort": {"age": 2}}],
    [{"$unwind": "tags"}],  # path without $
    [{"$project": {"name": 1, "age": 0}}],  # mixed inclusion and exclusion
    [{"$project": {"x": {"$unknownExpr": 1}}}],
    [{"$lookup": {"from": "orders"}}],  # missing fields
]


@pytest.mark.parametrize("pipeline", INVALID_PIPELINES, ids=repr)
async def test_invalid_pipeline_is_a_query_error(db: Database, pipeline: Any) -> None:
    users = await db.open(User)
    await users.insert_many(people())
    with pytest.raises(QueryError):
        await users.aggregate(pipeline)
