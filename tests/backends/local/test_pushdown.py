"""SQL pushdown never changes a result: every query gives exactly the engine's answer.

Documents hold values of every kind at the same paths (numbers, booleans, strings that look like
JSON, arrays, nested documents, dates, decimals, huge ints, NaN, null, missing), so each type
guard of the compiler is exercised. Three checks per filter: ``find``/``count``/``delete_many``
agree with ``matches`` over all stored documents; and, straight in SQL, the compiler's ``sure``
rows all match while every matching row satisfies ``where``.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from mindtrace.database.backends.local.sqlite_pushdown import FALSE, sql_and
from mindtrace.database.backends.local_odm_backend import LocalODMBackend
from mindtrace.database.core.backend import FindQuery
from mindtrace.database.core.indexes import Index
from mindtrace.database.query import matches, sort_documents

UTC = dt.UTC


def engine_docs(backend: LocalODMBackend[Any], query: FindQuery) -> list[dict[str, Any]]:
    """The engine documents ``find`` reads for ``query`` (stored JSON decoded)."""
    return [
        backend.codec.decode_stored(*found) if type(found) is tuple else found
        for found in backend._find_docs_sync(query)
    ]


class Loose(BaseModel):
    """Anything goes: every path may hold every kind of value."""

    model_config = ConfigDict(extra="allow")

    class Settings:
        name = "loose"
        indexes = [Index("a"), Index("b.c"), Index("d")]


SCALARS: list[Any] = [
    0,
    1,
    -1,
    2,
    2.5,
    1.0,
    -0.0,
    2**53 + 1,
    2**63 - 1,
    2**70,
    -(2**70),
    float("nan"),
    float("inf"),
    float("-inf"),
    Decimal("2"),
    Decimal("2.50"),
    Decimal("-7.1"),
    True,
    False,
    None,
    "",
    "a",
    "b",
    "ab",
    "B",
    "[1]",
    "{x",
    "\u00e9",
    dt.datetime(2024, 1, 1, 12),
    dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    dt.datetime(2024, 1, 1, 10, tzinfo=UTC),
    dt.date(2024, 1, 1),
    dt.datetime(1999, 12, 31, 23, 59, 59, 999000),
    uuid.UUID(int=7),
    ObjectId("000000000000000000000007"),
    b"\x00x",
]
COMPOSITES: list[Any] = [
    [],
    [1, 2],
    [2.5, "a"],
    ["b", None],
    [[1, 2], 3],
    [{"c": 1}, {"c": "a"}],
    [{"c": [2, 3]}],
    {"c": 1},
    {"c": "a", "e": 2},
    {"c": None},
    {"c": [1, "b"]},
    {"c": {"c": 1}},
    [dt.date(2024, 1, 1), dt.datetime(2030, 1, 1)],
    [Decimal("1.5"), True],
]
MISSING = object()
VALUES = [*SCALARS, *COMPOSITES, MISSING]


def _documents() -> list[dict[str, Any]]:
    docs = []
    n = len(VALUES)
    for i in range(n * 2):
        doc: dict[str, Any] = {}
        for key, offset in (("a", 0), ("b", 7), ("d", 13)):
            value = VALUES[(i + offset * (i // n + 1)) % n]
            if value is not MISSING:
                doc[key] = value
        docs.append(doc)
    return docs


DOCS = _documents()


@pytest.fixture(scope="module")
def loose() -> Iterator[LocalODMBackend[Any]]:
    backend: LocalODMBackend[Any] = LocalODMBackend(Loose, ":memory:")
    backend.insert_many_sync([Loose.model_validate(d) for d in DOCS])
    yield backend
    backend.close_sync()


@pytest.fixture(scope="module")
def stored(loose: LocalODMBackend[Any]) -> list[dict[str, Any]]:
    """The engine documents as stored (with ``_id``), in insertion order."""
    return engine_docs(loose, FindQuery(filter={}))


OPERAND_VALUES = [v for v in VALUES if v is not MISSING and not isinstance(v, float) or v == 2.5]

FILTERS: list[dict[str, Any]] = [
    {},
    {"a": 1},
    {"a": 2},
    {"a": 2.5},
    {"a": True},
    {"a": False},
    {"a": None},
    {"a": "a"},
    {"a": "[1]"},
    {"a": [1, 2]},
    {"a": {"c": 1}},
    {"a": Decimal("2")},
    {"a": 2**70},
    {"a": float("nan")},
    {"a": dt.datetime(2024, 1, 1, 10, tzinfo=UTC)},
    {"a": dt.date(2024, 1, 1)},
    {"a": uuid.UUID(int=7)},
    {"a": ObjectId("000000000000000000000007")},
    {"a": b"\x00x"},
    {"a": {"$gt": 1}},
    {"a": {"$gte": 2}},
    {"a": {"$lt": 2}},
    {"a": {"$lte": 1}},
    {"a": {"$gt": -1, "$lt": 2.5}},
    {"a": {"$gt": "a"}},
    {"a": {"$lt": "b"}},
    {"a": {"$gte": ""}},
    {"a": {"$gt": dt.datetime(2024, 1, 1, 10, tzinfo=UTC)}},
    {"a": {"$gte": dt.date(2024, 1, 1)}},
    {"a": {"$lt": dt.datetime(2024, 1, 1, 11)}},
    {"a": {"$lte": dt.datetime(2024, 1, 1, 10, tzinfo=UTC)}},
    {"a": {"$gt": Decimal("1.9")}},
    {"a": {"$lte": Decimal("2")}},
    {"a": {"$gt": float("inf")}},
    {"a": {"$lt": 2**70}},
    {"a": {"$gt": True}},
    {"a": {"$gte": None}},
    {"a": {"$ne": 1}},
    {"a": {"$ne": None}},
    {"a": {"$in": [1, "a", None]}},
    {"a": {"$in": [2.5, True, dt.date(2024, 1, 1)]}},
    {"a": {"$in": []}},
    {"a": {"$nin": [1, "a"]}},
    {"a": {"$exists": True}},
    {"a": {"$exists": False}},
    {"a": {"$not": {"$gt": 1}}},
    {"a": {"$type": "string"}},
    {"a": {"$regex": "^a"}},
    {"a": {"$size": 2}},
    {"a": {"$elemMatch": {"$gt": 1}}},
    {"a": {"$all": [1, 2]}},
    {"b.c": 1},
    {"b.c": "a"},
    {"b.c": None},
    {"b.c": {"$exists": True}},
    {"b.c": {"$exists": False}},
    {"b.c": {"$gt": 0}},
    {"b.c": {"$ne": 1}},
    {"b.c.c": 1},
    {"b.1": 2},
    {"b.0.c": 1},
    {"$or": [{"a": 1}, {"d": "a"}]},
    {"$or": [{"a": 1}, {"d": {"$regex": "a"}}]},
    {"$and": [{"a": {"$gte": 0}}, {"d": {"$exists": True}}]},
    {"$nor": [{"a": 1}, {"d": None}]},
    {"a": {"$gt": 0}, "d": {"$ne": "a"}},
    {"$expr": {"$eq": ["$a", "$d"]}},
    {"_id": {"$exists": True}},
]


def ids(docs: list[Any]) -> list[str]:
    return [d["_id"] if isinstance(d, dict) else d.id for d in docs]


def rows(backend: LocalODMBackend[Any], condition: Any) -> set[str]:
    """Ids of the rows satisfying a compiled SQL condition."""
    sql = f"SELECT id FROM {backend._ops.table.table} WHERE {condition.text}"
    return {r[0] for r in backend._db.raw_execute(sql, condition.params)}


def check(loose: LocalODMBackend[Any], stored: list[dict[str, Any]], filter: dict[str, Any]) -> None:
    expected = [d["_id"] for d in stored if matches(filter, d)]
    assert ids(loose.find_sync(filter, projection={"a": 1})) == expected
    assert ids(loose.find_sync(filter)) == expected
    assert ids(list(loose.iterate_sync(filter, batch_size=7))) == expected
    assert loose.count_sync(filter) == len(expected)
    # The bounds, checked in SQL against the engine's verdict on every row.
    plan = loose._ops.pushdown.compile(filter)
    matching = set(expected)
    where: set[str] = set()
    if plan.where is not FALSE:
        where = rows(loose, plan.where)
        assert matching <= where, f"where lost matching rows: {plan.where}"
    else:
        assert not matching
    sure = sql_and([plan.where, plan.sure])
    if sure is not FALSE:
        certain = rows(loose, sure)
        assert certain <= matching, f"sure accepted rows that do not match: {plan.sure}"
    checked = sql_and([plan.where, plan.check])
    if checked is not FALSE:
        assert rows(loose, checked) == rows(loose, sure) if sure is not FALSE else not rows(loose, checked)
    if plan.exact:
        assert where == matching


@pytest.mark.parametrize("filter", FILTERS, ids=repr)
def test_filters_agree_with_the_engine(
    loose: LocalODMBackend[Any], stored: list[dict[str, Any]], filter: dict[str, Any]
) -> None:
    check(loose, stored, filter)


@pytest.mark.parametrize("filter", FILTERS[:40:3], ids=repr)
def test_windows_agree_with_the_engine(
    loose: LocalODMBackend[Any], stored: list[dict[str, Any]], filter: dict[str, Any]
) -> None:
    expected = [d["_id"] for d in stored if matches(filter, d)]
    assert ids(loose.find_sync(filter, skip=2, limit=3)) == expected[2:5]
    first = loose.find_one_sync(filter)
    assert (first.id if first else None) == (expected[0] if expected else None)


@pytest.mark.parametrize(
    "filter", [{"a": 1}, {"a": {"$gt": 0}}, {"b.c": {"$exists": True}}, {"a": {"$ne": 2}}], ids=repr
)
def test_delete_many_agrees_with_the_engine(filter: dict[str, Any]) -> None:
    with LocalODMBackend(Loose, ":memory:") as backend:
        backend.insert_many_sync([Loose.model_validate(d) for d in DOCS])
        before = engine_docs(backend, FindQuery(filter={}))
        expected = [d["_id"] for d in before if not matches(filter, d)]
        assert backend.delete_many_sync(filter) == len(before) - len(expected)
        assert ids(engine_docs(backend, FindQuery(filter={}))) == expected


@pytest.mark.parametrize(
    "filter", [{"a": 1}, {"a": {"$gt": 0}}, {"b.c": {"$exists": True}}, {"a": {"$ne": 2}}, {}], ids=repr
)
def test_update_many_touches_exactly_the_matches(filter: dict[str, Any]) -> None:
    with LocalODMBackend(Loose, ":memory:") as backend:
        backend.insert_many_sync([Loose.model_validate(d) for d in DOCS])
        before = engine_docs(backend, FindQuery(filter={}))
        expected = [d["_id"] for d in before if matches(filter, d)]
        result = backend.update_many_sync(filter, {"$set": {"touched": True}})
        assert (result.matched_count, result.modified_count) == (len(expected), len(expected))
        assert ids(engine_docs(backend, FindQuery(filter={"touched": True}))) == expected


@pytest.mark.parametrize(
    "sort", [[("a", 1)], [("a", -1)], [("d", 1), ("a", -1)], [("b.c", 1)], [("_id", -1)]], ids=repr
)
@pytest.mark.parametrize(
    "filter", [{}, {"a": {"$gte": 0}}, {"a": {"$type": "number"}}, {"d": {"$type": "string"}}], ids=repr
)
def test_sorts_agree_with_the_engine(
    loose: LocalODMBackend[Any],
    stored: list[dict[str, Any]],
    sort: list[tuple[str, int]],
    filter: dict[str, Any],
) -> None:
    expected = [d["_id"] for d in sort_documents([d for d in stored if matches(filter, d)], sort)]
    assert ids(loose.find_sync(filter, sort=sort)) == expected
    assert ids(loose.find_sync(filter, sort=sort, skip=1, limit=4)) == expected[1:5]
    assert ids(list(loose.iterate_sync(filter, sort=sort, batch_size=7))) == expected


scalar_operands = st.sampled_from([v for v in SCALARS if not (isinstance(v, float) and math.isnan(v))])
paths = st.sampled_from(["a", "b", "d", "b.c", "a.c", "b.e"])
leaf = st.one_of(
    st.builds(lambda p, v: {p: v}, paths, scalar_operands),
    st.builds(
        lambda p, op, v: {p: {op: v}},
        paths,
        st.sampled_from(["$gt", "$gte", "$lt", "$lte", "$ne", "$eq"]),
        scalar_operands,
    ),
    st.builds(lambda p, vs: {p: {"$in": vs}}, paths, st.lists(scalar_operands, max_size=3)),
    st.builds(lambda p, vs: {p: {"$nin": vs}}, paths, st.lists(scalar_operands, max_size=3)),
    st.builds(lambda p, b: {p: {"$exists": b}}, paths, st.booleans()),
    st.builds(lambda p, v: {p: {"$not": {"$gt": v}}}, paths, scalar_operands),
)
filters = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(lambda fs: {"$and": fs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda fs: {"$or": fs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda fs: {"$nor": fs}, st.lists(inner, min_size=1, max_size=2)),
    ),
    max_leaves=5,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters)
def test_random_filters_agree_with_the_engine(
    loose: LocalODMBackend[Any], stored: list[dict[str, Any]], filter: dict[str, Any]
) -> None:
    check(loose, stored, filter)


class Address(BaseModel):
    city: str
    zip: str = ""


class Person(BaseModel):
    """Typed: the compiler trusts that age is never an array and address never one either."""

    id: str | None = None
    name: str
    age: int
    score: float = 0.0
    tags: list[str] = []
    address: Address | None = None
    history: list[Address] = []

    class Settings:
        indexes = [Index("age"), Index("address.city")]


PEOPLE = [
    Person(
        name=f"p{i}",
        age=i % 7,
        score=i / 3,
        tags=["x", "y"][: i % 3],
        address=Address(city=f"c{i % 3}") if i % 4 else None,
        history=[Address(city=f"c{i % 2}")] * (i % 2),
    )
    for i in range(40)
]
PERSON_FILTERS: list[dict[str, Any]] = [
    {"age": 3},
    {"age": {"$gt": 2, "$lte": 5}},
    {"age": {"$in": [1, 2]}},
    {"age": {"$ne": 3}},
    {"tags": "x"},
    {"tags": {"$ne": "y"}},
    {"address.city": "c1"},
    {"address.city": None},
    {"address": None},
    {"address.city": {"$gt": "c0"}},
    {"history.city": "c1"},
    {"history.city": {"$exists": False}},
    {"score": {"$gte": 5.5}},
    {"name": {"$lt": "p2"}},
]


@pytest.mark.parametrize("filter", PERSON_FILTERS, ids=repr)
def test_typed_model_filters_agree_with_the_engine(filter: dict[str, Any]) -> None:
    with LocalODMBackend(Person, ":memory:") as people:
        people.insert_many_sync(PEOPLE)
        check(people, engine_docs(people, FindQuery(filter={})), filter)  # type: ignore[arg-type]


def test_typed_model_gets_exact_sql_and_index_use() -> None:
    with LocalODMBackend(Person, ":memory:") as people:
        people.insert_many_sync(PEOPLE)
        assert people._ops.pushdown.compile({"address.city": "c1"}).exact
        assert people._ops.pushdown.compile({"name": {"$in": ["p1", "p2"]}, "address.city": "c1"}).exact
        assert not people._ops.pushdown.compile({"tags": "x"}).exact  # arrays: the engine decides
        assert any(
            "USING INDEX Person__address.city_1" in line for line in people.explain({"address.city": "c1"})
        )
        # Numbers: SQL decides every row (no decoding), ints, floats and booleans told apart.
        plan = people._ops.pushdown.compile({"age": {"$gte": 3, "$lt": 5}})
        sure = people._db.raw_execute(f"SELECT count(*) FROM Person WHERE {plan.sure.text}", plan.sure.params)
        assert sure[0][0] == sum(1 for p in PEOPLE if 3 <= p.age < 5)


def test_range_and_sort_on_an_indexed_field_use_the_index_in_order() -> None:
    with LocalODMBackend(Person, ":memory:") as people:
        people.insert_many_sync(PEOPLE)
        plan = people.explain({"age": {"$gt": 1, "$lte": 4}}, sort=[("age", -1)])
        # Ties keep insertion order (rowid ascending), as the engine's stable sort does.
        assert plan == [
            "SEARCH Person USING INDEX Person__age_1 (<expr>>? AND <expr><?)",
            "USE TEMP B-TREE FOR RIGHT PART OF ORDER BY",
        ], plan
        assert people.explain({"age": {"$gt": 1}}, sort="age") == [
            "SEARCH Person USING INDEX Person__age_1 (<expr>>? AND <expr><?)"
        ]
        got = [p.age for p in people.find_sync({"age": {"$gt": 1, "$lte": 4}}, sort="-age", limit=3)]
        assert got == [4, 4, 4]
        # A boolean stored by an update is sorted after numbers, as MongoDB does: no pushdown.
        people.update_many_sync({"name": "p0"}, {"$set": {"age": True}})
        assert any("TEMP B-TREE" in line or "SCAN" in line for line in people.explain({}, sort="age"))
        assert [p.name for p in people.find_sync({}, sort="-age", limit=1)] == ["p0"]
