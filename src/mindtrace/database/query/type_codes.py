"""BSON type codes and aliases of Python values, as ``$type`` (query and aggregation) names them."""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from decimal import Decimal
from typing import Any, Final

from bson import Binary, Code, DBRef, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.compare import MISSING

__all__ = ["TYPE_ALIASES", "bson_type_code", "bson_type_name", "parse_type_set"]

TYPE_ALIASES: Final[dict[str, int]] = {
    "double": 1,
    "string": 2,
    "object": 3,
    "array": 4,
    "binData": 5,
    "undefined": 6,
    "objectId": 7,
    "bool": 8,
    "date": 9,
    "null": 10,
    "regex": 11,
    "dbPointer": 12,
    "javascript": 13,
    "symbol": 14,
    "javascriptWithScope": 15,
    "int": 16,
    "timestamp": 17,
    "long": 18,
    "decimal": 19,
    "minKey": -1,
    "maxKey": 127,
}
"""MongoDB's ``$type`` string aliases and their numeric codes (``"number"`` is handled apart)."""

NUMBER_CODES: Final[frozenset[int]] = frozenset({1, 16, 18, 19})
_NAMES: Final[dict[int, str]] = {code: name for name, code in TYPE_ALIASES.items()}
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1


def bson_type_code(value: Any) -> int:
    """The BSON type code MongoDB would store ``value`` as; 0 for a missing value.

    Python ints are ``int`` (16) when they fit in 32 bits and ``long`` (18) otherwise, as
    PyMongo encodes them; ``bson.Int64`` is always ``long``; ``Decimal`` is ``decimal``.
    """
    if value is MISSING:
        return 0
    if value is None:
        return 10
    if isinstance(value, bool):
        return 8
    if isinstance(value, Int64):
        return 18
    if isinstance(value, int):
        return 16 if _INT32_MIN <= value <= _INT32_MAX else 18
    if isinstance(value, float):
        return 1
    if isinstance(value, Code):  # Code subclasses str, so it is tested first
        return 15 if value.scope is not None else 13
    if isinstance(value, str):
        return 2
    if isinstance(value, DBRef | dict):
        return 3
    if isinstance(value, list | tuple):
        return 4
    if isinstance(value, Decimal | Decimal128):
        return 19
    if isinstance(value, bytes | bytearray | Binary | uuid.UUID):
        return 5
    if isinstance(value, ObjectId):
        return 7
    if isinstance(value, dt.datetime | dt.date):
        return 9
    if isinstance(value, Regex | re.Pattern):
        return 11
    if isinstance(value, Timestamp):
        return 17
    if isinstance(value, MinKey):
        return -1
    if isinstance(value, MaxKey):
        return 127
    return 2  # unencoded objects compare as strings (see compare.type_rank)


def bson_type_name(value: Any) -> str:
    """The ``$type`` aggregation operator's answer for ``value`` (``"missing"`` when absent)."""
    code = bson_type_code(value)
    return "missing" if code == 0 else _NAMES[code]


def _code_of(spec: Any, *, operator: str) -> frozenset[int]:
    if isinstance(spec, str):
        if spec == "number":
            return NUMBER_CODES
        code = TYPE_ALIASES.get(spec)
        if code is None:
            raise QueryError(f"unknown type name alias: {spec!r} in {operator}", operator=operator)
        return frozenset({code})
    if isinstance(spec, bool) or not isinstance(spec, int | float | Decimal | Decimal128):
        raise QueryError(
            f"{operator} needs a type name or a numeric type code, got {spec!r}", operator=operator
        )
    number = spec.to_decimal() if isinstance(spec, Decimal128) else spec
    if isinstance(number, float | Decimal) and (not math.isfinite(number) or number != int(number)):
        raise QueryError(f"Invalid numerical type code: {spec!r} in {operator}", operator=operator)
    code = int(number)
    if code not in _NAMES:
        raise QueryError(f"Invalid numerical type code: {spec!r} in {operator}", operator=operator)
    return frozenset({code})


def parse_type_set(spec: Any, *, operator: str = "$type") -> frozenset[int]:
    """The set of type codes a ``$type`` operand names: an alias, a code, or a list of them.

    Raises:
        QueryError: unknown alias, invalid code, or an empty list.
    """
    if isinstance(spec, list | tuple):
        codes: set[int] = set()
        for item in spec:
            codes |= _code_of(item, operator=operator)
        if not codes:
            raise QueryError(f"{operator} must match at least one type", operator=operator)
        return frozenset(codes)
    return _code_of(spec, operator=operator)
