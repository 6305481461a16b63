"""MongoDB query filters compiled into fast Python predicates over engine documents.

:func:`compile_filter` parses a filter once — validating every operator and operand the way a
MongoDB server does, and raising :class:`QueryError` for anything malformed or unsupported —
and returns a closure that tests one document. :func:`matches` is the one-shot form.

Semantics follow MongoDB exactly: a path reaches every value it can through arrays
(:mod:`~mindtrace.database.query.paths`); a predicate on a path holds when *any* reached value
satisfies it (``{"a": {"$gt": 1, "$lt": 5}}`` is two independent predicates, unlike
``$elemMatch``); comparisons only compare values of the same BSON type bracket; ``null``
equality matches missing fields; negations (``$ne``, ``$nin``, ``$not``, ``$nor``) are the exact
complement of the positive predicate, so they match documents where the path is missing.
"""

from __future__ import annotations

import decimal
import math
import operator as _operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from bson import Binary, Decimal128, Int64, MaxKey, MinKey, Regex

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.compare import (
    MISSING,
    compare_values,
    is_number,
    to_number,
    type_rank,
    values_equal,
)
from mindtrace.database.query.entry_guard import too_deep, unusable_decimal
from mindtrace.database.query.paths import LeafArrays, array_index, path_values, split_path
from mindtrace.database.query.regex import (
    QueryRegex,
    compile_regex,
    parse_options,
    query_regex_from_value,
    regex_value_parts,
)
from mindtrace.database.query.type_codes import bson_type_code, parse_type_set

__all__ = ["DocumentPredicate", "compile_filter", "is_operator_document", "matches"]

DocumentPredicate = Callable[[Mapping[str, Any]], bool]
"""A compiled filter: takes an engine document, says whether it matches."""

_ValueTest = Callable[[Any], bool]
_EXPAND: Final = LeafArrays.EXPAND
_KEEP: Final = LeafArrays.KEEP
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

# Top-level operators MongoDB knows but the engine does not implement.
_UNSUPPORTED_TOP: Final[dict[str, str]] = {
    "$text": "text search needs a text index, which only the MongoDB backend has",
    "$jsonSchema": "validate documents with the Pydantic model instead",
    "$sampleRate": "use the aggregation stage $sample instead",
}
_JAVASCRIPT: Final = (
    "server-side JavaScript is not supported by this package (and is deprecated in MongoDB); "
    "express the condition with query operators or $expr"
)
_GEO: Final = frozenset(
    {"$geoWithin", "$geoIntersects", "$near", "$nearSphere", "$within", "$box", "$center",
     "$centerSphere", "$polygon", "$geometry", "$maxDistance", "$minDistance", "$uniqueDocs"}
)  # fmt: skip
# Top-level operators whose presence first in an $elemMatch object selects the document form.
_PATHLESS: Final = frozenset(
    {"$and", "$or", "$nor", "$expr", "$where", "$text", "$comment", "$jsonSchema",
     "$alwaysTrue", "$alwaysFalse", "$sampleRate"}
)  # fmt: skip
_BIT_OPERATORS: Final = frozenset({"$bitsAllSet", "$bitsAllClear", "$bitsAnySet", "$bitsAnyClear"})


def _never(_: Any) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class _Op:
    """One predicate on a path, as MongoDB's path-accepting match expressions behave.

    A *leaf* op has a ``test`` on single values (MongoDB's ``matchesSingleElement``) and holds on
    a path when any value the path reaches (with leaf arrays handled per ``leaf``) passes it. A
    *group* op (``children``) holds when all children hold. ``negate`` complements the result at
    the path level (``$ne`` is "no reached value equals", not "some value differs").
    """

    test: _ValueTest | None = None
    leaf: LeafArrays = _EXPAND
    negate: bool = False
    children: tuple[_Op, ...] = ()

    def element_test(self) -> _ValueTest:
        """The op applied to one value directly, for ``$elemMatch``'s operator form."""
        if self.test is not None:
            test = self.test
            return (lambda v: not test(v)) if self.negate else test
        tests = tuple(child.element_test() for child in self.children)
        negate = self.negate

        def group(value: Any) -> bool:
            result = all(t(value) for t in tests)
            return not result if negate else result

        return group


