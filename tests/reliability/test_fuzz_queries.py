"""Property-based fuzzing of queries, valid and invalid, on the engine and on every backend.

Hypothesis generates filters, updates, projections, sorts and pipelines — from near-valid shapes
to junk: random and unknown operator names, wrong operand types, deep nesting, paths with dots,
numbers, ``$`` and quotes, hostile values. Properties:

* only the package's documented exceptions escape: ``QueryError``, ``DocumentNotFoundError``,
  ``DuplicateInsertError``, ``DocumentTooLargeError``, Pydantic's ``ValidationError`` (and on
  MongoDB ``bson.errors.InvalidDocument`` for values BSON cannot encode, as docs/mongo.md says) —
  never ``TypeError``, ``KeyError``, ``RecursionError``...; and nothing hangs (pytest-timeout);
* the engine-based backends (Local in memory and in a file, Redis, Valkey) agree with the
  engine run on the same documents: when the engine refuses a query they raise ``QueryError``
  too, so an invalid filter never returns "everything"; when it answers, they give the same
  documents in the same order, and updates and deletes leave the same documents behind;
* MongoDB (SecantusDB in the suite) runs queries itself: only documented errors may escape, and
  its disagreements with the engine are counted (figures ``mongo_*``), not asserted — known
  server deviations are covered case by case in tests/backends/mongo.

``make test`` runs a few hundred examples per property, derandomized (the same ones on every run,
see tests/conftest.py); ``make soak`` (marker ``soak``, profile ``soak``) tens of thousands of fresh
random ones. Cases found by exploration are pinned with ``@example``. The number of cases tried is
recorded as a figure of each test.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bson import Decimal128, Int64, ObjectId, Regex
from bson.errors import InvalidDocument
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from mindtrace.database import (
    DocumentNotFoundError,
    DocumentTooLargeError,
    DuplicateInsertError,
    QueryError,
)
from mindtrace.database.core import typed_json
from mindtrace.database.core.backend import (
    _check_pipeline,
    _check_update,
    combine_filters,
    normalize_projection,
    normalize_sort,
)
from mindtrace.database.core.input_checks import check_document
from mindtrace.database.query import (
    compile_filter,
    compile_pipeline,
    compile_projection,
    compile_update,
    run_pipeline,
    sort_documents,
)
from tests.conformance.backends import BACKENDS
from tests.query.test_pipeline import canonical
from tests.reliability.conftest import short_and_soak

DOCUMENTED: tuple[type[BaseException], ...] = (
    QueryError,
    DocumentNotFoundError,
    DuplicateInsertError,
    DocumentTooLargeError,
    ValidationError,
)
MONGO_DOCUMENTED = (*DOCUMENTED, InvalidDocument)


class Item(BaseModel):
    """Schemaless documents: every field but ``id`` is an extra field."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None

    class Settings:
        name = "items"


# Storable on every backend (int64, millisecond datetimes), and awkward for each of them.
DATA: list[dict[str, Any]] = [
    {"k": 0, "a": 1, "s": "x", "tags": ["x", "y"], "sub": {"b": 1, "c": [1, 2]}, "n": 2.5},
    {"k": 1, "a": "1", "s": "a\x00b", "tags": [], "sub": [{"b": 2}, {"b": 3, "c": "z"}], "n": None},
    {"k": 2, "a": [1, [2, 3]], "s": "", "tags": ["x"], "d": dt.datetime(2024, 1, 2, 3, 4, 5, 6000),
     "bin": b"\xff\x00"},
    {"k": 3, "a": True, "s": "é", "sub": {"b": None}, "dec": Decimal("1.5"),
     "oid": ObjectId("65f0c3aa0000000000000001")},
    {"k": 4, "meta": {"$ne": None, "x.y": 2}, "s": "'; DROP TABLE items; --", "n": 9007199254740993},
    {"k": 5, "a": -0.0, "s": "a\x00", "tags": ["y", "x", "y"], "n": float("nan"),
     "sub": {"b": [{"c": 1}]}},
    {"k": 6},
    {"k": 7, "a": None, "s": "{x}:*", "tags": [None, 1, "x"], "n": -3,
     "d": dt.datetime(1969, 12, 31, 23, 59, 59)},
]  # fmt: skip

# ----------------------------------------------------------------------------- strategies

