"""The filter engine against the documented-behaviour table, plus algebraic properties on random data."""

from __future__ import annotations

import copy
import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from bson import Decimal128, ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query import compile_filter, matches
from mindtrace.database.query.compare import MISSING, values_equal
from mindtrace.database.query.paths import LeafArrays, path_values, split_path
from tests.query.cases import FilterCase
from tests.query.cases.filter_cases import FILTER_CASES


def _run(case: FilterCase) -> list[Any]:
    predicate = compile_filter(case.filter)
    return [doc["_id"] for doc in case.docs if predicate(doc)]


def test_case_names_are_unique() -> None:
    names = [case.name for case in FILTER_CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", FILTER_CASES, ids=lambda case: case.name)
def test_filter_case(case: FilterCase) -> None:
    before = copy.deepcopy(case.docs)
    if isinstance(case.expected, type):
        with pytest.raises(case.expected) as raised:
            _run(case)
        assert isinstance(raised.value, QueryError)
        assert str(raised.value)
    else:
        assert _run(case) == case.expected
    assert case.docs == before, "the engine must not mutate documents"


# ----- behaviour outside the portable table (Python-only values, error details, API) -----


def test_matches_is_compile_then_call() -> None:
    doc = {"a": [1, 2, 3]}
    assert matches({"a": 2}, doc) is True
    assert matches({"a": 4}, doc) is False


def test_python_decimal_compares_with_other_numbers() -> None:
    docs = [{"x": Decimal("2.5")}, {"x": 2.5}, {"x": Decimal128("2.5")}, {"x": 3}]
    assert [matches({"x": Decimal("2.5")}, d) for d in docs] == [True, True, True, False]
    assert [matches({"x": {"$gt": Decimal("2.5")}}, d) for d in docs] == [False, False, False, True]


def test_python_date_is_midnight_utc() -> None:
    doc = {"d": dt.datetime(2024, 5, 1, tzinfo=dt.UTC)}
    assert matches({"d": dt.date(2024, 5, 1)}, doc)
    assert matches({"d": {"$lt": dt.date(2024, 5, 2)}}, doc)


def test_error_names_operator_and_field() -> None:
    with pytest.raises(QueryError) as raised:
        compile_filter({"age": {"$foo": 1}})
    assert raised.value.operator == "$foo"
    assert "age" in str(raised.value)


def test_where_message_says_javascript_is_unsupported() -> None:
    with pytest.raises(QueryError, match="JavaScript") as raised:
        compile_filter({"$where": "true"})
    assert raised.value.operator == "$where"


def test_filter_must_be_a_mapping() -> None:
    with pytest.raises(QueryError):
        compile_filter([("a", 1)])  # type: ignore[arg-type]


def test_empty_path_component_is_rejected() -> None:
    with pytest.raises(QueryError):
        compile_filter({"a..b": 1})


def test_compiled_python_pattern_keeps_its_flags() -> None:
    assert matches({"s": re.compile("^abc$", re.MULTILINE)}, {"s": "x\nabc\ny"})
    assert not matches({"s": re.compile("^abc$")}, {"s": "x\nabc\ny"})


def test_pcre_named_groups_and_end_anchor_are_translated() -> None:
    assert matches({"s": {"$regex": r"(?<word>ab)\k<word>\z"}}, {"s": "xabab"})
    assert not matches({"s": {"$regex": r"ab\z"}}, {"s": "ab\n"})
    assert matches({"s": {"$regex": r"ab\Z"}}, {"s": "ab\n"})


def test_object_ids_do_not_equal_their_hex_strings() -> None:
    oid = ObjectId()
    assert matches({"r": oid}, {"r": oid})
    assert not matches({"r": str(oid)}, {"r": oid})


# ----- properties on random documents and filters -----

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([0.5, -1.5, 2.0, float("nan")]),
    st.sampled_from(["", "a", "b", "ab"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "0"]), inner, max_size=2),
    ),
    max_leaves=6,
)
_DOCS = st.dictionaries(st.sampled_from(["a", "b", "c"]), _VALUES, max_size=3)
_PATHS = st.sampled_from(["a", "b", "a.b", "a.0", "b.a", "a.b.a", "c"])
_LEAF_FILTERS = st.one_of(
    st.builds(lambda p, v: {p: v}, _PATHS, _VALUES),
    st.builds(
        lambda p, op, v: {p: {op: v}},
        _PATHS,
        st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]),
        _SCALARS,
    ),
    st.builds(lambda p, vs: {p: {"$in": vs}}, _PATHS, st.lists(_SCALARS, max_size=3)),
    st.builds(lambda p, b: {p: {"$exists": b}}, _PATHS, st.booleans()),
    st.builds(lambda p, n: {p: {"$size": n}}, _PATHS, st.integers(0, 3)),
    st.builds(
        lambda p, t: {p: {"$type": t}},
        _PATHS,
        st.sampled_from(["number", "string", "array", "null", "object"]),
    ),
    st.builds(lambda p, v: {p: {"$elemMatch": {"$eq": v}}}, _PATHS, _SCALARS),
    st.builds(lambda p, v: {p: {"$all": [v]}}, _PATHS, _SCALARS),
)
_FILTERS = st.recursive(
    _LEAF_FILTERS,
    lambda inner: st.one_of(
        st.builds(lambda fs: {"$and": fs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda fs: {"$or": fs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda fs: {"$nor": fs}, st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=5,
)
_FIELD_OPERATOR_FILTERS = st.builds(
    lambda p, ops: {p: {"$not": ops}},
    _PATHS,
    st.one_of(
        st.builds(lambda op, v: {op: v}, st.sampled_from(["$gt", "$lte", "$eq"]), _SCALARS),
        st.builds(lambda vs: {"$in": vs}, st.lists(_SCALARS, max_size=3)),
        st.builds(lambda v: {"$gte": v, "$lt": 3}, _SCALARS),
        st.builds(lambda n: {"$size": n}, st.integers(0, 2)),
    ),
)
_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(_FILTERS, _DOCS)
def test_nor_is_the_complement_of_or(filter: dict[str, Any], doc: dict[str, Any]) -> None:
    assert matches({"$nor": [filter]}, doc) is (not matches({"$or": [filter]}, doc))


@_SETTINGS
@given(st.lists(_FILTERS, min_size=1, max_size=3), _DOCS)
def test_and_or_agree_with_all_any(filters: list[dict[str, Any]], doc: dict[str, Any]) -> None:
    each = [matches(f, doc) for f in filters]
    assert matches({"$and": filters}, doc) is all(each)
    assert matches({"$or": filters}, doc) is any(each)


@_SETTINGS
@given(_FIELD_OPERATOR_FILTERS, _DOCS)
def test_not_is_the_complement_of_its_operators(filter: dict[str, Any], doc: dict[str, Any]) -> None:
    ((path, spec),) = filter.items()
    positive = {path: spec["$not"]}
    assert matches(filter, doc) is (not matches(positive, doc))


@_SETTINGS
@given(_PATHS, _SCALARS, _DOCS)
def test_ne_and_nin_are_complements(path: str, value: Any, doc: dict[str, Any]) -> None:
    assert matches({path: {"$ne": value}}, doc) is (not matches({path: {"$eq": value}}, doc))
    assert matches({path: {"$nin": [value]}}, doc) is (not matches({path: {"$in": [value]}}, doc))


_DEEP_PATHS = st.sampled_from(["a", "a.b", "a.b.c", "a.0", "a.0.b", "a.b.0", "b.a.b", "a.1"])


@_SETTINGS
@given(_DEEP_PATHS, _SCALARS, _DOCS)
def test_inline_path_resolution_agrees_with_the_general_traversal(
    path: str, value: Any, doc: dict[str, Any]
) -> None:
    # The compiled predicates resolve common path shapes inline; path_values is the reference.
    reached = path_values(doc, split_path(path), LeafArrays.EXPAND)
    if value is None:
        expected = any(v is None or v is MISSING for v in reached)
    else:
        expected = any(values_equal(v, value) for v in reached)
    assert matches({path: value}, doc) is expected
    assert matches({path: {"$gte": value, "$lte": value}}, doc) is matches(
        {"$and": [{path: {"$gte": value}}, {path: {"$lte": value}}]}, doc
    )


@_SETTINGS
@given(_FILTERS, _DOCS)
def test_matching_never_mutates_documents(filter: dict[str, Any], doc: dict[str, Any]) -> None:
    before = copy.deepcopy(doc)
    matches(filter, doc)
    assert repr(doc) == repr(before)


_OPERATOR_NAMES = st.sampled_from(
    ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$type", "$size", "$mod",
     "$all", "$elemMatch", "$not", "$regex", "$options", "$bitsAllSet", "$bitsAnyClear", "$where",
     "$and", "$or", "$nor", "$expr", "$comment", "$foo", "$text", "$near", "plain"]
)  # fmt: skip
_ANY_OPERAND = st.recursive(
    st.one_of(
        _SCALARS,
        st.sampled_from([float("inf"), -(2**70), 2**70, 1e300, Decimal128("NaN"), Decimal128("1.5")]),
        st.just(re.compile("a")),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(_OPERATOR_NAMES, inner, max_size=2),
    ),
    max_leaves=6,
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.one_of(_OPERATOR_NAMES, _PATHS), _ANY_OPERAND, max_size=3), _DOCS)
def test_compile_raises_only_query_error(filter: dict[str, Any], doc: dict[str, Any]) -> None:
    try:
        predicate = compile_filter(filter)
    except QueryError:
        return
    assert predicate(doc) in (True, False)
