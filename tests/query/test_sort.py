"""The sort engine against the documented-behaviour table, stability, and properties on random data."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query import sort_documents
from mindtrace.database.query.compare import compare_values
from mindtrace.database.query.sort import parse_sort, sort_key
from tests.query.cases import SortCase
from tests.query.cases.sort_cases import SORT_CASES


def test_case_names_are_unique() -> None:
    names = [case.name for case in SORT_CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", SORT_CASES, ids=lambda case: case.name)
def test_sort_case(case: SortCase) -> None:
    before = copy.deepcopy(case.docs)
    if isinstance(case.expected, type):
        with pytest.raises(case.expected):
            sort_documents(case.docs, case.sort)
        with pytest.raises(case.expected):
            sort_key(case.sort)
    else:
        assert [doc["_id"] for doc in sort_documents(case.docs, case.sort)] == case.expected
        assert [doc["_id"] for doc in sorted(case.docs, key=sort_key(case.sort))] == case.expected
    assert case.docs == before, "sorting must not mutate documents"


def test_equal_keys_keep_input_order_in_both_directions() -> None:
    docs = [{"_id": 3, "v": 1}, {"_id": 1, "v": 1.0}, {"_id": 2, "v": 0}, {"_id": 4, "v": [1, 0]}]
    assert [d["_id"] for d in sort_documents(docs, [("v", 1)])] == [2, 4, 3, 1]
    assert [d["_id"] for d in sort_documents(docs, [("v", -1)])] == [3, 1, 4, 2]


def test_mapping_spec_and_natural_order() -> None:
    docs = [{"_id": 2, "v": "b"}, {"_id": 1, "v": "a"}]
    assert [d["_id"] for d in sort_documents(docs, {"v": 1})] == [1, 2]
    assert [d["_id"] for d in sort_documents(docs, {"$natural": -1})] == [1, 2]
    assert [d["_id"] for d in sort_documents(docs, None)] == [2, 1]
    assert [d["_id"] for d in sort_documents(docs, [])] == [2, 1]


def test_python_decimal_and_date_values() -> None:
    docs = [{"_id": 1, "v": Decimal("1.25")}, {"_id": 2, "v": 1}, {"_id": 3, "v": dt.date(2020, 1, 1)}]
    assert [d["_id"] for d in sort_documents(docs, [("v", -1)])] == [3, 1, 2]


def test_invalid_specs_raise_query_error() -> None:
    for spec in ("v", [("v",)], [("v", True)], 5, [("$v", 1)], [("", 1)], {"$natural": 1, "v": 1}):
        with pytest.raises(QueryError):
            parse_sort(spec)  # type: ignore[arg-type]


def test_sort_key_refuses_natural() -> None:
    with pytest.raises(QueryError):
        sort_key({"$natural": 1})


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, -2.5, float("nan"), float("inf")]),
    st.sampled_from(["", "a", "B", "ab"]),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 2), max_size=2),
)
_VALUES = st.one_of(
    _SCALARS, st.lists(_SCALARS, max_size=3), st.lists(st.fixed_dictionaries({"b": _SCALARS}), max_size=2)
)
_DOCS = st.lists(
    st.builds(
        lambda i, d: {"_id": i, **d},
        st.integers(),
        st.dictionaries(st.sampled_from(["a", "b"]), _VALUES, max_size=2),
    ),
    max_size=8,
)
_SPECS = st.lists(
    st.tuples(st.sampled_from(["a", "b", "a.b", "b.b"]), st.sampled_from([1, -1])),
    min_size=1,
    max_size=3,
    unique_by=lambda item: item[0],
)


@settings(max_examples=300, deadline=None)
@given(_DOCS, _SPECS)
def test_multi_pass_sort_agrees_with_the_key_function(
    docs: list[dict[str, Any]], spec: list[tuple[str, int]]
) -> None:
    by_passes = sort_documents(docs, spec)
    by_key = sorted(docs, key=sort_key(spec))
    assert [id(d) for d in by_passes] == [id(d) for d in by_key]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.builds(lambda v: {"v": v}, _SCALARS), max_size=8), st.sampled_from([1, -1]))
def test_scalar_keys_follow_compare_values(docs: list[dict[str, Any]], direction: int) -> None:
    ordered = sort_documents(docs, [("v", direction)])
    assert sorted(map(id, ordered)) == sorted(map(id, docs))
    for left, right in zip(ordered, ordered[1:], strict=False):
        assert compare_values(left.get("v"), right.get("v")) * direction <= 0
