"""Aggregation pipelines: the shared case table, aliasing guarantees, $sample, and stage properties."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bson import Decimal128
from hypothesis import given, settings
from hypothesis import strategies as st

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.accumulators import ACCUMULATORS
from mindtrace.database.query.expressions import OPERATORS
from mindtrace.database.query.pipeline import compile_pipeline, run_pipeline
from mindtrace.database.query.stages import STAGES
from tests.query.cases import PipelineCase
from tests.query.cases.pipeline_cases import PIPELINE_CASES


def canonical(value: Any) -> Any:
    """A comparable form that keeps BSON types apart (``1`` vs ``1.0`` vs ``True``), naive dates as UTC."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, float):
        return ("double", "NaN" if value != value else value)
    if isinstance(value, Decimal | Decimal128):
        number = value.to_decimal() if isinstance(value, Decimal128) else value
        return ("decimal", str(number.normalize()) if number.is_finite() else str(number))
    if isinstance(value, dt.datetime):
        return ("date", value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC))
    if isinstance(value, dict):
        return ("document", tuple((k, canonical(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("array", tuple(canonical(v) for v in value))
    return (type(value).__name__, value)


def assert_documents(actual: list[dict[str, Any]], expected: list[dict[str, Any]], *, ordered: bool) -> None:
    got = [canonical(doc) for doc in actual]
    want = [canonical(doc) for doc in expected]
    if ordered:
        assert got == want, f"\nactual:   {actual}\nexpected: {expected}"
    else:
        assert sorted(map(repr, got)) == sorted(map(repr, want)), (
            f"\nactual:   {actual}\nexpected: {expected}"
        )


@pytest.mark.parametrize("case", PIPELINE_CASES, ids=lambda case: case.name)
def test_pipeline_case(case: PipelineCase) -> None:
    docs = copy.deepcopy(case.docs)
    collections = copy.deepcopy(case.collections)
    if isinstance(case.expected, type):
        with pytest.raises(case.expected):
            run_pipeline(docs, case.pipeline, collections=collections)
    else:
        result = run_pipeline(docs, case.pipeline, collections=collections)
        assert_documents(result, case.expected, ordered=case.ordered)
    # No stage may modify its input documents or the collections it joins.
    assert docs == case.docs
    assert collections == case.collections


# ----- Outputs never alias inputs -----------------------------------------------------------------

ALIASING_PIPELINES = [
    [],
    [{"$match": {"a.b": 1}}],
    [{"$addFields": {"a.c": 2}}],
    [{"$unwind": "$list"}],
    [{"$group": {"_id": None, "docs": {"$push": "$$ROOT"}, "a": {"$first": "$a"}}}],
    [{"$replaceWith": "$a"}],
    [{"$facet": {"x": [{"$limit": 1}]}}],
    [{"$lookup": {"from": "other", "localField": "a.b", "foreignField": "k", "as": "j"}}],
    [{"$sort": {"a.b": 1}}],
    [{"$project": {"a": 1, "list": 1, "copy": "$a"}}, {"$sort": {"_id": 1}}],
    [{"$project": {"a": 1}}, {"$addFields": {"b": "$a"}}],
]


def _mutate_everything(value: Any) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _mutate_everything(item)
        value["__mutated__"] = True
    elif isinstance(value, list):
        for item in value:
            _mutate_everything(item)
        value.append("__mutated__")


@pytest.mark.parametrize("pipeline", ALIASING_PIPELINES, ids=lambda p: next(iter(p[0])) if p else "empty")
def test_results_never_alias_inputs(pipeline: list[dict[str, Any]]) -> None:
    docs = [{"_id": 1, "a": {"b": 1, "nested": [1, {"x": 1}]}, "list": [{"y": [1]}]}]
    other = [{"_id": 9, "k": 1, "deep": {"z": [1]}}]
    snapshot_docs, snapshot_other = copy.deepcopy(docs), copy.deepcopy(other)
    result = run_pipeline(docs, pipeline, collections={"other": other})
    assert result
    _mutate_everything(result)
    assert docs == snapshot_docs
    assert other == snapshot_other


# ----- $sample (random: properties, not exact output) -----------------------------------------------


def test_sample_returns_a_subset_of_the_requested_size() -> None:
    docs = [{"_id": i} for i in range(50)]
    result = run_pipeline(docs, [{"$sample": {"size": 7}}])
    ids = [d["_id"] for d in result]
    assert len(ids) == 7
    assert len(set(ids)) == 7
    assert set(ids) <= set(range(50))


def test_sample_larger_than_input_returns_everything_once() -> None:
    docs = [{"_id": i} for i in range(5)]
    result = run_pipeline(docs, [{"$sample": {"size": 10}}])
    assert sorted(d["_id"] for d in result) == list(range(5))


def test_sample_is_random() -> None:
    docs = [{"_id": i} for i in range(100)]
    draws = {tuple(d["_id"] for d in run_pipeline(docs, [{"$sample": {"size": 5}}])) for _ in range(20)}
    assert len(draws) > 1


@pytest.mark.parametrize("spec", [{"size": -1}, {"size": "3"}, {}, {"size": 1, "x": 1}, 3])
def test_sample_rejects_bad_specs(spec: Any) -> None:
    with pytest.raises(QueryError) as info:
        run_pipeline([{"_id": 1}], [{"$sample": spec}])
    assert info.value.operator == "$sample"


# ----- Errors name the stage or operator ------------------------------------------------------------


@pytest.mark.parametrize(
    ("pipeline", "operator", "fragment"),
    [
        ([{"$limit": -1}], "$limit", "positive"),
        ([{"$skip": -2}], "$skip", "non-negative"),
        ([{"$group": {"total": {"$sum": 1}}}], "$group", "_id"),
        ([{"$group": {"_id": None, "x": {"$median": "$a"}}}], "$median", "unknown group operator"),
        ([{"$out": "x"}], "$out", "not supported on this backend"),
        ([{"$merge": {"into": "x"}}], "$merge", "not supported on this backend"),
        ([{"$geoNear": {"near": [0, 0], "distanceField": "d"}}], "$geoNear", "not supported on this backend"),
        ([{"$search": {}}], "$search", "not supported on this backend"),
        ([{"$nope": {}}], "$nope", "unrecognized pipeline stage"),
        ([{"$project": {"r": {"$divide": [1, 0]}}}], "$divide", "can't $divide by zero"),
        ([{"$addFields": {"r": {"$function": {}}}}], "$function", "JavaScript"),
        ([{"$group": {"_id": None, "r": {"$accumulator": {}}}}], "$accumulator", "JavaScript"),
        ([{"$addFields": {"r": {"$add": ["a", 1]}}}], "$add", "string"),
    ],
)
def test_errors_name_the_culprit(pipeline: list[dict[str, Any]], operator: str, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        run_pipeline([{"_id": 1}], pipeline)
    assert info.value.operator == operator
    assert fragment in str(info.value)


def test_pipeline_must_be_a_list() -> None:
    with pytest.raises(QueryError):
        run_pipeline([], {"$match": {}})  # type: ignore[arg-type]


def test_invalid_stage_fails_even_without_input() -> None:
    with pytest.raises(QueryError):
        run_pipeline([], [{"$group": {"_id": None, "a.b": {"$sum": 1}}}])


# ----- Behaviour outside the table ----------------------------------------------------------------


def test_compiled_pipeline_runs_many_times() -> None:
    compiled = compile_pipeline([{"$group": {"_id": "$k", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}])
    assert compiled.run([{"k": 1}, {"k": 1}]) == [{"_id": 1, "n": 2}]
    assert compiled.run([{"k": "a"}]) == [{"_id": "a", "n": 1}]


def test_now_is_fixed_for_the_whole_run() -> None:
    docs = [{"_id": i} for i in range(200)]
    result = run_pipeline(docs, [{"$addFields": {"t": "$$NOW"}}, {"$group": {"_id": "$t"}}])
    assert len(result) == 1
    assert result[0]["_id"].tzinfo is not None


def test_nested_lookup_sees_outer_let_variables() -> None:
    orders = [{"_id": 1, "sku": "a", "region": "eu"}]
    items = [{"_id": 10, "sku": "a"}, {"_id": 11, "sku": "b"}]
    prices = [{"sku": "a", "region": "eu", "price": 3}, {"sku": "a", "region": "us", "price": 4}]
    pipeline = [
        {
            "$lookup": {
                "from": "items",
                "let": {"sku": "$sku", "region": "$region"},
                "pipeline": [
                    {"$match": {"$expr": {"$eq": ["$sku", "$$sku"]}}},
                    {
                        "$lookup": {
                            "from": "prices",
                            "let": {"s": "$sku"},
                            "pipeline": [
                                {
                                    "$match": {
                                        "$expr": {
                                            "$and": [
                                                {"$eq": ["$sku", "$$s"]},
                                                {"$eq": ["$region", "$$region"]},
                                            ]
                                        }
                                    }
                                }
                            ],
                            "as": "prices",
                        }
                    },
                ],
                "as": "items",
            }
        },
    ]
    result = run_pipeline(orders, pipeline, collections={"items": items, "prices": prices})
    assert [p["price"] for p in result[0]["items"][0]["prices"]] == [3]


def test_lookup_undefined_variable_is_rejected_when_compiling() -> None:
    with pytest.raises(QueryError, match="undefined variable"):
        run_pipeline(
            [], [{"$lookup": {"from": "x", "pipeline": [{"$match": {"$expr": "$$nope"}}], "as": "y"}}]
        )


def test_group_keys_of_many_types() -> None:
    docs = [
        {"k": uuid.UUID(int=1)},
        {"k": uuid.UUID(int=1)},
        {"k": Decimal128("2")},
        {"k": 2},
        {"k": dt.datetime(2020, 1, 1)},
        {"k": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)},
        {"k": [1, {"a": 1}]},
        {"k": [1.0, {"a": 1}]},
        {"k": True},
        {"k": 1},
    ]
    result = run_pipeline(docs, [{"$group": {"_id": "$k", "n": {"$sum": 1}}}])
    assert [r["n"] for r in result] == [2, 2, 2, 2, 1, 1]


# ----- Properties -------------------------------------------------------------------------------------

small_docs = st.lists(
    st.fixed_dictionaries(
        {
            "g": st.sampled_from(["a", "b", "c", None]),
            "v": st.integers(-5, 5),
            "tags": st.lists(st.integers(0, 3)),
        }
    ),
    max_size=25,
).map(lambda docs: [{"_id": i, **doc} for i, doc in enumerate(docs)])


@settings(max_examples=60, deadline=None)
@given(small_docs)
def test_group_null_sum_one_equals_count(docs: list[dict[str, Any]]) -> None:
    grouped = run_pipeline(docs, [{"$group": {"_id": None, "n": {"$sum": 1}}}])
    counted = run_pipeline(docs, [{"$count": "n"}])
    assert [g["n"] for g in grouped] == [c["n"] for c in counted]


@settings(max_examples=60, deadline=None)
@given(small_docs, st.integers(0, 30), st.integers(1, 30))
def test_skip_limit_equals_slicing_after_sort(docs: list[dict[str, Any]], skip: int, limit: int) -> None:
    ordered = run_pipeline(docs, [{"$sort": {"v": 1, "_id": -1}}])
    paged = run_pipeline(docs, [{"$sort": {"v": 1, "_id": -1}}, {"$skip": skip}, {"$limit": limit}])
    assert paged == ordered[skip : skip + limit]


@settings(max_examples=60, deadline=None)
@given(small_docs)
def test_unwind_then_push_rebuilds_arrays(docs: list[dict[str, Any]]) -> None:
    rebuilt = run_pipeline(
        docs,
        [
            {"$unwind": "$tags"},
            {"$group": {"_id": "$_id", "tags": {"$push": "$tags"}}},
            {"$sort": {"_id": 1}},
        ],
    )
    assert rebuilt == [{"_id": d["_id"], "tags": d["tags"]} for d in docs if d["tags"]]


@settings(max_examples=60, deadline=None)
@given(small_docs)
def test_group_sum_matches_python(docs: list[dict[str, Any]]) -> None:
    result = run_pipeline(docs, [{"$group": {"_id": "$g", "total": {"$sum": "$v"}, "n": {"$sum": 1}}}])
    expected: dict[Any, list[int]] = {}
    for doc in docs:
        expected.setdefault(doc["g"], []).append(doc["v"])
    assert {r["_id"]: (r["total"], r["n"]) for r in result} == {
        k: (sum(v), len(v)) for k, v in expected.items()
    }
    assert [r["_id"] for r in result] == list(expected)  # first-seen order


def test_support_table_lists_every_stage_operator_and_accumulator() -> None:
    table = (Path(__file__).parents[2] / "docs" / "queries-aggregation.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    listed = {name for row in rows for name in row.split("|")[1].replace(",", " ").replace("`", " ").split()}
    assert set(STAGES) - listed == set()
    assert set(OPERATORS) - listed == set()
    assert set(ACCUMULATORS) - listed == set()