FILTER_OPS = [
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$and", "$or", "$nor", "$not",
    "$exists", "$type", "$regex", "$options", "$mod", "$expr", "$all", "$elemMatch", "$size",
    "$bitsAllSet", "$bitsAnySet", "$bitsAllClear", "$bitsAnyClear", "$comment", "$alwaysTrue",
    "$alwaysFalse", "$where", "$text", "$jsonSchema", "$geoWithin", "$near", "$sampleRate",
]  # fmt: skip
UPDATE_OPS = [
    "$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename", "$currentDate", "$setOnInsert",
    "$push", "$addToSet", "$pop", "$pull", "$pullAll", "$bit",
]  # fmt: skip
PUSH_MODIFIERS = ["$each", "$position", "$slice", "$sort"]
EXPR_OPS = [
    "$add", "$subtract", "$multiply", "$divide", "$mod", "$abs", "$ceil", "$round", "$sqrt", "$pow",
    "$ln", "$log", "$cmp", "$cond", "$ifNull", "$switch", "$concat", "$substr", "$substrCP",
    "$substrBytes", "$toLower", "$strLenCP", "$strLenBytes", "$split", "$trim", "$indexOfCP",
    "$regexMatch", "$regexFind", "$replaceAll", "$strcasecmp", "$size", "$arrayElemAt", "$first",
    "$last", "$slice", "$concatArrays", "$filter", "$map", "$reduce", "$in", "$indexOfArray",
    "$isArray", "$reverseArray", "$range", "$zip", "$sortArray", "$firstN", "$maxN", "$sum", "$avg",
    "$min", "$max", "$stdDevPop", "$setUnion", "$setEquals", "$anyElementTrue", "$mergeObjects",
    "$objectToArray", "$arrayToObject", "$getField", "$setField", "$year", "$dateToString",
    "$dateFromString", "$dateFromParts", "$dateToParts", "$dateTrunc", "$dateAdd", "$dateDiff",
    "$type", "$isNumber", "$convert", "$toString", "$toInt", "$toLong", "$toDouble", "$toDecimal",
    "$toBool", "$toDate", "$toObjectId", "$literal", "$let", "$function", "$accumulator", "$where",
    "$meta", "$and", "$or", "$not", "$eq", "$gt", "$lte",
]  # fmt: skip
STAGES = [
    "$match", "$project", "$addFields", "$set", "$unset", "$group", "$sort", "$skip", "$limit",
    "$unwind", "$count", "$sortByCount", "$replaceRoot", "$replaceWith", "$facet", "$lookup",
    "$unionWith", "$bucket", "$bucketAuto", "$out", "$merge", "$geoNear", "$graphLookup",
    "$setWindowFields", "$densify", "$redact", "$documents",
]  # fmt: skip
ACCUMULATORS = [
    "$sum", "$avg", "$min", "$max", "$first", "$last", "$push", "$addToSet", "$count", "$stdDevPop",
    "$mergeObjects", "$firstN", "$topN", "$top", "$accumulator", "$median",
]  # fmt: skip
EXPR_ARGS = [
    "input", "as", "in", "cond", "then", "else", "vars", "n", "date", "unit", "amount", "format",
    "to", "onError", "onNull", "initialValue", "branches", "default", "case", "find", "replacement",
    "regex", "field", "value", "sortBy", "output", "boundaries", "groupBy", "from", "localField",
    "foreignField", "pipeline", "let", "coll", "path", "preserveNullAndEmptyArrays", "newRoot",
]  # fmt: skip
KNOWN_OPERATORS = sorted({*FILTER_OPS, *UPDATE_OPS, *PUSH_MODIFIERS, *EXPR_OPS, *STAGES, *ACCUMULATORS})

random_operator = st.one_of(
    st.sampled_from(KNOWN_OPERATORS),
    st.text(max_size=6).map(lambda s: "$" + s),  # unknown names, "$", "$$x", "$ne " ...
)
component = st.one_of(
    st.sampled_from(
        [
            "a",
            "s",
            "tags",
            "sub",
            "b",
            "c",
            "n",
            "d",
            "k",
            "meta",
            "x",
            "0",
            "1",
            "-1",
            "$",
            "$x",
            "$[]",
            "$[e]",
            "",
            "'",
            '"',
            "\\",
            "x y",
            "é",
            "_id",
            "$ne",
            "x.y",
        ]
    ),  # fmt: skip
    st.text(max_size=3),
)
path = st.lists(component, min_size=1, max_size=4).map(".".join)
field_key = st.one_of(st.sampled_from(["a", "s", "tags", "sub.b", "sub.c", "n", "k", "d", "_id"]), path)

scalar = st.one_of(
    st.integers(-3, 3),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["x", "y", "1", "", "a\x00b", "a\x00", "é", "$a", "$s", "$$ROOT", "$$NOW", "$$x", "$",
                     "^a", "(", "[", "*", "\\", "'; --", "65f0c3aa0000000000000001"]),  # fmt: skip
    st.text(max_size=4),
    st.booleans(),
    st.none(),
    st.binary(max_size=3),
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [Decimal128("1.5"), Int64(3), Regex("^x", "i"), re.compile("y"), ObjectId("65f0c3aa0000000000000001")]
    ),
)  # fmt: skip


def _anything(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalar,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(keys, inner, max_size=3),
        ),
        max_leaves=8,
    )


anything = _anything(st.one_of(field_key, random_operator))