# ---------------------------------------------------------------------------------------------
# Public entry points


def compile_filter(filter: Mapping[str, Any]) -> DocumentPredicate:
    """Compile a MongoDB filter into ``predicate(document) -> bool``.

    Compile once and call the predicate per document: all parsing, operand validation and regex
    compilation happen here. The predicate never mutates documents.

    Raises:
        QueryError: the filter is not a mapping, uses an unknown or unsupported operator
            (``$where`` and other server-side JavaScript included), or an operator has a
            malformed operand; ``QueryError.operator`` names the operator at fault.
    """
    if not isinstance(filter, Mapping):
        raise QueryError(f"a filter must be a mapping (dict), got {type(filter).__name__}")
    try:
        predicate = _compile_document(filter, top_level=True)
    except RecursionError as e:
        raise too_deep() from e
    except decimal.InvalidOperation as e:
        raise unusable_decimal() from e

    # Hot path of every scan: a bare closure (no functools.wraps), one extra call per document.
    def guarded(doc: Mapping[str, Any]) -> bool:
        try:
            return predicate(doc)
        except RecursionError as e:
            raise too_deep() from e
        except decimal.InvalidOperation as e:
            raise unusable_decimal() from e

    return guarded


def matches(filter: Mapping[str, Any], doc: Mapping[str, Any]) -> bool:
    """Whether ``doc`` matches ``filter`` (compiles the filter on every call).

    For more than a handful of documents, call :func:`compile_filter` once instead; there is
    deliberately no hidden cache (filters are unhashable dicts and may be mutated by callers).

    Raises:
        QueryError: as :func:`compile_filter`.
    """
    return compile_filter(filter)(doc)


def is_operator_document(value: Any) -> bool:
    """True when ``value`` is an operator document (``{"$gt": 1}``) rather than a literal.

    MongoDB decides by the *first* key: a non-empty mapping whose first key starts with ``$`` is
    an operator document, unless it is a DBRef (has both ``$ref`` and ``$id``).
    """
    if not isinstance(value, Mapping) or not value:
        return False
    first = next(iter(value))
    if not isinstance(first, str) or not first.startswith("$"):
        return False
    return not ("$ref" in value and "$id" in value)


# ---------------------------------------------------------------------------------------------
# Documents and logical operators


def _compile_document(filter: Mapping[str, Any], *, top_level: bool) -> DocumentPredicate:
    predicates: list[DocumentPredicate] = []
    for key, value in filter.items():
        if not isinstance(key, str):
            raise QueryError(f"filter keys must be strings, got {key!r}")
        if key.startswith("$"):
            predicate = _compile_top_operator(key, value, top_level=top_level)
            if predicate is not None:
                predicates.append(predicate)
        else:
            predicates.append(_compile_field(split_path(key), value))
    return _conjunction(predicates)


def _conjunction(predicates: Sequence[DocumentPredicate]) -> DocumentPredicate:
    if not predicates:
        return lambda doc: True
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates

        def both(doc: Mapping[str, Any]) -> bool:
            return first(doc) and second(doc)

        return both
    preds = tuple(predicates)

    def all_of(doc: Mapping[str, Any]) -> bool:
        for predicate in preds:  # noqa: SIM110 - a plain loop is faster than all() on a generator
            if not predicate(doc):
                return False
        return True

    return all_of


