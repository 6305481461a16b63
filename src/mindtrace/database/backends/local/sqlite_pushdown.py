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
from decimal import Decimal
from typing import Any, Final, NamedTuple

from bson import Binary, ObjectId

from mindtrace.database.backends.local.model_paths import ArrayPaths
from mindtrace.database.backends.local.sqlite_schema import field_sql, json_type_sql
from mindtrace.database.core import typed_json
from mindtrace.database.core.input_checks import is_valid_text
from mindtrace.database.query.filter import is_operator_document

__all__ = [
    "FALSE",
    "TRUE",
    "FilterPlan",
    "SortPlan",
    "Sql",
    "SqlitePushdown",
    "simple_kind",
    "sql_and",
    "sql_not",
    "sql_or",
]

_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
_IN_LIST_LIMIT: Final = 500  # longer $in lists are bound as one JSON array (json_each)
_SQL_OP: Final = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_PLAIN_NUMBERS: Final = frozenset({int, float})
_STRINGS: Final = frozenset({str})


class Sql(NamedTuple):
    """A SQL boolean expression and its ``?`` parameters, in text order."""

    text: str
    params: tuple[Any, ...] = ()


TRUE: Final = Sql("1")
FALSE: Final = Sql("0")


def _kept(parts: Sequence[Sql], neutral: Sql, absorbing: Sql) -> list[Sql] | None:
    # The parts that matter (neutral ones and repeats of the same object dropped), or None when
    # an absorbing part decides the result. Hot path of every compilation: plain loops only.
    kept: list[Sql] = []
    for p in parts:
        if p is absorbing:
            return None
        if p is neutral:
            continue
        for k in kept:
            if k is p:
                break
        else:
            kept.append(p)
    return kept


def _join(kept: list[Sql], op: str) -> Sql:
    if len(kept) == 2:
        a, b = kept
        return Sql("(" + a.text + op + b.text + ")", a.params + b.params)
    params: tuple[Any, ...] = ()
    for p in kept:
        params += p.params
    return Sql("(" + op.join([p.text for p in kept]) + ")", params)


def sql_and(parts: Sequence[Sql]) -> Sql:
    """Conjunction; TRUE parts vanish, a FALSE part makes it FALSE."""
    kept = _kept(parts, TRUE, FALSE)
    if kept is None:
        return FALSE
    if len(kept) < 2:
        return kept[0] if kept else TRUE
    return _join(kept, ") AND (")


def sql_or(parts: Sequence[Sql]) -> Sql:
    """Disjunction; FALSE parts vanish, a TRUE part makes it TRUE."""
    kept = _kept(parts, FALSE, TRUE)
    if kept is None:
        return TRUE
    if len(kept) < 2:
        return kept[0] if kept else FALSE
    return _join(kept, ") OR (")


def sql_not(p: Sql) -> Sql:
    """Two-valued negation: rows where ``p`` is false *or NULL*."""
    if p is TRUE:
        return FALSE
    if p is FALSE:
        return TRUE
    return Sql("(" + p.text + ") IS NOT 1", p.params)


class _Bounds(NamedTuple):
    sure: Sql  # lower bound: rows satisfying it match
    where: Sql  # upper bound: matching rows satisfy it
    # Cheaper stand-in for ``sure`` on rows already satisfying ``where``: where AND check = sure.
    check: Sql


def _bounds(sure: Sql, where: Sql, check: Sql | None = None) -> _Bounds:
    return _Bounds(sure, where, sure if check is None else check)


_UNKNOWN: Final = _Bounds(FALSE, TRUE, FALSE)
_NOTHING: Final = _Bounds(FALSE, FALSE, FALSE)
_ALWAYS: Final = _Bounds(TRUE, TRUE, TRUE)


def _and(bounds: Sequence[_Bounds]) -> _Bounds:
    if len(bounds) == 1:
        return bounds[0]
    return _Bounds(
        sql_and([b.sure for b in bounds]),
        sql_and([b.where for b in bounds]),
        sql_and([b.check for b in bounds]),
    )


def _or(bounds: Sequence[_Bounds]) -> _Bounds:
    if len(bounds) == 1:
        return bounds[0]
    sure = sql_or([b.sure for b in bounds])
    return _Bounds(sure, sql_or([b.where for b in bounds]), sure)


