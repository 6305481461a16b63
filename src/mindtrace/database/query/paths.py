"""Dotted-path resolution with MongoDB's query semantics (arrays, numeric components, missing).

A query path such as ``"a.b.c"`` can reach many values in one document: whenever a path
component meets an array before the path ends, MongoDB looks *into* the array, once per
component (never into arrays nested directly in arrays). A numeric component (``"a.0"``) both
indexes the array and, in subdocuments of that array, looks up a field literally named ``"0"``.
Where a path runs into a missing field or a scalar, the result is :data:`MISSING`, which query
operators distinguish from an explicit ``None`` (``{"x": None}`` matches both, ``$exists`` only one).

The traversal mirrors the MongoDB server's element iterator (``BSONElementIterator``), including
its corner cases, so that the filter engine answers exactly like a MongoDB server.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any, Final

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.compare import MISSING

__all__ = ["EMPTY_ARRAY", "LeafArrays", "array_index", "path_values", "split_path"]


class _EmptyArray:
    """Marks an empty array at the end of a path when leaf arrays are unwound into elements."""

    def __repr__(self) -> str:
        return "EMPTY_ARRAY"


EMPTY_ARRAY: Final[Any] = _EmptyArray()
"""Stands for ``[]`` in :attr:`LeafArrays.ELEMENTS` results (sort keys order it below null)."""


class LeafArrays(IntEnum):
    """What :func:`path_values` yields for an array found at the *end* of the path."""

    EXPAND = 0
    """Each element, then the array itself (how most query operators see arrays)."""
    KEEP = 1
    """Only the array itself (``$size``, ``$elemMatch``, ``$exists``)."""
    ELEMENTS = 2
    """Only the elements, or :data:`EMPTY_ARRAY` for ``[]`` (how sort keys see arrays)."""


def split_path(path: str, *, operator: str | None = None) -> tuple[str, ...]:
    """Split a dotted field path into its components.

    Raises:
        QueryError: the path is not a string, is empty, or has an empty component (``"a..b"``).
    """
    if not isinstance(path, str):
        raise QueryError(
            f"field path must be a string, got {type(path).__name__} {path!r}", operator=operator
        )
    parts = tuple(path.split("."))
    if not path or "" in parts:
        raise QueryError(
            f"invalid field path {path!r}: field paths cannot be empty or contain empty components",
            operator=operator,
        )
    return parts


def array_index(component: str) -> int:
    """The array position a path component names, or -1 when it names none.

    Only canonical decimal spellings name positions (``"0"``, ``"12"``), as MongoDB compares the
    component with the array's own field names; ``"01"`` or ``"+1"`` never index an array.
    """
    if component.isascii() and component.isdigit() and (len(component) == 1 or component[0] != "0"):
        return int(component)
    return -1


def path_values(doc: Mapping[str, Any], parts: tuple[str, ...], leaf: LeafArrays) -> list[Any]:
    """Every value ``parts`` reaches in ``doc`` under MongoDB's query semantics.

    The list contains :data:`MISSING` for each place where the path ends in a missing field or
    runs into a scalar; it is empty when the path only runs through arrays without reaching
    anything (``"a.b"`` in ``{"a": [1, 2]}``). Order follows the document. Cost is linear in the
    number of values visited; nothing is copied.
    """
    out: list[Any] = []
    _from_document(doc, parts, 0, leaf, out)
    return out


def _emit_leaf(value: Any, leaf: LeafArrays, out: list[Any]) -> None:
    if isinstance(value, list):
        if leaf is LeafArrays.EXPAND:
            out.extend(value)
            out.append(value)
        elif leaf is LeafArrays.KEEP:
            out.append(value)
        elif value:
            out.extend(value)
        else:
            out.append(EMPTY_ARRAY)
    else:
        out.append(value)


def _from_document(
    doc: Mapping[str, Any], parts: tuple[str, ...], i: int, leaf: LeafArrays, out: list[Any]
) -> None:
    # Walk through nested documents until the path ends or meets an array or a non-document.
    n = len(parts)
    value: Any = doc
    while True:
        value = value.get(parts[i], MISSING)
        i += 1
        if i == n:
            _emit_leaf(value, leaf, out)
            return
        if isinstance(value, dict):
            continue
        if isinstance(value, list):
            _from_array(value, parts, i, leaf, out)
            return
        # A scalar (or nothing) where the path continues: the path does not exist here.
        out.append(MISSING)
        return


def _from_array(array: list[Any], parts: tuple[str, ...], i: int, leaf: LeafArrays, out: list[Any]) -> None:
    # ``parts[i]`` is the component applied to the elements of ``array`` (the path continues).
    index = array_index(parts[i])
    last = i + 1 == len(parts)
    for position, element in enumerate(array):
        if isinstance(element, dict):
            # A subdocument sees the whole remaining path, numeric component included.
            _from_document(element, parts, i, leaf, out)
            if position == index:
                if last:
                    out.append(element)
                else:
                    _from_document(element, parts, i + 1, leaf, out)
        elif position == index:
            if last:
                # Reached by explicit position: yielded as it is, even if it is itself an array.
                out.append(element)
            elif isinstance(element, list):
                _from_array(element, parts, i + 1, leaf, out)
