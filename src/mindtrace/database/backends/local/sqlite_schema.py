"""SQLite layout of one collection: its table, JSON path expressions, declared indexes and the
side tables that enforce unique indexes.

A collection is one rowid table ``(id TEXT PRIMARY KEY, doc TEXT)``: ``id`` is the 24-hex
ObjectId string, ``doc`` the document without ``_id`` in the typed JSON of
:mod:`mindtrace.database.core.typed_json`. The rowid keeps insertion order (the "natural order" of
results without a sort) and gives iteration a cheap integer key. A declared index becomes an
expression index on ``json_extract(doc, '$.path')``; SQLite uses it for any query that spells the
same expression, which the pushdown compiler does by building both with :func:`field_sql`.

A unique index is enforced by a side table ``"<collection>__ux_<index>" (key BLOB PRIMARY KEY,
id TEXT)`` holding each document's keys in that index as MongoDB computes them
(:func:`mindtrace.database.backends.index_keys.unique_claims`: array elements, null for a missing
field, numbers by value, instants in UTC...), so the primary key collides exactly when MongoDB's
index would. Writers add and replace the keys in the same transaction as the document
(``collection.py``); a plain-SQL ``AFTER DELETE`` trigger removes them, so deleting rows with any
SQLite tool keeps the table right. The side table's ``CREATE`` text carries the index definition,
so every writer maintains every side table on disk, even one its model does not declare.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from mindtrace.database.backends.index_keys import KEYS_VERSION, UNDEFINED, unique_claims, unique_keys
from mindtrace.database.core import typed_json
from mindtrace.database.core.exceptions import DatabaseError, DuplicateInsertError, QueryError
from mindtrace.database.core.indexes import IndexSpec
from mindtrace.database.core.input_checks import is_valid_text

__all__ = ["CollectionTable", "UniqueTable", "field_sql", "json_path", "quote_ident", "side_tables"]

FORMAT_VERSION: Final = 2
"""Stored in ``PRAGMA user_version``; bumped when the stored layout changes incompatibly.

1: unique indexes were ``UNIQUE`` expression indexes (plus a partial ``…__null`` index);
2: unique indexes are side tables. A collection of a version-1 file is migrated when a backend
opens it; a package that reads only version 1 refuses a version-2 file instead of writing to it
without maintaining the side tables.
"""

UNIQUE_KEYS_VERSION: Final = KEYS_VERSION
"""Part of every side table's definition (``index_keys.KEYS_VERSION``): side tables built with
another encoding are rebuilt on open."""

UNIQUE_MARK: Final = "/* mindtrace unique index "
"""Starts the comment in a side table's ``CREATE TABLE`` that holds its definition."""
_UNIQUE_DEFINITION: Final = re.compile(r"/\* mindtrace unique index (\{.*\}) \*/")
_BUILD_BATCH: Final = 1000

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
    """One SQLite expression index standing for an :class:`IndexSpec` (never ``UNIQUE``: unique
    indexes are enforced by a :class:`UniqueTable`, their expression index only serves queries)."""

    name: str
    spec: IndexSpec
    sql: str


