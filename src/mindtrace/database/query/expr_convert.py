"""Type expression operators: $type, $isNumber, $convert and its shorthands ($toInt, $toString…).

Conversions follow MongoDB's conversion table: e.g. any string converts to ``true``, a double
converts to int by truncation (NaN and out-of-range values are errors), a date converts to long
as epoch milliseconds, and a 32-bit int cannot become a date. A failed conversion raises
QueryError unless ``$convert`` has ``onError``; null or missing input yields ``onNull`` or null.
Python ints are "int" when they fit 32 bits and "long" otherwise, as PyMongo encodes them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from bson import Decimal128, Int64, ObjectId, Timestamp

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.expr_arithmetic import epoch_millis, from_epoch_millis, numeric, to_decimal
from mindtrace.database.query.expr_date import parse_date_string, to_date
from mindtrace.database.query.expr_operands import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    Compiler,
    Evaluator,
    OperatorCompiler,
    Variables,
    bson_type_name,
    compile_operands,
    is_nullish,
    truthy,
)
from mindtrace.database.query.expr_string import format_date_iso, format_double

__all__ = ["OPERATORS", "convert_value"]

_TYPE_CODES: Final = {
    1: "double",
    2: "string",
    7: "objectId",
    8: "bool",
    9: "date",
    16: "int",
    18: "long",
    19: "decimal",
}
_TARGETS: Final = frozenset(_TYPE_CODES.values())
_INTEGER: Final = re.compile(r"^[+-]?[0-9]+$")
_FLOAT: Final = re.compile(
    r"^[+-]?(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|[Ii]nf(?:inity)?|NaN|nan)$"
)


class _ConversionError(Exception):
    """A conversion failure; becomes onError's value or a QueryError with MongoDB's wording."""


def _unsupported(value: Any, target: str) -> _ConversionError:
    return _ConversionError(f"Unsupported conversion from {bson_type_name(value)} to {target}")


def _to_integer(value: Any, target: str) -> int:
    low, high = (INT32_MIN, INT32_MAX) if target == "int" else (INT64_MIN, INT64_MAX)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.date):
        if target == "int":
            raise _unsupported(value, target)
        return epoch_millis(value)
    if isinstance(value, str):
        if not _INTEGER.match(value):
            raise _ConversionError(f"Failed to parse number '{value}'")
        result = int(value)
        if not low <= result <= high:
            raise _ConversionError(f"Failed to parse number '{value}': overflow")
        return result
    number = numeric(value)
    if number is None:
        raise _unsupported(value, target)
    if isinstance(number, float | Decimal):
        if number != number:  # noqa: PLR0124 - NaN
            raise _ConversionError("Attempt to convert NaN value to integer type")
        if (isinstance(number, float) and math.isinf(number)) or (
            isinstance(number, Decimal) and number.is_infinite()
        ):
            raise _ConversionError("Attempt to convert infinity value to integer type")
        number = int(number)  # truncates toward zero, as MongoDB does
    if not low <= number <= high:
        raise _ConversionError("Conversion would overflow target type")
    return int(number)


def _to_double(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, dt.date):
        return float(epoch_millis(value))
    if isinstance(value, str):
        if not _FLOAT.match(value):
            raise _ConversionError(f"Failed to parse number '{value}'")
        return float(value)
    number = numeric(value)
    if number is None:
        raise _unsupported(value, "double")
    result = float(number)
    if isinstance(number, Decimal) and number.is_finite() and math.isinf(result):
        raise _ConversionError("Conversion would overflow target type")
    return result


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, dt.date):
        return Decimal(epoch_millis(value))
    if isinstance(value, str):
        try:
            if value.strip() != value or not value:
                raise InvalidOperation
            return Decimal(value)
        except InvalidOperation as e:
            raise _ConversionError(f"Failed to parse number '{value}'") from e
    number = numeric(value)
    if number is None:
        raise _unsupported(value, "decimal")
    return to_decimal(number)


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return "-0" if value == 0 and math.copysign(1, value) < 0 else format_double(value)
    if isinstance(value, Decimal | Decimal128):
        return str(value)
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, dt.date):
        return format_date_iso(value)
    raise _unsupported(value, "string")


def _to_bool(value: Any) -> bool:
    return truthy(value)


def _to_date(value: Any) -> dt.datetime:
    if isinstance(value, dt.date | ObjectId | Timestamp):
        return to_date("$convert", value)
    if isinstance(value, str):
        try:
            return parse_date_string("$convert", value, None, None)
        except QueryError as e:
            raise _ConversionError(f"Error parsing date string '{value}'") from e
    if isinstance(value, bool) or bson_type_name(value) == "int":
        raise _unsupported(value, "date")
    number = numeric(value)
    if number is None:
        raise _unsupported(value, "date")
    if isinstance(number, float | Decimal) and not (number == number and abs(number) != math.inf):  # noqa: PLR0124
        raise _ConversionError("Attempt to convert NaN or infinite value to a date")
    try:
        return from_epoch_millis(int(number), "$convert")
    except QueryError as e:
        raise _ConversionError("Conversion would overflow target type") from e


def _to_object_id(value: Any) -> ObjectId:
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str):
        if len(value) != 24 or not ObjectId.is_valid(value):
            raise _ConversionError(f"Failed to parse objectId '{value}': expected 24 hexadecimal characters")
        return ObjectId(value)
    raise _unsupported(value, "objectId")


def _to_int(value: Any) -> int:
    return _to_integer(value, "int")


def _to_long(value: Any) -> int:
    if isinstance(value, Int64):
        return int(value)
    return _to_integer(value, "long")


_CONVERTERS: Final[dict[str, Callable[[Any], Any]]] = {
    "double": _to_double,
    "string": _to_string,
    "objectId": _to_object_id,
    "bool": _to_bool,
    "date": _to_date,
    "int": _to_int,
    "long": _to_long,
    "decimal": _to_decimal,
}


def _target(name: str, value: Any) -> str:
    if isinstance(value, dict) and "type" in value:
        value = value["type"]
    if isinstance(value, int | float) and not isinstance(value, bool) and value in _TYPE_CODES:
        return _TYPE_CODES[int(value)]
    if isinstance(value, str) and value in _TARGETS:
        return value
    raise QueryError(
        f"{name}: unknown or unsupported target type {value!r}; use one of {sorted(_TARGETS)}", operator=name
    )


def convert_value(name: str, value: Any, target: str) -> Any:
    """Convert ``value`` to the BSON type named ``target``; QueryError with MongoDB's wording on failure."""
    try:
        return _CONVERTERS[target](value)
    except _ConversionError as e:
        raise QueryError(f"{name}: {e} in $convert with no onError value", operator=name) from e


