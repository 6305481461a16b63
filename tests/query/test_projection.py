"""The projection engine against the documented-behaviour table, $project-stage rules, and properties."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query import project
from mindtrace.database.query.projection import compile_projection
from tests.query.cases import ProjectionCase
from tests.query.cases.projection_cases import PROJECTION_CASES


def _ordered(value: Any) -> Any:
    # Field order is part of MongoDB's answer: compare documents as lists of pairs.
    if isinstance(value, dict):
        return [(key, _ordered(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    return value


def test_case_names_are_unique() -> None:
    names = [case.name for case in PROJECTION_CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", PROJECTION_CASES, ids=lambda case: case.name)
def test_projection_case(case: ProjectionCase) -> None:
    before = copy.deepcopy(case.doc)
    if isinstance(case.expected, type):
        with pytest.raises(case.expected):
            project(case.doc, case.projection, filter=case.filter)
    else:
        result = project(case.doc, case.projection, filter=case.filter)
        assert _ordered(result) == _ordered(case.expected)
    assert case.doc == before, "projection must not mutate the document"


# ----- the aggregation $project stage's rules (allow_find_operators=False) -----


def test_project_stage_slice_is_the_expression_operator() -> None:
    doc = {"_id": 1, "arr": [1, 2, 3]}
    assert project(doc, {"first": {"$slice": ["$arr", 2]}}, allow_find_operators=False) == {
        "_id": 1,
        "first": [1, 2],
    }
    with pytest.raises(QueryError):
        project(doc, {"arr": {"$slice": 2}}, allow_find_operators=False)


def test_find_slice_falls_back_to_the_expression_operator() -> None:
    doc = {"_id": 1, "arr": [1, 2, 3]}
    assert project(doc, {"last": {"$slice": ["$arr", -1]}}) == {"_id": 1, "last": [3]}


def test_project_stage_refuses_find_only_operators() -> None:
    doc = {"_id": 1, "arr": [1, 2, 3]}
    with pytest.raises(QueryError, match=r"\$elemMatch"):
        project(doc, {"arr": {"$elemMatch": {"$gt": 1}}}, allow_find_operators=False)
    with pytest.raises(QueryError, match="positional"):
        project(doc, {"arr.$": 1}, filter={"arr": 2}, allow_find_operators=False)


def test_positional_needs_the_filter() -> None:
    with pytest.raises(QueryError, match="matcher"):
        project({"_id": 1, "a": [1]}, {"a.$": 1})


def test_positional_error_when_no_element_matches_alone() -> None:
    # Whole-array equality matches the document but selects no single element.
    with pytest.raises(QueryError, match="matching element"):
        project({"_id": 1, "a": [1, 2]}, {"a.$": 1}, filter={"a": [1, 2]})


def test_meta_is_unsupported() -> None:
    with pytest.raises(QueryError) as raised:
        project({"_id": 1}, {"score": {"$meta": "textScore"}})
    assert raised.value.operator == "$meta"


def test_variables_reach_expressions() -> None:
    compiled = compile_projection({"_id": 0, "total": {"$add": ["$n", "$$bonus"]}}, variable_names=["bonus"])
    assert compiled.apply({"n": 2}, {"bonus": 3}) == {"total": 5}
    assert project({"n": 2}, {"_id": 0, "x": "$$k"}, variables={"k": "v"}) == {"x": "v"}


def test_result_shares_no_containers_with_input() -> None:
    doc = {"_id": 1, "a": {"b": [1, 2]}, "c": [{"d": 1}]}
    for spec in ({}, {"a": 1}, {"c": 0}, {"x": "$a"}):
        result = project(doc, spec)
        for value in result.values():
            if isinstance(value, dict):
                value["mutated"] = True
            elif isinstance(value, list):
                value.append("mutated")
    assert doc == {"_id": 1, "a": {"b": [1, 2]}, "c": [{"d": 1}]}


def test_compiled_projection_reports_its_kind() -> None:
    assert compile_projection({"a": 1}).is_inclusion
    assert not compile_projection({"a": 0}).is_inclusion
    assert not compile_projection({}).is_inclusion


def test_projection_must_be_a_mapping() -> None:
    with pytest.raises(QueryError):
        compile_projection(["a"])  # type: ignore[arg-type]


# ----- properties -----

_VALUES = st.recursive(
    st.one_of(st.none(), st.integers(-3, 3), st.sampled_from(["x", "y"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["b", "c"]), inner, max_size=2)
    ),
    max_leaves=5,
)
_DOCS = st.builds(
    lambda d: {"_id": 1, **d}, st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), _VALUES, max_size=4)
)
_FIELDS = st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4)


@settings(max_examples=300, deadline=None)
@given(_DOCS, _FIELDS)
def test_inclusion_and_exclusion_of_top_level_fields_partition_the_document(
    doc: dict[str, Any], fields: list[str]
) -> None:
    included = project(doc, {field: 1 for field in fields} | {"_id": 0}) if fields else {}
    excluded = (
        project(doc, {field: 0 for field in fields} | {"_id": 0}) if fields else project(doc, {"_id": 0})
    )
    assert included | excluded == {k: v for k, v in doc.items() if k != "_id"}
    assert not included.keys() & excluded.keys()


@settings(max_examples=300, deadline=None)
@given(_DOCS, st.sampled_from(["a.b", "a.c", "b.b", "c.b.c"]))
def test_dotted_inclusion_is_idempotent_and_exclusion_removes_every_leaf(
    doc: dict[str, Any], path: str
) -> None:
    kept = project(doc, {path: 1, "_id": 0})
    assert project(kept, {path: 1, "_id": 0}) == kept
    dropped = project(doc, {path: 0, "_id": 0})
    # Re-including the excluded path finds only empty documents and arrays on the way.
    assert _scalar_leaves(project(dropped, {path: 1, "_id": 0})) == []


def _scalar_leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _scalar_leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _scalar_leaves(item)]
    return [value]