def _not(b: _Bounds) -> _Bounds:
    sure = sql_not(b.where)
    return _Bounds(sure, sql_not(b.sure), sure)


class FilterPlan(NamedTuple):
    """The SQL side of a filter (see the module docstring).

    ``exact``: ``where`` alone selects exactly the matching rows. ``check``: on a row satisfying
    ``where``, true exactly when ``sure`` is (often much cheaper: a type test). ``validated``:
    the compiler recognised every operator and operand, so the filter is valid MongoDB and the
    engine need not compile it unless a row is in doubt.
    """

    where: Sql
    sure: Sql
    check: Sql
    exact: bool
    validated: bool


class SortPlan(NamedTuple):
    """``ORDER BY`` for a sort SQLite can do in MongoDB's order, valid only if no row satisfies
    any of ``probes`` (rows whose values SQLite would order differently from MongoDB)."""

    order_by: str
    probes: tuple[Sql, ...]


class _Path:
    """SQL fragments for one dotted path, built once and reused by every filter on it."""

    __slots__ = (
        "arr_tail",
        "arrays",
        "eq",
        "is_null",
        "json_type",
        "not_text",
        "num_tail",
        "number",
        "object",
        "objects",
        "ops",
        "scalar",
        "strtags",
        "tags",
        "text",
        "text_only",
        "x",
    )

    def __init__(self, x: str, jt: str, arrays: Sql, scalar: bool) -> None:
        self.x = x  # json_extract(doc, path)
        self.json_type = jt
        self.arrays = arrays  # candidate branch: the value or a prefix is an array
        # Known to hold only null, numbers (no booleans) and strings for the rows in question.
        self.scalar = scalar
        self.eq = x + " = ?"
        self.ops = {op: f"{x} {sql} ?" for op, sql in _SQL_OP.items()}
        self.is_null = Sql(x + " IS NULL")
        self.number = Sql(jt + " IN ('integer','real')")
        self.text = Sql(jt + " = 'text'")
        self.object = Sql(jt + " = 'object'")
        self.not_text = Sql(x + " < ''")  # numbers only (and NULL excluded by the comparison)
        self.text_only = Sql(x + " >= ''")
        self.objects = Sql(f"{x} >= '{{' AND {x} < '|'")
        # Decimals, huge ints, NaN and infinities: stored as {"$n:...} text, compared by the engine.
        self.tags = FALSE if scalar else Sql(f"{x} >= '{typed_json.NUMBER_TAG_PREFIX}' AND {x} < '{{\"$n;'")
        # Strings containing NUL: stored as {"$str":...} (json_extract cuts text at NUL), so SQL
        # sees an object and the engine compares them.
        self.strtags = (
            FALSE if scalar else Sql(f"{x} >= '{typed_json.STRING_TAG_PREFIX}' AND {x} < '{{\"$str;'")
        )
        # "OR <candidate branches>" suffixes, so hot paths build conditions by concatenation.
        self.arr_tail = "" if arrays is FALSE else " OR (" + arrays.text + ")"
        self.num_tail = ("" if self.tags is FALSE else " OR (" + self.tags.text + ")") + self.arr_tail

    def candidates(self, cond: Sql, tail: str) -> Sql:
        """``cond OR <tail branches>`` (the branches carry no parameters)."""
        return Sql("(" + cond.text + ")" + tail, cond.params) if tail else cond

    def both(self, cond: Sql, guard: Sql) -> Sql:
        """``cond AND guard`` (the guard carries no parameters)."""
        return Sql("(" + cond.text + ") AND (" + guard.text + ")", cond.params)


class _Context:
    """State of one compilation (the compiler object is shared between threads)."""

    __slots__ = ("scalar", "validated")

    def __init__(self, scalar: frozenset[str]) -> None:
        self.scalar = scalar
        self.validated = True

    def unknown(self) -> _Bounds:
        """No SQL restriction; and the engine must compile (validate) the filter up front, since
        the compiler cannot vouch for what it did not understand."""
        self.validated = False
        return _UNKNOWN