def _compile_convert(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    if not isinstance(arg, dict):
        raise QueryError(
            "$convert expects an object of named arguments but found: " + bson_type_name(arg), operator=name
        )
    unknown = set(arg) - {"input", "to", "onError", "onNull", "format", "base"}
    if unknown:
        raise QueryError(f"$convert: unknown argument '{sorted(unknown)[0]}'", operator=name)
    if set(arg) & {"format", "base"}:
        raise QueryError("$convert: 'format' and 'base' are not supported on this backend", operator=name)
    for key in ("input", "to"):
        if key not in arg:
            raise QueryError(f"$convert: missing '{key}' argument", operator=name)
    input_ev, to_ev = compiler.compile(arg["input"]), compiler.compile(arg["to"])
    on_error = compiler.compile(arg["onError"]) if "onError" in arg else None
    on_null = compiler.compile(arg["onNull"]) if "onNull" in arg else None

    def convert(doc: Any, variables: Variables) -> Any:
        value, to = input_ev(doc, variables), to_ev(doc, variables)
        if is_nullish(to):
            return None
        target = _target(name, to)
        if is_nullish(value):
            return on_null(doc, variables) if on_null is not None else None
        try:
            return _CONVERTERS[target](value)
        except _ConversionError as e:
            if on_error is not None:
                return on_error(doc, variables)
            raise QueryError(f"{name}: {e} in $convert with no onError value", operator=name) from e

    return convert


def _shorthand(target: str) -> OperatorCompiler:
    def compile_shorthand(name: str, arg: Any, compiler: Compiler) -> Evaluator:
        (operand,) = compile_operands(name, arg, compiler, 1)

        def shorthand(doc: Any, variables: Variables) -> Any:
            value = operand(doc, variables)
            if is_nullish(value):
                return None
            return convert_value(name, value, target)

        return shorthand

    return compile_shorthand


def _compile_type(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    (operand,) = compile_operands(name, arg, compiler, 1)

    def type_(doc: Any, variables: Variables) -> Any:
        return bson_type_name(operand(doc, variables))

    return type_


def _compile_is_number(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    (operand,) = compile_operands(name, arg, compiler, 1)

    def is_number(doc: Any, variables: Variables) -> Any:
        return numeric(operand(doc, variables)) is not None

    return is_number


OPERATORS: Final[dict[str, OperatorCompiler]] = {
    "$type": _compile_type,
    "$isNumber": _compile_is_number,
    "$convert": _compile_convert,
    "$toString": _shorthand("string"),
    "$toInt": _shorthand("int"),
    "$toLong": _shorthand("long"),
    "$toDouble": _shorthand("double"),
    "$toDecimal": _shorthand("decimal"),
    "$toBool": _shorthand("bool"),
    "$toDate": _shorthand("date"),
    "$toObjectId": _shorthand("objectId"),
}