def _compile_top_operator(name: str, value: Any, *, top_level: bool) -> DocumentPredicate | None:
    if name in ("$and", "$or", "$nor"):
        if not isinstance(value, list | tuple):
            raise QueryError(f"{name} must be an array of filter documents", operator=name)
        if not value:
            raise QueryError(f"{name} must be a nonempty array", operator=name)
        branches: list[DocumentPredicate] = []
        for entry in value:
            if not isinstance(entry, Mapping):
                raise QueryError(
                    f"{name} entries need to be full filter documents, got {entry!r}", operator=name
                )
            branches.append(_compile_document(entry, top_level=top_level))
        if name == "$and":
            return _conjunction(branches)
        alternatives = tuple(branches)
        if name == "$or":
            return lambda doc: any(branch(doc) for branch in alternatives)
        return lambda doc: not any(branch(doc) for branch in alternatives)
    if name == "$comment":
        return None
    if name == "$expr":
        if not top_level:
            raise QueryError("$expr can only be applied to the top-level document", operator=name)
        return _compile_expr(value)
    if name in ("$alwaysTrue", "$alwaysFalse"):
        if _integral(value, name) != 1:
            raise QueryError(f"{name} must be an integer value of 1", operator=name)
        result = name == "$alwaysTrue"
        return lambda doc: result
    if name == "$where":
        raise QueryError(f"$where is not supported: {_JAVASCRIPT}", operator=name)
    if name in _UNSUPPORTED_TOP:
        raise QueryError(
            f"{name} is not supported by the query engine: {_UNSUPPORTED_TOP[name]}", operator=name
        )
    raise QueryError(
        f"unknown top level operator: {name}. If you have a field name that starts with '$', "
        "it cannot be queried with a plain filter",
        operator=name,
    )


def _expr_truthy(value: Any) -> bool:
    # Aggregation truthiness: false, null, missing and numeric zero are false; all else is true.
    if value is None or value is MISSING or value is False:
        return False
    if value is True:
        return True
    if is_number(value):
        return bool(to_number(value) != 0)
    return True


def _compile_expr(expression: Any) -> DocumentPredicate:
    # Imported here: the expression module imports this package, which imports this module.
    from mindtrace.database.query.expressions import compile_expression  # noqa: PLC0415

    evaluator = compile_expression(expression)
    no_variables: Mapping[str, Any] = {}

    def expr(doc: Mapping[str, Any]) -> bool:
        return _expr_truthy(evaluator(doc, no_variables))

    return expr


# ---------------------------------------------------------------------------------------------
# Field predicates


def _compile_field(parts: tuple[str, ...], value: Any) -> DocumentPredicate:
    if isinstance(value, re.Pattern | Regex):
        ops = [_Op(test=query_regex_from_value(value).matches)]
    elif is_operator_document(value):
        ops = _compile_operators(value, ".".join(parts))
    else:
        ops = [_Op(test=_equality_test(value))]
    return _compile_path(parts, ops)


def _compile_path(parts: tuple[str, ...], ops: Sequence[_Op]) -> DocumentPredicate:
    """Combine the ops on one path; positive leaf ops with the same leaf mode share one lookup."""
    predicates: list[DocumentPredicate] = []
    by_mode: dict[LeafArrays, list[_ValueTest]] = {}
    for op in ops:
        if op.test is not None and not op.negate:
            by_mode.setdefault(op.leaf, []).append(op.test)
    for mode, tests in by_mode.items():
        predicates.append(_path_any(parts, mode, tests))
    for op in ops:
        if op.test is not None and op.negate:
            predicates.append(_negation(_path_any(parts, op.leaf, [op.test])))
        elif op.test is None:
            inner = _compile_path(parts, op.children)
            predicates.append(_negation(inner) if op.negate else inner)
    return _conjunction(predicates)


def _negation(predicate: DocumentPredicate) -> DocumentPredicate:
    return lambda doc: not predicate(doc)


