"""MongoDB sort order for engine documents: ``sort_documents`` and a reusable ``sort_key``.

Sort keys follow MongoDB's documented rules (Comparison/Sort Order):

* values of different types order by BSON type (null < numbers < strings < objects < arrays <
  binary < ObjectId < bool < dates < timestamps < regex), numbers compare by value across
  int/float/Decimal, and a missing field sorts as null;
* for an array, an ascending sort uses its *smallest* element and a descending sort its
  *largest*; an empty array sorts before null and missing (below every other value but MinKey);
* dotted paths reach through arrays of subdocuments (``"a.b"`` on ``{"a": [{"b": 3}, {"b": 1}]}``
  gives 1 ascending, 3 descending), with missing values in some elements counting as null.

Sorting is stable: documents with equal keys keep their input order.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, TypeVar

from bson import Decimal128, Int64, MaxKey, MinKey, ObjectId

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.compare import MISSING, compare_values, type_rank
from mindtrace.database.query.entry_guard import guard_recursion
from mindtrace.database.query.paths import EMPTY_ARRAY, LeafArrays, path_values, split_path

__all__ = ["SortSpec", "parse_sort", "sort_documents", "sort_key"]

SortSpec = Sequence[tuple[str, int]] | Mapping[str, int]
"""A sort as MongoDB/PyMongo take it: ``[("a", 1), ("b", -1)]`` or ``{"a": 1, "b": -1}``."""

DocT = TypeVar("DocT", bound=Mapping[str, Any])

_UTC: Final = dt.UTC
# Key ranks: MongoDB's type ranks shifted by one, with the empty array between MinKey and null.
_RANK_EMPTY_ARRAY: Final = 1.5
_NATURAL: Final = "$natural"


@functools.total_ordering
class _Ordered:
    """Wraps a value whose order within its type needs the general BSON comparison."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ordered) and compare_values(self.value, other.value) == 0

    def __lt__(self, other: _Ordered) -> bool:
        return compare_values(self.value, other.value) < 0

    __hash__ = None  # type: ignore[assignment]


