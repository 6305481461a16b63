"""Query planning for Redis: which candidates a filter (and a sort with a limit) can be narrowed to.

Only the top level of a filter is looked at, and only conjuncts (implicit AND and ``$and``): a
candidate set that satisfies one conjunct is a superset of the answer, and the engine re-checks
every candidate against the whole filter. So a plan is never wrong, only more or less selective.

Pushed down:

* ``_id`` equality and ``$in`` -> the documents with those ids (one read, no index).
* equality and ``$in`` on a single-field unique index -> its claims hash (``HMGET``): such an
  index keeps no sorted set, so it answers nothing else.
* equality and ``$in`` on scalars, and ``$gt/$gte/$lt/$lte`` on numbers, strings, dates,
  ObjectIds and binaries, on the leading fields of a declared index -> ``ZRANGEBYLEX`` ranges
  (one bound per field: a lower and an upper bound may hold for different array elements).
* a sort whose first key leads an index, with a limit -> walk that index in order and stop once
  enough documents matched (only while no document holds an array or sub-document there).

Everything else (``$or``, ``$ne``, ``$regex``, ``$exists``, ``$elemMatch``, ``$expr``...) scans the
collection's id set in insertion order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bson import ObjectId

from mindtrace.database.backends.index_keys import (
    SEP,
    rank_prefix,
    sort_component,
    unique_component,
)
from mindtrace.database.core.document import is_valid_id
from mindtrace.database.query.compare import RANK_NUMBER, RANK_STRING, type_rank

__all__ = [
    "ClaimsPlan",
    "IdsPlan",
    "IndexPlan",
    "LexRange",
    "Plan",
    "RedisIndex",
    "ScanPlan",
    "SortPlan",
    "plan_query",
]

_RANK_BINARY = 6
_RANK_OBJECTID = 7
_RANK_DATE = 9
_RANGE_RANKS = frozenset({RANK_NUMBER, RANK_STRING, _RANK_BINARY, _RANK_OBJECTID, _RANK_DATE})
_LOWER = ("$gt", "$gte")
_UPPER = ("$lt", "$lte")

LexRange = tuple[bytes, bytes]
"""``(min, max)`` arguments of ZRANGEBYLEX: each starts with ``[`` (inclusive) or ``(`` (exclusive)."""


@dataclass(frozen=True, slots=True)
class RedisIndex:
    """A declared index as stored in Redis: its sorted set and, when unique, its claims hash.

    A single-field unique index has no sorted set (``key`` is None): its claims hash answers
    equality and ``$in`` exactly, and skipping the sorted set halves the cost of maintaining it.
    ``sparse``: documents lacking every field of the index claim no unique value (MongoDB's
    sparse indexes; an explicit null is still claimed); otherwise a missing field claims null,
    so a second such document is a duplicate.
    """

    name: str
    fields: tuple[str, ...]
    unique: bool
    key: str | None
    unique_key: str | None
    sparse: bool = False

    @property
    def sorted(self) -> bool:
        """True when the index keeps a sorted set (ranges, sorts, prefix equality)."""
        return self.key is not None


@dataclass(frozen=True, slots=True)
class ScanPlan:
    """Read every document, in insertion order."""

    kind: Literal["scan"] = "scan"


@dataclass(frozen=True, slots=True)
class IdsPlan:
    """Read only the documents with these ids (from ``_id`` equality or ``$in``)."""

    ids: tuple[str, ...]
    kind: Literal["ids"] = "ids"


@dataclass(frozen=True, slots=True)
class IndexPlan:
    """Read the documents named by members of ``index`` within ``ranges`` (a union)."""

    index: RedisIndex
    ranges: tuple[LexRange, ...]
    kind: Literal["index"] = "index"


@dataclass(frozen=True, slots=True)
class ClaimsPlan:
    """Read the documents owning these exact values in a unique index's claims hash."""

    index: RedisIndex
    claims: tuple[bytes, ...]
    kind: Literal["claims"] = "claims"


@dataclass(frozen=True, slots=True)
class SortPlan:
    """Walk ``index`` in sort order (within ``ranges``) until ``needed`` documents matched.

    ``fallback`` is the plan to use when the index holds complex values (arrays, sub-documents)
    and so cannot give the sort order.
    """

    index: RedisIndex
    ranges: tuple[LexRange, ...]
    reverse: bool
    needed: int
    fallback: Plan
    kind: Literal["sort"] = "sort"


Plan = ScanPlan | IdsPlan | IndexPlan | ClaimsPlan | SortPlan

_FULL: LexRange = (b"-", b"+")


def _conjuncts(filter: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, value in filter.items():
        if key == "$and" and isinstance(value, list | tuple):
            for part in value:
                if isinstance(part, Mapping):
                    yield from _conjuncts(part)
        elif not key.startswith("$"):
            yield key, value


def _is_operator_dict(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(str(k).startswith("$") for k in value)


def _scalar(value: Any) -> bytes | None:
    # Only values whose equality the index can answer: scalars (regexes and documents are not).
    if isinstance(value, Mapping | list | tuple):
        return None
    return sort_component(value)


@dataclass(slots=True)
class _FieldConditions:
    equals: bytes | None = None
    any_of: list[bytes] | None = None
    equal_values: list[Any] | None = None  # the raw values behind ``equals`` / ``any_of``
    lower: Any = None
    upper: Any = None
    has_lower: bool = False
    has_upper: bool = False


def _field_conditions(filter: Mapping[str, Any]) -> dict[str, _FieldConditions]:
    found: dict[str, _FieldConditions] = {}
    for path, condition in _conjuncts(filter):
        cond = found.setdefault(path, _FieldConditions())
        if not _is_operator_dict(condition):
            component = _scalar(condition)
            if component is not None and cond.equals is None:
                cond.equals = component
                cond.equal_values = [condition]
            continue
        for op, operand in condition.items():
            if op == "$eq":
                component = _scalar(operand)
                if component is not None and cond.equals is None:
                    cond.equals = component
                    cond.equal_values = [operand]
            elif op == "$in" and isinstance(operand, list | tuple) and cond.any_of is None:
                components = [_scalar(v) for v in operand]
                if all(c is not None for c in components):
                    cond.any_of = sorted({c for c in components if c is not None})
                    if cond.equals is None:
                        cond.equal_values = list(operand)
            elif op in _LOWER and not cond.has_lower and type_rank(operand) in _RANGE_RANKS:
                cond.lower, cond.has_lower = operand, True
            elif op in _UPPER and not cond.has_upper and type_rank(operand) in _RANGE_RANKS:
                cond.upper, cond.has_upper = operand, True
    return found


def _range_for(prefix: bytes, cond: _FieldConditions) -> tuple[LexRange, ...] | None:
    # Ranges always include the whole group of their bounds' encodings: encodings may be lossy.
    if cond.any_of is not None:
        return tuple((b"[" + prefix + c + SEP, b"[" + prefix + c + SEP + b"\xff") for c in cond.any_of)
    if not (cond.has_lower or cond.has_upper):
        return None
    lower_rank = type_rank(cond.lower) if cond.has_lower else None
    # Both bounds are never intersected: on an array each may hold for another element
    # ({"a": {"$gt": 15, "$lt": 20}} matches a: [14, 21]), and an index cannot tell whether a
    # field holds arrays (MongoDB likewise keeps one bound on a multikey index). The lower bound
    # (up to the end of its type) is used; the engine checks the upper one on every candidate.
    upper_rank = type_rank(cond.upper) if cond.has_upper and lower_rank is None else None
    rank = lower_rank if lower_rank is not None else upper_rank
    assert rank is not None
    if lower_rank is not None:
        low = b"[" + prefix + (sort_component(cond.lower) or b"") + SEP
    else:
        low = b"[" + prefix + rank_prefix(rank)
    if upper_rank is not None and upper_rank == rank:
        high = b"[" + prefix + (sort_component(cond.upper) or b"") + SEP + b"\xff"
    else:
        # No upper bound of the same type: MongoDB's type bracketing stops at the end of the type.
        high = b"(" + prefix + rank_prefix(rank + 1)
    return ((low, high),)


@dataclass(frozen=True, slots=True)
class _Candidate:
    plan: IndexPlan
    score: tuple[int, ...]
    equality_fields: int


def _claims_plan(index: RedisIndex, conditions: Mapping[str, _FieldConditions]) -> ClaimsPlan | None:
    cond = conditions.get(index.fields[0])
    if cond is None or cond.equal_values is None:
        return None
    if index.sparse and any(v is None for v in cond.equal_values):
        return None  # {field: null} also matches documents that claim nothing
    return ClaimsPlan(index, tuple(dict.fromkeys(unique_component(v) for v in cond.equal_values)))


def _index_candidate(index: RedisIndex, conditions: Mapping[str, _FieldConditions]) -> _Candidate | None:
    if not index.sorted:
        return None
    prefix = b""
    equal = 0
    for path in index.fields:
        cond = conditions.get(path)
        if cond is None or cond.equals is None:
            break
        prefix += cond.equals + SEP
        equal += 1
    if equal == len(index.fields):
        ranges: tuple[LexRange, ...] = ((b"[" + prefix, b"[" + prefix + b"\xff"),)
        # A unique index hit by equality on every field names at most one document.
        return _Candidate(IndexPlan(index, ranges), (0 if index.unique else 1, -equal), equal)
    nxt = conditions.get(index.fields[equal])
    tail = _range_for(prefix, nxt) if nxt is not None else None
    if tail is not None:
        assert nxt is not None
        kind = 2 if nxt.any_of is not None else 3
        return _Candidate(IndexPlan(index, tail), (kind, -equal), equal)
    if equal:
        return _Candidate(IndexPlan(index, ((b"[" + prefix, b"[" + prefix + b"\xff"),)), (2, -equal), equal)
    return None


def _ids_plan(filter: Mapping[str, Any]) -> IdsPlan | None:
    for path, condition in _conjuncts(filter):
        if path != "_id":
            continue
        if _is_operator_dict(condition):
            if "$eq" in condition:
                values: Sequence[Any] = [condition["$eq"]]
            elif isinstance(condition.get("$in"), list | tuple):
                values = condition["$in"]
            else:
                continue
        elif isinstance(condition, str | ObjectId):
            values = [condition]
        else:
            continue
        # A value that is not an id cannot name a stored document: it simply matches nothing.
        ids = tuple(dict.fromkeys(str(v) for v in values if isinstance(v, str | ObjectId) and is_valid_id(v)))
        return IdsPlan(ids)
    return None


def plan_query(
    filter: Mapping[str, Any],
    indexes: Sequence[RedisIndex],
    *,
    sort: Sequence[tuple[str, int]] = (),
    needed: int | None = None,
) -> Plan:
    """The cheapest way to find the candidates of ``filter`` among ``indexes``.

    ``sort`` and ``needed`` (skip + limit, or None for no limit) allow a sort pushdown; an
    equality or ``$in`` on an index wins over it, since it usually names few documents.
    """
    ids = _ids_plan(filter)
    if ids is not None:
        return ids
    conditions = _field_conditions(filter)
    for index in indexes:
        if not index.sorted:
            claims = _claims_plan(index, conditions)
            if claims is not None:
                return claims
    best: _Candidate | None = None
    for index in indexes:
        candidate = _index_candidate(index, conditions)
        if candidate is not None and (best is None or candidate.score < best.score):
            best = candidate
    base: Plan = best.plan if best is not None else ScanPlan()
    if not sort or needed is None or (best is not None and best.score[0] <= 2):
        return base
    field, direction = sort[0]
    for index in indexes:
        if not index.sorted or index.fields[0] != field:
            continue
        cond = conditions.get(field)
        restricted = _range_for(b"", cond) if cond is not None else None
        if cond is not None and cond.equals is not None:
            restricted = ((b"[" + cond.equals + SEP, b"[" + cond.equals + SEP + b"\xff"),)
        return SortPlan(index, restricted or (_FULL,), direction < 0, needed, base)
    return base