class SqlitePushdown:
    """Compiles filters and sorts for one collection (one model's array knowledge)."""

    def __init__(self, array_paths: ArrayPaths, indexed_paths: frozenset[str] = frozenset()) -> None:
        self._array_paths = array_paths
        self._indexed = indexed_paths
        self._paths: dict[tuple[str, bool], _Path | None] = {}
        self._simple: dict[tuple[str, str], _Template] = {}

    # ------------------------------------------------------------------ paths
    def _path(self, path: str, ctx: _Context) -> _Path | None:
        scalar = path in ctx.scalar
        cache_key = (path, scalar)
        try:
            return self._paths[cache_key]
        except KeyError:
            pass
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

    def _prefix_array_branches(self, path: str) -> list[Sql]:
        parts = path.split(".")
        out = []
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if self._array_paths.may_be_array(prefix):
                out.append(Sql(f"{json_type_sql(prefix)} = 'array'"))
        return out

    # ------------------------------------------------------------------ filters
    def compile(self, filter: Mapping[str, Any], scalar_paths: frozenset[str] = frozenset()) -> FilterPlan:
        """The SQL bounds of a MongoDB filter (an engine-normalised dict). Never raises for a
        bad filter: what it does not understand is left to the engine (``validated`` False).

        ``scalar_paths`` are paths that a probe showed to hold only null, numbers and strings in
        every row this filter can select (see :meth:`sort`): their array, tagged-number and
        boolean candidate branches are dropped, which lets an index deliver rows in sort order.
        """
        if len(filter) == 1 and not scalar_paths:
            # The most common query, {"field": value}: its SQL depends only on the field and the
            # kind of value, so it is built once per field and kind and reused.
            for key, value in filter.items():
                kind = simple_kind(value)
                if kind is not None and type(key) is str:
                    shape = (key, kind)
                    template = self._simple.get(shape)
                    if template is None:
                        template = self._simple[shape] = _template(self._compile(filter, scalar_paths), value)
                    if template is not _NO_TEMPLATE:
                        return _from_template(template, value)
        return self._compile(filter, scalar_paths)

    def _compile(self, filter: Mapping[str, Any], scalar_paths: frozenset[str]) -> FilterPlan:
        ctx = _Context(scalar_paths)
        b = self._document(filter, ctx)
        exact = b.where == b.sure
        return FilterPlan(b.where, b.sure, TRUE if exact else b.check, exact, ctx.validated)

    def _document(self, filter: Any, ctx: _Context) -> _Bounds:
        if not isinstance(filter, Mapping):
            return ctx.unknown()
        parts = []
        for key, value in filter.items():
            if not isinstance(key, str):
                parts.append(ctx.unknown())
            elif key[:1] != "$":
                parts.append(self._field(key, value, ctx))
            elif key in ("$and", "$or", "$nor"):
                if not isinstance(value, list | tuple) or not value:
                    parts.append(ctx.unknown())
                    continue
                subs = [self._document(sub, ctx) for sub in value]
                if key == "$and":
                    parts.append(_and(subs))
                elif key == "$or":
                    parts.append(_or(subs))
                else:
                    parts.append(_not(_or(subs)))
            elif key != "$comment":
                parts.append(ctx.unknown())
        if not parts:
            return _ALWAYS
        return _and(parts)

    def _field(self, key: str, value: Any, ctx: _Context) -> _Bounds:
        if type(value) is not dict and not isinstance(value, Mapping):
            return self._eq(key, value, ctx)
        operators = [k for k in value if isinstance(k, str) and k[:1] == "$"]
        if not operators:
            return self._eq(key, value, ctx)  # a whole embedded document
        if len(operators) != len(value):
            return ctx.unknown()  # mixes operators and fields: the engine reports it
        ranges = [(op, arg) for op, arg in value.items() if op in _SQL_OP]
        merged = self._range(key, ranges, ctx) if len(ranges) > 1 else None
        parts = [
            self._operator(key, op, arg, value, ctx)
            for op, arg in value.items()
            if merged is None or op not in _SQL_OP
        ]
        if merged is not None:
            parts.append(merged)
        return _and(parts)

    def _operator(self, key: str, op: str, arg: Any, ops: Mapping[str, Any], ctx: _Context) -> _Bounds:
        if op == "$eq":
            return self._eq(key, arg, ctx)
        if op in _SQL_OP:
            return self._compare(key, op, arg, ctx)
        if op in ("$in", "$nin"):
            if not isinstance(arg, list | tuple | set | frozenset):
                return ctx.unknown()
            bounds = self._in(key, list(arg), ctx)
            return bounds if op == "$in" else _not(bounds)
        if op == "$ne":
            return _not(self._eq(key, arg, ctx))
        if op == "$exists":
            return self._exists(key, ctx) if arg else _not(self._exists(key, ctx))
        if op == "$not":
            if isinstance(arg, Mapping) and arg and all(isinstance(k, str) and k[:1] == "$" for k in arg):
                return _not(self._field(key, arg, ctx))
            return ctx.unknown()
        if op == "$options" and "$regex" in ops:
            return _ALWAYS  # part of $regex, which carries the decision
        return ctx.unknown()

    # ------------------------------------------------------------------ atoms
    def _eq(self, key: str, value: Any, ctx: _Context) -> _Bounds:
        if key == "_id":
            if type(value) is str:
                cond = Sql("id = ?", (value,))
                return _Bounds(cond, cond, TRUE)
            return ctx.unknown()
        p = self._path(key, ctx)
        if p is None:
            return ctx.unknown()
        t = type(value)
        if t is str:
            if "\x00" in value:  # stored tagged: compare the tag's JSON text, like a UUID's
                cond = Sql(p.eq, (typed_json.value_text(value),))
                sure = sql_and([cond, p.object])
                return _Bounds(sure, sql_or([cond, p.arrays]), p.object)
            cond = Sql(p.eq, (value,))
            if value[:1] in ("[", "{"):
                sure = p.both(cond, p.text)
                return _Bounds(sure, p.candidates(cond, p.arr_tail), sure)
            return _Bounds(cond, p.candidates(cond, p.arr_tail), cond)
        if (t is int or t is float) and _bindable_number(value):
            cond = Sql(p.eq, (value,))
            if p.scalar:
                return _Bounds(cond, p.candidates(cond, p.arr_tail), cond)
            # Decimals equal to the value are stored as tagged text; true/false read as 1/0.
            return _Bounds(p.both(cond, p.number), p.candidates(cond, p.num_tail), p.number)
        if value is None:
            sure = p.is_null if not self._prefix_arrays(key) else FALSE
            return _Bounds(sure, sql_or([p.is_null, p.arrays]), sure)
        if t is bool:
            cond = Sql(f"{p.x} = {int(value)}")
            is_bool = Sql(f"{p.json_type} = '{'true' if value else 'false'}'")
            return _Bounds(sql_and([cond, is_bool]), sql_or([cond, p.arrays]), is_bool)
        if isinstance(value, int | float):
            return ctx.unknown()  # NaN, infinities, ints beyond 64 bits: the engine compares
        if isinstance(value, dt.date):
            cond = self._date_range(p.x, "$eq", value)
            return _Bounds(sql_and([cond, p.object]), sql_or([cond, p.arrays]), p.object)
        if isinstance(value, Decimal):
            bounds = _decimal_bounds(value)
            if bounds is None:
                return ctx.unknown()
            cond = Sql(f"{p.x} >= ? AND {p.x} <= ?", bounds)
            return _Bounds(FALSE, sql_or([cond, p.tags, p.arrays]), FALSE)
        if isinstance(value, uuid.UUID | ObjectId | bytes):
            if isinstance(value, Binary) and value.subtype != 0:
                return ctx.unknown()
            cond = Sql(p.eq, (typed_json.value_text(value),))
            sure = sql_and([cond, p.object])
            return _Bounds(sure, sql_or([cond, p.arrays]), p.object)
        if _is_regex(value):
            return ctx.unknown()
        if isinstance(value, Mapping):
            # Whole-document equality: only objects (or arrays holding one) can match.
            return _Bounds(FALSE, sql_or([p.objects, p.arrays]), FALSE)
        if isinstance(value, list | tuple):
            return _Bounds(FALSE, p.arrays, FALSE)
        return ctx.unknown()

    def _in(self, key: str, values: list[Any], ctx: _Context) -> _Bounds:
        if any(_is_regex(v) or is_operator_document(v) for v in values):
            # Regexes match patterns; operator documents are an error the engine reports
            # ("cannot nest $ under $in"), even when no row is a candidate.
            return ctx.unknown()
        if not values:
            return _NOTHING
        if key == "_id":
            if all(type(v) is str for v in values):
                cond = _in_list("id", values)
                return _Bounds(cond, cond, TRUE)
            return ctx.unknown()
        p = self._path(key, ctx)
        if p is None:
            return ctx.unknown()
        strings = [v for v in values if type(v) is str and "\x00" not in v]
        rest = [v for v in values if type(v) is not str or "\x00" in v]
        parts: list[_Bounds] = []
        if strings:
            cond = _in_list(p.x, strings)
            if any(s[:1] in ("[", "{") for s in strings):
                sure = sql_and([cond, p.text])
                parts.append(_Bounds(sure, sql_or([cond, p.arrays]), sure))
            else:
                parts.append(_Bounds(cond, sql_or([cond, p.arrays]), cond))
        parts.extend(self._eq(key, v, ctx) for v in rest)
        return _or(parts)

    def _compare(self, key: str, op: str, value: Any, ctx: _Context) -> _Bounds:
        if key == "_id":
            if type(value) is str:
                cond = Sql(f"id {_SQL_OP[op]} ?", (value,))
                return _Bounds(cond, cond, TRUE)
            return ctx.unknown()
        return self._range(key, [(op, value)], ctx) or ctx.unknown()

    def _range(self, key: str, ops: list[tuple[str, Any]], ctx: _Context) -> _Bounds | None:
        """``$gt/$gte/$lt/$lte`` on one path (several merge into one SQL range, so an index scans
        just that range). None unless every operand is a plain number, or every one a string, or
        every one a date (other comparisons are left to the engine)."""
        p = None if key == "_id" else self._path(key, ctx)
        if p is None:
            return None
        values = [v for _, v in ops]
        x = p.x
        kinds = {type(v) for v in values}
        if kinds <= _PLAIN_NUMBERS and all(_bindable_number(v) for v in values):
            texts = [p.ops[op] for op, _ in ops]
            if not any(op in ("$lt", "$lte") for op, _ in ops):
                texts.append(p.not_text.text)  # keep TEXT out of an upper-open range
            cond = Sql(" AND ".join(texts), tuple(values))
            if p.scalar:
                return _Bounds(cond, p.candidates(cond, p.arr_tail), cond)
            return _Bounds(p.both(cond, p.number), p.candidates(cond, p.num_tail), p.number)
        if kinds == _STRINGS:
            texts = [p.ops[op] for op, _ in ops]
            if not any(op in ("$gt", "$gte") for op, _ in ops):
                texts.append(p.text_only.text)  # keep NULL and numbers out
            cond = Sql(" AND ".join(texts), tuple(values))
            sure = p.both(cond, p.text)
            # Arrays and objects are TEXT too (their JSON): only a string row is sure. A string
            # starting with "[" (or '{"$str":') may have come in through the array (or tagged
            # string) branch only, though. Strings holding NUL are stored tagged: candidates
            # whatever the bounds.
            where = sql_or([p.candidates(cond, p.arr_tail), p.strtags])
            only_text = p.arrays is FALSE and p.strtags is FALSE
            return _Bounds(sure, where, p.text if only_text else sure)
        if all(isinstance(v, dt.date) for v in values):
            cond = sql_and([self._date_range(x, op, v) for op, v in ops])
            return _Bounds(sql_and([cond, p.object]), sql_or([cond, p.arrays]), p.object)
        if all(isinstance(v, Decimal | int | float) and not isinstance(v, bool) for v in values):
            terms = []
            for op, v in ops:
                bounds = _decimal_bounds(Decimal(v) if isinstance(v, float) else v)
                if bounds is None:
                    return None
                terms.append(
                    Sql(f"{x} >= ? AND {x} < ''", (bounds[0],))
                    if op in ("$gt", "$gte")
                    else Sql(f"{x} <= ?", (bounds[1],))
                )
            return _Bounds(FALSE, sql_or([sql_and(terms), p.tags, p.arrays]), FALSE)
        return None

    @staticmethod
    def _date_range(x: str, op: str, value: dt.date) -> Sql:
        """Text range of stored dates compared with ``value`` (see ``typed_json.DATE_PREFIX``)."""
        key_text = typed_json.DATE_PREFIX + typed_json.date_key(value) + '"'
        family_low, family_high = typed_json.DATE_PREFIX, typed_json.DATE_PREFIX + "~"
        if op == "$eq":  # the same instant, whatever the stored offset or zone after it
            return Sql(f"{x} >= ? AND {x} < ?", (key_text, key_text + "~"))
        if op == "$gt":  # "~" sorts after the '"}' or '",' that ends an equal instant
            return Sql(f"{x} > ? AND {x} < ?", (key_text + "~", family_high))
        if op == "$gte":
            return Sql(f"{x} >= ? AND {x} < ?", (key_text, family_high))
        if op == "$lt":
            return Sql(f"{x} >= ? AND {x} < ?", (family_low, key_text))
        return Sql(f"{x} >= ? AND {x} < ?", (family_low, key_text + "~"))

    def _exists(self, key: str, ctx: _Context) -> _Bounds:
        if key == "_id":
            return _ALWAYS
        p = self._path(key, ctx)
        if p is None:
            return ctx.unknown()
        present = Sql(f"{p.json_type} IS NOT NULL")
        return _Bounds(present, sql_or([present, *self._prefix_array_branches(key)]), present)

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