@functools.total_ordering
class _Descending:
    """Inverts the order of a key, so one tuple key can mix ascending and descending fields."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.key == other.key

    def __lt__(self, other: _Descending) -> bool:
        return other.key < self.key

    __hash__ = None  # type: ignore[assignment]


def _value_key(value: Any) -> tuple[Any, ...]:
    """A natively comparable key for one value, ordered exactly as ``compare_values`` orders."""
    cls = value.__class__
    if cls is str:
        return (4, value)
    if cls is int or cls is float:
        if value != value:  # noqa: PLR0124 - NaN sorts below every other number
            return (3, float("-inf"), 0)
        return (3, value, 1)
    if value is None or value is MISSING:
        return (2,)
    if value is EMPTY_ARRAY:
        return (_RANK_EMPTY_ARRAY,)
    rank = type_rank(value) + 1
    if cls is bool:
        return (rank, value)
    if isinstance(value, int | float | Decimal | Decimal128):
        number = value.to_decimal() if isinstance(value, Decimal128) else value
        if isinstance(number, Int64):
            number = int(number)
        if number != number:  # noqa: PLR0124
            return (rank, float("-inf"), 0)
        return (rank, number, 1)
    if isinstance(value, str):
        return (rank, str(value))
    if isinstance(value, dt.datetime):
        return (rank, value.replace(tzinfo=_UTC) if value.tzinfo is None else value)
    if isinstance(value, dt.date):
        return (rank, dt.datetime(value.year, value.month, value.day, tzinfo=_UTC))
    if isinstance(value, ObjectId):
        return (rank, value.binary)
    if isinstance(value, MinKey | MaxKey):
        return (rank,)
    return (rank, _Ordered(value))


def parse_sort(sort: SortSpec | None) -> list[tuple[tuple[str, ...], int]]:
    """Validate a sort specification into ``[(path components, 1 | -1), ...]``.

    Raises:
        QueryError: not a mapping or a sequence of ``(field, direction)`` pairs, a direction
            other than 1 or -1 (``{"$meta": ...}`` included), or an invalid field path.
    """
    if sort is None:
        return []
    if isinstance(sort, str | bytes):
        raise QueryError(
            f"a sort must be a mapping or a list of (field, direction) pairs, got the string {sort!r}; "
            f"write [({sort!r}, 1)]",
            operator="$sort",
        )
    if isinstance(sort, Mapping):
        items: list[Any] = list(sort.items())
    elif isinstance(sort, Sequence):
        items = list(sort)
    else:
        raise QueryError(
            f"a sort must be a mapping or a list of (field, direction) pairs, got {sort!r}", operator="$sort"
        )
    parsed: list[tuple[tuple[str, ...], int]] = []
    for item in items:
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise QueryError(f"sort entries must be (field, direction) pairs, got {item!r}", operator="$sort")
        field, direction = item
        if isinstance(direction, Mapping):
            raise QueryError(
                f"sort on {field!r}: {direction!r} is not supported (no $meta/text scores); use 1 or -1",
                operator="$meta" if "$meta" in direction else "$sort",
            )
        if isinstance(direction, bool) or not _is_unit(direction):
            raise QueryError(
                f"sort on {field!r}: key ordering must be 1 (for ascending) or -1 (for descending), "
                f"got {direction!r}",
                operator="$sort",
            )
        if field == _NATURAL:
            if len(items) != 1:
                raise QueryError("$natural cannot be combined with other sort fields", operator=_NATURAL)
            parsed.append(((_NATURAL,), int(direction)))
            continue
        if isinstance(field, str) and field.startswith("$"):
            raise QueryError(f"sort field names cannot start with '$': {field!r}", operator="$sort")
        parsed.append((split_path(field, operator="$sort"), int(direction)))
    return parsed


def _field_key(parts: tuple[str, ...], direction: int) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """Key of one sort field: the smallest (ascending) or largest (descending) value reached."""
    pick = min if direction > 0 else max
    if len(parts) == 1:
        name = parts[0]

        def top_key(doc: Mapping[str, Any]) -> tuple[Any, ...]:
            value = doc.get(name, MISSING)
            if isinstance(value, list):
                if not value:
                    return (_RANK_EMPTY_ARRAY,)
                return pick(map(_value_key, value))
            return _value_key(value)

        return top_key

    def nested_key(doc: Mapping[str, Any]) -> tuple[Any, ...]:
        values = path_values(doc, parts, LeafArrays.ELEMENTS)
        if not values:
            return (2,)  # the path only ran through arrays of scalars: null, like a missing field
        return pick(map(_value_key, values))

    return nested_key


def _is_unit(direction: Any) -> bool:
    # 1 or -1 as any number; a signalling NaN Decimal raises on comparison (and is neither).
    try:
        return bool(direction in (1, -1))
    except ArithmeticError:
        return False


@guard_recursion
def sort_key(sort: SortSpec) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A key function for ``sorted(docs, key=sort_key(spec))`` giving MongoDB's order for ``spec``.

    Useful to backends that merge or heap-select already-sorted runs; :func:`sort_documents`
    gives the same order (usually faster, as it sorts one field at a time).

    Raises:
        QueryError: as :func:`parse_sort`; ``$natural`` has no per-document key.
    """
    fields = parse_sort(sort)
    if any(parts == (_NATURAL,) for parts, _ in fields):
        raise QueryError("$natural order is the input order; it has no sort key", operator=_NATURAL)
    keys = [(_field_key(parts, direction), direction) for parts, direction in fields]

    def key(doc: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(k(doc) if direction > 0 else _Descending(k(doc)) for k, direction in keys)

    return guard_recursion(key)


@guard_recursion
def sort_documents(docs: Iterable[DocT], sort: SortSpec | None) -> list[DocT]:
    """Return ``docs`` as a new list in MongoDB's order for ``sort`` (stable; input untouched).

    Cost: one O(n log n) pass per sort field, each with precomputed native keys.

    Raises:
        QueryError: as :func:`parse_sort`.
    """
    fields = parse_sort(sort)
    result = list(docs)
    for parts, direction in reversed(fields):
        if parts == (_NATURAL,):
            if direction < 0:
                result.reverse()
            continue
        # Stable sorts applied from the last field to the first give the lexicographic order;
        # reverse=True keeps equal keys in input order, as required for stability.
        result.sort(key=_field_key(parts, direction), reverse=direction < 0)
    return result