def _path_any(parts: tuple[str, ...], mode: LeafArrays, tests: list[_ValueTest]) -> DocumentPredicate:
    """Predicate: for each test, some value reached by ``parts`` passes it.

    The common shapes (a top-level field; plain subdocuments; one array of subdocuments) are
    resolved inline; anything else goes through :func:`path_values`.
    """
    if len(tests) > 1:
        return _path_each(parts, mode, tuple(tests))
    test = tests[0]
    if len(parts) == 1:
        key = parts[0]
        if mode is _KEEP:
            return lambda doc: test(doc.get(key, MISSING))

        def top_field(doc: Mapping[str, Any]) -> bool:
            value = doc.get(key, MISSING)
            if isinstance(value, list):
                return any(map(test, value)) or test(value)
            return test(value)

        return top_field

    first, rest = parts[0], parts[1:]
    last = parts[-1]
    # "orders.sku": an array of subdocuments one step before the end, with a named last field.
    array_then_field = array_index(last) < 0

    def nested(doc: Mapping[str, Any]) -> bool:
        value = doc.get(first, MISSING)
        for depth, part in enumerate(rest, 1):
            if isinstance(value, dict):
                value = value.get(part, MISSING)
            elif isinstance(value, list):
                if depth == len(parts) - 1 and array_then_field:
                    for element in value:
                        if isinstance(element, dict):
                            leaf = element.get(last, MISSING)
                            if isinstance(leaf, list) and mode is _EXPAND:
                                if any(map(test, leaf)) or test(leaf):
                                    return True
                            elif test(leaf):
                                return True
                    return False
                return any(map(test, path_values(doc, parts, mode)))
            else:
                return test(MISSING)
        if isinstance(value, list) and mode is _EXPAND:
            return any(map(test, value)) or test(value)
        return test(value)

    return nested


def _path_each(parts: tuple[str, ...], mode: LeafArrays, tests: tuple[_ValueTest, ...]) -> DocumentPredicate:
    """Predicate: every test is passed by some value reached by ``parts`` (one lookup for all)."""
    if len(parts) == 1 and mode is _EXPAND:
        key = parts[0]

        def each_top(doc: Mapping[str, Any]) -> bool:
            value = doc.get(key, MISSING)
            if isinstance(value, list):
                candidates = [*value, value]
                return all(any(map(test, candidates)) for test in tests)
            for test in tests:  # noqa: SIM110 - a plain loop is faster than all() on a generator
                if not test(value):
                    return False
            return True

        return each_top

    def each(doc: Mapping[str, Any]) -> bool:
        values = path_values(doc, parts, mode)
        return all(any(map(test, values)) for test in tests)

    return each


def _compile_operators(spec: Mapping[str, Any], field: str) -> list[_Op]:
    """The ops of an operator document such as ``{"$gte": 1, "$lt": 5}`` on ``field``."""
    ops: list[_Op] = []
    for name, operand in spec.items():
        if not isinstance(name, str) or not name.startswith("$"):
            raise QueryError(
                f"unknown operator: {name} (field {field!r}); an operator document cannot mix "
                "operators with plain field names",
                operator=str(name),
            )
        if name == "$options":
            if "$regex" not in spec:
                raise QueryError(f"$options needs a $regex (field {field!r})", operator=name)
            continue
        if name == "$regex":
            ops.append(_Op(test=_regex_operator(spec).matches))
            continue
        ops.append(_compile_operator(name, operand, field))
    return ops


