"""BSON value ordering and equality exactly as MongoDB defines them, for Python values.

MongoDB orders values of different types by a fixed type rank (MinKey < null < numbers <
strings < objects < arrays < binary < ObjectId < bool < date < timestamp < regex < MaxKey) and
values of one type by their natural order. Numbers of every kind compare by value, so ``1 == 1.0``.
Every module of the engine that compares, sorts or deduplicates values goes through here.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import uuid
from decimal import Decimal
from typing import Any, Final

from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp

__all__ = [
    "MISSING",
    "SortKey",
    "compare_values",
    "is_number",
    "to_number",
    "type_rank",
    "values_equal",
]


class _Missing:
    """Marks a path that does not exist in a document (distinct from an explicit null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final[Any] = _Missing()

# Type ranks follow MongoDB's "Comparison/Sort Order" table.
RANK_MINKEY: Final = 0
RANK_NULL: Final = 1
RANK_NUMBER: Final = 2
RANK_STRING: Final = 3
RANK_OBJECT: Final = 4
RANK_ARRAY: Final = 5
RANK_BINARY: Final = 6
RANK_OBJECTID: Final = 7
RANK_BOOL: Final = 8
RANK_DATE: Final = 9
RANK_TIMESTAMP: Final = 10
RANK_REGEX: Final = 11
RANK_MAXKEY: Final = 12

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def is_number(value: Any) -> bool:
    """True for the values MongoDB treats as numbers (bool is not one)."""
    return isinstance(value, int | float | Decimal | Decimal128) and not isinstance(value, bool)


def to_number(value: Any) -> int | float | Decimal:
    """Normalise a numeric value (including ``Decimal128`` and ``Int64``) to a Python number."""
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, Int64):
        return int(value)
    return value  # type: ignore[no-any-return]


def type_rank(value: Any) -> int:
    """Position of ``value``'s BSON type in MongoDB's cross-type ordering; missing ranks as null."""
    if value is None or value is MISSING:
        return RANK_NULL
    if isinstance(value, bool):
        return RANK_BOOL
    if isinstance(value, int | float | Decimal | Decimal128):
        return RANK_NUMBER
    if isinstance(value, str):
        return RANK_STRING
    if isinstance(value, dict):
        return RANK_OBJECT
    if isinstance(value, list | tuple):
        return RANK_ARRAY
    if isinstance(value, bytes | bytearray | uuid.UUID):  # Binary subclasses bytes
        return RANK_BINARY
    if isinstance(value, ObjectId):
        return RANK_OBJECTID
    if isinstance(value, dt.datetime | dt.date):
        return RANK_DATE
    if isinstance(value, Timestamp):
        return RANK_TIMESTAMP
    if isinstance(value, re.Pattern | Regex):
        return RANK_REGEX
    if isinstance(value, MinKey):
        return RANK_MINKEY
    if isinstance(value, MaxKey):
        return RANK_MAXKEY
    # Unknown Python objects (e.g. an Enum not yet encoded) rank with strings by their str();
    # backends encode documents before they reach the engine, so this is a last resort only.
    return RANK_STRING


def _as_utc(value: dt.date) -> dt.datetime:
    # Naive datetimes are UTC, as in PyMongo; a plain date is midnight UTC of that day.
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)


def _binary_parts(value: Any) -> tuple[int, int, bytes]:
    if isinstance(value, uuid.UUID):
        return (16, 4, value.bytes)
    subtype = value.subtype if isinstance(value, Binary) else 0
    data = bytes(value)
    return (len(data), subtype, data)


def _cmp(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


def _compare_numbers(a: Any, b: Any) -> int:
    x, y = to_number(a), to_number(b)
    x_nan = isinstance(x, float | Decimal) and x != x  # noqa: PLR0124 - NaN test that works for Decimal
    y_nan = isinstance(y, float | Decimal) and y != y  # noqa: PLR0124
    # MongoDB sorts NaN below every other number and treats NaN as equal to NaN.
    if x_nan or y_nan:
        return 0 if (x_nan and y_nan) else (-1 if x_nan else 1)
    if isinstance(x, Decimal) != isinstance(y, Decimal):
        # Mixed Decimal/float: compare exactly via Decimal (float -> Decimal is exact).
        if isinstance(x, float) and math.isinf(x):
            return 1 if x > 0 else -1
        if isinstance(y, float) and math.isinf(y):
            return -1 if y > 0 else 1
        return _cmp(Decimal(x), Decimal(y))
    return _cmp(x, y)


def compare_values(a: Any, b: Any) -> int:
    """Three-way comparison of two values in MongoDB's order: negative, zero or positive.

    Missing compares equal to null, as in MongoDB sorts. Arrays compare element by element
    (this is the ordering used between whole arrays; sort keys on array fields are chosen by
    the sort module, not here).
    """
    ra, rb = type_rank(a), type_rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra == RANK_NUMBER:
        return _compare_numbers(a, b)
    if ra in (RANK_NULL, RANK_MINKEY, RANK_MAXKEY):
        return 0
    if ra == RANK_STRING:
        return _cmp(str(a), str(b))
    if ra == RANK_OBJECT:
        return _compare_objects(a, b)
    if ra == RANK_ARRAY:
        for x, y in zip(a, b, strict=False):
            c = compare_values(x, y)
            if c:
                return c
        return _cmp(len(a), len(b))
    if ra == RANK_BINARY:
        return _cmp(_binary_parts(a), _binary_parts(b))
    if ra == RANK_OBJECTID:
        return _cmp(a.binary, b.binary)
    if ra == RANK_BOOL:
        return _cmp(a, b)
    if ra == RANK_DATE:
        return _cmp(_as_utc(a), _as_utc(b))
    if ra == RANK_TIMESTAMP:
        return _cmp((a.time, a.inc), (b.time, b.inc))
    if ra == RANK_REGEX:
        return _cmp(_regex_parts(a), _regex_parts(b))
    return 0


def _regex_parts(value: Any) -> tuple[str, int]:
    if isinstance(value, Regex):
        return (str(value.pattern), int(value.flags) if isinstance(value.flags, int) else 0)
    return (value.pattern, int(value.flags))


def _compare_objects(a: dict[str, Any], b: dict[str, Any]) -> int:
    # MongoDB compares embedded documents pair by pair in field order: first the value's type,
    # then the field name, then the value; a document that runs out of fields first is smaller.
    for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=False):
        ta, tb = type_rank(va), type_rank(vb)
        if ta != tb:
            return -1 if ta < tb else 1
        if ka != kb:
            return -1 if ka < kb else 1
        c = compare_values(va, vb)
        if c:
            return c
    return _cmp(len(a), len(b))


def values_equal(a: Any, b: Any) -> bool:
    """MongoDB equality: numbers by value across int/float/Decimal, documents field-order sensitive."""
    if a is b:
        return True
    ra, rb = type_rank(a), type_rank(b)
    if ra != rb:
        return False
    if ra == RANK_NULL:
        # null and missing are distinct values for equality; callers handle "null matches missing".
        return (a is MISSING) == (b is MISSING)
    return compare_values(a, b) == 0


SortKey = functools.cmp_to_key(compare_values)
"""Key function for ``sorted(values, key=SortKey)`` in MongoDB's order."""

__all__ += ["RANK_ARRAY", "RANK_NULL", "RANK_NUMBER", "RANK_OBJECT", "RANK_STRING"]


def epoch_millis(value: dt.date) -> int:
    """Milliseconds since the Unix epoch of a date or datetime (naive means UTC)."""
    delta = _as_utc(value) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
