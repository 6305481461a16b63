"""The keys of a document in a unique index (``backends/index_keys.py``, shared by Local and Redis).

Each case states MongoDB's key generation for one document; the cases marked in the conformance
suite's ``SECANTUS_DEVIATIONS`` are where SecantusDB differs from it. A derandomized property
checks what Redis's planner relies on: a document that ``{path: value}`` matches always holds
``value``'s key, so a lookup through the keys never misses a match.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mindtrace.database.backends.engine_backed import predicate
from mindtrace.database.backends.index_keys import (
    UNDEFINED,
    encode_key,
    unique_claims,
    unique_component,
    unique_keys,
)
from mindtrace.database.core.exceptions import QueryError

PLUS2 = dt.timezone(dt.timedelta(hours=2))


def keys(doc: dict[str, Any], *paths: str, sparse: bool = False) -> list[tuple[Any, ...]]:
    return list(unique_keys(doc, paths, sparse=sparse).values())


@pytest.mark.parametrize(
    ("doc", "paths", "sparse", "expected"),
    [
        ({"a": 1}, ["a"], False, [(1,)]),
        ({"a": [1, 2]}, ["a"], False, [(1,), (2,)]),
        ({"a": [1, 1.0, Decimal("1.00")]}, ["a"], False, [(1,)]),  # one key per value
        ({"a": []}, ["a"], False, [(UNDEFINED,)]),
        ({"a": [[1, 2], 3]}, ["a"], False, [([1, 2],), (3,)]),  # a nested array is one value
        ({}, ["a"], False, [(None,)]),
        ({}, ["a"], True, []),
        ({"a": None}, ["a"], True, [(None,)]),  # sparse indexes an explicit null
        ({"a": {"b": 1}}, ["a.b"], False, [(1,)]),
        ({"a": 5}, ["a.b"], False, [(None,)]),
        ({"a": 5}, ["a.b"], True, []),
        ({"a": [{"b": 1}, {"b": 2}, {"c": 3}]}, ["a.b"], False, [(1,), (2,), (None,)]),
        ({"a": [1, {"b": 2}]}, ["a.b"], False, [(None,), (2,)]),
        ({"a": [1, 2]}, ["a.b"], False, [(None,)]),
        ({"a": [1, 2]}, ["a.b"], True, []),  # no element has the field: skipped
        ({"a": []}, ["a.b"], False, [(None,)]),
        ({"a": [{"b": [1, 2]}, {"b": 3}]}, ["a.b"], False, [(1,), (2,), (3,)]),
        ({"a": [[{"b": 1}]]}, ["a.b"], False, [(None,)]),
        ({"a": [1, 5]}, ["a.1"], False, [(None,), (5,)]),  # a field named "1", or the position
        ({"a": [{"1": 7}, 5]}, ["a.1"], False, [(7,), (5,), (None,)]),
        ({"a": [1, 2], "b": "x"}, ["a", "b"], False, [(1, "x"), (2, "x")]),
        ({"a": [{"b": 1, "c": 2}, {"b": 3}]}, ["a.b", "a.c"], False, [(1, 2), (3, None)]),
        ({"b": 1}, ["a", "b"], True, [(None, 1)]),
        ({}, ["a", "b"], True, []),
    ],
)
def test_keys_follow_mongodb(
    doc: dict[str, Any], paths: list[str], sparse: bool, expected: list[Any]
) -> None:
    assert keys(doc, *paths, sparse=sparse) == expected


def test_arrays_at_two_fields_are_refused() -> None:
    with pytest.raises(QueryError, match="parallel arrays") as info:
        keys({"a": [1], "b": []}, "a", "b")
    assert "'a'" in str(info.value) and "'b'" in str(info.value)
    assert keys({"a": [{"b": 1, "c": 2}]}, "a.b", "a.c") == [(1, 2)]  # one array, two paths


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        (Decimal("1.0"), Decimal("1.00"), True),
        (Decimal("1.0"), 1, True),
        (1, 1.0, True),
        (-0.0, 0, True),
        (float("nan"), Decimal("NaN"), True),
        (True, 1, False),
        (False, 0, False),
        (dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC), dt.datetime(2024, 1, 1, 14, tzinfo=PLUS2), True),
        (dt.datetime(2024, 1, 1, 12), dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC), True),
        ("1", 1, False),
        ({"x": 1, "y": 2}, {"y": 2, "x": 1}, False),  # field order matters
        ({"x": 1}, {"x": 1.0}, True),
        ([1, 2], [1.0, 2], True),
        (None, UNDEFINED, False),
        ([], UNDEFINED, False),
    ],
)
def test_values_collide_as_in_mongodb(left: Any, right: Any, equal: bool) -> None:
    assert (encode_key([left]) == encode_key([right])) is equal


@pytest.mark.parametrize("value", [None, "x", "", "a\x00b", 0, -7, 2**70, True, False, 1.5, [1], {"a": 1}])
@pytest.mark.parametrize("sparse", [False, True])
def test_the_top_level_shortcut_equals_the_walk(value: Any, sparse: bool) -> None:
    for doc in ({"f": value}, {}):
        assert unique_claims(doc, ["f"], sparse=sparse) == list(unique_keys(doc, ["f"], sparse=sparse))


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, -0.0, 1.0, 2.5, Decimal("1.00"), Decimal("2.50")]),
    st.sampled_from(["", "a", "b"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "0", "1"]), inner, max_size=3)
    ),
    max_leaves=8,
)
documents = st.dictionaries(st.sampled_from(["a", "b"]), values, max_size=2)
paths = st.sampled_from(["a", "b", "a.a", "a.b", "a.0", "a.1", "a.a.b", "a.0.a", "b.1.a"])


@settings(max_examples=2000, deadline=None)
@given(doc=documents, path=paths, value=scalars)
@example(doc={"a": [{"1": 5}]}, path="a.1", value=5)
@example(doc={"a": [1, 5]}, path="a.1", value=5)
@example(doc={"a": [{"b": 1}, {}]}, path="a.b", value=None)
@example(doc={"a": {"b": [[1]]}}, path="a.b", value=1)
@example(doc={"a": [{}]}, path="a.0", value=None)
@example(doc={"a": [{"a": 0, "0": None}]}, path="a.0.a", value=0)
@example(doc={"a": [[{"a": 0}]]}, path="a.0.a", value=0)
def test_a_matching_document_holds_the_value_as_a_key(doc: dict[str, Any], path: str, value: Any) -> None:
    if predicate({path: value})(doc):
        assert unique_component(value) in unique_keys(doc, [path], sparse=False)
