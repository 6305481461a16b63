"""The update engine against the update case table, plus engine-only behaviour and properties."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from bson import Decimal128, Int64, ObjectId, Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from mindtrace.database.core import typed_json
from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.update import apply_update, compile_update, upsert_seed
from tests.query.cases import UpdateCase
from tests.query.cases.update_cases import UPDATE_CASES, Now, same_document

# --------------------------------------------------------------------------------------------
# The table


def _run_case(case: UpdateCase) -> dict[str, Any]:
    array_filters = getattr(case, "array_filters", None) or None
    if case.doc is None:
        seed = upsert_seed(case.filter)
        return apply_update(
            seed, case.update, is_upsert=True, filter=case.filter, array_filters=array_filters
        )
    return apply_update(case.doc, case.update, filter=case.filter, array_filters=array_filters)


@pytest.mark.parametrize("case", UPDATE_CASES, ids=lambda case: case.name)
def test_update_case(case: UpdateCase) -> None:
    before = copy.deepcopy(case.doc)
    if isinstance(case.expected, type):
        with pytest.raises(case.expected):
            _run_case(case)
    else:
        started = dt.datetime.now(dt.UTC)
        result = _run_case(case)
        finished = dt.datetime.now(dt.UTC)
        if case.doc is None and "_id" not in case.expected:
            result = {k: v for k, v in result.items() if k != "_id"}
        assert same_document(result, case.expected, started=started, finished=finished), (
            f"got {result!r}, expected {case.expected!r}"
        )
        if case.modified is not None and case.doc is not None:
            # Local and Redis count a document as modified when its stored form changes.
            changed = typed_json.dumps(result) != typed_json.dumps(case.doc)
            assert changed == case.modified, f"stored form changed: {changed}, MongoDB: {case.modified}"
    assert repr(case.doc) == repr(before), "the input document was modified"


def test_every_operator_has_cases() -> None:
    used = {key for case in UPDATE_CASES if isinstance(case.update, dict) for key in case.update}
    for operator in (
        "$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename", "$currentDate",
        "$setOnInsert", "$push", "$addToSet", "$pop", "$pull", "$pullAll", "$bit",
    ):  # fmt: skip
        assert operator in used, operator


# --------------------------------------------------------------------------------------------
# Errors: operator named, MongoDB's wording


@pytest.mark.parametrize(
    ("doc", "update", "operator", "fragment"),
    [
        (
            {"_id": 1, "a": "x"},
            {"$inc": {"a": 1}},
            "$inc",
            "Cannot apply $inc to a value of non-numeric type",
        ),
        ({"_id": 1, "a": "x"}, {"$mul": {"a": 2}}, "$mul", "has the field 'a' of non-numeric type string"),
        ({"_id": 1}, {"$inc": {"a": "1"}}, "$inc", "Cannot increment with non-numeric argument"),
        ({"_id": 1, "a": 5}, {"$set": {"a.b": 1}}, "$set", "Cannot create field 'b' in element {a: 5}"),
        ({"_id": 1, "a": 1}, {"$push": {"a": 1}}, "$push", "must be an array but is of type int"),
        ({"_id": 1}, {"$foo": {"a": 1}}, "$foo", "Unknown modifier: $foo"),
        ({"_id": 1}, {"$set": 1}, "$set", "Modifiers operate on fields"),
        ({"_id": 1, "a": [1]}, {"$pop": {"a": 2}}, "$pop", "$pop expects 1 or -1"),
        ({"_id": 1, "a": 1}, {"$rename": {"a": "a"}}, "$rename", "must differ"),
        ({"_id": 1, "a": 1}, {"$addToSet": {"a": 1}}, "$addToSet", "non-array"),
        ({"_id": 1, "a": 1.5}, {"$bit": {"a": {"and": 1}}}, "$bit", "non-integral type"),
    ],
)
def test_error_names_the_operator(
    doc: dict[str, Any], update: dict[str, Any], operator: str, fragment: str
) -> None:
    with pytest.raises(QueryError) as info:
        apply_update(doc, update)
    assert info.value.operator == operator
    assert fragment in str(info.value)


def test_conflict_messages_follow_mongodb() -> None:
    with pytest.raises(QueryError, match=r"Updating the path 'a\.b' would create a conflict at 'a'") as info:
        compile_update({"$set": {"a": 1}, "$inc": {"a.b": 1}})
    assert info.value.code == 40
    assert info.value.operator == "$inc"
    with pytest.raises(QueryError, match=r"Updating the path 'a' would create a conflict at 'a'"):
        compile_update({"$set": {"a.b": 1}, "$unset": {"a": 1}})
    with pytest.raises(QueryError, match=r"Updating the path 'a' would create a conflict at 'a'"):
        compile_update({"$set": {"a": 1}, "$min": {"a": 0}})
    with pytest.raises(QueryError, match=r"Update created a conflict at 'a\.1'") as info:
        apply_update({"_id": 1, "a": [1, 2]}, {"$set": {"a.$": 0, "a.1": 5}}, filter={"a": 2})
    assert info.value.operator == "$set"


def test_long_overflow_is_reported() -> None:
    with pytest.raises(QueryError, match="Failed to apply \\$inc operations"):
        apply_update({"_id": 1, "a": Int64(2**63 - 1)}, {"$inc": {"a": 1}})
    with pytest.raises(QueryError, match="Failed to apply \\$mul operations"):
        apply_update({"_id": 1, "a": Int64(2**62)}, {"$mul": {"a": 4}})


def test_id_errors() -> None:
    with pytest.raises(QueryError, match=r"\(immutable\) field '_id' was found to have been altered") as info:
        apply_update({"_id": 1}, {"$set": {"_id": 2}})
    assert info.value.code == 66
    assert info.value.operator == "$set"
    with pytest.raises(QueryError, match="immutable"):
        apply_update({"_id": 1}, {"$unset": {"_id": ""}})
    # Same value (even as another numeric type) is allowed, as in MongoDB.
    assert apply_update({"_id": 1, "a": 1}, {"$set": {"_id": 1.0}}) == {"_id": 1.0, "a": 1}


# --------------------------------------------------------------------------------------------
# Replacements, pipelines, compiled updates


def test_replacement_keeps_id_first() -> None:
    result = apply_update({"_id": 7, "a": 1, "b": 2}, {"c": 3})
    assert list(result.items()) == [("_id", 7), ("c", 3)]


def test_replacement_cannot_change_id() -> None:
    with pytest.raises(QueryError, match="immutable"):
        apply_update({"_id": 7, "a": 1}, {"_id": 8, "a": 2})
    assert apply_update({"_id": 7, "a": 1}, {"a": 2, "_id": 7}) == {"a": 2, "_id": 7}


def test_upsert_replacement_keeps_only_the_filter_id() -> None:
    seed = upsert_seed({"_id": 3, "name": "x"})
    result = apply_update(seed, {"name": "y", "n": 1}, is_upsert=True)
    assert list(result.items()) == [("_id", 3), ("name", "y"), ("n", 1)]


def test_pipeline_rejects_array_filters_and_bad_stages() -> None:
    with pytest.raises(QueryError, match="arrayFilters"):
        compile_update([{"$set": {"a": 1}}], array_filters=[{"x": 1}])
    with pytest.raises(QueryError, match=r"\$group is not allowed") as info:
        compile_update([{"$group": {"_id": None}}])
    assert info.value.operator == "$group"


def test_compiled_update_applies_to_many_documents_independently() -> None:
    compiled = compile_update({"$push": {"tags": {"$each": [{"k": 1}]}}, "$set": {"meta": {"n": [1]}}})
    first = compiled.apply({"_id": 1})
    second = compiled.apply({"_id": 2, "tags": []})
    first["tags"][0]["k"] = 99
    first["meta"]["n"].append(2)
    # Values taken from the update are copied per document: no aliasing between results.
    assert second == {"_id": 2, "tags": [{"k": 1}], "meta": {"n": [1]}}
    assert compiled.apply({"_id": 3}) == {"_id": 3, "meta": {"n": [1]}, "tags": [{"k": 1}]}


def test_unchanged_subdocuments_are_shared_changed_ones_copied() -> None:
    doc = {"_id": 1, "keep": {"x": [1]}, "edit": {"y": 1}}
    result = apply_update(doc, {"$inc": {"edit.y": 1}})
    assert result["keep"] is doc["keep"]
    assert result["edit"] is not doc["edit"]
    assert doc["edit"] == {"y": 1}


def test_empty_update_and_empty_operand() -> None:
    with pytest.raises(QueryError, match="empty"):
        compile_update({})
    assert apply_update({"_id": 1, "a": 1}, {"$set": {}, "$unset": {}}) == {"_id": 1, "a": 1}


def test_unknown_array_filter_identifier_and_unused_filter() -> None:
    with pytest.raises(QueryError, match="No array filter found for identifier 'e'"):
        compile_update({"$set": {"a.$[e]": 1}})
    with pytest.raises(QueryError, match="was not used"):
        compile_update({"$set": {"a": 1}}, array_filters=[{"x": 1}])
    with pytest.raises(QueryError, match="same top-level field name"):
        compile_update({"$set": {"a.$[x]": 1}}, array_filters=[{"x": 1}, {"x": 2}])
    with pytest.raises(QueryError, match="single top-level field name"):
        compile_update({"$set": {"a.$[x]": 1}}, array_filters=[{"x": 1, "y": 2}])


# --------------------------------------------------------------------------------------------
# Types


def test_current_date_is_utc_milliseconds_and_timestamp() -> None:
    result = apply_update({"_id": 1}, {"$currentDate": {"d": True, "t": {"$type": "timestamp"}}})
    assert result["d"].tzinfo is dt.UTC
    assert result["d"].microsecond % 1000 == 0
    assert isinstance(result["t"], Timestamp)
    assert abs(result["t"].time - result["d"].timestamp()) <= 1
    assert same_document(
        result,
        {"_id": 1, "d": Now(), "t": Now(timestamp=True)},
        started=result["d"],
        finished=result["d"],
    )


def test_python_decimal_stays_decimal_and_double_converts_with_15_digits() -> None:
    assert apply_update({"a": Decimal("1.10")}, {"$inc": {"a": 1}}) == {"a": Decimal("2.10")}
    result = apply_update({"a": 0.1}, {"$inc": {"a": Decimal128("0.2")}})
    assert result == {"a": Decimal128("0.3")}


def test_mixed_int_types() -> None:
    assert type(apply_update({"a": 1}, {"$inc": {"a": 1}})["a"]) is int
    assert type(apply_update({"a": Int64(1)}, {"$inc": {"a": 1}})["a"]) is Int64
    assert type(apply_update({"a": 1}, {"$inc": {"a": 1.0}})["a"]) is float


def test_push_modifier_without_each_is_refused() -> None:
    # MongoDB would try to store {$slice: 1} literally and reject the '$' field name.
    with pytest.raises(QueryError, match=r"\$each"):
        compile_update({"$push": {"a": {"$slice": 1}}})


def test_upsert_seed() -> None:
    assert upsert_seed({"b": 1, "_id": ObjectId("0" * 24), "a.x": 2}) == {
        "_id": ObjectId("0" * 24),
        "a": {"x": 2},
        "b": 1,
    }
    assert upsert_seed({"a": {"$in": [5]}, "b": {"$in": [1, 2]}, "$or": [{"c": 3}]}) == {"a": 5, "c": 3}
    with pytest.raises(QueryError, match="matched twice"):
        upsert_seed({"$and": [{"a": 1}, {"a": 1}]})
    with pytest.raises(QueryError, match="both paths 'a.b' and 'a'"):
        upsert_seed({"a": 1, "a.b": 2})


# --------------------------------------------------------------------------------------------
# Properties

_keys = st.sampled_from(["a", "b", "c", "d"])
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**31), 2**31 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=3),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=3)),
    max_leaves=8,
)
_docs = st.dictionaries(_keys, _values, max_size=4).map(lambda d: {"_id": 1, **d})


@settings(max_examples=200, deadline=None)
@given(doc=_docs, key=_keys, value=_values)
def test_input_is_never_mutated(doc: dict[str, Any], key: str, value: Any) -> None:
    before = repr(doc)
    for update in (
        {"$set": {key: value}},
        {"$unset": {key: 1}},
        {"$push": {f"{key}x": value}},
        {"$set": {f"{key}.0": value}},
        {"$rename": {key: "zz"}},
        {"$addToSet": {key: value}},
        {"$inc": {key: 1}},
    ):
        with contextlib.suppress(QueryError):
            apply_update(doc, update)
        assert repr(doc) == before


@settings(max_examples=200, deadline=None)
@given(doc=_docs, value=_values)
def test_set_then_unset_of_a_new_field_restores_the_document(doc: dict[str, Any], value: Any) -> None:
    updated = apply_update(doc, {"$set": {"fresh": value}})
    assert list(updated)[-1] == "fresh"
    restored = apply_update(updated, {"$unset": {"fresh": ""}})
    assert repr(restored) == repr(doc)


@settings(max_examples=300, deadline=None)
@given(start=st.integers(-(2**40), 2**40), a=st.integers(-(2**40), 2**40), b=st.integers(-(2**40), 2**40))
def test_inc_a_then_b_equals_inc_a_plus_b(start: int, a: int, b: int) -> None:
    twice = apply_update(apply_update({"n": start}, {"$inc": {"n": a}}), {"$inc": {"n": b}})
    once = apply_update({"n": start}, {"$inc": {"n": a + b}})
    assert twice == once == {"n": start + a + b}


@settings(max_examples=200, deadline=None)
@given(array=st.lists(st.integers(-5, 5), max_size=6), values=st.lists(st.integers(-5, 5), max_size=6))
def test_add_to_set_each_is_idempotent_and_adds_only_missing(array: list[int], values: list[int]) -> None:
    once = apply_update({"a": array}, {"$addToSet": {"a": {"$each": values}}})
    twice = apply_update(once, {"$addToSet": {"a": {"$each": values}}})
    assert once == twice
    assert once["a"][: len(array)] == array
    assert set(once["a"]) == set(array) | set(values)


@settings(max_examples=200, deadline=None)
@given(
    array=st.lists(st.integers(-9, 9), max_size=6),
    values=st.lists(st.integers(-9, 9), max_size=4),
    position=st.integers(-8, 8),
    slice_=st.integers(-8, 8),
)
def test_push_position_and_slice_match_list_semantics(
    array: list[int], values: list[int], position: int, slice_: int
) -> None:
    result = apply_update(
        {"a": array}, {"$push": {"a": {"$each": values, "$position": position, "$slice": slice_}}}
    )["a"]
    at = position if position >= 0 else max(len(array) + position, 0)
    expected = array[:at] + values + array[at:]
    expected = expected[:slice_] if slice_ >= 0 else expected[slice_:]
    assert result == expected