def _compile_operator(name: str, operand: Any, field: str) -> _Op:
    if name == "$eq":
        return _Op(test=_equality_test(operand))
    if name == "$ne":
        if isinstance(operand, re.Pattern | Regex):
            raise QueryError(f"Can't have regex as arg to $ne (field {field!r}); use $not", operator=name)
        return _Op(test=_equality_test(operand), negate=True)
    if name in _COMPARISONS:
        if isinstance(operand, re.Pattern | Regex):
            raise QueryError(f"Can't have RegEx as arg to predicate over field {field!r}", operator=name)
        return _Op(test=_comparison_test(name, operand))
    if name in ("$in", "$nin"):
        if not isinstance(operand, list | tuple):
            raise QueryError(f"{name} needs an array (field {field!r})", operator=name)
        return _Op(test=_in_test(operand, name), negate=name == "$nin")
    if name == "$exists":
        return _Op(test=_exists, leaf=_KEEP, negate=not _bson_truthy(operand))
    if name == "$type":
        codes = parse_type_set(operand, operator=name)
        return _Op(test=lambda v: bson_type_code(v) in codes)
    if name == "$size":
        size = _size_operand(operand)
        return _Op(test=lambda v: isinstance(v, list) and len(v) == size, leaf=_KEEP)
    if name == "$mod":
        return _Op(test=_mod_test(operand))
    if name == "$all":
        return _all_op(operand, field)
    if name == "$elemMatch":
        return _Op(test=_elem_match_test(operand, field), leaf=_KEEP)
    if name == "$not":
        if isinstance(operand, re.Pattern | Regex):
            return _Op(test=query_regex_from_value(operand, operator=name).matches, negate=True)
        if not isinstance(operand, Mapping):
            raise QueryError(f"$not needs a regex or a document (field {field!r})", operator=name)
        if not operand:
            raise QueryError(f"$not cannot be empty (field {field!r})", operator=name)
        return _Op(children=tuple(_compile_operators(operand, field)), negate=True)
    if name in _BIT_OPERATORS:
        return _Op(test=_bits_test(name, operand))
    if name == "$where":
        raise QueryError(f"$where cannot be applied to a field; {_JAVASCRIPT}", operator=name)
    if name in _GEO:
        raise QueryError(
            f"{name} is not supported: geospatial queries need a geospatial index, which only the "
            "MongoDB backend has",
            operator=name,
        )
    raise QueryError(f"unknown operator: {name} (field {field!r})", operator=name)


# ---------------------------------------------------------------------------------------------
# Value tests (MongoDB's matchesSingleElement for each operator)


def _exists(value: Any) -> bool:
    return value is not MISSING


def _is_null(value: Any) -> bool:
    return value is None or value is MISSING


def _is_nan(value: Any) -> bool:
    number = to_number(value)
    if isinstance(number, float):
        return number != number  # noqa: PLR0124 - the NaN test
    return isinstance(number, Decimal) and number.is_nan()


def _finite(number: int | float | Decimal) -> bool:
    if isinstance(number, Decimal):
        return number.is_finite()
    return isinstance(number, int) or math.isfinite(number)


def _bson_truthy(value: Any) -> bool:
    # BSON trueValue(): false, null, missing and numeric zero are false.
    return _expr_truthy(value)


def _equality_test(target: Any) -> _ValueTest:
    if target is None:
        return _is_null
    if isinstance(target, bool):
        return lambda v: isinstance(v, bool) and v == target
    if isinstance(target, str):
        return lambda v: v == target and isinstance(v, str)
    if (target.__class__ is int or target.__class__ is float) and target == target:  # noqa: PLR0124

        def number(v: Any) -> bool:
            cls = v.__class__
            if cls is int or cls is float:
                return bool(v == target)
            return is_number(v) and values_equal(v, target)

        return number
    if isinstance(target, re.Pattern | Regex):
        key = regex_value_parts(target)
        return lambda v: regex_value_parts(v) == key
    return lambda v: values_equal(v, target)


_COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "$gt": _operator.gt,
    "$gte": _operator.ge,
    "$lt": _operator.lt,
    "$lte": _operator.le,
}


