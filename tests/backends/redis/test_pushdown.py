"""Pushdown never changes an answer: indexed queries equal the engine's verdict on every document.

Values are chosen where a lossy or careless encoding would go wrong: integers beyond 2**53,
-0.0, NaN, infinities, Decimals, strings containing NUL or sharing a 300-character prefix,
equal instants in different time zones, arrays (multikey), sub-documents, null and missing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from decimal import Decimal
from typing import Any

import pytest
from bson import ObjectId
from pydantic import BaseModel

from mindtrace.database import QueryError
from mindtrace.database.backends.index_keys import (
    sort_component,
    sort_component_by_rank,
    unique_component,
    unique_component_by_rank,
)
from mindtrace.database.backends.redis.index_encoding import members_for, unique_fields_for
from mindtrace.database.backends.redis.planner import (
    ClaimsPlan,
    IdsPlan,
    IndexPlan,
    ScanPlan,
    SortPlan,
    plan_query,
)
from mindtrace.database.core.backend import FindQuery
from mindtrace.database.query import matches, sort_documents
from mindtrace.database.query.compare import values_equal
from tests.backends.redis.models import Anything, UniqueAny

LONG = "x" * 300
UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))

SCALARS: list[Any] = [
    0, 1, -1, 2**53, 2**53 + 1, 2**63 - 1, -(2**63), 0.5, -0.0, 1.0, float("nan"), float("inf"),
    float("-inf"), 1e300, Decimal("1"), Decimal("0.1"), Decimal("-7.25"),
    "", "a", "a\x00", "a\x00b", "ab", "b", "é", "\uffff", LONG + "a", LONG + "b", LONG,
    True, False,
    dt.datetime(2024, 1, 1, 12, tzinfo=UTC), dt.datetime(2024, 1, 1, 14, tzinfo=PLUS2),
    dt.datetime(2024, 1, 1, 12, 0, 0, 1000), dt.datetime(1960, 5, 5), dt.date(2024, 1, 1),
    b"", b"\x00", b"a", b"ab", ObjectId("65f0c3aa0000000000000000"), ObjectId("65f0c3ab0000000000000000"),
    uuid.UUID(int=5), None,
]  # fmt: skip
COMPLEX: list[Any] = [[1, "a"], [], [[1]], [None], {"a": 1}, [2**53 + 1, LONG + "a"], [{"a": 1}, 3]]


def _load(make_backend: Any, values: list[Any]) -> tuple[Any, list[dict[str, Any]]]:
    backend = make_backend(Anything)
    stored = backend.insert_many_sync([Anything(v=v, w=i) for i, v in enumerate(values)])
    # A few documents without the indexed field at all.
    backend.update_many_sync({"w": {"$in": [0, 5]}}, {"$unset": {"v": ""}})
    docs = backend._sync.run(backend._collection.find(_everything()))
    assert [d["_id"] for d in docs] == [s.id for s in stored]
    return backend, docs


def _everything() -> FindQuery:
    return FindQuery(filter={})


def _queries(probes: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for x in probes:
        out += [{"v": x}, {"v": {"$eq": x}}]
        out += [{"v": {op: x}} for op in ("$gt", "$gte", "$lt", "$lte")]
    for x, y in itertools.islice(itertools.combinations(probes, 2), 0, None, 7):
        out += [{"v": {"$in": [x, y]}}, {"v": {"$gte": x, "$lt": y}}, {"v": {"$gt": x, "$lte": y}}]
        out.append({"$and": [{"v": {"$gt": x}}, {"w": {"$lt": 20}}]})
    return out


def _check(backend: Any, docs: list[dict[str, Any]], filter: dict[str, Any]) -> None:
    try:
        expected = [d["_id"] for d in docs if matches(filter, d)]
    except QueryError:
        with pytest.raises(QueryError):
            backend.find_sync(filter)
        return
    found = [d.id for d in backend.find_sync(filter)]
    assert found == expected, filter
    assert backend.count_sync(filter) == len(expected), filter


def test_two_bounds_on_one_field_still_find_arrays_straddling_them(make_backend: Any) -> None:
    # Each bound may hold for a different element: [14, 21] matches {$gt: 15, $lt: 20} (found
    # by the query case table run through the backends; one intersected range missed it).
    backend = make_backend(Anything)
    stored = backend.insert_many_sync(
        [Anything(v=[14, 21]), Anything(v=[16]), Anything(v=[25]), Anything(v=14), Anything(v=[{"x": 1}, 18])]
    )
    query = {"v": {"$gt": 15, "$lt": 20}}
    assert isinstance(plan_query(query, backend._collection.indexes), IndexPlan)
    assert [d.id for d in backend.find_sync(query)] == [stored[i].id for i in (0, 1, 4)]
    assert backend.count_sync({"v": {"$gte": 16, "$lte": 16}}) == 2


def test_indexed_queries_equal_engine_on_scalars_and_complex_values(make_backend: Any) -> None:
    backend, docs = _load(make_backend, SCALARS + COMPLEX)
    queries = _queries(SCALARS)
    assert any(isinstance(plan_query(q, backend._collection.indexes), IndexPlan) for q in queries)
    for query in queries:
        _check(backend, docs, query)


@pytest.mark.parametrize("direction", [1, -1])
def test_sort_pushdown_with_limit_equals_engine(make_backend: Any, direction: int) -> None:
    # Duplicates make ties: ties must come out in insertion order, as without pushdown.
    values = [v for v in SCALARS if not (isinstance(v, float) and v != v)] * 2
    backend, docs = _load(make_backend, values)
    plan = plan_query({}, backend._collection.indexes, sort=[("v", direction)], needed=5)
    assert isinstance(plan, SortPlan)
    ordered = sort_documents(docs, [("v", direction)])
    for skip, limit in [(0, 1), (0, 5), (3, 4), (10, 30), (0, 200)]:
        found = backend.find_sync({}, sort=("v", direction), skip=skip, limit=limit)
        assert [d.id for d in found] == [d["_id"] for d in ordered[skip : skip + limit]]
    found = backend.find_sync({"v": {"$gte": 1}}, sort=("v", direction), limit=3)
    expected = sort_documents([d for d in docs if matches({"v": {"$gte": 1}}, d)], [("v", direction)])[:3]
    assert [d.id for d in found] == [d["_id"] for d in expected]


def test_sort_pushdown_falls_back_when_index_holds_arrays(make_backend: Any) -> None:
    backend, docs = _load(make_backend, [3, [1, 9], 2, {"a": 1}, None, [5]])
    found = backend.find_sync({}, sort=[("v", 1)], limit=3)
    assert [d.id for d in found] == [d["_id"] for d in sort_documents(docs, [("v", 1)])[:3]]
    found = backend.find_sync({}, sort=[("v", -1)], limit=3)
    assert [d.id for d in found] == [d["_id"] for d in sort_documents(docs, [("v", -1)])[:3]]


def test_id_queries_read_only_those_documents(make_backend: Any) -> None:
    backend, docs = _load(make_backend, [1, 2, 3])
    ids = [d["_id"] for d in docs]
    assert isinstance(plan_query({"_id": ids[1]}, ()), IdsPlan)
    assert [d.id for d in backend.find_sync({"_id": ids[1]})] == [ids[1]]
    assert [d.id for d in backend.find_sync({"_id": {"$in": [ids[2], "nope", ids[0], 7]}})] == [
        ids[0],
        ids[2],
    ]
    assert backend.find_sync({"_id": "not-an-id"}) == []
    # Filters may name ids as ObjectIds, as MongoDB users write them; the core turns them into
    # the engine's 24-hex strings, and the id plan still reads only that document.
    assert [d.id for d in backend.find_sync({"_id": ObjectId(ids[0])})] == [ids[0]]


def test_unpushable_conditions_scan(make_backend: Any) -> None:
    backend, docs = _load(make_backend, ["a", "b", 3])
    for query in ({"v": {"$ne": "a"}}, {"$or": [{"v": "a"}, {"v": 3}]}, {"v": {"$regex": "^a"}}, {"w": 1}):
        assert isinstance(plan_query(query, backend._collection.indexes), ScanPlan)
        _check(backend, docs, query)


def test_unknown_operator_is_a_query_error_not_everything(make_backend: Any) -> None:
    backend, _ = _load(make_backend, [1, 2])
    for query in ({"v": {"$bogus": 1}}, {"$where": "1"}, {"v": {"$gt": 1, "$frob": 2}}):
        with pytest.raises(QueryError):
            backend.find_sync(query)
        with pytest.raises(QueryError):
            backend.count_sync(query)
        with pytest.raises(QueryError):
            backend.delete_many_sync(query)
    assert backend.count_sync() == 2


def test_aggregate_pushes_leading_match_and_reads_lookup_collections(make_backend: Any) -> None:
    class Order(BaseModel):
        user: str
        total: int

        class Settings:
            name = "orders"

    backend, docs = _load(make_backend, [1, 2, 3, "x"])
    orders = make_backend(Order)
    orders.insert_many_sync([Order(user="a", total=5), Order(user="b", total=7)])
    pipeline: list[dict[str, Any]] = [
        {"$match": {"v": {"$gte": 2}}},
        {"$lookup": {"from": "orders", "pipeline": [{"$match": {"total": {"$gt": 6}}}], "as": "big"}},
        {"$project": {"_id": 0, "v": 1, "n": {"$size": "$big"}}},
    ]
    assert backend.aggregate_sync(pipeline) == [{"v": 2, "n": 1}, {"v": 3, "n": 1}]
    with pytest.raises(QueryError):
        backend.aggregate_sync([{"$match": {"v": 1}}, {"$frobnicate": {}}])


def test_unique_equality_uses_claims_and_equals_engine(make_backend: Any) -> None:
    distinct: list[Any] = []
    for v in SCALARS:
        if not any(values_equal(v, d) for d in distinct) and not (isinstance(v, float) and v != v):
            distinct.append(v)
    backend = make_backend(UniqueAny)
    backend.insert_many_sync([UniqueAny(v=v) for v in distinct])
    docs = backend._sync.run(backend._collection.find(_everything()))
    indexes = backend._collection.indexes
    assert isinstance(plan_query({"v": 1.0}, indexes), ClaimsPlan)
    probes = [
        *distinct,
        1.0,
        Decimal("1.0"),
        dt.datetime(2024, 1, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    ]
    for x in probes:
        _check(backend, docs, {"v": x})
        _check(backend, docs, {"v": {"$in": [x, "b"]}})
    # Ranges cannot use a claims hash: they scan, and still agree.
    assert isinstance(plan_query({"v": {"$gt": 1}}, indexes), ScanPlan)
    _check(backend, docs, {"v": {"$gt": 1}})


@pytest.mark.parametrize("value", [*SCALARS, *COMPLEX, -(2**70), 3.5e-300, "x\x00" * 200], ids=repr)
def test_fast_encoding_paths_equal_the_reference(value: Any) -> None:
    assert sort_component(value) == sort_component_by_rank(value)
    assert unique_component(value) == unique_component_by_rank(value)
    # A top-level field takes a shortcut in members_for too; a nested path never does.
    id = "65f0c3aa0000000000000000"
    assert members_for({"x": value}, ("x",), id) == members_for({"o": {"x": value}}, ("o.x",), id)
    assert unique_fields_for({"x": value}, ("x",), sparse=False) == unique_fields_for(
        {"o": {"x": value}}, ("o.x",), sparse=False
    )
