"""MongoDB filters and sorts compiled to SQLite conditions that only ever make queries faster.

A filter compiles to two SQL conditions over a collection's rows (see :class:`FilterPlan`):

* ``where`` (the *upper bound*): every document the filter matches satisfies it, so it can go in
  the ``WHERE`` clause without losing a result. It may let through documents that do not match.
* ``sure`` (the *lower bound*): every row satisfying it certainly matches, so the engine needs
  not look at it. When ``sure`` and ``where`` are the same condition the SQL is exact.

Rows satisfying ``where`` but not ``sure`` are decoded and checked by the query engine with the
full filter, so a result is always exactly MongoDB's. Bounds compose: ``$and``/``$or`` combine
them pairwise, and negation (``$not``, ``$ne``, ``$nin``, ``$nor``, ``$exists: false``) swaps them
(``NOT sure`` bounds the complement from above, ``NOT where`` from below).

The conditions work on ``json_extract(doc, '$.path')`` — the expression declared indexes are built
on — plus type guards. What SQLite returns there decides the guards:

=========================  =====================================================================
stored value               ``json_extract`` gives
=========================  =====================================================================
missing, null              SQL NULL (``json_type`` tells them apart: NULL vs ``'null'``)
true / false               1 / 0 (so number conditions are guarded with ``json_type``)
int, float                 INTEGER, REAL (compared numerically, like MongoDB)
string                     TEXT (compared bytewise on UTF-8, which is MongoDB's string order)
array, object, typed value the JSON text: ``[...]``, ``{...}``, ``{"$date":"<UTC>"...}`` ...
=========================  =====================================================================

Because SQLite orders NULL < numbers < TEXT, a range on numbers is closed with ``x < ''`` to keep
strings out, and arrays (JSON text starting with ``[``), tagged numbers (``{"$n:``) and dates
(``{"$date":"``, whose UTC instant sorts chronologically) are index ranges too — so a condition
stays usable by an index scan. Array *elements* (MongoDB matches ``{"tags": "x"}`` against
``["x", "y"]``) are never compared in SQL: an array at the path only admits the row as a
candidate. A path whose prefix may be an array (per :class:`ArrayPaths`) adds a
``json_type(prefix) = 'array'`` candidate branch.

Anything else — ``$regex``, ``$elemMatch``, ``$size``, ``$type``, ``$all``, ``$mod``, ``$expr``,
operands such as documents or regexes — compiles to "no restriction" and leaves the decision to
the engine; such filters are also marked not ``validated`` so the engine compiles (and validates)
them even when no row comes back.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from bson import Binary, ObjectId

from mindtrace.database.backends.local.model_paths import ArrayPaths
from mindtrace.database.backends.local.sqlite_schema import field_sql, json_type_sql
from mindtrace.database.core import typed_json

__all__ = ["FALSE", "TRUE", "FilterPlan", "SortPlan", "Sql", "SqlitePushdown", "sql_and", "sql_not", "sql_or"]

_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
_IN_LIST_LIMIT: Final = 500  # longer $in lists are bound as one JSON array (json_each)


@dataclass(frozen=True, slots=True)
class Sql:
    """A SQL boolean expression and its ``?`` parameters, in text order."""

    text: str
    params: tuple[Any, ...] = ()


TRUE: Final = Sql("1")
FALSE: Final = Sql("0")


def sql_and(parts: Sequence[Sql]) -> Sql:
    """Conjunction; TRUE parts vanish, a FALSE part makes it FALSE."""
    kept = []
    for p in parts:
        if p is FALSE:
            return FALSE
        if p is not TRUE and p not in kept:
            kept.append(p)
    if not kept:
        return TRUE
    if len(kept) == 1:
        return kept[0]
    return Sql(" AND ".join(f"({p.text})" for p in kept), tuple(x for p in kept for x in p.params))


def sql_or(parts: Sequence[Sql]) -> Sql:
    """Disjunction; FALSE parts vanish, a TRUE part makes it TRUE."""
    kept = []
    for p in parts:
        if p is TRUE:
            return TRUE
        if p is not FALSE and p not in kept:
            kept.append(p)
    if not kept:
        return FALSE
    if len(kept) == 1:
        return kept[0]
    return Sql(" OR ".join(f"({p.text})" for p in kept), tuple(x for p in kept for x in p.params))


def sql_not(p: Sql) -> Sql:
    """Two-valued negation: rows where ``p`` is false *or NULL*."""
    if p is TRUE:
        return FALSE
    if p is FALSE:
        return TRUE
    return Sql(f"({p.text}) IS NOT 1", p.params)


@dataclass(frozen=True, slots=True)
class _Bounds:
    sure: Sql  # lower bound: rows satisfying it match
    where: Sql  # upper bound: matching rows satisfy it


_UNKNOWN: Final = _Bounds(FALSE, TRUE)
_NOTHING: Final = _Bounds(FALSE, FALSE)


def _and(bounds: Sequence[_Bounds]) -> _Bounds:
    return _Bounds(sql_and([b.sure for b in bounds]), sql_and([b.where for b in bounds]))


def _or(bounds: Sequence[_Bounds]) -> _Bounds:
    return _Bounds(sql_or([b.sure for b in bounds]), sql_or([b.where for b in bounds]))


def _not(b: _Bounds) -> _Bounds:
    return _Bounds(sql_not(b.where), sql_not(b.sure))


@dataclass(frozen=True, slots=True)
class FilterPlan:
    """The SQL side of a filter (see the module docstring).

    ``exact``: ``where`` alone selects exactly the matching rows. ``validated``: the compiler
    recognised every operator and operand, so the filter is valid MongoDB and the engine need
    not be consulted for rows ``sure`` accepts.
    """

    where: Sql
    sure: Sql
    exact: bool
    validated: bool


class _UnvalidatedError(Exception):
    """Internal: the filter uses something the compiler does not vouch for."""


@dataclass(frozen=True, slots=True)
class SortPlan:
    """``ORDER BY`` for a sort SQLite can do in MongoDB's order, valid only if no row satisfies
    any of ``probes`` (rows whose values SQLite would order differently from MongoDB)."""

    order_by: str
    probes: tuple[Sql, ...]


class _Path:
    """SQL expressions for one dotted path."""

    __slots__ = ("arrays", "json_type", "scalar", "x")

    def __init__(self, x: str, json_type: str, arrays: Sql, scalar: bool) -> None:
        self.x = x  # json_extract(doc, path)
        self.json_type = json_type
        self.arrays = arrays  # candidate branch: the value or a prefix is an array
        # Known to hold only null, numbers (no booleans) and strings for the rows in question.
        self.scalar = scalar


class SqlitePushdown:
    """Compiles filters and sorts for one collection (one model's array knowledge)."""

    def __init__(self, array_paths: ArrayPaths, indexed_paths: frozenset[str] = frozenset()) -> None:
        self._array_paths = array_paths
        self._indexed = indexed_paths
        self._paths: dict[tuple[str, bool], _Path | None] = {}
        self._scalar: frozenset[str] = frozenset()

    # ------------------------------------------------------------------ paths
    def _path(self, path: str) -> _Path | None:
        scalar = path in self._scalar
        cache_key = (path, scalar)
        if cache_key in self._paths:
            return self._paths[cache_key]
        compiled = None
        x = field_sql(path)
        jt = json_type_sql(path)
        if x is not None and jt is not None:
            branches = []
            if not scalar and self._array_paths.may_be_array(path):
                branches.append(Sql(f"{x} >= '[' AND {x} < '\\'"))
            branches.extend(self._prefix_array_branches(path))
            compiled = _Path(x, jt, sql_or(branches), scalar)
        self._paths[cache_key] = compiled
        return compiled

    def _prefix_arrays(self, path: str) -> bool:
        parts = path.split(".")
        return any(self._array_paths.may_be_array(".".join(parts[:i])) for i in range(1, len(parts)))

    # ------------------------------------------------------------------ filters
    def compile(self, filter: Mapping[str, Any], scalar_paths: frozenset[str] = frozenset()) -> FilterPlan:
        """The SQL bounds of a MongoDB filter (an engine-normalised dict). Never raises for a
        bad filter: what it does not understand is left to the engine (``validated`` False).

        ``scalar_paths`` are paths that a probe showed to hold only null, numbers and strings in
        every row this filter can select (see :meth:`sort`): their array, tagged-number and
        boolean candidate branches are dropped, which lets an index deliver rows in sort order.
        """
        self._scalar = scalar_paths
        validated = True
        try:
            bounds = self._document(filter)
        except _UnvalidatedError:
            validated = False
            try:
                bounds = self._document(filter, lenient=True)
            except _UnvalidatedError:  # pragma: no cover - lenient mode never raises
                bounds = _UNKNOWN
        return FilterPlan(bounds.where, bounds.sure, bounds.where == bounds.sure, validated)

    def _document(self, filter: Any, lenient: bool = False) -> _Bounds:
        if not isinstance(filter, Mapping):
            return self._unknown(lenient)
        parts = []
        for key, value in filter.items():
            if not isinstance(key, str):
                parts.append(self._unknown(lenient))
            elif key in ("$and", "$or", "$nor"):
                if not isinstance(value, list | tuple) or not value:
                    parts.append(self._unknown(lenient))
                    continue
                subs = [self._document(sub, lenient) for sub in value]
                if key == "$and":
                    parts.append(_and(subs))
                elif key == "$or":
                    parts.append(_or(subs))
                else:
                    parts.append(_not(_or(subs)))
            elif key == "$comment":
                continue
            elif key.startswith("$"):
                parts.append(self._unknown(lenient))
            else:
                parts.append(self._field(key, value, lenient))
        return _and(parts)

    @staticmethod
    def _unknown(lenient: bool) -> _Bounds:
        if not lenient:
            raise _UnvalidatedError
        return _UNKNOWN

    def _field(self, key: str, value: Any, lenient: bool) -> _Bounds:
        if (
            isinstance(value, Mapping)
            and value
            and all(isinstance(k, str) and k.startswith("$") for k in value)
        ):
            ranges = [(op, arg) for op, arg in value.items() if op in _SQL_OP]
            merged = self._range(key, ranges) if len(ranges) > 1 else None
            parts = [
                self._operator(key, op, arg, value, lenient)
                for op, arg in value.items()
                if merged is None or op not in _SQL_OP
            ]
            return _and([*parts, merged] if merged is not None else parts)
        if isinstance(value, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in value):
            return self._unknown(lenient)  # mixes operators and fields: the engine reports it
        return self._eq(key, value, lenient)

    def _operator(self, key: str, op: str, arg: Any, ops: Mapping[str, Any], lenient: bool) -> _Bounds:
        if op == "$eq":
            return self._eq(key, arg, lenient)
        if op == "$ne":
            return _not(self._eq(key, arg, lenient))
        if op in ("$in", "$nin"):
            if not isinstance(arg, list | tuple | set | frozenset):
                return self._unknown(lenient)
            bounds = self._in(key, list(arg), lenient)
            return bounds if op == "$in" else _not(bounds)
        if op in ("$gt", "$gte", "$lt", "$lte"):
            return self._compare(key, op, arg, lenient)
        if op == "$exists":
            return self._exists(key) if arg else _not(self._exists(key))
        if op == "$not":
            if (
                isinstance(arg, Mapping)
                and arg
                and all(isinstance(k, str) and k.startswith("$") for k in arg)
            ):
                return _not(self._field(key, arg, lenient))
            return self._unknown(lenient)
        if op == "$options" and "$regex" in ops:
            return _Bounds(TRUE, TRUE)  # part of $regex, which carries the decision
        return self._unknown(lenient)

    # ------------------------------------------------------------------ atoms
    def _eq(self, key: str, value: Any, lenient: bool) -> _Bounds:
        if key == "_id":
            if isinstance(value, str):
                cond = Sql("id = ?", (value,))
                return _Bounds(cond, cond)
            return _UNKNOWN
        p = self._path(key)
        if p is None:
            return _UNKNOWN
        x = p.x
        if value is None:
            null = Sql(f"{x} IS NULL")
            sure = null if not self._prefix_arrays(key) else FALSE
            return _Bounds(sure, sql_or([null, p.arrays]))
        scalar = self._scalar_eq(p, value)
        if scalar is None:
            if _is_regex(value):
                return self._unknown(lenient)
            if isinstance(value, Mapping):
                # Whole-document equality: only objects (or arrays holding one) can match.
                return _Bounds(FALSE, sql_or([Sql(f"{x} >= '{{' AND {x} < '|'"), p.arrays]))
            if isinstance(value, list | tuple):
                return _Bounds(FALSE, p.arrays)
            return _UNKNOWN
        sure, candidate = scalar
        return _Bounds(sure, sql_or([candidate, p.arrays]))

    def _scalar_eq(self, p: _Path, value: Any) -> tuple[Sql, Sql] | None:
        """(sure, candidate) for equality with a scalar, ignoring arrays; None if not a scalar."""
        x, jt = p.x, p.json_type
        if isinstance(value, bool):
            cond = Sql(f"{x} = {int(value)}")
            return sql_and([cond, Sql(f"{jt} = '{'true' if value else 'false'}'")]), cond
        if isinstance(value, int | float):
            if not _bindable_number(value):
                return FALSE, TRUE
            cond = Sql(f"{x} = ?", (value,))
            if p.scalar:
                return cond, cond
            number = Sql(f"{jt} IN ('integer','real')")
            # Decimals equal to the value are stored as tagged text.
            return sql_and([cond, number]), sql_or([cond, _number_tags(x)])
        if isinstance(value, str):
            cond = Sql(f"{x} = ?", (value,))
            sure = cond if value[:1] not in ("[", "{") else sql_and([cond, Sql(f"{jt} = 'text'")])
            return sure, cond
        if isinstance(value, dt.date):
            low = typed_json.DATE_PREFIX + typed_json.date_key(value) + '"'
            cond = Sql(f"{x} >= ? AND {x} < ?", (low, low + "~"))
            return sql_and([cond, Sql(f"{jt} = 'object'")]), cond
        if isinstance(value, Decimal):
            bounds = _decimal_bounds(value)
            if bounds is None:
                return FALSE, TRUE
            cond = Sql(f"{x} >= ? AND {x} <= ?", bounds)
            return FALSE, cond if p.scalar else sql_or([cond, _number_tags(x)])
        if isinstance(value, uuid.UUID | ObjectId | bytes):
            text = typed_json.value_text(value)
            cond = Sql(f"{x} = ?", (text,))
            if isinstance(value, Binary) and value.subtype != 0:
                return FALSE, TRUE
            return sql_and([cond, Sql(f"{jt} = 'object'")]), cond
        return None

    def _in(self, key: str, values: list[Any], lenient: bool) -> _Bounds:
        if any(_is_regex(v) for v in values):
            return self._unknown(lenient)
        if not values:
            return _NOTHING
        if key == "_id":
            if all(isinstance(v, str) for v in values):
                cond = _in_list("id", values)
                return _Bounds(cond, cond)
            return _UNKNOWN
        p = self._path(key)
        if p is None:
            return _UNKNOWN
        strings = [v for v in values if isinstance(v, str)]
        rest = [v for v in values if not isinstance(v, str)]
        parts: list[_Bounds] = []
        if strings:
            cond = _in_list(p.x, strings)
            if any(s[:1] in ("[", "{") for s in strings):
                parts.append(
                    _Bounds(sql_and([cond, Sql(f"{p.json_type} = 'text'")]), sql_or([cond, p.arrays]))
                )
            else:
                parts.append(_Bounds(cond, sql_or([cond, p.arrays])))
        parts.extend(self._eq(key, v, lenient) for v in rest)
        return _or(parts)

    def _compare(self, key: str, op: str, value: Any, lenient: bool) -> _Bounds:
        if _is_regex(value):
            return _UNKNOWN
        if key == "_id":
            if isinstance(value, str):
                cond = Sql(f"id {_SQL_OP[op]} ?", (value,))
                return _Bounds(cond, cond)
            return _UNKNOWN
        p = self._path(key)
        if p is None:
            return _UNKNOWN
        x, jt = p.x, p.json_type
        sql_op = _SQL_OP[op]
        if isinstance(value, bool) or value is None:
            return _UNKNOWN
        if isinstance(value, int | float):
            if not _bindable_number(value):
                return _UNKNOWN
            # ``x < ''`` keeps TEXT (strings, arrays, tagged values) out of an upper-open range.
            cond = (
                Sql(f"{x} {sql_op} ? AND {x} < ''", (value,))
                if op in ("$gt", "$gte")
                else Sql(f"{x} {sql_op} ?", (value,))
            )
            if p.scalar:
                return _Bounds(cond, sql_or([cond, p.arrays]))
            sure = sql_and([cond, Sql(f"{jt} IN ('integer','real')")])
            return _Bounds(sure, sql_or([cond, _number_tags(x), p.arrays]))
        if isinstance(value, Decimal):
            bounds = _decimal_bounds(value)
            if bounds is None:
                return _UNKNOWN
            low, high = bounds
            cond = (
                Sql(f"{x} >= ? AND {x} < ''", (low,)) if op in ("$gt", "$gte") else Sql(f"{x} <= ?", (high,))
            )
            tags = FALSE if p.scalar else _number_tags(x)
            return _Bounds(FALSE, sql_or([cond, tags, p.arrays]))
        if isinstance(value, str):
            cond = (
                Sql(f"{x} {sql_op} ?", (value,))
                if op in ("$gt", "$gte")
                else Sql(f"{x} {sql_op} ? AND {x} >= ''", (value,))
            )
            return _Bounds(sql_and([cond, Sql(f"{jt} = 'text'")]), sql_or([cond, p.arrays]))
        if isinstance(value, dt.date):
            cond = self._date_range(x, op, value)
            return _Bounds(sql_and([cond, Sql(f"{jt} = 'object'")]), sql_or([cond, p.arrays]))
        return _UNKNOWN

    def _range(self, key: str, ops: list[tuple[str, Any]]) -> _Bounds | None:
        """Several of ``$gt/$gte/$lt/$lte`` on one path, merged into one SQL range so that an
        index scans just the range (``x > ? AND x <= ?`` rather than two open-ended ranges).
        None unless every operand is a plain number, or every one a string, or every one a date."""
        p = None if key == "_id" else self._path(key)
        if p is None:
            return None
        values = [v for _, v in ops]
        x, jt = p.x, p.json_type
        if all(isinstance(v, int | float) and not isinstance(v, bool) and _bindable_number(v) for v in values):
            terms = [Sql(f"{x} {_SQL_OP[op]} ?", (v,)) for op, v in ops]
            if not any(op in ("$lt", "$lte") for op, _ in ops):
                terms.append(Sql(f"{x} < ''"))  # keep TEXT out of an upper-open range
            cond = sql_and(terms)
            if p.scalar:
                return _Bounds(cond, sql_or([cond, p.arrays]))
            sure = sql_and([cond, Sql(f"{jt} IN ('integer','real')")])
            return _Bounds(sure, sql_or([cond, _number_tags(x), p.arrays]))
        if all(isinstance(v, str) for v in values):
            terms = [Sql(f"{x} {_SQL_OP[op]} ?", (v,)) for op, v in ops]
            if not any(op in ("$gt", "$gte") for op, _ in ops):
                terms.append(Sql(f"{x} >= ''"))  # keep NULL and numbers out
            cond = sql_and(terms)
            return _Bounds(sql_and([cond, Sql(f"{jt} = 'text'")]), sql_or([cond, p.arrays]))
        if all(isinstance(v, dt.date) for v in values):
            terms = [self._date_range(x, op, v) for op, v in ops]
            cond = sql_and(terms)
            return _Bounds(sql_and([cond, Sql(f"{jt} = 'object'")]), sql_or([cond, p.arrays]))
        return None

    @staticmethod
    def _date_range(x: str, op: str, value: dt.date) -> Sql:
        """Text range of stored dates compared with ``value`` (see ``typed_json.DATE_PREFIX``)."""
        key_text = typed_json.DATE_PREFIX + typed_json.date_key(value) + '"'
        family_low, family_high = typed_json.DATE_PREFIX, typed_json.DATE_PREFIX + "~"
        if op == "$gt":  # "~" sorts after the '"}' or '",' that ends an equal instant
            return Sql(f"{x} > ? AND {x} < ?", (key_text + "~", family_high))
        if op == "$gte":
            return Sql(f"{x} >= ? AND {x} < ?", (key_text, family_high))
        if op == "$lt":
            return Sql(f"{x} >= ? AND {x} < ?", (family_low, key_text))
        return Sql(f"{x} >= ? AND {x} < ?", (family_low, key_text + "~"))

    def _exists(self, key: str) -> _Bounds:
        if key == "_id":
            return _Bounds(TRUE, TRUE)
        p = self._path(key)
        if p is None:
            return _UNKNOWN
        present = Sql(f"{p.json_type} IS NOT NULL")
        return _Bounds(present, sql_or([present, *self._prefix_array_branches(key)]))

    def _prefix_array_branches(self, path: str) -> list[Sql]:
        parts = path.split(".")
        out = []
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if self._array_paths.may_be_array(prefix):
                out.append(Sql(f"{json_type_sql(prefix)} = 'array'"))
        return out

    # ------------------------------------------------------------------ sorts
    def sort(self, sort: Sequence[tuple[str, int]]) -> SortPlan | None:
        """An ``ORDER BY`` giving MongoDB's order, with the probes that must find no row for it
        to hold; None when SQLite cannot order by some key (a prefix may be an array, a path
        SQLite cannot address). Ties keep insertion order (rowid), as the engine's stable sort does.
        """
        terms: list[str] = []
        probes: list[Sql] = []
        for path, direction in sort:
            suffix = " DESC" if direction < 0 else ""
            if path == "_id":
                terms.append("id" + suffix)
                continue
            x = field_sql(path)
            jt = json_type_sql(path)
            if x is None or jt is None or self._prefix_arrays(path):
                return None
            terms.append(x + suffix)
            if path in self._indexed:
                # Index ranges (cheap): arrays, objects/tagged values and the numbers 0 and 1,
                # which may be booleans (MongoDB sorts those after everything else).
                probes.append(
                    Sql(
                        f"({x} >= '[' AND {x} < '\\') OR ({x} >= '{{' AND {x} < '|') "
                        f"OR ({x} IN (0, 1) AND {jt} IN ('true','false'))"
                    )
                )
            else:
                probes.append(Sql(f"{jt} NOT IN ('null','integer','real','text')"))
        terms.append("rowid")
        return SortPlan(", ".join(terms), tuple(probes))


_SQL_OP: Final = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _is_regex(value: Any) -> bool:
    return hasattr(value, "pattern") and hasattr(value, "flags") and not isinstance(value, str | bytes)


def _bindable_number(value: int | float) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return _INT64_MIN <= value <= _INT64_MAX


def _number_tags(x: str) -> Sql:
    # Decimals, huge ints, NaN and infinities: stored as {"$n:...} text, compared by the engine.
    return Sql(f"{x} >= '{typed_json.NUMBER_TAG_PREFIX}' AND {x} < '{{\"$n;'")


def _decimal_bounds(value: Decimal) -> tuple[float, float] | None:
    # A float interval surely containing every stored number equal to ``value``: SQLite compares
    # INTEGER and REAL exactly, so one ulp either side of the nearest double is enough.
    if not value.is_finite():
        return None
    f = float(value)
    if not math.isfinite(f):
        return None
    return math.nextafter(f, -math.inf), math.nextafter(f, math.inf)


def _in_list(x: str, values: list[Any]) -> Sql:
    if len(values) > _IN_LIST_LIMIT:
        return Sql(f"{x} IN (SELECT value FROM json_each(?))", (typed_json.dumps_text(values),))
    return Sql(f"{x} IN ({','.join('?' * len(values))})", tuple(values))
