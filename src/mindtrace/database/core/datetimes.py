"""The one precision rule for datetimes on every store: milliseconds.

MongoDB stores a datetime as milliseconds since the epoch, so a microsecond part cannot survive
there. Rather than let what a read returns depend on the store, every value entering through the
public API (documents, filters, update operands, pipelines) is truncated to the millisecond on
its way in (``core.document.to_engine_value`` calls :func:`to_milliseconds`), and the engine's
clock (``$currentDate``, ``$$NOW``) ticks in milliseconds too. What ``insert()`` returns is then
what ``get()`` returns, on Local, Redis and MongoDB alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

__all__ = ["to_milliseconds", "utc_datetimes"]


def to_milliseconds(value: dt.datetime) -> dt.datetime:
    """``value`` truncated to the millisecond (towards the past, as BSON does); its time zone,
    if any, is kept. Returns ``value`` itself when it has no sub-millisecond part."""
    extra = value.microsecond % 1000
    return value.replace(microsecond=value.microsecond - extra) if extra else value


def utc_datetimes(value: Any) -> Any:
    """``value`` (an aggregation result: dicts, lists, scalars) with every datetime aware in UTC,
    in place where it is a dict or list.

    Aggregation results follow no model, so nothing says which stored datetimes were naive; MongoDB
    returns them all as UTC instants, and so does every store (naive values are taken as UTC, the
    way every store keeps them).
    """
    t = type(value)
    if t is dt.datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)
    if t is dict:
        for key, item in value.items():
            if type(item) in _CONTAINERS_OR_DATETIME:
                value[key] = utc_datetimes(item)
    elif t is list:
        for i, item in enumerate(value):
            if type(item) in _CONTAINERS_OR_DATETIME:
                value[i] = utc_datetimes(item)
    return value


_CONTAINERS_OR_DATETIME = frozenset({dict, list, dt.datetime})