# A compiled {"field": value} filter with the value's place in each parameter tuple marked:
# (where text, where slots, sure text, sure slots, check text, check slots, exact, validated),
# a slot tuple holding True where the value goes and the constant otherwise.
_Template = tuple[str, tuple[Any, ...], str, tuple[Any, ...], str, tuple[Any, ...], bool, bool]
_NO_TEMPLATE: Final[_Template] = ("", (), "", (), "", (), False, False)
_VALUE: Final = object()  # marks the value's position in a template's parameters


def simple_kind(value: Any) -> str | None:
    """What about a plain value decides the SQL of ``{"field": value}``: None unless the value is a
    str, an int within 64 bits or a finite float (the values whose filters are compiled once)."""
    t = type(value)
    if t is str:
        if "\x00" in value or not is_valid_text(value):
            return None  # stored tagged / refused with QueryError by the general path
        return "str[" if value[:1] in ("[", "{") else "str"
    if t is int:
        return "int" if _INT64_MIN <= value <= _INT64_MAX else None
    if t is float:
        return "float" if math.isfinite(value) else None
    return None


def _template(plan: FilterPlan, value: Any) -> _Template:
    # Every parameter must be the value itself (identity), else the plan is not reusable.
    def slots(sql: Sql) -> tuple[Any, ...] | None:
        out = []
        for p in sql.params:
            if p is not value:
                return None
            out.append(_VALUE)
        return tuple(out)

    parts = [slots(plan.where), slots(plan.sure), slots(plan.check)]
    if any(part is None for part in parts):
        return _NO_TEMPLATE
    w, s, c = parts
    assert w is not None and s is not None and c is not None
    return (plan.where.text, w, plan.sure.text, s, plan.check.text, c, plan.exact, plan.validated)


