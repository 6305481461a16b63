"""Operator injection: untrusted values never become operators, and server-side JavaScript is refused.

A value taken from a request (``{"$ne": None}``, ``{"$gt": ""}``, a regex...) placed where a
literal is expected turns a plain equality into "match everything" — unless it goes through
``eq_filter``/``equals`` (``core/safe_filters.py``) or a field expression, which compare it
literally. Each payload is first shown to be a real injection when used naively (so the test
can fail), then shown to match nothing — or exactly the document that holds that literal value —
through the safe spellings, on every backend. ``$where``, ``$function`` and ``$accumulator`` are
refused with ``QueryError`` on Local and Redis wherever they can appear, before anything is read
or written.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from bson import Regex
from pydantic import Field

import mindtrace.database
from mindtrace.database import MindtraceModel, QueryError, eq_filter, equals, fields
from tests.reliability.conftest import Store


class Account(MindtraceModel):
    name: str
    team: str = ""
    age: int = 0
    tags: list[str] = []
    meta: dict[str, Any] = {}
    zip_code: str = Field(default="", alias="zip")

    class Settings:
        name = "accounts"


ACCOUNTS = [
    {"name": "ada", "team": "core", "age": 36, "tags": ["x"], "meta": {"role": "admin"}},
    {"name": "bob", "team": "ops", "age": 25, "tags": ["y"], "meta": {"role": "user"}},
    {"name": "cy", "team": "core", "age": 41, "tags": [], "meta": {}},
]

# Values an attacker can produce by sending JSON (or extended JSON decoded with bson.json_util).
PAYLOADS: list[Any] = [
    {"$ne": None},
    {"$ne": "nobody"},
    {"$gt": ""},
    {"$gte": None},
    {"$exists": True},
    {"$in": ["ada", "bob", "cy"]},
    {"$nin": []},
    {"$regex": ".*"},
    {"$regex": "^a", "$options": "i"},
    {"$not": {"$eq": "nobody"}},
    {"$where": "1"},
    {"$expr": {"$eq": [1, 1]}},
    {"$elemMatch": {"$exists": True}},
    {"$type": "string"},
    re.compile(".*"),
    Regex(".*"),
    ["ada", "bob"],
    {"$or": [{"name": {"$ne": None}}]},
]
PAYLOAD_IDS = [repr(p)[:40] for p in PAYLOADS]


def _seed(store: Store) -> Any:
    accounts = store.open(Account)
    accounts.insert_many_sync([Account.model_validate(a) for a in ACCOUNTS])
    return accounts


def _names(found: list[Any]) -> list[str]:
    return sorted(a.name for a in found)


# ----------------------------------------------------------------------------- the helper itself


def test_eq_filter_wraps_every_value_in_eq() -> None:
    untrusted = {"$ne": None}
    assert eq_filter({"name": untrusted, "team": "core"}) == {
        "name": {"$eq": {"$ne": None}},
        "team": {"$eq": "core"},
    }
    assert equals(name="ada", id="65f0c3aa0000000000000001") == {
        "name": {"$eq": "ada"},
        "_id": {"$eq": "65f0c3aa0000000000000001"},
    }


def test_eq_filter_translates_and_checks_names_against_the_model() -> None:
    got = eq_filter({"zip_code": "N1", "meta.role": "admin", "id": "x"}, model=Account)
    assert got == {"zip": {"$eq": "N1"}, "meta.role": {"$eq": "admin"}, "_id": {"$eq": "x"}}
    with pytest.raises(QueryError, match="not a field of Account"):
        eq_filter({"password": "x"}, model=Account)
    with pytest.raises(QueryError, match="scalar field"):
        eq_filter({"name.first": "x"}, model=Account)


def test_eq_filter_whitelist() -> None:
    assert eq_filter({"team": "ops"}, allowed=["team", "name"]) == {"team": {"$eq": "ops"}}
    with pytest.raises(QueryError, match="not one of the allowed fields"):
        eq_filter({"age": 1}, allowed=["team", "name"])


@pytest.mark.parametrize(
    "bad",
    ["$where", "$ne", "a.$ne", "$", "", ".a", "a.", "a..b", "a\x00b", "a\ud800", 7, None],
    ids=repr,
)
def test_eq_filter_refuses_hostile_field_names(bad: Any) -> None:
    with pytest.raises(QueryError):
        eq_filter({bad: 1})


def test_eq_filter_refuses_an_empty_mapping_which_would_match_everything() -> None:
    with pytest.raises(QueryError, match="match every document"):
        eq_filter({})
    with pytest.raises(QueryError):
        equals()
    with pytest.raises(QueryError):
        eq_filter([("name", "x")])  # type: ignore[arg-type]


def test_eq_filter_and_equals_are_exported_and_refuse_unstorable_text() -> None:
    assert {"eq_filter", "equals"} <= set(mindtrace.database.__all__)
    with pytest.raises(QueryError, match="Unicode"):
        equals(name="\ud800")


# ----------------------------------------------------------------------------- on every backend


def test_payloads_are_real_injections_when_used_naively(store: Store) -> None:
    """The control: each operator payload placed raw as a value does change the query (so the
    safe spellings below are tested against payloads that would otherwise bite)."""
    accounts = _seed(store)
    everyone = _names(accounts.find_sync({}))
    widened = 0
    for payload in PAYLOADS:
        try:
            found = _names(accounts.find_sync({"name": payload}))
        except QueryError:
            continue  # refused outright ($where, $expr on a field...): also not a literal match
        if found:
            widened += 1
    assert everyone == ["ada", "bob", "cy"]
    assert widened >= 10


@pytest.mark.parametrize("payload", PAYLOADS, ids=PAYLOAD_IDS)
def test_eq_filter_compares_payloads_literally(store: Store, payload: Any) -> None:
    accounts = _seed(store)
    safe = eq_filter({"name": payload})
    calls: list[tuple[Any, Any]] = [
        (lambda: accounts.find_sync(safe), []),
        (lambda: accounts.find_one_sync(safe), None),
        (lambda: accounts.count_sync(safe), 0),
        (lambda: accounts.count_sync(equals(team=payload)), 0),
        (lambda: accounts.aggregate_sync([{"$match": safe}]), []),
        (lambda: accounts.update_many_sync(safe, {"$set": {"team": "pwned"}}).matched_count, 0),
        (lambda: accounts.delete_many_sync(safe), 0),
    ]
    for call, nothing in calls:
        try:
            assert call() == nothing
        except QueryError:
            # SecantusDB reads "$where" inside a literal as JavaScript in count/update/delete
            # (MongoDB compares it literally): refused, which still matches nothing.
            assert store.kind == "mongo" and "$where" in payload
    assert _names(accounts.find_sync({"team": "pwned"})) == []
    assert accounts.count_sync() == len(ACCOUNTS)


@pytest.mark.parametrize("payload", PAYLOADS[:14], ids=PAYLOAD_IDS[:14])
def test_field_expressions_compare_payloads_literally(store: Store, payload: Any) -> None:
    accounts = _seed(store)
    assert accounts.find_sync(Account.name == payload) == []
    assert accounts.find_sync(fields(Account).team == payload) == []
    # Negations compare literally too: no stored name equals the payload, so all match.
    assert len(accounts.find_sync(Account.name != payload)) == len(ACCOUNTS)
    # In a list, an operator document is refused ("cannot nest $ under $in"), as in MongoDB.
    for listed in (Account.name.in_([payload]), Account.name.nin([payload])):
        with pytest.raises(QueryError, match=r"\$in|\$nin"):
            accounts.find_sync(listed)


@pytest.mark.parametrize("pattern", [re.compile(".*"), Regex(".*"), Regex("^a", "i")], ids=repr)
def test_field_expressions_compare_regexes_literally(store: Store, pattern: Any) -> None:
    """``Field == regex`` is a literal comparison (``$eq``), for Python and BSON regexes alike;
    an explicit pattern match stays available as ``{"field": {"$regex": ...}}``."""
    accounts = _seed(store)
    assert accounts.find_sync(Account.name == pattern) == []
    assert accounts.find_sync(fields(Account).name == pattern) == []
    assert _names(accounts.find_sync({"name": {"$regex": "^a"}})) == ["ada"]


def test_a_document_holding_the_payload_is_matched_exactly(store: Store) -> None:
    """The injected dict matches nothing *unless* a document holds exactly that dict."""
    accounts = _seed(store)
    literal = {"$ne": None, "a.b": 1}
    holder = accounts.insert_sync(Account(name="holder", meta=literal))
    accounts.insert_sync(Account(name="other", meta={"$ne": None}))
    assert [a.id for a in accounts.find_sync(eq_filter({"meta": literal}))] == [holder.id]
    assert [a.id for a in accounts.find_sync(Account.meta == literal)] == [holder.id]
    assert accounts.get_sync(holder.id).meta == literal
    # The naive spelling is not a literal comparison: MongoDB reads the first key as an operator
    # (and refuses the rest; SecantusDB accepts it, a known deviation).
    if store.engine_based:
        with pytest.raises(QueryError):
            accounts.find_sync({"meta": {"$ne": None, "a.b": 1}})


def test_eq_filter_with_a_model_on_stored_aliases(store: Store) -> None:
    accounts = _seed(store)
    accounts.insert_sync(Account(name="zed", zip="N1"))
    found = accounts.find_sync(eq_filter({"zip_code": "N1", "team": ""}, model=Account))
    assert _names(found) == ["zed"]
    # An operator document is not a str: refused, never compared (and never run as an operator).
    with pytest.raises(QueryError, match="field 'zip_code' of Account holds str"):
        eq_filter({"zip_code": {"$ne": "x"}}, model=Account)


# ----------------------------------------------------------------------------- server-side JavaScript

JS_FUNCTION = {"$function": {"body": "function() { return true }", "args": [], "lang": "js"}}
JS_ACCUMULATOR = {
    "$accumulator": {
        "init": "function() { return 0 }",
        "accumulate": "function(s) { return s }",
        "accumulateArgs": [],
        "merge": "function(a, b) { return a }",
        "lang": "js",
    }
}

# (where it appears, operation) — every place a filter, an expression or an accumulator goes.
JS_FILTERS: list[Any] = [
    {"$where": "true"},
    {"$where": "function() { return true }"},
    {"name": {"$where": "true"}},
    {"$and": [{"age": {"$gte": 0}}, {"$where": "true"}]},
    {"$or": [{"$where": "true"}]},
    {"$nor": [{"$where": "false"}]},
    {"tags": {"$elemMatch": {"$where": "true"}}},
    {"age": {"$not": {"$where": "true"}}},
    {"$expr": JS_FUNCTION},
    {"$expr": {"$and": [True, JS_FUNCTION]}},
    {"$expr": {"$eq": [{"$let": {"vars": {"f": JS_FUNCTION}, "in": "$$f"}}, True]}},
]
JS_PIPELINES: list[Any] = [
    [{"$match": {"$where": "true"}}],
    [{"$match": {"$expr": JS_FUNCTION}}],
    [{"$project": {"x": JS_FUNCTION}}],
    [{"$addFields": {"x": {"$cond": [True, JS_FUNCTION, 1]}}}],
    [{"$set": {"x": {"$map": {"input": [1], "in": JS_FUNCTION}}}}],
    [{"$group": {"_id": None, "x": JS_ACCUMULATOR}}],
    [{"$group": {"_id": JS_FUNCTION, "n": {"$sum": 1}}}],
    [{"$group": {"_id": None, "x": {"$push": JS_FUNCTION}}}],
    [{"$bucket": {"groupBy": "$age", "boundaries": [0, 100], "output": {"x": JS_ACCUMULATOR}}}],
    [{"$sort": {"age": 1}}, {"$replaceWith": {"$mergeObjects": ["$$ROOT", {"x": JS_FUNCTION}]}}],
    [{"$facet": {"a": [{"$match": {"$where": "true"}}]}}],
    [{"$lookup": {"from": "accounts", "pipeline": [{"$match": {"$where": "true"}}], "as": "j"}}],
    [{"$lookup": {"from": "accounts", "let": {"n": "$name"},
                  "pipeline": [{"$project": {"f": JS_FUNCTION}}], "as": "j"}}],
    [{"$unionWith": {"coll": "accounts", "pipeline": [{"$addFields": {"f": JS_FUNCTION}}]}}],
    [{"$limit": 1}, {"$sortByCount": JS_FUNCTION}],
]  # fmt: skip
JS_UPDATES: list[Any] = [
    [{"$set": {"age": JS_FUNCTION}}],
    [{"$addFields": {"x": {"$add": [1, JS_FUNCTION]}}}],
    [{"$replaceWith": JS_FUNCTION}],
    {"$pull": {"tags": {"$where": "true"}}},
]
JS_NAMES = ("$where", "$function", "$accumulator")


def _refused(error: QueryError) -> None:
    assert error.operator in JS_NAMES or any(name in str(error) for name in JS_NAMES), error


@pytest.fixture
def engine_store(store: Store) -> Store:
    if not store.engine_based:
        pytest.skip(reason="MongoDB runs server-side JavaScript itself when the server enables it")
    return store


@pytest.mark.parametrize("js", JS_FILTERS, ids=repr)
def test_javascript_in_filters_is_refused(engine_store: Store, js: Any) -> None:
    accounts = _seed(engine_store)
    before = accounts.find_sync({}, sort="name", projection={"_id": 0})
    for call in (
        lambda: accounts.find_sync(js),
        lambda: accounts.find_one_sync(js),
        lambda: accounts.count_sync(js),
        lambda: list(accounts.iterate_sync(js)),
        lambda: accounts.delete_many_sync(js),
        lambda: accounts.update_many_sync(js, {"$set": {"team": "pwned"}}),
        lambda: accounts.update_many_sync(js, {"$set": {"team": "pwned"}}, upsert=True),
        lambda: accounts.aggregate_sync([{"$match": js}]),
    ):
        with pytest.raises(QueryError) as caught:
            call()
        _refused(caught.value)
    assert accounts.find_sync({}, sort="name", projection={"_id": 0}) == before


@pytest.mark.parametrize(
    "projection",
    [
        {"x": JS_FUNCTION},
        {"name": 1, "x": {"$concat": ["$name", JS_FUNCTION]}},
        {"tags": {"$elemMatch": {"$where": "1"}}},
    ],
    ids=repr,
)
def test_javascript_in_projections_is_refused(engine_store: Store, projection: Any) -> None:
    accounts = _seed(engine_store)
    with pytest.raises(QueryError) as caught:
        accounts.find_sync({}, projection=projection)
    _refused(caught.value)


@pytest.mark.parametrize("pipeline", JS_PIPELINES, ids=lambda p: repr(p)[:60])
def test_javascript_in_pipelines_is_refused(engine_store: Store, pipeline: Any) -> None:
    accounts = _seed(engine_store)
    with pytest.raises(QueryError) as caught:
        accounts.aggregate_sync(pipeline)
    _refused(caught.value)


@pytest.mark.parametrize("update", JS_UPDATES, ids=lambda u: repr(u)[:60])
def test_javascript_in_updates_is_refused_and_writes_nothing(engine_store: Store, update: Any) -> None:
    accounts = _seed(engine_store)
    before = accounts.find_sync({}, sort="name", projection={"_id": 0})
    with pytest.raises(QueryError) as caught:
        accounts.update_many_sync({}, update)
    _refused(caught.value)
    assert accounts.find_sync({}, sort="name", projection={"_id": 0}) == before


async def test_javascript_is_refused_by_the_async_api_too(engine_store: Store) -> None:
    accounts = _seed(engine_store)
    with pytest.raises(QueryError):
        await accounts.find({"$where": "true"})
    with pytest.raises(QueryError):
        await accounts.aggregate([{"$group": {"_id": None, "x": JS_ACCUMULATOR}}])
    with pytest.raises(QueryError):
        await accounts.update_many({}, [{"$set": {"x": JS_FUNCTION}}])
    assert await accounts.count() == len(ACCOUNTS)


def test_a_safe_filter_stays_safe_combined_with_others(store: Store) -> None:
    """Combined positionally (ANDed), the untrusted part still cannot widen the result."""
    accounts = _seed(store)
    found = accounts.find_sync(eq_filter({"team": {"$ne": None}}), {"age": {"$gte": 0}})
    assert found == []
    assert _names(accounts.find_sync(equals(team="core"), {"age": {"$gte": 40}})) == ["cy"]
    # The helpers return filter expressions: | is $or (a plain dict's | would merge the keys).
    assert _names(accounts.find_sync(equals(team="core") | equals(name="bob"))) == ["ada", "bob", "cy"]
    assert _names(accounts.find_sync(equals(team="core") & ~equals(name="ada"))) == ["cy"]
