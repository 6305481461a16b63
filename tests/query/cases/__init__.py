"""Data shapes of the engine's table-driven cases.

The cases are plain data (documents, a query, the result MongoDB documents), so the same tables
run against the pure-Python engine here and, in the Mongo backend's tests, against a real
MongoDB-compatible server. ``mongo_xfail`` records why a test server deviates from documented
MongoDB behaviour for one case (the case then runs as an expected failure there, never skipped).
Documents use integer ``_id`` values so expectations can name them briefly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FilterCase:
    """``find(filter)`` over ``docs`` returns the documents whose ``_id`` is in ``expected``."""

    name: str
    docs: list[dict[str, Any]]
    filter: dict[str, Any]
    expected: list[Any] | type[Exception]  # _ids in insertion order, or the exception raised
    mongo_xfail: str | None = None


@dataclass(frozen=True)
class ProjectionCase:
    """``find(filter, projection)`` on the single document ``doc`` returns ``expected``."""

    name: str
    doc: dict[str, Any]
    projection: dict[str, Any]
    expected: dict[str, Any] | type[Exception]
    filter: dict[str, Any] = field(default_factory=dict)
    mongo_xfail: str | None = None


@dataclass(frozen=True)
class SortCase:
    """``find({}, sort=sort)`` over ``docs`` returns ``_id`` values in exactly this order."""

    name: str
    docs: list[dict[str, Any]]
    sort: list[tuple[str, int]]
    expected: list[Any] | type[Exception]
    mongo_xfail: str | None = None


@dataclass(frozen=True)
class UpdateCase:
    """``update_one(filter, update, upsert=upsert)`` on ``doc`` leaves ``expected`` stored.

    With ``upsert=True`` and ``doc`` None, the case checks the inserted document. ``modified``,
    when not None, is whether MongoDB reports the document as modified (``modified_count``).
    """

    name: str
    doc: dict[str, Any] | None
    update: dict[str, Any] | list[dict[str, Any]]
    expected: dict[str, Any] | type[Exception]
    filter: dict[str, Any] = field(default_factory=dict)
    upsert: bool = False
    mongo_xfail: str | None = None
    modified: bool | None = None


@dataclass(frozen=True)
class PipelineCase:
    """``aggregate(pipeline)`` over ``docs`` returns ``expected`` (in order unless ``ordered`` is False).

    ``collections`` holds other collections by name, for ``$lookup``.
    """

    name: str
    docs: list[dict[str, Any]]
    pipeline: list[dict[str, Any]]
    expected: list[dict[str, Any]] | type[Exception]
    ordered: bool = True
    collections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    mongo_xfail: str | None = None
