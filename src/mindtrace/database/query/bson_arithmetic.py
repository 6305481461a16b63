"""Arithmetic on BSON numbers with MongoDB's type promotion, for ``$inc``, ``$mul`` and ``$bit``.

MongoDB keeps the narrowest type that holds the result: int32 op int32 stays int32 and widens to
int64 on overflow; an int64 overflow is an error (never a silent wrap or a switch to double);
any double makes the result a double; any decimal makes it a decimal. In Python an int32 is a
plain ``int`` that fits in 32 bits (PyMongo encodes it so), an int64 is an ``Int64`` or a larger
``int``; decimals are ``Decimal128`` (or ``decimal.Decimal``, kept as such when no ``Decimal128``
is involved).
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any, Final, Literal

from bson import Decimal128, Int64
from bson.decimal128 import create_decimal128_context

from mindtrace.database.query.bson_text import INT32_MAX, INT32_MIN

__all__ = ["add_numbers", "bitwise", "is_integral", "multiply_numbers", "same_number"]

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

_INT32: Final = 0
_INT64: Final = 1
_DOUBLE: Final = 2
_DECIMAL: Final = 3


def _kind(value: Any) -> int:
    if isinstance(value, Decimal128 | Decimal):
        return _DECIMAL
    if isinstance(value, float):
        return _DOUBLE
    if isinstance(value, Int64):
        return _INT64
    return _INT32 if INT32_MIN <= value <= INT32_MAX else _INT64


def is_integral(value: Any) -> bool:
    """True for int32/int64 values (what ``$bit`` accepts); bool and double are not integral."""
    return isinstance(value, int) and not isinstance(value, bool)


def _int_result(result: int, kind: int) -> int | None:
    if kind == _INT32 and INT32_MIN <= result <= INT32_MAX:
        return result
    if INT64_MIN <= result <= INT64_MAX:
        return Int64(result)
    return None


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        # MongoDB converts a double to decimal with 15 significant digits, so 0.1 becomes 0.1
        # rather than the binary expansion 0.1000000000000000055511151231257827...
        return Decimal(f"{value:.15g}")
    return Decimal(int(value))


def _decimal_op(a: Any, b: Any, op: Literal["add", "multiply"]) -> Decimal | Decimal128:
    context = create_decimal128_context()
    x, y = _to_decimal(a), _to_decimal(b)
    result = context.add(x, y) if op == "add" else context.multiply(x, y)
    if isinstance(a, Decimal128) or isinstance(b, Decimal128):
        return Decimal128(result)
    return result


def _arith(a: Any, b: Any, op: Literal["add", "multiply"]) -> Any:
    if type(a) is int and type(b) is int and INT32_MIN <= a <= INT32_MAX and INT32_MIN <= b <= INT32_MAX:
        # Fast path for the common case, two int32 values.
        result = a + b if op == "add" else a * b
        return result if INT32_MIN <= result <= INT32_MAX else _int_result(result, _INT64)
    kind = max(_kind(a), _kind(b))
    if kind == _DECIMAL:
        try:
            return _decimal_op(a, b, op)
        except decimal.DecimalException:
            return None
    if kind == _DOUBLE:
        x, y = float(a), float(b)
        return x + y if op == "add" else x * y
    result = int(a) + int(b) if op == "add" else int(a) * int(b)
    return _int_result(result, kind)


def add_numbers(a: Any, b: Any) -> Any:
    """``a + b`` with MongoDB's result type, or None when an int64 result would overflow."""
    return _arith(a, b, "add")


def multiply_numbers(a: Any, b: Any) -> Any:
    """``a * b`` with MongoDB's result type, or None when an int64 result would overflow."""
    return _arith(a, b, "multiply")


def same_number(a: Any, b: Any) -> bool:
    """Whether two numbers have the same BSON type and compare equal — the test ``$inc`` and
    ``$mul`` use to decide that a result changes nothing (MongoDB's ``SafeNum::isIdentical``).

    Weaker than bit equality: ``-0.0`` and ``0.0`` are the same, and so are ``Decimal("1.5")``
    and ``Decimal("1.50")``; so ``{"$inc": {"x": 0}}`` keeps a stored ``-0.0`` as it is, as
    MongoDB does. A NaN is never the same as anything (MongoDB rewrites it and counts the
    document as modified); int32 and int64 are different types even when equal.
    """
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == _DECIMAL:
        x, y = _to_decimal(a), _to_decimal(b)
        # Decimal's == raises on a signalling NaN; a NaN of either kind is never "the same".
        return not (x.is_nan() or y.is_nan()) and x == y
    return bool(a == b)


def bitwise(op: str, a: int, b: int) -> int:
    """``and``/``or``/``xor`` of two integral values; int32 op int64 gives an int64 (``Int64``).

    Python's unbounded two's-complement operators give the same bits as 32/64-bit ones for
    values in range, and the result of two in-range operands is always in range.
    """
    x, y = int(a), int(b)
    result = x & y if op == "and" else (x | y if op == "or" else x ^ y)
    kind = max(_kind(a), _kind(b))
    return result if kind == _INT32 else Int64(result)
