"""Hashable keys that are equal exactly when MongoDB considers two values equal.

``$group`` buckets, ``$addToSet``, the set operators and ``$lookup``'s join index need to find
equal values in O(1); Python's own ``==``/``hash`` disagree with MongoDB (``True == 1``, naive vs
aware datetimes, NaN, Decimal128), so values are first mapped to a key tagged with their BSON type
rank. Numbers of every kind with the same value share a key (``1``, ``1.0``, ``Decimal("1")``).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Hashable, Mapping
from decimal import Decimal
from typing import Any, Final

from bson import Binary, Decimal128, MaxKey, MinKey, ObjectId, Regex, Timestamp

from mindtrace.database.query.compare import (
    RANK_ARRAY,
    RANK_NULL,
    RANK_NUMBER,
    RANK_OBJECT,
    RANK_STRING,
    type_rank,
)

__all__ = ["hash_key"]

_NAN: Final = ("NaN",)


def _date_key(value: dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)


def hash_key(value: Any) -> Hashable:
    """A hashable key for ``value``; two keys are equal iff the values are equal in MongoDB.

    Missing and null share a key (``$group`` puts them in one group). Documents are field-order
    sensitive, as in MongoDB. Complexity is linear in the size of the value.
    """
    cls = value.__class__
    # Fast paths for the exact types most group keys have.
    if cls is str:
        return (RANK_STRING, value)
    if cls is int or (cls is float and value == value):  # noqa: PLR0124 - NaN test
        return (RANK_NUMBER, value)
    if cls is dict:
        return (RANK_OBJECT, tuple([(k, hash_key(v)) for k, v in value.items()]))
    if value is None:
        return (RANK_NULL,)
    if isinstance(value, str):
        return (RANK_STRING, value)
    if isinstance(value, bool):
        return (type_rank(value), value)
    if isinstance(value, int | float | Decimal | Decimal128):
        number = value.to_decimal() if isinstance(value, Decimal128) else value
        if isinstance(number, float | Decimal) and number != number:  # noqa: PLR0124 - NaN
            return (RANK_NUMBER, _NAN)
        if isinstance(number, Decimal) and number.is_infinite():
            return (RANK_NUMBER, float(number))
        return (RANK_NUMBER, number)
    if isinstance(value, Mapping):
        return (RANK_OBJECT, tuple((k, hash_key(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (RANK_ARRAY, tuple(hash_key(v) for v in value))
    rank = type_rank(value)
    if isinstance(value, dt.date):
        return (rank, _date_key(value))
    if isinstance(value, uuid.UUID):
        return (rank, 16, 4, value.bytes)
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
        return (rank, len(data), value.subtype if isinstance(value, Binary) else 0, data)
    if isinstance(value, ObjectId | Timestamp):
        return (rank, value)
    if isinstance(value, Regex):
        flags = value.flags
        return (rank, str(value.pattern), flags if isinstance(flags, int) else str(flags))
    if isinstance(value, re.Pattern):
        return (rank, value.pattern, int(value.flags))
    if isinstance(value, MinKey | MaxKey):
        return (rank,)
    # MISSING and anything the engine does not know compare like null / their string form.
    if rank == RANK_NULL:
        return (RANK_NULL,)
    return (rank, str(value))
