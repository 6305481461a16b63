"""find, find_one, count, sort, pagination, projections and typed field expressions on every backend.

Expected results are computed from the PEOPLE data set with plain Python predicates, so each
case states the MongoDB semantics it checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from bson import ObjectId

from mindtrace.database import QueryError, fields
from tests.conformance.conftest import Api, Database
from tests.conformance.models import PEOPLE, NameOnly, PlainUser, User, UserName, names, people


def where(predicate: Callable[[dict[str, Any]], bool]) -> list[str]:
    """Names of the PEOPLE matching ``predicate``, sorted (find order is unspecified without sort)."""
    return sorted(p["name"] for p in PEOPLE if predicate(p))


def city(p: dict[str, Any]) -> str | None:
    address = p.get("address")
    return address["city"] if address else None


def zip_code(p: dict[str, Any]) -> str:
    """The zip code, or "" (which no zip code in PEOPLE is, and which sorts before them all)."""
    address = p.get("address")
    return address["zip"] if address else ""


async def seeded(db: Database, model: type[Any] = User) -> Api:
    backend = await db.open(model)
    await backend.insert_many(people(model))
    return backend


FILTERS: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ("empty", {}, lambda p: True),
    ("equality", {"name": "Eve"}, lambda p: p["name"] == "Eve"),
    ("no match", {"name": "Zed"}, lambda p: False),
    ("$eq", {"age": {"$eq": 25}}, lambda p: p["age"] == 25),
    ("$ne", {"age": {"$ne": 25}}, lambda p: p["age"] != 25),
    ("range", {"age": {"$gte": 25, "$lt": 41}}, lambda p: 25 <= p["age"] < 41),
    ("$in", {"name": {"$in": ["Ada", "Chen", "Zed"]}}, lambda p: p["name"] in ("Ada", "Chen")),
    ("$nin", {"age": {"$nin": [25, 36]}}, lambda p: p["age"] not in (25, 36)),
    ("implicit and", {"age": 25, "name": "Eve"}, lambda p: p["age"] == 25 and p["name"] == "Eve"),
    (
        "$and",
        {"$and": [{"age": {"$gt": 20}}, {"tags": "eng"}]},
        lambda p: p["age"] > 20 and "eng" in p["tags"],
    ),
    (
        "$or",
        {"$or": [{"age": {"$lt": 20}}, {"age": {"$gt": 50}}]},
        lambda p: p["age"] < 20 or p["age"] > 50,
    ),
    (
        "$nor",
        {"$nor": [{"age": 25}, {"tags": "eng"}]},
        lambda p: p["age"] != 25 and "eng" not in p["tags"],
    ),
    ("$not", {"age": {"$not": {"$gt": 30}}}, lambda p: not p["age"] > 30),
    (
        "$or inside $and",
        {"$and": [{"$or": [{"name": "Ada"}, {"name": "Eve"}]}, {"age": {"$gte": 30}}]},
        lambda p: p["name"] in ("Ada", "Eve") and p["age"] >= 30,
    ),
    ("nested path", {"address.city": "Paris"}, lambda p: city(p) == "Paris"),
    ("nested $in", {"address.city": {"$in": ["Paris", "Berlin"]}}, lambda p: city(p) in ("Paris", "Berlin")),
    ("nested alias", {"address.zip": "75001"}, lambda p: zip_code(p) == "75001"),
    ("$exists false", {"address.city": {"$exists": False}}, lambda p: city(p) is None),
    ("$exists true", {"address.city": {"$exists": True}}, lambda p: city(p) is not None),
    ("null matches null", {"address": None}, lambda p: p.get("address") is None),
    ("null matches missing", {"address.city": None}, lambda p: city(p) is None),
    ("array contains", {"tags": "math"}, lambda p: "math" in p["tags"]),
    ("array $in", {"tags": {"$in": ["art", "ops"]}}, lambda p: bool({"art", "ops"} & set(p["tags"]))),
    ("array $all", {"tags": {"$all": ["math", "eng"]}}, lambda p: {"math", "eng"} <= set(p["tags"])),
    ("array $size", {"tags": {"$size": 0}}, lambda p: p["tags"] == []),
    ("array exact", {"tags": ["eng"]}, lambda p: p["tags"] == ["eng"]),
    ("array element range", {"scores": {"$gt": 80}}, lambda p: any(s > 80 for s in p["scores"])),
    (
        "$elemMatch",
        {"scores": {"$elemMatch": {"$gte": 60, "$lt": 70}}},
        lambda p: any(60 <= s < 70 for s in p["scores"]),
    ),
    ("array index", {"scores.0": {"$gte": 90}}, lambda p: bool(p["scores"]) and p["scores"][0] >= 90),
    ("$regex", {"email": {"$regex": "^[a-c]"}}, lambda p: p["email"][0] in "abc"),
    ("$regex options", {"name": {"$regex": "^E", "$options": "i"}}, lambda p: p["name"].lower()[0] == "e"),
    ("$mod", {"age": {"$mod": [5, 0]}}, lambda p: p["age"] % 5 == 0),
    ("$type", {"age": {"$type": "int"}}, lambda p: True),
    (
        "$expr",
        {"$expr": {"$gt": [{"$size": "$scores"}, 1]}},
        lambda p: len(p["scores"]) > 1,
    ),
]


@pytest.mark.parametrize(
    ("query", "predicate"), [(f, p) for _, f, p in FILTERS], ids=[n for n, _, _ in FILTERS]
)
async def test_find_filters(db: Database, query: dict[str, Any], predicate: Callable[..., bool]) -> None:
    users = await seeded(db)
    found = await users.find(query)
    assert all(isinstance(u, User) for u in found)
    assert sorted(names(found)) == where(predicate)
    assert await users.count(query) == len(found)


async def test_several_filters_are_anded(db: Database) -> None:
    users = await seeded(db)
    found = await users.find({"age": {"$gte": 25}}, {"tags": "eng"}, None)
    assert sorted(names(found)) == where(lambda p: p["age"] >= 25 and "eng" in p["tags"])


async def test_find_results_round_trip_to_stored_documents(db: Database) -> None:
    users = await db.open(User)
    stored = await users.insert_many(people())
    by_id = {u.id: u for u in stored}
    for found in await users.find({}):
        assert found == by_id[found.id]


# ----------------------------------------------------------------------------- typed field expressions

EXPRESSIONS: list[tuple[str, Callable[[Any], Any], Callable[[dict[str, Any]], bool]]] = [
    ("==", lambda f: f.name == "Ada", lambda p: p["name"] == "Ada"),
    ("!=", lambda f: f.age != 25, lambda p: p["age"] != 25),
    (">=", lambda f: f.age >= 36, lambda p: p["age"] >= 36),
    ("<", lambda f: f.age < 25, lambda p: p["age"] < 25),
    ("<= & >", lambda f: (f.age <= 41) & (f.age > 19), lambda p: 19 < p["age"] <= 41),
    ("|", lambda f: (f.name == "Ada") | (f.age < 20), lambda p: p["name"] == "Ada" or p["age"] < 20),
    ("~", lambda f: ~(f.age == 25), lambda p: p["age"] != 25),
    ("nested", lambda f: f.address.city == "Paris", lambda p: city(p) == "Paris"),
    ("nested alias", lambda f: f.address.zip_code >= "75001", lambda p: zip_code(p) >= "75001"),
    ("in_", lambda f: f.tags.in_(["art", "ops"]), lambda p: bool({"art", "ops"} & set(p["tags"]))),
    ("nin", lambda f: f.name.nin(["Ada", "Eve"]), lambda p: p["name"] not in ("Ada", "Eve")),
    ("exists", lambda f: f.address.city.exists(), lambda p: city(p) is not None),
    ("exists(False)", lambda f: f.address.city.exists(False), lambda p: city(p) is None),
    ("array element", lambda f: f.scores > 80, lambda p: any(s > 80 for s in p["scores"])),
    ("index path", lambda f: f.scores[0] >= 90, lambda p: bool(p["scores"]) and p["scores"][0] >= 90),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "predicate"), [(b, p) for _, b, p in EXPRESSIONS], ids=[n for n, _, _ in EXPRESSIONS]
)
@pytest.mark.parametrize("spelling", ["MindtraceModel", "fields(MindtraceModel)", "fields(plain model)"])
async def test_field_expressions(
    db: Database, build: Callable[[Any], Any], predicate: Callable[..., bool], spelling: str
) -> None:
    model: type[Any] = PlainUser if spelling == "fields(plain model)" else User
    backend = await seeded(db, model)
    source = User if spelling == "MindtraceModel" else fields(model)
    found = await backend.find(build(source))
    assert sorted(names(found)) == where(predicate)
    assert await backend.count(build(source)) == len(found)


async def test_field_expressions_everywhere_a_filter_goes(db: Database) -> None:
    users = await seeded(db)
    adults = User.age >= 30
    assert sorted(names(await users.find(adults, User.tags == "eng"))) == where(
        lambda p: p["age"] >= 30 and "eng" in p["tags"]
    )
    first = await users.find_one(adults, sort=-User.age)
    assert first.name == max(PEOPLE, key=lambda p: p["age"])["name"]
    result = await users.update_many(User.name == "Ada", {"$set": {"age": 99}})
    assert result.matched_count == 1
    grouped = await users.aggregate([{"$match": User.age >= 30}, {"$count": "n"}])
    assert grouped == [{"n": len(where(lambda p: p["age"] >= 30 or p["name"] == "Ada"))}]
    assert await users.delete_many(User.age == 99) == 1
    by_id = await users.find(User.id == (await users.find_one({"name": "Eve"})).id)
    assert names(by_id) == ["Eve"]


async def test_id_filter(db: Database) -> None:
    users = await db.open(User)
    stored = await users.insert_many(people())
    target = stored[2]
    assert names(await users.find({"_id": target.id})) == [target.name]
    others = await users.find({"_id": {"$ne": target.id}})
    assert len(others) == len(PEOPLE) - 1


async def test_id_filter_with_object_ids(db: Database) -> None:
    """Filters written the MongoDB way, with ObjectId values, find the same documents as strings."""
    users = await db.open(User)
    stored = await users.insert_many(people())
    first, second = stored[0], stored[3]
    assert names(await users.find({"_id": ObjectId(first.id)})) == [first.name]
    wanted = {"_id": {"$in": [ObjectId(first.id), ObjectId(second.id)]}}
    assert names(await users.find(wanted)) == sorted([first.name, second.name])
    either = {"$or": [{"_id": ObjectId(first.id)}, {"_id": {"$eq": ObjectId(second.id)}}]}
    assert await users.count(either) == 2
    pipeline = [{"$match": {"_id": ObjectId(second.id)}}, {"$project": {"name": 1, "_id": 0}}]
    matched = await users.aggregate(pipeline)
    assert matched == [{"name": second.name}]
    assert await users.delete_many({"_id": {"$nin": [ObjectId(first.id)]}}) == len(PEOPLE) - 1
    assert names(await users.all()) == [first.name]


# ----------------------------------------------------------------------------- sort

BY_AGE_THEN_NAME = [p["name"] for p in sorted(PEOPLE, key=lambda p: (p["age"], p["name"]))]
BY_AGE_DESC_THEN_NAME = [p["name"] for p in sorted(PEOPLE, key=lambda p: (-p["age"], p["name"]))]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ([("age", 1), ("name", 1)], BY_AGE_THEN_NAME),
        (["+age", "name"], BY_AGE_THEN_NAME),
        (["age", "+name"], BY_AGE_THEN_NAME),
        ({"age": 1, "name": 1}, BY_AGE_THEN_NAME),
        (["-age", "name"], BY_AGE_DESC_THEN_NAME),
        ([("age", -1), ("name", 1)], BY_AGE_DESC_THEN_NAME),
        ({"age": -1, "name": 1}, BY_AGE_DESC_THEN_NAME),
        ([-User.age, +User.name], BY_AGE_DESC_THEN_NAME),
        ("-name", sorted((p["name"] for p in PEOPLE), reverse=True)),
        ("name", sorted(p["name"] for p in PEOPLE)),
        (("name", -1), sorted((p["name"] for p in PEOPLE), reverse=True)),
        (-User.name, sorted((p["name"] for p in PEOPLE), reverse=True)),
    ],
    ids=repr,
)
async def test_sort_spellings(db: Database, sort: Any, expected: list[str]) -> None:
    users = await seeded(db)
    assert names(await users.find({}, sort=sort)) == expected


async def test_sort_by_nested_field_puts_missing_first(db: Database) -> None:
    users = await seeded(db)
    found = await users.find({}, sort=[("address.city", 1), ("name", 1)])
    expected = [
        p["name"] for p in sorted(PEOPLE, key=lambda p: (city(p) is not None, city(p) or "", p["name"]))
    ]
    assert names(found) == expected


async def test_sort_by_array_uses_smallest_element_ascending(db: Database) -> None:
    users = await seeded(db)
    with_scores = {"scores": {"$ne": []}}
    found = await users.find(with_scores, sort=[("scores", 1), ("name", 1)])
    expected = sorted((p for p in PEOPLE if p["scores"]), key=lambda p: (min(p["scores"]), p["name"]))
    assert names(found) == [p["name"] for p in expected]
    found = await users.find(with_scores, sort=[("scores", -1), ("name", 1)])
    expected = sorted((p for p in PEOPLE if p["scores"]), key=lambda p: (-max(p["scores"]), p["name"]))
    assert names(found) == [p["name"] for p in expected]


@pytest.mark.parametrize("sort", [("age", 2), "", "-", [("age", "up")], 42, [("age",)]], ids=repr)
async def test_invalid_sort_is_a_query_error(db: Database, sort: Any) -> None:
    users = await seeded(db)
    with pytest.raises(QueryError):
        await users.find({}, sort=sort)


# ----------------------------------------------------------------------------- pagination


async def test_skip_and_limit_page_through_a_sorted_result(db: Database) -> None:
    users = await seeded(db)
    pages = [names(await users.find({}, sort=["age", "name"], skip=s, limit=2)) for s in range(0, 8, 2)]
    assert pages == [BY_AGE_THEN_NAME[s : s + 2] for s in range(0, 8, 2)]
    assert names(await users.find({}, sort=["age", "name"], skip=len(PEOPLE))) == []
    assert names(await users.find({}, sort=["age", "name"], limit=0)) == BY_AGE_THEN_NAME  # 0: no limit
    assert names(await users.find({}, sort=["age", "name"], skip=1)) == BY_AGE_THEN_NAME[1:]
    filtered = await users.find({"age": {"$gte": 25}}, sort="age", skip=1, limit=2)
    assert len(filtered) == 2 and all(u.age >= 25 for u in filtered)


@pytest.mark.parametrize(("skip", "limit"), [(-1, None), (0, -1), ("1", None), (0, 1.5)])
async def test_invalid_window_is_a_query_error(db: Database, skip: Any, limit: Any) -> None:
    users = await seeded(db)
    with pytest.raises(QueryError):
        await users.find({}, skip=skip, limit=limit)


# ----------------------------------------------------------------------------- projections


async def test_projection_dict_returns_dicts(db: Database) -> None:
    users = await db.open(User)
    stored = await users.insert_many(people())
    found = await users.find({"name": "Ada"}, projection={"name": 1, "address.city": 1})
    assert found == [{"_id": found[0]["_id"], "name": "Ada", "address": {"city": "London"}}]
    assert str(found[0]["_id"]) == stored[0].id
    found = await users.find({"name": "Ada"}, projection={"name": 1, "_id": 0})
    assert found == [{"name": "Ada"}]
    excluded = await users.find({"name": "Ada"}, projection={"scores": 0, "tags": 0, "address": 0, "_id": 0})
    assert excluded == [{"name": "Ada", "age": 36, "email": "ada@x.io"}]


async def test_projection_with_sort_and_window(db: Database) -> None:
    users = await seeded(db)
    found = await users.find({}, sort="-age", limit=2, projection={"age": 1, "_id": 0})
    assert found == [{"age": a} for a in sorted((p["age"] for p in PEOPLE), reverse=True)[:2]]


async def test_projection_model_returns_instances_of_it(db: Database) -> None:
    users = await db.open(User)
    stored = await users.insert_many(people())
    found = await users.find({}, sort="name", projection=UserName)
    assert all(type(u) is UserName for u in found)
    assert [(u.id, u.name) for u in found] == sorted(((s.id, s.name) for s in stored), key=lambda t: t[1])
    only = await users.find({"age": {"$lt": 20}}, projection=NameOnly)
    assert only == [NameOnly(name=p["name"]) for p in PEOPLE if p["age"] < 20]
    one = await users.find_one({"name": "Eve"}, projection=NameOnly)
    assert one == NameOnly(name="Eve")


async def test_invalid_projection_is_a_query_error(db: Database) -> None:
    users = await seeded(db)
    with pytest.raises(QueryError):
        await users.find({}, projection={"name": 1, "age": 0})  # mixing inclusion and exclusion
    with pytest.raises(QueryError):
        await users.find({}, projection=["name"])


# ----------------------------------------------------------------------------- count, find_one


async def test_count(db: Database) -> None:
    users = await db.open(User)
    assert await users.count() == 0
    await users.insert_many(people())
    assert await users.count() == len(PEOPLE)
    assert await users.count({"age": 25}) == len(where(lambda p: p["age"] == 25))
    assert await users.count({"age": {"$gt": 20}}, {"tags": "art"}) == len(
        where(lambda p: p["age"] > 20 and "art" in p["tags"])
    )


async def test_find_one(db: Database) -> None:
    users = await seeded(db)
    youngest = await users.find_one({}, sort="age")
    assert youngest.name == min(PEOPLE, key=lambda p: p["age"])["name"]
    oldest_25 = await users.find_one({"age": 25}, sort="-name")
    assert oldest_25.name == max(p["name"] for p in PEOPLE if p["age"] == 25)
    assert await users.find_one({"name": "Zed"}) is None
    assert isinstance(await users.find_one({"name": "Ada"}), User)