def _comparison_test(name: str, target: Any) -> _ValueTest:
    compare = _COMPARISONS[name]
    inclusive = name in ("$gte", "$lte")
    if target is None:
        # Only null (and missing) live in null's type bracket, and they are all equal.
        return _is_null if inclusive else _never
    if isinstance(target, MinKey | MaxKey):
        # MinKey/MaxKey compare against every type (no type bracketing); the server's matcher
        # treats a missing field as a value of a different type too, so it matches as well.
        low = isinstance(target, MinKey)
        same = MinKey if low else MaxKey
        upward = name in ("$gt", "$gte")
        if upward == low:
            return (lambda v: True) if inclusive else (lambda v: not isinstance(v, same))
        return (lambda v: isinstance(v, same)) if inclusive else _never
    if is_number(target):
        if _is_nan(target):
            # NaN equals NaN and is otherwise unordered.
            return (lambda v: is_number(v) and _is_nan(v)) if inclusive else _never
        if target.__class__ is int or target.__class__ is float:
            return _fast_number_comparison(name, target)
        return lambda v: is_number(v) and not _is_nan(v) and compare(compare_values(v, target), 0)
    if isinstance(target, str):
        return lambda v: isinstance(v, str) and compare(v, target)
    rank = type_rank(target)
    return lambda v: v is not MISSING and type_rank(v) == rank and compare(compare_values(v, target), 0)


def _fast_number_comparison(name: str, target: float) -> _ValueTest:
    # One closure per operator so the hot path is a class check and a native comparison.
    def slow(v: Any, compare: Callable[[Any, Any], bool]) -> bool:
        return is_number(v) and not _is_nan(v) and compare(compare_values(v, target), 0)

    if name == "$gt":

        def gt(v: Any) -> bool:
            cls = v.__class__
            if cls is int or cls is float:
                return bool(v > target)
            return slow(v, _operator.gt)

        return gt
    if name == "$gte":

        def gte(v: Any) -> bool:
            cls = v.__class__
            if cls is int or cls is float:
                return bool(v >= target)
            return slow(v, _operator.ge)

        return gte
    if name == "$lt":

        def lt(v: Any) -> bool:
            cls = v.__class__
            if cls is int or cls is float:
                return bool(v < target)
            return slow(v, _operator.lt)

        return lt

    def lte(v: Any) -> bool:
        cls = v.__class__
        if cls is int or cls is float:
            return bool(v <= target)
        return slow(v, _operator.le)

    return lte


def _in_test(items: Sequence[Any], name: str) -> _ValueTest:
    hashed: set[Any] = set()
    regexes: list[QueryRegex] = []
    others: list[_ValueTest] = []
    has_null = False
    for item in items:
        if is_operator_document(item):
            raise QueryError(f"cannot nest $ under {name}: {item!r}", operator=name)
        if isinstance(item, re.Pattern | Regex):
            regexes.append(query_regex_from_value(item, operator=name))
        elif item is None:
            has_null = True
        elif (item.__class__ is str or item.__class__ is int or item.__class__ is float) and item == item:  # noqa: PLR0124
            hashed.add(item)
        else:
            others.append(_equality_test(item))
    regex_tests = tuple(r.matches for r in regexes)
    other_tests = tuple(others)

    def member(v: Any) -> bool:
        cls = v.__class__
        if cls is str or cls is int or cls is float:
            if v in hashed:
                return True
        elif v is None or v is MISSING:
            return has_null
        elif cls is Decimal or cls is Decimal128 or cls is Int64:
            number = to_number(v)
            if number == number and number in hashed:  # noqa: PLR0124
                return True
        return any(test(v) for test in regex_tests) or any(test(v) for test in other_tests)

    return member


def _regex_operator(spec: Mapping[str, Any]) -> QueryRegex:
    pattern = spec["$regex"]
    options = spec.get("$options", MISSING)
    if options is not MISSING and not isinstance(options, str):
        raise QueryError(f"$options has to be a string, got {options!r}", operator="$options")
    if isinstance(pattern, str):
        letters = "" if options is MISSING else options
        return QueryRegex(pattern, letters, compile_regex(pattern, letters))
    if isinstance(pattern, re.Pattern | Regex):
        regex = query_regex_from_value(pattern)
        if options is MISSING:
            return regex
        if regex.options.replace("u", ""):
            raise QueryError("options set in both $regex and $options", operator="$regex")
        if isinstance(pattern, re.Pattern):
            # Python syntax with MongoDB option letters on top.
            compiled = re.compile(pattern.pattern, pattern.flags | parse_options(options))
            return QueryRegex(pattern.pattern, options, compiled)
        return QueryRegex(regex.pattern, options, compile_regex(regex.pattern, options))
    raise QueryError(f"$regex has to be a string or a regular expression, got {pattern!r}", operator="$regex")


