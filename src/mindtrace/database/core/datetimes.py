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

__all__ = ["to_milliseconds"]


def to_milliseconds(value: dt.datetime) -> dt.datetime:
    """``value`` truncated to the millisecond (towards the past, as BSON does); its time zone,
    if any, is kept. Returns ``value`` itself when it has no sub-millisecond part."""
    extra = value.microsecond % 1000
    return value.replace(microsecond=value.microsecond - extra) if extra else value