@dataclass(frozen=True, slots=True)
class UniqueTable:
    """The side table enforcing one unique index of a collection (see the module docstring)."""

    collection: str
    index: str  # the index name, as declared (``email_1``)
    paths: tuple[str, ...]
    sparse: bool
    name: str = field(init=False)  # the table name, ``<collection>__ux_<index>``

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", f"{self.collection}__ux_{self.index}")

    @classmethod
    def of(cls, collection: str, spec: IndexSpec) -> UniqueTable:
        """The side table of a declared unique index."""
        return cls(collection, spec.name, spec.paths, spec.sparse)

    @classmethod
    def parse(cls, collection: str, sql: str) -> UniqueTable | None:
        """The side table whose ``CREATE TABLE`` text is ``sql``, or None when it is not a side
        table of ``collection``."""
        found = _UNIQUE_DEFINITION.search(sql)
        if found is None:
            return None
        try:
            d = json.loads(found.group(1))
            if d["collection"] != collection:
                return None
            return cls(collection, str(d["index"]), tuple(str(p) for p in d["paths"]), bool(d["sparse"]))
        except (ValueError, KeyError, TypeError):
            return None

    @property
    def quoted(self) -> str:
        return quote_ident(self.name)

    @property
    def create_sql(self) -> str:
        """DDL of the side table; its comment is the definition every writer reads back."""
        definition = {
            "collection": self.collection,
            "index": self.index,
            "paths": list(self.paths),
            "sparse": self.sparse,
            "keys": UNIQUE_KEYS_VERSION,
        }
        # "/" escaped (valid JSON) so that no path can end the comment.
        text = json.dumps(definition, sort_keys=True).replace("/", "\\/")
        return (
            f"CREATE TABLE {self.quoted} (key BLOB PRIMARY KEY NOT NULL, id TEXT NOT NULL "
            f"{UNIQUE_MARK}{text} */) WITHOUT ROWID"
        )

    @property
    def id_index_sql(self) -> str:
        return f"CREATE INDEX {quote_ident(self.name + '__id')} ON {self.quoted} (id)"

    @property
    def trigger_name(self) -> str:
        return self.name + "__delete"

    @property
    def trigger_sql(self) -> str:
        """The trigger removing a deleted document's keys (plain SQL: any SQLite tool may delete)."""
        return (
            f"CREATE TRIGGER {quote_ident(self.trigger_name)} AFTER DELETE ON {quote_ident(self.collection)} "
            f"BEGIN DELETE FROM {self.quoted} WHERE id = old.id; END"
        )

    @property
    def insert_sql(self) -> str:
        return f"INSERT INTO {self.quoted} (key, id) VALUES (?, ?)"

    @property
    def delete_key_sql(self) -> str:
        return f"DELETE FROM {self.quoted} WHERE key = ? AND id = ?"

    @property
    def keys_of_sql(self) -> str:
        return f"SELECT key FROM {self.quoted} WHERE id = ?"

    def claims(self, doc: Mapping[str, Any]) -> list[bytes]:
        """The keys ``doc`` holds in this index (``QueryError`` for parallel arrays)."""
        return unique_claims(doc, self.paths, sparse=self.sparse)

    def key_of(self, doc: Mapping[str, Any], claim: bytes) -> dict[str, Any]:
        """``{path: value}`` of the key ``claim`` of ``doc`` (for an array, the element that
        collided; an empty array's key shows as ``[]``)."""
        values = unique_keys(doc, self.paths, sparse=self.sparse).get(claim)
        if values is None:  # pragma: no cover - a claim always comes from the same document
            values = (None,) * len(self.paths)
        return {p: [] if v is UNDEFINED else v for p, v in zip(self.paths, values, strict=True)}

    def drop(self, db: sqlite3.Connection) -> None:
        """Remove the side table and its trigger (the unique constraint goes with them)."""
        db.execute(f"DROP TRIGGER IF EXISTS {quote_ident(self.trigger_name)}")
        db.execute(f"DROP TABLE IF EXISTS {self.quoted}")

    def is_current(self, existing: Mapping[tuple[str, str], str | None]) -> bool:
        """True when the side table, its id index and its trigger exist as this one declares
        them (``existing``: ``(type, name) -> sql`` of the schema objects)."""
        return (
            existing.get(("table", self.name)) == self.create_sql
            and existing.get(("index", self.name + "__id")) == self.id_index_sql
            and existing.get(("trigger", self.trigger_name)) == self.trigger_sql
        )

    def build(self, db: sqlite3.Connection) -> None:
        """Create the side table (dropping an outdated one) and fill it from the stored documents,
        inside the caller's write transaction. Raises ``DuplicateInsertError`` naming the
        documents and the value when stored documents break the constraint (nothing changes:
        the caller's transaction rolls back)."""
        row = db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (self.name,)
        ).fetchone()
        if row is not None and UniqueTable.parse(self.collection, row[0] or "") is None:
            raise DatabaseError(
                f"cannot create unique index {self.index!r} of collection {self.collection!r}: its "
                f"table {self.name!r} is taken by another table of the file; rename that "
                "collection or give the index another name"
            )
        self.drop(db)
        db.execute(self.create_sql)
        db.execute(self.id_index_sql)
        db.execute(self.trigger_sql)
        cursor = db.execute(f"SELECT id, doc FROM {quote_ident(self.collection)} ORDER BY rowid")
        while batch := cursor.fetchmany(_BUILD_BATCH):
            rows: list[tuple[bytes, str]] = []
            docs: list[dict[str, Any]] = []
            for id, text in batch:
                doc = typed_json.loads(text)
                try:
                    claims = self.claims(doc)
                except QueryError as e:
                    raise QueryError(
                        f"cannot build unique index {self.index!r} of collection {self.collection!r}: "
                        f"document {id}: {e}",
                        operator=e.operator,
                    ) from e
                for claim in claims:
                    rows.append((claim, id))
                    docs.append(doc)
            before = db.total_changes
            try:
                db.executemany(self.insert_sql, rows)
            except sqlite3.IntegrityError as e:
                at = db.total_changes - before
                claim, id = rows[at]
                (other,) = db.execute(f"SELECT id FROM {self.quoted} WHERE key = ?", (claim,)).fetchone()
                key = self.key_of(docs[at], claim)
                shown = " and ".join(f"{p} = {v!r}" for p, v in key.items())
                field = ", ".join(self.paths)
                raise DuplicateInsertError(
                    f"cannot create unique index {self.index!r} on collection {self.collection!r}: "
                    f"stored documents {other} and {id} both have {shown} (compared as MongoDB "
                    "does: array elements one by one, missing as null, numbers by value, instants "
                    "in UTC); remove the duplicates or drop unique=True",
                    collection=self.collection,
                    field=field,
                    value=next(iter(key.values())) if len(key) == 1 else tuple(key.values()),
                    key=key,
                    index=self.index,
                ) from e