def _filled(text: str, slots: tuple[Any, ...], value: Any) -> Sql:
    if not slots:
        # Keep the identity of the constants: callers test ``is TRUE`` / ``is FALSE``.
        return TRUE if text == "1" else FALSE if text == "0" else Sql(text)
    return Sql(text, (value,) * len(slots))


def _from_template(template: _Template, value: Any) -> FilterPlan:
    where_text, w, sure_text, s, check_text, c, exact, validated = template
    where = _filled(where_text, w, value)
    if exact:
        return FilterPlan(where, where, TRUE, exact, validated)
    return FilterPlan(where, _filled(sure_text, s, value), _filled(check_text, c, value), exact, validated)


def _is_regex(value: Any) -> bool:
    return hasattr(value, "pattern") and hasattr(value, "flags") and not isinstance(value, str | bytes)


def _bindable_number(value: int | float) -> bool:
    if type(value) is float:
        return math.isfinite(value)
    return _INT64_MIN <= value <= _INT64_MAX


def _decimal_bounds(value: Decimal | int) -> tuple[float, float] | None:
    # A float interval surely containing every stored number equal to ``value``: SQLite compares
    # INTEGER and REAL exactly, so one ulp either side of the nearest double is enough.
    if isinstance(value, Decimal) and not value.is_finite():
        return None
    try:
        f = float(value)
    except OverflowError:
        return None
    if not math.isfinite(f):
        return None
    return math.nextafter(f, -math.inf), math.nextafter(f, math.inf)


def _in_list(x: str, values: list[Any]) -> Sql:
    if len(values) > _IN_LIST_LIMIT:
        return Sql(f"{x} IN (SELECT value FROM json_each(?))", (typed_json.dumps_text(values),))
    return Sql(f"{x} IN ({','.join('?' * len(values))})", tuple(values))