def _integral(value: Any, name: str) -> int:
    """An integral number operand as int (MongoDB's parseIntegerElementToLong)."""
    if isinstance(value, bool) or not is_number(value):
        raise QueryError(f"{name} expects a number, got {value!r}", operator=name)
    number = to_number(value)
    if isinstance(number, float | Decimal):
        if not _finite(number):
            raise QueryError(f"{name} expects an integer, got {value!r}", operator=name)
        if number != int(number):
            raise QueryError(f"{name} expects an integer, got {value!r}", operator=name)
    result = int(number)
    if not _INT64_MIN <= result <= _INT64_MAX:
        raise QueryError(f"{name}: cannot represent {value!r} as a 64-bit integer", operator=name)
    return result


def _size_operand(operand: Any) -> int:
    if isinstance(operand, bool) or not isinstance(operand, int | float):
        raise QueryError(f"$size needs a number, got {operand!r}", operator="$size")
    if isinstance(operand, float) and (not math.isfinite(operand) or operand != int(operand)):
        raise QueryError(f"$size must be a whole number, got {operand!r}", operator="$size")
    size = int(operand)
    if size < 0:
        raise QueryError(f"$size may not be negative, got {operand!r}", operator="$size")
    if size > 2**31 - 1:
        raise QueryError("$size must be representable as a 32-bit integer", operator="$size")
    return size


def _truncated(value: Any, name: str, what: str) -> int:
    # $mod operands are numbers truncated toward zero (MongoDB 5.1+), never NaN or infinite.
    if isinstance(value, bool) or not is_number(value):
        raise QueryError(f"malformed mod, {what} not a number: {value!r}", operator=name)
    number = to_number(value)
    if isinstance(number, float | Decimal) and not _finite(number):
        raise QueryError(f"malformed mod, {what} value is invalid: {value!r}", operator=name)
    result = int(number)
    if not _INT64_MIN <= result <= _INT64_MAX:
        raise QueryError(f"malformed mod, {what} cannot be represented as a 64-bit integer", operator=name)
    return result


def _c_remainder(dividend: int, divisor: int) -> int:
    # C/C++ remainder: takes the sign of the dividend (Python's % takes the divisor's).
    remainder = abs(dividend) % abs(divisor)
    return -remainder if dividend < 0 else remainder


def _mod_test(operand: Any) -> _ValueTest:
    name = "$mod"
    if not isinstance(operand, list | tuple):
        raise QueryError("malformed mod, needs to be an array", operator=name)
    if len(operand) < 2:
        raise QueryError("malformed mod, not enough elements", operator=name)
    if len(operand) > 2:
        raise QueryError("malformed mod, too many elements", operator=name)
    divisor = _truncated(operand[0], name, "divisor")
    remainder = _truncated(operand[1], name, "remainder")
    if divisor == 0:
        raise QueryError("divisor cannot be 0", operator=name)

    def mod(v: Any) -> bool:
        if not is_number(v):
            return False
        number = to_number(v)
        if isinstance(number, float | Decimal) and not _finite(number):
            return False
        return _c_remainder(int(number), divisor) == remainder

    return mod


def _all_op(operand: Any, field: str) -> _Op:
    name = "$all"
    if not isinstance(operand, list | tuple):
        raise QueryError(f"$all needs an array (field {field!r})", operator=name)
    if not operand:
        return _Op(test=_never)
    first = operand[0]
    if isinstance(first, Mapping) and first and next(iter(first)) == "$elemMatch":
        children = []
        for item in operand:
            if not (isinstance(item, Mapping) and item and next(iter(item)) == "$elemMatch"):
                raise QueryError("$all/$elemMatch has to be consistent", operator=name)
            children.append(_Op(test=_elem_match_test(item["$elemMatch"], field), leaf=_KEEP))
        return _Op(children=tuple(children))
    tests: list[_Op] = []
    for item in operand:
        if isinstance(item, re.Pattern | Regex):
            tests.append(_Op(test=query_regex_from_value(item, operator=name).matches))
        elif is_operator_document(item):
            raise QueryError(f"no $ expressions in $all: {item!r}", operator=name)
        else:
            tests.append(_Op(test=_equality_test(item)))
    return _Op(children=tuple(tests))


