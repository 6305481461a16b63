"""Which array element a filter matched, for the positional ``$`` update operator.

MongoDB records, while matching a document, the index of the array element through which a
filter condition matched (its "elemMatchKey"); ``$`` in an update path stands for that index.
The rules reproduced here:

- Only conditions reached through implicit ``$and`` (top level or ``$and`` lists) record an index;
  ``$or``, ``$nor``, ``$not``, ``$ne``/``$nin`` and ``$expr`` never do.
- The index is taken from the *first array* on the condition's path (``{"a.b.c": 1}`` where ``a``
  is an array records the index in ``a``), and is the first element through which it matches.
- When several conditions record an index, the last one wins (MongoDB calls this undefined and
  recommends ``$elemMatch`` for several conditions on one array element).
- A condition matching the array as a whole (``{a: [1, 2]}``, ``$size``) records nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from mindtrace.database.query.update_tree import array_index

__all__ = ["matched_array_index"]

# Negations match "no element" and so never identify one.
_NEGATIONS: Final = frozenset({"$ne", "$nin", "$not"})

# Wrapping each element in a one-element array under this name lets the filter engine apply the
# condition with exactly the array traversal it would use on the original array.
_PROBE: Final = "v"


def _conditions(filter: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, condition in filter.items():
        if key == "$and" and isinstance(condition, list):
            for clause in condition:
                if isinstance(clause, Mapping):
                    yield from _conditions(clause)
        elif not key.startswith("$"):
            yield key, condition


def _without_negations(condition: Any) -> Any:
    if isinstance(condition, Mapping) and condition and next(iter(condition)).startswith("$"):
        kept = {op: arg for op, arg in condition.items() if op not in _NEGATIONS}
        return kept or None
    return condition


def _first_match(array: list[Any], rest: list[str], condition: Any) -> str | None:
    # Imported here: the filter engine is a sibling module that may itself import the engine.
    from mindtrace.database.query.filter import matches  # noqa: PLC0415

    probe = {".".join([_PROBE, *rest]): condition}
    for i, element in enumerate(array):
        if matches(probe, {_PROBE: [element]}):
            return str(i)
    return None


def _condition_index(path: str, condition: Any, doc: Mapping[str, Any]) -> str | None:
    parts = path.split(".")
    current: Any = doc
    for i, part in enumerate(parts):
        if isinstance(current, list):
            rest = parts[i:]
            if array_index(rest[0]) is not None:
                return None  # an explicit index into the array identifies no matched element
            return _first_match(current, rest, condition)
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    if isinstance(current, list):
        return _first_match(current, [], condition)
    return None


def matched_array_index(filter: Mapping[str, Any], doc: Mapping[str, Any]) -> str | None:
    """The index (as a string path component) ``$`` resolves to for ``doc``, or None.

    ``doc`` is assumed to match ``filter``. Complexity: one filter evaluation per array element
    examined, for each top-level condition that reaches an array.
    """
    found: str | None = None
    for path, raw_condition in _conditions(filter):
        condition = _without_negations(raw_condition)
        if condition is None:
            continue
        index = _condition_index(path, condition, doc)
        if index is not None:
            found = index
    return found