expression = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.builds(lambda op, arg: {op: arg}, st.one_of(st.sampled_from(EXPR_OPS), random_operator), inner),
        st.builds(lambda op, args: {op: args}, st.sampled_from(EXPR_OPS), st.lists(inner, max_size=3)),
        st.builds(
            lambda op, args: {op: args},
            st.sampled_from(EXPR_OPS),
            st.dictionaries(st.sampled_from(EXPR_ARGS), inner, min_size=1, max_size=3),
        ),
    ),
    max_leaves=8,
)


@st.composite
def condition(draw: st.DrawFn) -> Any:
    """What goes under a field: a literal, or an operator document (known or not)."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(anything)
    if kind == 1:
        return {draw(st.sampled_from(FILTER_OPS)): draw(anything)}
    if kind == 2:
        op = draw(st.sampled_from(["$in", "$nin", "$all"]))
        return {op: draw(st.lists(scalar, max_size=4))}
    if kind == 3:
        return {draw(st.sampled_from(["$gt", "$gte", "$lt", "$lte", "$eq", "$ne"])): draw(scalar)}
    return draw(
        st.dictionaries(
            st.one_of(st.sampled_from(FILTER_OPS), random_operator), anything, min_size=1, max_size=3
        )
    )


KNOWN_PATHS = ["a", "s", "tags", "sub", "sub.b", "sub.c", "sub.b.c", "n", "k", "d", "bin", "dec", "oid",
               "meta", "meta.$ne", "tags.0", "sub.0.b", "missing", "_id"]  # fmt: skip
plain_value = st.one_of(
    st.integers(-4, 8),
    st.sampled_from([2.5, -0.0, float("nan"), 1e300, 9007199254740993, True, False, None, "x", "y", "1", "",
                     "a\x00b", "a\x00", "é", "{x}:*", [], ["x", "y"], [1, [2, 3]], {"b": 1}, {"b": None},
                     {"x.y": 2, "$ne": None}, dt.datetime(2024, 1, 2, 3, 4, 5, 6000), b"\xff\x00",
                     Decimal("1.5"), ObjectId("65f0c3aa0000000000000001"), "65f0c3aa0000000000000103"]),
)  # fmt: skip


@st.composite
def valid_condition(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 7))
    if kind == 0:
        return draw(plain_value)
    if kind == 1:
        return {draw(st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"])): draw(plain_value)}
    if kind == 2:
        return {draw(st.sampled_from(["$in", "$nin"])): draw(st.lists(plain_value, max_size=4))}
    if kind == 3:
        return {"$exists": draw(st.booleans())}
    if kind == 4:
        return {
            "$type": draw(
                st.sampled_from(["string", "number", "array", "object", "null", "bool", "date", 16, "double"])
            )
        }
    if kind == 5:
        return {
            "$regex": draw(st.sampled_from(["^a", "x", "^$", "\\x00", ".*", "É"])),
            "$options": draw(st.sampled_from(["", "i"])),
        }
    if kind == 6:
        return (
            {"$size": draw(st.integers(0, 3))}
            if draw(st.booleans())
            else {"$all": draw(st.lists(plain_value, min_size=1, max_size=2))}
        )
    documents = st.dictionaries(st.sampled_from(["b", "c"]), plain_value, min_size=1, max_size=2)
    comparisons = st.builds(lambda op, v: {op: v}, st.sampled_from(["$gt", "$lt", "$eq"]), plain_value)
    return {"$elemMatch": draw(st.one_of(documents, comparisons))}


def _is_operator_document(condition: Any) -> bool:
    return isinstance(condition, dict) and bool(condition) and next(iter(condition)).startswith("$")


valid_filters = st.recursive(
    st.one_of(
        st.dictionaries(st.sampled_from(KNOWN_PATHS), valid_condition(), max_size=3),
        st.builds(
            lambda op, a, b: {"$expr": {op: [a, b]}},
            st.sampled_from(["$eq", "$gt", "$lt", "$ne"]),
            st.sampled_from(["$a", "$n", "$k", "$s", "$sub.b", "$tags"]),
            plain_value,
        ),
    ),
    lambda inner: st.one_of(
        st.builds(
            lambda op, parts: {op: parts},
            st.sampled_from(["$and", "$or", "$nor"]),
            st.lists(inner, min_size=1, max_size=3),
        ),
        st.builds(
            lambda k, c: {k: {"$not": c}},
            st.sampled_from(KNOWN_PATHS),
            valid_condition().filter(_is_operator_document),
        ),
    ),
    max_leaves=5,
)  # fmt: skip

filters = st.recursive(
    st.one_of(
        st.dictionaries(field_key, condition(), max_size=3),
        st.builds(lambda e: {"$expr": e}, expression),
        st.dictionaries(random_operator, anything, min_size=1, max_size=2),
    ),
    lambda inner: st.one_of(
        st.builds(
            lambda op, parts: {op: parts},
            st.sampled_from(["$and", "$or", "$nor"]),
            st.one_of(st.lists(inner, max_size=3), inner, anything),
        ),
        st.builds(lambda k, op, f: {k: {op: f}}, field_key, st.sampled_from(["$not", "$elemMatch"]), inner),
    ),
    max_leaves=6,
)
junk = st.one_of(scalar, st.lists(anything, max_size=2), st.builds(object))


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Draw from the strategies in proportion to their weights (``one_of`` leans to the last)."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


maybe_filters = weighted((5, valid_filters), (4, filters), (1, junk))

operator_update = st.dictionaries(
    st.one_of(st.sampled_from(UPDATE_OPS), random_operator),
    st.one_of(
        st.dictionaries(
            path, st.one_of(anything, st.dictionaries(st.sampled_from(PUSH_MODIFIERS), anything)), max_size=3
        ),
        anything,
    ),
    min_size=1,
    max_size=3,
)
pipeline_update = st.lists(
    st.dictionaries(
        st.one_of(
            st.sampled_from(
                ["$set", "$addFields", "$unset", "$project", "$replaceWith", "$replaceRoot", "$match"]
            ),
            random_operator,
        ),
        st.one_of(st.dictionaries(path, expression, max_size=2), expression, st.lists(path, max_size=2)),
        min_size=1,
        max_size=1,
    ),
    min_size=1,
    max_size=2,
)
updates = st.one_of(
    operator_update, operator_update, pipeline_update, junk, st.dictionaries(path, anything, max_size=2)
)

VALID_UPDATE_PATHS = ["a", "s", "n", "k2", "tags", "sub.b", "sub.c", "new", "new.deep", "tags.1", "sub.$[]"]


@st.composite
def valid_updates(draw: st.DrawFn) -> Any:
    """One to three operators that MongoDB accepts (they may still fail on some document)."""
    update: dict[str, Any] = {}
    used: set[str] = set()
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(
                [
                    "$set",
                    "$unset",
                    "$inc",
                    "$mul",
                    "$min",
                    "$max",
                    "$push",
                    "$addToSet",
                    "$pop",
                    "$pull",
                    "$rename",
                ]
            )
        )
        target = draw(st.sampled_from(VALID_UPDATE_PATHS))
        if target.split(".")[0] in used or op in update:
            continue
        used.add(target.split(".")[0])
        value: Any
        if op in ("$inc", "$mul"):
            value = draw(st.sampled_from([1, -2, 2.5, 0]))
        elif op == "$pop":
            value = draw(st.sampled_from([1, -1]))
        elif op == "$unset":
            value = ""
        elif op == "$rename":
            value = draw(st.sampled_from(["renamed", "s2"]))
        elif op == "$push" and draw(st.booleans()):
            value = {"$each": draw(st.lists(plain_value, max_size=3)), "$slice": draw(st.integers(-3, 3))}
        else:
            value = draw(plain_value)
        update[op] = {target: value}
    return update or {"$set": {"new": 1}}


valid_stage = st.one_of(
    st.builds(lambda f: {"$match": f}, valid_filters),
    st.builds(lambda k: {"$sort": {k: 1, "k": -1}}, st.sampled_from(["a", "s", "n", "tags", "sub.b", "d"])),
    st.builds(lambda n: {"$limit": n}, st.integers(1, 5)),
    st.builds(lambda n: {"$skip": n}, st.integers(0, 5)),
    st.builds(lambda k: {"$project": {k: 1, "k": 1}}, st.sampled_from(["a", "s", "tags", "sub", "sub.b"])),
    st.builds(
        lambda k: {"$unwind": {"path": "$" + k, "preserveNullAndEmptyArrays": True}},
        st.sampled_from(["tags", "sub", "a"]),
    ),
    st.builds(
        lambda key, acc, arg: {"$group": {"_id": key, "v": {acc: arg}, "n": {"$sum": 1}}},
        st.sampled_from([None, "$a", "$s", "$sub.b", {"t": {"$type": "$a"}}]),
        st.sampled_from(["$sum", "$max", "$min", "$push", "$addToSet", "$first", "$avg"]),
        st.sampled_from(["$n", "$k", "$a", "$tags", 1]),
    ),
    st.builds(lambda e: {"$addFields": {"calc": e}}, st.sampled_from([
        {"$ifNull": ["$n", 0]}, {"$type": "$a"}, {"$size": {"$ifNull": ["$tags", []]}},
        {"$concat": [{"$toString": "$k"}, "-", {"$ifNull": ["$s", ""]}]},
        {"$cond": [{"$gt": ["$k", 3]}, "hi", "lo"]},
        {"$isArray": "$a"}, {"$add": ["$k", 0.5]}, {"$toLower": {"$ifNull": ["$s", ""]}},
    ])),
    st.just({"$count": "total"}),
    st.builds(lambda k: {"$sortByCount": "$" + k}, st.sampled_from(["s", "a"])),
    st.just({"$lookup": {"from": "items", "localField": "a", "foreignField": "k", "as": "joined"}}),
    st.just({"$unionWith": {"coll": "items", "pipeline": [{"$match": {"k": {"$lt": 2}}}]}}),
    st.just({"$replaceWith": {"k": "$k", "s": {"$ifNull": ["$s", None]}}}),
)  # fmt: skip
valid_pipelines = st.lists(valid_stage, max_size=4)

projections = st.one_of(
    st.none(),
    st.dictionaries(
        path,
        st.one_of(
            st.sampled_from([0, 1, True, False, -1, 2.5]),
            expression,
            st.dictionaries(
                st.sampled_from(["$slice", "$elemMatch", "$meta", "$literal"]),
                anything,
                min_size=1,
                max_size=1,
            ),
        ),
        max_size=3,
    ),
    anything,
)
sorts = st.one_of(
    st.none(),
    st.dictionaries(
        path, st.one_of(st.sampled_from([1, -1, 0, 2, 1.5, "asc", "-1", None, True]), scalar), max_size=3
    ),
    st.lists(st.tuples(path, st.sampled_from([1, -1, 0, "x"])), max_size=3),
    st.lists(st.one_of(path, path.map(lambda p: "-" + p)), max_size=3),
    path,
    junk,
)


@st.composite
def stage(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 8))
    if kind == 0:
        return {"$match": draw(filters)}
    if kind == 1:
        return {"$project": draw(projections)}
    if kind == 2:
        return {draw(st.sampled_from(["$addFields", "$set"])): {draw(path): draw(expression)}}
    if kind == 3:
        accumulators = st.dictionaries(
            st.text(max_size=3),
            st.dictionaries(st.sampled_from(ACCUMULATORS), expression, min_size=1, max_size=1),
            max_size=2,
        )
        return {"$group": {"_id": draw(st.one_of(expression, anything)), **draw(accumulators)}}
    if kind == 4:
        return {
            "$sort": draw(
                st.one_of(st.dictionaries(path, st.sampled_from([1, -1, 0, "x"]), max_size=2), anything)
            )
        }
    if kind == 5:
        return {
            draw(
                st.sampled_from(
                    ["$skip", "$limit", "$count", "$unwind", "$unset", "$sortByCount", "$replaceWith"]
                )
            ): draw(st.one_of(st.integers(-2, 5), scalar, expression, path.map(lambda p: "$" + p)))
        }
    if kind == 6:
        return {
            draw(st.sampled_from(["$lookup", "$unionWith", "$facet", "$bucket", "$bucketAuto"])): draw(
                st.dictionaries(
                    st.sampled_from(EXPR_ARGS),
                    st.one_of(anything, st.just("items"), st.just([{"$match": {}}])),
                    max_size=4,
                )
            )
        }
    if kind == 7:
        return {draw(st.one_of(st.sampled_from(STAGES), random_operator)): draw(anything)}
    return draw(st.dictionaries(st.one_of(st.sampled_from(STAGES), random_operator), anything, max_size=2))


pipelines = weighted((5, valid_pipelines), (4, st.lists(stage(), max_size=4)), (1, junk))
windows = st.tuples(
    st.sampled_from([0, 0, 1, 3, -1, 2**63, 1.5]), st.sampled_from([None, 0, 2, 5, -1, 2**64, "2"])
)

# ----------------------------------------------------------------------------- outcomes


def _comparable(value: Any) -> Any:
    """``canonical`` (BSON types kept apart; ObjectIds stored as strings on Local/Redis compare
    equal to the engine's), with the sign of a zero kept: ``-0.0`` and ``0.0`` are different
    stored values (MongoDB's ``$set`` tells them apart), though they compare equal."""
    if isinstance(value, float) and value == 0 and math.copysign(1.0, value) < 0:
        return ("double", "-0.0")
    if isinstance(value, dict):
        return ("document", tuple((k, _comparable(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("array", tuple(_comparable(v) for v in value))
    return canonical(value)


def _stored_form(doc: dict[str, Any]) -> bytes:
    """What Local and Redis store for an engine document; "modified" means it changed."""
    return typed_json.dumps(doc)


def outcome(call: Callable[[], Any], allowed: tuple[type[BaseException], ...]) -> tuple[str, Any]:
    """("ok", comparable result) or ("raised", error class name); any other exception fails."""
    try:
        result = call()
    except allowed as e:
        return ("raised", type(e).__name__)
    except Exception as e:  # noqa: BLE001 - the point is to catch what must not escape
        pytest.fail(f"undocumented {type(e).__name__} escaped: {e!r}", pytrace=True)
    if isinstance(result, list):
        return ("ok", [_comparable(r.model_dump() if isinstance(r, BaseModel) else r) for r in result])
    return ("ok", _comparable(result))


def _nondeterministic(value: Any) -> bool:
    text = repr(value)
    return any(marker in text for marker in ("$sample", "$rand", "$$NOW", "$currentDate", "$$CLUSTER_TIME"))


def _models(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Engine documents as the backends return models: ``_id`` as ``id``, validated by Item."""
    out = []
    for doc in docs:
        data = dict(doc)
        data["id"] = str(data.pop("_id"))
        out.append(Item.model_validate(data).model_dump())
    return out


# ----------------------------------------------------------------------------- the engine's answer


class EvaluationFailed(QueryError):
    """The engine accepted the query, then failed evaluating it on a stored document (``$concat``
    of a number, say). As in MongoDB, a backend meets such an error only if its plan evaluates
    that document — an index bound, a limit, or a shortcut such as ``{"$or": [..., {}]}`` may skip
    it — so a backend may raise it too or answer without meeting it (see :meth:`Fleet.compare`).
    Errors the engine raises before looking at any document are never excused."""


@contextlib.contextmanager
def evaluating() -> Iterator[None]:
    """Mark the engine's query errors inside the block as evaluation errors."""
    try:
        yield
    except EvaluationFailed:
        raise
    except QueryError as e:
        raise EvaluationFailed(str(e), operator=e.operator) from e


class Reference:
    """The engine's answer on DATA (with the ids of one backend), normalised as the backends do."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def find(self, f: Any, sort: Any, skip: Any, limit: Any, projection: Any) -> list[Any]:
        probe = _Probe()
        query, shape = probe._find_query((f,), sort, skip, limit, projection)
        matches = compile_filter(query.filter)
        with evaluating():
            selected = [d for d in self.docs if matches(d)]
        found = sort_documents(selected, list(query.sort))
        end = None if query.limit is None else query.skip + query.limit
        found = found[query.skip : end]
        if query.projection is None:
            return _models(found)
        compiled = compile_projection(query.projection, filter=query.filter)
        return [compiled.apply(d) for d in found]

    def count(self, f: Any) -> int:
        matches = compile_filter(combine_filters([f]))
        with evaluating():
            return sum(1 for d in self.docs if matches(d))

    def rejected_ids(self, f: Any) -> set[str]:
        """Ids of the documents ``f`` certainly does not match: evaluating it on them succeeds and
        says no. (One whose evaluation fails may still match when clauses run in another order,
        e.g. ``{"$or": [<fails>, {}]}``; one that evaluates to no cannot, in any order.)"""
        matches = compile_filter(combine_filters([f]))
        ids = set()
        for doc in self.docs:
            with contextlib.suppress(QueryError):
                if not matches(doc):
                    ids.add(str(doc["_id"]))
        return ids

    def aggregate(self, pipeline: Any) -> list[dict[str, Any]]:
        compiled = compile_pipeline(_check_pipeline(pipeline))
        with evaluating():
            return compiled.run(self.docs, collections={"items": self.docs})

    def update_many(self, f: Any, update: Any) -> tuple[tuple[int, int], list[dict[str, Any]]]:
        checked = _check_update(update)
        flt = combine_filters([f])
        compiled = compile_update(checked)
        matches = compile_filter(flt)
        after, matched, modified = [], 0, 0
        for doc in self.docs:
            with evaluating():
                selected = matches(doc)
            if not selected:
                after.append(doc)
                continue
            matched += 1
            new = compiled.apply(doc, filter=flt)
            check_document(new, "items")
            Item.model_validate({**new, "id": str(new["_id"])})
            # MongoDB counts a document as modified when its stored bytes change ($set compares
            # values bit for bit), not when it compares unequal: $set 0.0 over -0.0 modifies.
            if _stored_form(new) != _stored_form(doc):
                modified += 1
            after.append(new)
        return (matched, modified), _models(after)

    def delete_many(self, f: Any) -> tuple[int, list[dict[str, Any]]]:
        matches = compile_filter(combine_filters([f]))
        with evaluating():
            kept = [d for d in self.docs if not matches(d)]
        return len(self.docs) - len(kept), _models(kept)


class _Probe:
    """Borrows the backends' own argument normalisation (``MindtraceODMBackend._find_query``)."""

    def _find_query(self, filters: Any, sort: Any, skip: Any, limit: Any, projection: Any) -> Any:
        from mindtrace.database.core.backend import FindQuery, _check_window  # noqa: PLC0415

        _check_window(skip, limit)
        proj, shape = normalize_projection(projection)
        query = FindQuery(
            filter=combine_filters(filters),
            sort=normalize_sort(sort),
            skip=skip,
            limit=limit or None,
            projection=proj,
        )
        return query, shape


# ----------------------------------------------------------------------------- backends


class Fleet:
    """Every backend kind, each holding DATA (inserted with the same ids)."""

    def __init__(self, backends: dict[str, Any]) -> None:
        self.backends = backends
        self.ids = [f"65f0c3aa00000000000001{i:02x}" for i in range(len(DATA))]
        self.reference = Reference([{"_id": id, **doc} for id, doc in zip(self.ids, DATA, strict=True)])
        self.stats: Counter[str] = Counter()

    def load(self) -> None:
        for backend in self.backends.values():
            backend.delete_many_sync()
            backend.insert_many_sync([Item(id=id, **doc) for id, doc in zip(self.ids, DATA, strict=True)])

    def compare(
        self,
        name: str,
        expected: Callable[[], Any],
        actual: Callable[[Any], Any],
        ordered: bool = True,
        selects: Any = None,
    ) -> None:
        """Run ``actual(backend)`` everywhere and check it against ``expected()`` (the engine).

        When the engine failed evaluating the query on some document (:class:`EvaluationFailed`),
        a backend may raise as well or answer without having met that document; with
        ``selects`` (the filter of a plain find) it must then return no document the filter
        certainly rejects.
        """
        self.stats["cases"] += 1
        want = outcome(expected, (QueryError, DocumentTooLargeError, ValidationError))
        self.stats[f"engine_{want[0]}"] += 1
        for kind, backend in self.backends.items():
            returned: list[Any] = []

            def call(b: Any = backend, returned: list[Any] = returned) -> Any:
                result = actual(b)
                returned.append(result)
                return result

            got = outcome(call, MONGO_DOCUMENTED if kind == "mongo" else DOCUMENTED)
            if kind == "mongo":
                if got != want:
                    self.stats[f"mongo_differs_engine_{want[0]}_mongo_{got[0]}"] += 1
                continue
            if want[0] == "raised":
                if got[0] == "raised":
                    continue
                assert want[1] == EvaluationFailed.__name__, (
                    f"{name} on {kind}: the engine refuses it, the backend gave {got[1]!r}"
                )
                self.stats["evaluation_error_not_met"] += 1
                if selects is not None:
                    wrong = {str(doc.id) for doc in returned[0]} & self.reference.rejected_ids(selects)
                    assert not wrong, f"{name} on {kind} returned documents the filter rejects: {wrong}"
                continue
            expected, actually = want, got
            if not ordered and got[0] == "ok":
                expected, actually = ("ok", sorted(map(repr, want[1]))), ("ok", sorted(map(repr, got[1])))
            assert actually == expected, f"{name} on {kind}:\n  backend: {got!r}\n  engine:  {want!r}"


@pytest.fixture(scope="module")
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with contextlib.ExitStack() as stack:
        backends: dict[str, Any] = {}
        for kind, factory in sorted(BACKENDS.items()):
            if kind == "local-file":
                location: Any = Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.sqlite3"
            else:
                location = stack.enter_context(factory.database(request))
            backend = factory.open(location, Item)
            stack.callback(backend.close_sync)
            backend.initialize_sync()
            backends[kind] = backend
        fleet = Fleet(backends)
        fleet.load()
        yield fleet


FUZZ = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)


def _figures(fleet: Fleet, figure: Callable[[str, Any], None], before: Counter[str]) -> None:
    for name, value in sorted((fleet.stats - before).items()):
        figure(name, value)


# ----------------------------------------------------------------------------- the engine alone

ENGINE_DOCS = [{"_id": f"id{i}", **doc} for i, doc in enumerate(DATA)]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("examples", short_and_soak(1000, 50_000))
def test_the_engine_raises_only_query_error(examples: int, figure: Callable[[str, Any], None]) -> None:
    tried: Counter[str] = Counter()

    @settings(FUZZ, max_examples=examples)
    @given(f=maybe_filters, u=updates, p=projections, s=sorts, pl=pipelines)
    def run(f: Any, u: Any, p: Any, s: Any, pl: Any) -> None:
        docs = [dict(d) for d in ENGINE_DOCS]
        for name, call in (
            ("filter", lambda: [compile_filter(f)(d) for d in docs]),
            (
                "update",
                lambda: [compile_update(u).apply(d, filter=f if isinstance(f, dict) else None) for d in docs],
            ),
            ("upsert", lambda: compile_update(u).apply({"_id": "new"}, is_upsert=True)),
            ("projection", lambda: [compile_projection(p).apply(d) for d in docs]),
            ("sort", lambda: sort_documents(docs, s)),
            ("pipeline", lambda: run_pipeline(docs, pl, collections={"items": docs})),
        ):
            tried[name] += 1
            tried[f"{name}_{outcome(call, (QueryError,))[0]}"] += 1
        assert docs == [dict(d) for d in ENGINE_DOCS]  # the engine never modifies its input

    run()
    for name, value in sorted(tried.items()):
        figure(name, value)


# ----------------------------------------------------------------------------- every backend


@pytest.mark.timeout(900)
@pytest.mark.parametrize("examples", short_and_soak(300, 6000))
def test_reads_agree_with_the_engine_on_every_backend(
    fleet: Fleet, examples: int, figure: Callable[[str, Any], None]
) -> None:
    before = fleet.stats.copy()

    @settings(FUZZ, max_examples=examples)
    @given(f=maybe_filters, p=projections, s=sorts, window=windows)
    # Found by this test: the engine fails on the first clause, Local's SQL sees the always-true
    # second one and never evaluates the first (MongoDB may do either).
    @example(f={"$or": [{"$expr": {"$concat": [0]}}, {}]}, p=None, s=None, window=(0, None))
    def run(f: Any, p: Any, s: Any, window: tuple[Any, Any]) -> None:
        skip, limit = window
        ref = fleet.reference
        fleet.compare("find", lambda: ref.find(f, None, 0, None, None), lambda b: b.find_sync(f), selects=f)
        fleet.compare("count", lambda: ref.count(f), lambda b: b.count_sync(f))
        fleet.compare(
            "iterate",
            lambda: ref.find(f, None, 0, None, None),
            lambda b: list(b.iterate_sync(f, batch_size=3)),
            selects=f,
        )
        fleet.compare(
            "find sorted, windowed, projected",
            lambda: ref.find(f, s, skip, limit, p),
            lambda b: b.find_sync(f, sort=s, skip=skip, limit=limit, projection=p),
        )
        fleet.compare(
            "find_one",
            lambda: ref.find(f, s, 0, 1, None)[:1],
            lambda b: [x for x in [b.find_one_sync(f, sort=s)] if x],
        )

    run()
    _figures(fleet, figure, before)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("examples", short_and_soak(300, 6000))
def test_pipelines_agree_with_the_engine_on_every_backend(
    fleet: Fleet, examples: int, figure: Callable[[str, Any], None]
) -> None:
    before = fleet.stats.copy()

    @settings(FUZZ, max_examples=examples)
    @given(pl=pipelines)
    def run(pl: Any) -> None:
        if _nondeterministic(pl):
            fleet.compare(
                "aggregate (raised or not)",
                lambda: fleet.reference.aggregate(pl) and [],
                lambda b: b.aggregate_sync(pl) and [],
            )
            return
        fleet.compare(
            "aggregate", lambda: fleet.reference.aggregate(pl), lambda b: b.aggregate_sync(pl), ordered=False
        )

    run()
    _figures(fleet, figure, before)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("examples", short_and_soak(150, 3000))
def test_writes_agree_with_the_engine_on_every_backend(
    fleet: Fleet, examples: int, figure: Callable[[str, Any], None]
) -> None:
    """update_many and delete_many from the same starting documents: same error class or same
    counts and the same documents left, on every engine-based backend."""
    before = fleet.stats.copy()

    def after(backend: Any, result: Any) -> Any:
        return result, [d.model_dump() for d in backend.find_sync({}, sort="_id")]

    @settings(FUZZ, max_examples=examples)
    @given(f=maybe_filters, u=updates, delete=st.booleans())
    # Failed make test on a fresh clone: $set of 0.0 over -0.0 rewrites the stored value, so it
    # counts as a modification (MongoDB compares $set values bit for bit); the reference counted
    # by comparison equality (-0.0 == 0.0).
    @example(f={}, u={"$set": {"a": 0.0}}, delete=False)
    def run(f: Any, u: Any, delete: bool) -> None:
        fleet.load()
        ref = fleet.reference
        if delete:
            fleet.compare(
                "delete_many",
                lambda: list(ref.delete_many(f)),
                lambda b: list(after(b, b.delete_many_sync(f))),
            )
            return
        if _nondeterministic(u):
            fleet.compare(
                "update_many (raised or not)",
                lambda: ref.update_many(f, u) and [],
                lambda b: b.update_many_sync(f, u) and [],
            )
            return

        def backend_update(b: Any) -> Any:
            result = b.update_many_sync(f, u)
            return list(after(b, [result.matched_count, result.modified_count]))

        def engine_update() -> Any:
            counts, docs = ref.update_many(f, u)
            return [list(counts), sorted(docs, key=lambda d: d["id"])]

        fleet.compare("update_many", engine_update, backend_update)

    run()
    fleet.load()
    _figures(fleet, figure, before)


# ----------------------------------------------------------------------------- found by fuzzing

FOUND: list[tuple[str, Callable[[Any], Any]]] = [
    ("invalid sort under a filter that matches nothing", lambda b: b.find_sync({"$nor": [{}]}, sort="$a")),
    ("... through iterate", lambda b: list(b.iterate_sync({"k": {"$in": []}}, sort=[("$a", 1)]))),
    (
        "... through a pipeline",
        lambda b: b.aggregate_sync([{"$match": {"$nor": [{}]}}, {"$sort": {"$a": 1}}]),
    ),
    ("an empty update pipeline", lambda b: b.update_many_sync({}, [])),
    ("an operator document inside $in", lambda b: b.find_sync({"k": {"$in": [{"$ne": None}]}})),
    ("a signalling NaN", lambda b: b.find_sync({"$expr": Decimal("sNaN")})),
    ("a limit beyond 64 bits", lambda b: b.find_sync({"k": 1}, limit=2**64)),
    ("a sort direction of infinity", lambda b: b.find_sync({}, sort=[("k", float("inf"))])),
]


@pytest.mark.parametrize("call", [c for _, c in FOUND], ids=[name for name, _ in FOUND])
def test_cases_found_by_fuzzing_raise_query_error_everywhere(store: Any, call: Callable[[Any], Any]) -> None:
    items = store.open(Item)
    items.insert_many_sync([Item(**doc) for doc in DATA])
    with pytest.raises(QueryError):
        call(items)
    assert items.count_sync() == len(DATA)