def _as_document(value: Any) -> Mapping[str, Any] | None:
    # $elemMatch's document form sees subdocuments, and arrays as documents keyed "0", "1", ...
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(i): item for i, item in enumerate(value)}
    return None


def _elem_match_test(operand: Any, field: str) -> _ValueTest:
    name = "$elemMatch"
    if not isinstance(operand, Mapping):
        raise QueryError(f"$elemMatch needs an Object (field {field!r})", operator=name)
    first = next(iter(operand), None)
    value_form = (
        isinstance(first, str)
        and first.startswith("$")
        and first not in _PATHLESS
        and not any(key in operand for key in ("$ref", "$id", "$db"))
    )
    if value_form:
        element_tests = tuple(op.element_test() for op in _compile_operators(operand, field))

        def value_match(v: Any) -> bool:
            if not isinstance(v, list):
                return False
            return any(all(test(item) for test in element_tests) for item in v)

        return value_match
    if "$where" in operand:
        raise QueryError("$elemMatch cannot contain $where expression", operator="$where")
    inner = _compile_document(operand, top_level=False)

    def document_match(v: Any) -> bool:
        if not isinstance(v, list):
            return False
        for item in v:
            document = _as_document(item)
            if document is not None and inner(document):
                return True
        return False

    return document_match


def _bit_mask(name: str, operand: Any) -> int:
    if isinstance(operand, list | tuple):
        mask = 0
        for position in operand:
            if isinstance(position, bool) or not is_number(position):
                raise QueryError(
                    f"{name}: bit positions must be an integer but got {position!r}", operator=name
                )
            number = to_number(position)
            if isinstance(number, float | Decimal) and (not _finite(number) or number != int(number)):
                raise QueryError(
                    f"{name}: bit positions must be an integer but got {position!r}", operator=name
                )
            bit = int(number)
            if bit < 0:
                raise QueryError(f"{name}: bit positions must be >= 0 but got {position!r}", operator=name)
            if bit > 2**31 - 1:
                raise QueryError(
                    f"{name}: bit positions cannot be represented as a 32-bit signed integer", operator=name
                )
            mask |= 1 << bit
        return mask
    if isinstance(operand, bytes | Binary) and not isinstance(operand, bool):
        return int.from_bytes(bytes(operand), "little")
    if is_number(operand):
        mask = _integral(operand, name)
        if mask < 0:
            raise QueryError(
                f"{name}: the bitmask must be a non-negative integer, got {operand!r}", operator=name
            )
        return mask
    raise QueryError(
        f"{name} takes an Array, a number, or a BinData but received: {operand!r}", operator=name
    )


def _bits_of(value: Any) -> int | None:
    # Integral numbers within 64 bits (negative ones in two's complement) and binary data.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else None
    if isinstance(value, bytes | Binary):
        return int.from_bytes(bytes(value), "little")
    if is_number(value):
        number = to_number(value)
        if not _finite(number) or number != int(number):
            return None
        result = int(number)
        return result if _INT64_MIN <= result <= _INT64_MAX else None
    return None


def _bits_test(name: str, operand: Any) -> _ValueTest:
    mask = _bit_mask(name, operand)

    def test(v: Any) -> bool:
        bits = _bits_of(v)
        if bits is None:
            return False
        selected = bits & mask
        if name == "$bitsAllSet":
            return selected == mask
        if name == "$bitsAllClear":
            return selected == 0
        if name == "$bitsAnySet":
            return selected != 0
        return selected != mask

    return test
