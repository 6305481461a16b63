"""BSON type names and values written the way MongoDB's error messages write them."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any, Final

from bson import Decimal128, ObjectId, Timestamp

from mindtrace.database.query.compare import MISSING

__all__ = ["render_element", "render_value"]

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1

# Long values are cut so an error about a huge document stays readable.
_MAX_RENDERED: Final = 300


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
