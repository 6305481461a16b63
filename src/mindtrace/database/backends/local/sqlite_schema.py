"""SQLite layout of one collection: its table, JSON path expressions and declared indexes.

A collection is one rowid table ``(id TEXT PRIMARY KEY, doc TEXT)``: ``id`` is the 24-hex
ObjectId string, ``doc`` the document without ``_id`` in the typed JSON of
:mod:`mindtrace.database.core.typed_json`. The rowid keeps insertion order (the "natural order" of
results without a sort) and gives iteration a cheap integer key. A declared index becomes an
expression index on ``json_extract(doc, '$.path')``; SQLite uses it for any query that spells the
same expression, which the pushdown compiler does by building both with :func:`field_sql`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from mindtrace.database.core.exceptions import DuplicateInsertError
from mindtrace.database.core.indexes import IndexSpec
from mindtrace.database.core.input_checks import is_valid_text

__all__ = ["CollectionTable", "field_sql", "json_path", "quote_ident"]

FORMAT_VERSION: Final = 1
"""Stored in ``PRAGMA user_version``; bumped when the stored layout changes incompatibly."""

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def quote_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier (any characters allowed)."""
    return '"' + name.replace('"', '""') + '"'


def json_path(path: str) -> str | None:
    """The SQLite JSON path for a dotted MongoDB path, or None when SQLite cannot address it.

    Components that are numbers (array positions in MongoDB), start with ``$``, are empty or
    contain ``"``/``\\`` (which SQLite's path syntax cannot quote) are not addressable, nor are
    those holding NUL or text that is not valid Unicode (SQL text cannot carry either).
    """
    out = ["$"]
    for part in path.split("."):
        if (
            not part
            or part[0] == "$"
            or part.isdigit()
            or '"' in part
            or "\\" in part
            or "\x00" in part
            or not is_valid_text(part)
        ):
            return None
        out.append("." + part if _IDENTIFIER.fullmatch(part) else '."' + part + '"')
    return "".join(out)


def field_sql(path: str) -> str | None:
    """``json_extract(doc,'$.a.b')`` for a dotted path (None when not addressable)."""
    jp = json_path(path)
    if jp is None:
        return None
    return "json_extract(doc,'" + jp.replace("'", "''") + "')"


def json_type_sql(path: str) -> str | None:
    """``json_type(doc,'$.a.b')``: SQL NULL when the path is missing, else the JSON type name."""
    jp = json_path(path)
    if jp is None:
        return None
    return "json_type(doc,'" + jp.replace("'", "''") + "')"


@dataclass(frozen=True, slots=True)
class SqlIndex:
    """One SQLite index standing for (part of) an :class:`IndexSpec`."""

    name: str
    spec: IndexSpec
    sql: str
    null_guard: bool = False  # the partial index that lets only one document lack a unique field


class CollectionTable:
    """DDL and metadata of one collection's table; cheap to build, nothing happens until
    :meth:`create` runs."""

    def __init__(self, collection: str, specs: Iterable[IndexSpec]) -> None:
        if collection.lower().startswith("sqlite_"):
            raise ValueError(f"collection name {collection!r} is reserved by SQLite; set Settings.name")
        self.collection = collection
        self.table = quote_ident(collection)
        self.indexes: list[SqlIndex] = []
        self.skipped: list[IndexSpec] = []
        for spec in specs:
            self.indexes.extend(self._sql_indexes(spec))
        self.by_name = {ix.name: ix for ix in self.indexes}
        # Paths that lead some index: the pushdown compiler may probe them through it.
        self.leading_paths = frozenset(ix.spec.fields[0][0] for ix in self.indexes if not ix.null_guard)

    def _sql_indexes(self, spec: IndexSpec) -> list[SqlIndex]:
        columns = []
        for path, direction in spec.fields:
            expr = field_sql(path)
            if expr is None or direction not in (1, -1):
                # Text, geo and hashed keys, and paths SQLite cannot address, have no SQLite
                # counterpart; queries on them still work (the engine checks every row).
                self.skipped.append(spec)
                return []
            columns.append(expr + (" DESC" if direction == -1 else ""))
        name = f"{self.collection}__{spec.name}"
        unique = "UNIQUE " if spec.unique else ""
        out = [
            SqlIndex(
                name,
                spec,
                f"CREATE {unique}INDEX {quote_ident(name)} ON {self.table} ({', '.join(columns)})",
            )
        ]
        if spec.unique and not spec.sparse and len(spec.fields) == 1:
            # MongoDB stores a missing field as null in a unique index, so only one document may
            # lack it; SQLite treats NULLs as distinct. A unique partial index over a constant,
            # holding only the rows where the value is null or missing, restores MongoDB's rule.
            expr = field_sql(spec.fields[0][0])
            guard = f"{name}__null"
            out.append(
                SqlIndex(
                    guard,
                    spec,
                    f"CREATE UNIQUE INDEX {quote_ident(guard)} ON {self.table} ((1)) WHERE {expr} IS NULL",
                    null_guard=True,
                )
            )
        return out

    @property
    def create_table_sql(self) -> str:
        """DDL of the table (idempotent)."""
        return f"CREATE TABLE IF NOT EXISTS {self.table} (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL)"

    def is_current(self, db: sqlite3.Connection) -> bool:
        """True when the table and every declared index already exist as declared, so that
        :meth:`create` would change nothing. A plain read: it lets a backend opening an existing
        file skip the write lock, which writers in other processes may hold back-to-back."""
        rows = db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name=? AND type IN ('table','index')",
            (self.collection,),
        ).fetchall()
        if not any(kind == "table" for kind, _, _ in rows):
            return False
        existing = {name: sql for kind, name, sql in rows if kind == "index"}
        return all(existing.get(ix.name) == ix.sql for ix in self.indexes)

    def create(self, db: sqlite3.Connection) -> None:
        """Create the table and any missing or changed index; run inside a write transaction.

        An index whose stored definition differs from the declaration (e.g. it became unique) is
        rebuilt. Raises ``DuplicateInsertError`` when a new unique index meets existing duplicates.
        """
        db.execute(self.create_table_sql)
        existing = {
            name: sql
            for name, sql in db.execute(
                "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name=?", (self.collection,)
            )
        }
        for ix in self.indexes:
            current = existing.get(ix.name)
            if current == ix.sql:
                continue
            if current is not None:
                db.execute(f"DROP INDEX {quote_ident(ix.name)}")
            try:
                db.execute(ix.sql)
            except sqlite3.IntegrityError as e:
                field = ", ".join(ix.spec.paths)
                raise DuplicateInsertError(
                    f"cannot create unique index {ix.spec.name!r} on collection {self.collection!r}: "
                    f"stored documents already share a value of {field!r}"
                    + (" (or lack it)" if ix.null_guard else "")
                    + "; remove the duplicates or drop unique=True",
                    collection=self.collection,
                    field=field,
                ) from e