class CollectionTable:
    """DDL and metadata of one collection's table; cheap to build, nothing happens until
    :meth:`create` runs."""

    def __init__(self, collection: str, specs: Iterable[IndexSpec]) -> None:
        if collection.lower().startswith("sqlite_"):
            raise ValueError(f"collection name {collection!r} is reserved by SQLite; set Settings.name")
        self.collection = collection
        self.table = quote_ident(collection)
        self.indexes: list[SqlIndex] = []
        self.uniques: list[UniqueTable] = []  # declared unique indexes
        self.plain_names: list[str] = []  # declared indexes that are not unique
        self.skipped: list[IndexSpec] = []
        for spec in specs:
            if not spec.is_plain:
                # Text, geo and hashed keys have no SQLite counterpart; queries on them still work
                # (the engine checks every row).
                self.skipped.append(spec)
                continue
            if spec.unique:
                self.uniques.append(UniqueTable.of(collection, spec))
            else:
                self.plain_names.append(spec.name)
            index = self._sql_index(spec)
            if index is not None:
                self.indexes.append(index)
        # Paths that lead some index: the pushdown compiler may probe them through it.
        self.leading_paths = frozenset(ix.spec.fields[0][0] for ix in self.indexes)
        self._live: tuple[int, tuple[UniqueTable, ...]] | None = None

    def _sql_index(self, spec: IndexSpec) -> SqlIndex | None:
        columns = []
        for path, direction in spec.fields:
            expr = field_sql(path)
            if expr is None:
                # A path SQLite cannot address gets no expression index (a unique one is still
                # enforced by its side table); queries on it still work.
                return None
            columns.append(expr + (" DESC" if direction == -1 else ""))
        name = f"{self.collection}__{spec.name}"
        return SqlIndex(
            name, spec, f"CREATE INDEX {quote_ident(name)} ON {self.table} ({', '.join(columns)})"
        )

    @property
    def create_table_sql(self) -> str:
        """DDL of the table (idempotent)."""
        return f"CREATE TABLE IF NOT EXISTS {self.table} (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL)"

    def _schema(self, db: sqlite3.Connection) -> dict[tuple[str, str], str | None]:
        # Every schema object of the collection's table (its indexes and triggers) and of the
        # side tables (tables and their indexes), keyed by (type, name).
        rows = db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? "
            "OR (type IN ('table', 'index') AND substr(tbl_name, 1, ?) = ?)",
            (self.collection, len(self.collection) + 5, self.collection + "__ux_"),
        ).fetchall()
        return {(kind, name): sql for kind, name, sql in rows}

    def _stale_names(self, schema: Mapping[tuple[str, str], str | None]) -> list[tuple[str, str]]:
        # Schema objects that the declarations replace: the partial "__null" index the layout-1
        # unique indexes kept, and the side table of an index declared plain again.
        stale = [("index", f"{self.collection}__{u.index}__null") for u in self.uniques]
        stale += [("table", f"{self.collection}__ux_{name}") for name in self.plain_names]
        return [key for key in stale if key in schema]

    def is_current(self, db: sqlite3.Connection) -> bool:
        """True when the table, every declared index and every declared unique side table already
        exist as declared, so that :meth:`create` would change nothing. A plain read: it lets a
        backend opening an existing file skip the write lock, which writers in other processes
        may hold back-to-back."""
        schema = self._schema(db)
        if ("table", self.collection) not in schema:
            return False
        return (
            all(schema.get(("index", ix.name)) == ix.sql for ix in self.indexes)
            and all(u.is_current(schema) for u in self.uniques)
            and not self._stale_names(schema)
            and all(u.is_current(schema) for u in side_tables(db, self.collection))
        )

    def create(self, db: sqlite3.Connection) -> None:
        """Create the table and any missing or changed index; run inside a write transaction.

        An index whose stored definition differs from the declaration (e.g. it became unique,
        or the file was written with layout 1) is rebuilt; a unique side table is built from the
        stored documents. Raises ``DuplicateInsertError`` when stored documents break a unique
        constraint (the caller's transaction then rolls back: nothing changes).
        """
        db.execute(self.create_table_sql)
        schema = self._schema(db)
        for kind, name in self._stale_names(schema):
            if kind == "index":
                db.execute(f"DROP INDEX {quote_ident(name)}")
            else:
                sql = schema[(kind, name)] or ""
                stale = UniqueTable.parse(self.collection, sql)
                if stale is not None:
                    stale.drop(db)
        for ix in self.indexes:
            current = schema.get(("index", ix.name))
            if current == ix.sql:
                continue
            if current is not None:
                db.execute(f"DROP INDEX {quote_ident(ix.name)}")
            db.execute(ix.sql)
        for unique in self.uniques:
            if not unique.is_current(schema):
                unique.build(db)
        # A side table no model here declares is still enforced (indexes are never dropped
        # automatically); rebuild it if its keys were computed by another version or its
        # trigger is missing.
        declared = {u.name for u in self.uniques}
        for unique in side_tables(db, self.collection):
            if unique.name not in declared and not unique.is_current(schema):
                unique.build(db)

    def live_uniques(self, db: sqlite3.Connection) -> tuple[UniqueTable, ...]:
        """The side tables of this collection in the file now — declared or not, created by this
        backend or another — which every write must maintain. Read again only when SQLite's
        ``schema_version`` changed, i.e. almost never (one pragma per write)."""
        version = db.execute("PRAGMA schema_version").fetchone()[0]
        live = self._live
        if live is not None and live[0] == version:
            return live[1]
        uniques = side_tables(db, self.collection)
        self._live = (version, uniques)
        return uniques


def side_tables(db: sqlite3.Connection, collection: str) -> tuple[UniqueTable, ...]:
    """The unique side tables of ``collection`` in the database file (by table name): one per
    unique index, whatever model declared it. Tools describing a file use it to tell unique
    indexes (``UniqueTable.index``) from plain ones."""
    prefix = collection + "__ux_"
    found = []
    for (sql,) in db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ? ORDER BY name",
        (len(prefix), prefix),
    ):
        unique = UniqueTable.parse(collection, sql or "")
        if unique is not None:
            found.append(unique)
    return tuple(found)
