"""The document an upsert starts from when it inserts: the filter's equality conditions."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any, Final

from bson import Regex

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.entry_guard import guard_recursion
from mindtrace.database.query.update_tree import clone_value

__all__ = ["upsert_seed"]

# MongoDB's NotSingleValueField, reported when two equalities claim overlapping paths.
_CODE_NOT_SINGLE_VALUE: Final = 54


def _equalities(filter: Mapping[str, Any], found: list[tuple[str, Any]]) -> None:
    for key, condition in filter.items():
        if not isinstance(key, str):
            continue
        if key == "$and" and isinstance(condition, list | tuple):
            for clause in condition:
                if isinstance(clause, Mapping):
                    _equalities(clause, found)
        elif key == "$or" and isinstance(condition, list | tuple) and len(condition) == 1:
            # MongoDB simplifies a one-clause $or to that clause before extracting equalities.
            if isinstance(condition[0], Mapping):
                _equalities(condition[0], found)
        elif key.startswith("$"):
            continue
        elif isinstance(condition, Mapping) and condition and next(iter(condition)).startswith("$"):
            if "$eq" in condition:
                found.append((key, condition["$eq"]))
            elif set(condition) == {"$in"} and _single(condition["$in"]):
                # A one-element $in is an equality (MongoDB rewrites it to $eq).
                found.append((key, condition["$in"][0]))
        elif isinstance(condition, re.Pattern | Regex):
            continue  # a regex literal is a pattern match, not an equality
        else:
            found.append((key, condition))


def _single(values: Any) -> bool:
    return (
        isinstance(values, list | tuple)
        and len(values) == 1
        and not isinstance(values[0], re.Pattern | Regex)
    )


def _check_overlaps(paths: list[str]) -> None:
    ordered = sorted(paths)
    for previous, current in itertools.pairwise(ordered):
        if previous == current:
            raise QueryError(
                f"cannot infer query fields to set, path '{current}' is matched twice: the upsert "
                "cannot decide which value to insert; keep one equality per field",
                code=_CODE_NOT_SINGLE_VALUE,
            )
    for path in paths:
        for other in paths:
            if other != path and path.startswith(other + "."):
                raise QueryError(
                    f"cannot infer query fields to set, both paths '{path}' and '{other}' are "
                    "matched: the upsert cannot build one document from both equalities",
                    code=_CODE_NOT_SINGLE_VALUE,
                )


@guard_recursion
def upsert_seed(filter: Mapping[str, Any]) -> dict[str, Any]:
    """The document MongoDB builds from ``filter`` before applying the update of an upsert.

    Equality conditions (``{a: 1}``, ``{a: {$eq: 1}}``, a one-element ``$in``, inside ``$and``
    or a one-clause ``$or``) become fields; dotted paths create subdocuments (``{"a.b": 1}`` ->
    ``{a: {b: 1}}``). Fields are added in path order (MongoDB keeps them in an ordered map) and
    ``_id``, if present, comes first. Other conditions (ranges, regexes, ``$or`` with several
    clauses, ...) contribute nothing.

    Raises QueryError when two equalities overlap (``{a: 1, "a.b": 2}``), as MongoDB does.
    """
    found: list[tuple[str, Any]] = []
    _equalities(filter, found)
    if not found:
        return {}
    _check_overlaps([path for path, _ in found])
    seed: dict[str, Any] = {}
    for path, value in sorted(found, key=lambda item: item[0]):
        parts = path.split(".")
        container = seed
        for part in parts[:-1]:
            child = container.get(part)
            if not isinstance(child, dict):
                child = {}
                container[part] = child
            container = child
        container[parts[-1]] = clone_value(value)
    if "_id" in seed:
        seed = {"_id": seed["_id"], **{k: v for k, v in seed.items() if k != "_id"}}
    return seed
