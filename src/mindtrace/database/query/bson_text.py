"""BSON type names and values written the way MongoDB's error messages write them."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from typing import Any, Final

from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp

from mindtrace.database.query.compare import MISSING

__all__ = ["bson_type_name", "render_element", "render_value"]

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1

# Long values are cut so an error about a huge document stays readable.
_MAX_RENDERED: Final = 300


def bson_type_name(value: Any) -> str:
    """MongoDB's name for the BSON type ``value`` would be stored as (``"int"``, ``"string"``, ...).

    A Python ``int`` is an ``int`` when it fits in 32 bits and a ``long`` otherwise, exactly as
    PyMongo encodes it; ``Int64`` is always ``long``.
    """
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "long"
    if isinstance(value, int):
        return "int" if INT32_MIN <= value <= INT32_MAX else "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, Decimal | Decimal128):
        return "decimal"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, bytes | bytearray | uuid.UUID | Binary):
        return "binData"
    if isinstance(value, ObjectId):
        return "objectId"
    if isinstance(value, dt.datetime | dt.date):
        return "date"
    if isinstance(value, Timestamp):
        return "timestamp"
    if isinstance(value, re.Pattern | Regex):
        return "regex"
    if isinstance(value, MinKey):
        return "minKey"
    if isinstance(value, MaxKey):
        return "maxKey"
    return type(value).__name__


def _render(value: Any) -> str:
    if value is None or value is MISSING:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{k}: {_render(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return "[ " + ", ".join(_render(v) for v in value) + " ]"
    if isinstance(value, ObjectId):
        return f"ObjectId('{value}')"
    if isinstance(value, Decimal128 | Decimal):
        return f'NumberDecimal("{value}")'
    if isinstance(value, dt.datetime | dt.date):
        return f"new Date({value.isoformat()})"
    if isinstance(value, Timestamp):
        return f"Timestamp({value.time}, {value.inc})"
    if isinstance(value, re.Pattern):
        return f"/{value.pattern}/"
    return str(value)


def render_value(value: Any) -> str:
    """``value`` in mongo-shell notation (``{ a: [ 1, "x" ] }``), cut to a few hundred characters."""
    text = _render(value)
    return text if len(text) <= _MAX_RENDERED else text[: _MAX_RENDERED - 3] + "..."


def render_element(name: str, value: Any) -> str:
    """A named field as MongoDB prints an element in messages: ``{a: 5}``."""
    return "{" + f"{name}: {render_value(value)}" + "}"
