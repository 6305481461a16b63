"""Aggregation expressions: the shared table evaluated directly, plus compile-time and property checks."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

import pytest
from bson import Decimal128, Int64
from hypothesis import given, settings
from hypothesis import strategies as st

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.compare import MISSING
from mindtrace.database.query.expressions import OPERATORS, compile_expression, evaluate
from tests.query.cases import PipelineCase
from tests.query.cases.pipeline_cases import EXPRESSION_CASES
from tests.query.test_pipeline import canonical


def _expression(case: PipelineCase) -> Any:
    return case.pipeline[0]["$replaceWith"]["r"]


@pytest.mark.parametrize("case", EXPRESSION_CASES, ids=lambda case: case.name)
def test_expression_case(case: PipelineCase) -> None:
    expr, doc = _expression(case), case.docs[0]
    if isinstance(case.expected, type):
        with pytest.raises(case.expected):
            evaluate(expr, doc)
        return
    expected = case.expected[0].get("r", MISSING)
    assert canonical(evaluate(expr, doc)) == canonical(expected)


def test_every_listed_operator_has_a_case() -> None:
    # Guards the support table: an operator added without a table case fails here.
    used: set[str] = set()

    def collect(expr: Any) -> None:
        if isinstance(expr, dict):
            for key, value in expr.items():
                if key.startswith("$"):
                    used.add(key)
                collect(value)
        elif isinstance(expr, list):
            for item in expr:
                collect(item)

    for case in EXPRESSION_CASES:
        collect(_expression(case))
    untested = {
        "$rand",
        "$sin",
        "$cos",
        "$tan",
        "$asin",
        "$acos",
        "$atan",
        "$atan2",
        "$sinh",
        "$cosh",
        "$tanh",
        "$asinh",
        "$acosh",
        "$atanh",
        "$degreesToRadians",
        "$radiansToDegrees",
        "$regexFindAll",
    }
    assert set(OPERATORS) - used - untested == set()


# ----- Compilation --------------------------------------------------------------------------------


def test_compiled_expression_is_reusable_with_variables() -> None:
    compiled = compile_expression({"$multiply": ["$v", "$$factor"]}, variables=["factor"])
    assert [compiled({"v": v}, {"factor": 3}) for v in (1, 2, 3)] == [3, 6, 9]


def test_evaluate_with_variables() -> None:
    assert (
        evaluate({"$concat": ["$$greeting", ", ", "$name"]}, {"name": "Ada"}, {"greeting": "Hi"}) == "Hi, Ada"
    )


def test_errors_are_raised_at_compile_time() -> None:
    # Never evaluated: the errors come from parsing.
    for expr in ({"$nope": 1}, "$$undefined", {"$abs": [1, 2]}, {"$let": {"vars": {"Bad": 1}, "in": 1}}):
        with pytest.raises(QueryError):
            compile_expression(expr)


@pytest.mark.parametrize("name", ["$function", "$accumulator", "$where"])
def test_javascript_is_refused(name: str) -> None:
    with pytest.raises(QueryError, match="JavaScript") as info:
        compile_expression({name: {}})
    assert info.value.operator == name


def test_unknown_operator_is_named() -> None:
    with pytest.raises(QueryError) as info:
        compile_expression({"$frobnicate": 1})
    assert info.value.operator == "$frobnicate"
    assert "$frobnicate" in str(info.value)


def test_divide_by_zero_message() -> None:
    with pytest.raises(QueryError, match=r"can't \$divide by zero"):
        evaluate({"$divide": ["$a", 0]}, {"a": 1})


def test_rand_is_in_unit_interval() -> None:
    values = {evaluate({"$rand": {}}, {}) for _ in range(50)}
    assert all(0 <= v < 1 for v in values)
    assert len(values) > 1


def test_now_is_an_aware_utc_datetime() -> None:
    now = evaluate("$$NOW", {})
    assert isinstance(now, dt.datetime)
    assert now.utcoffset() == dt.timedelta(0)


def test_bson_wrapper_types_are_numbers() -> None:
    assert evaluate({"$add": ["$a", "$b"]}, {"a": Decimal128("1.5"), "b": Int64(2)}) == Decimal("3.5")
    assert evaluate({"$type": "$a"}, {"a": Int64(1)}) == "long"


def test_naive_datetimes_are_utc() -> None:
    naive = dt.datetime(2020, 5, 17, 23, 30)
    assert evaluate({"$dayOfMonth": {"date": "$d", "timezone": "+01:00"}}, {"d": naive}) == 18
    result = evaluate({"$add": ["$d", 1000]}, {"d": naive})
    assert result == dt.datetime(2020, 5, 17, 23, 30, 1, tzinfo=dt.UTC)


def test_date_results_have_millisecond_precision() -> None:
    start = dt.datetime(2020, 1, 1, 0, 0, 0, 123456, tzinfo=dt.UTC)
    result = evaluate({"$dateAdd": {"startDate": "$d", "unit": "second", "amount": 1}}, {"d": start})
    assert result == dt.datetime(2020, 1, 1, 0, 0, 1, 123000, tzinfo=dt.UTC)


def test_daylight_saving_is_respected() -> None:
    # 2021-03-14 02:00 America/New_York jumps to 03:00 (UTC-5 becomes UTC-4).
    before = dt.datetime(2021, 3, 13, 12, tzinfo=dt.UTC)
    after_day = evaluate(
        {"$dateAdd": {"startDate": "$d", "unit": "day", "amount": 1, "timezone": "America/New_York"}},
        {"d": before},
    )
    assert after_day == dt.datetime(2021, 3, 14, 11, tzinfo=dt.UTC)  # same wall-clock time, one hour less
    after_hours = evaluate({"$dateAdd": {"startDate": "$d", "unit": "hour", "amount": 24}}, {"d": before})
    assert after_hours == dt.datetime(2021, 3, 14, 12, tzinfo=dt.UTC)


def test_expressions_do_not_modify_their_input() -> None:
    doc = {"o": {"a": 1}, "arr": [3, 1, 2]}
    evaluate({"$setField": {"field": "b", "input": "$o", "value": 2}}, doc)
    evaluate({"$sortArray": {"input": "$arr", "sortBy": 1}}, doc)
    evaluate({"$reverseArray": "$arr"}, doc)
    assert doc == {"o": {"a": 1}, "arr": [3, 1, 2]}


# ----- Properties ----------------------------------------------------------------------------------

ints = st.integers(-(2**40), 2**40)


@settings(max_examples=100, deadline=None)
@given(ints, ints)
def test_add_and_subtract_are_inverse(a: int, b: int) -> None:
    assert evaluate({"$subtract": [{"$add": ["$a", "$b"]}, "$b"]}, {"a": a, "b": b}) == a


@settings(max_examples=100, deadline=None)
@given(st.integers(-(2**31), 2**31 - 1))
def test_to_string_to_int_round_trip(n: int) -> None:
    assert evaluate({"$toInt": {"$toString": "$n"}}, {"n": n}) == n


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=20), st.text(max_size=20))
def test_concat_length_is_additive(a: str, b: str) -> None:
    length = evaluate({"$strLenCP": {"$concat": ["$a", "$b"]}}, {"a": a, "b": b})
    assert length == len(a) + len(b)


@settings(max_examples=100, deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2100, 1, 1)),
    st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "+05:45", "-03:00"]),
)
def test_date_parts_round_trip(moment: dt.datetime, zone: str) -> None:
    instant = moment.replace(microsecond=moment.microsecond // 1000 * 1000, tzinfo=dt.UTC)
    parts = evaluate({"$dateToParts": {"date": "$d", "timezone": zone}}, {"d": instant})
    rebuilt = evaluate(
        {"$dateFromParts": {**{k: {"$literal": v} for k, v in parts.items()}, "timezone": zone}}, {}
    )
    local = instant.astimezone(zoneinfo.ZoneInfo(zone)) if "/" in zone else None
    if local is None or local.fold == 0 and local.replace(fold=1).utcoffset() == local.utcoffset():
        assert rebuilt == instant  # ambiguous wall-clock times (DST fall-back) resolve to the first instant


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-3, 3), max_size=10), st.lists(st.integers(-3, 3), max_size=10))
def test_set_operators_agree_with_python_sets(a: list[int], b: list[int]) -> None:
    doc = {"a": a, "b": b}
    assert evaluate({"$setUnion": ["$a", "$b"]}, doc) == sorted(set(a) | set(b))
    assert evaluate({"$setIntersection": ["$a", "$b"]}, doc) == sorted(set(a) & set(b))
    assert evaluate({"$setDifference": ["$a", "$b"]}, doc) == sorted(set(a) - set(b))
    assert evaluate({"$setIsSubset": ["$a", "$b"]}, doc) == (set(a) <= set(b))
