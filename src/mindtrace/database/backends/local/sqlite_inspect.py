"""Read-only description of a Local database file: collections, counts, indexes and sizes.

Kept next to the schema module because it reads the same layout (one ``(id, doc)`` table per
collection, indexes named ``<collection>__<index>``, ``PRAGMA user_version``); the CLI's
``stats`` command and users' own tooling call :func:`describe_database` instead of knowing it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from mindtrace.database.backends.local.sqlite_schema import FORMAT_VERSION, quote_ident, side_tables

__all__ = ["CollectionStats", "DatabaseDescription", "describe_database", "is_sqlite_file"]

_SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class CollectionStats:
    """One collection: its document count, encoded document bytes and index names."""

    name: str
    documents: int
    data_bytes: int
    indexes: tuple[str, ...]  # e.g. ("email_1 (unique)", "age_-1")


@dataclass(frozen=True, slots=True)
class DatabaseDescription:
    """A Local database file and its collections (sorted by name)."""

    path: Path
    file_bytes: int
    wal_bytes: int  # the write-ahead log not yet checkpointed into the file
    collections: tuple[CollectionStats, ...]


def describe_database(path: str | Path) -> DatabaseDescription:
    """Describe the Local database at ``path`` without modifying it (opened read-only).

    Raises ``FileNotFoundError`` if it does not exist and ``ValueError`` if it is a directory,
    not an SQLite file, or an SQLite file of another layout.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no database at {path}: the file does not exist")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; pass the database file itself")
    if not is_sqlite_file(path):
        raise ValueError(f"{path} is not a mindtrace-database file (not an SQLite database)")
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = _tables(db)
        # Layout version 0 with no table at all is an empty file, which Local would adopt.
        # Older layouts are upgraded by the first backend that opens them; they read the same.
        if not 1 <= version <= FORMAT_VERSION and not (version == 0 and not tables):
            raise ValueError(
                f"{path} is an SQLite database but not a mindtrace-database file "
                f"(layout version {version}, expected 1 to {FORMAT_VERSION})"
            )
        collections = []
        for name in (t for t in tables if _is_collection(db, t)):
            count, data = db.execute(
                f"SELECT count(*), coalesce(sum(length(doc)), 0) FROM {quote_ident(name)}"
            ).fetchone()
            collections.append(CollectionStats(name, count, data, _indexes(db, name)))
    finally:
        db.close()
    wal = Path(f"{path}-wal")
    return DatabaseDescription(
        path=path,
        file_bytes=path.stat().st_size,
        wal_bytes=wal.stat().st_size if wal.exists() else 0,
        collections=tuple(collections),
    )


def is_sqlite_file(path: Path) -> bool:
    """True when the file at ``path`` starts with SQLite's header (it may be any SQLite database)."""
    with path.open("rb") as f:
        return f.read(16) == _SQLITE_HEADER


def _tables(db: sqlite3.Connection) -> list[str]:
    return [
        row[0]
        for row in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        if not row[0].startswith("sqlite_")
    ]


def _is_collection(db: sqlite3.Connection, table: str) -> bool:
    # A collection table is exactly (id TEXT PRIMARY KEY, doc TEXT); anything else is not ours.
    columns = [(c[1], c[2].upper()) for c in db.execute(f"PRAGMA table_info({quote_ident(table)})")]
    return columns == [("id", "TEXT"), ("doc", "TEXT")]


def _indexes(db: sqlite3.Connection, collection: str) -> tuple[str, ...]:
    prefix = f"{collection}__"
    # Unique indexes live in side tables (layout 2); layout 1 files had UNIQUE expression indexes.
    unique = {table.index for table in side_tables(db, collection)}
    names: set[str] = set()
    for _seq, name, is_unique, *_ in db.execute(f"PRAGMA index_list({quote_ident(collection)})"):
        if not name.startswith(prefix) or name.endswith("__null"):
            continue  # the primary key, and layout 1's helper index for missing unique fields
        names.add(name[len(prefix) :])
        if is_unique:
            unique.add(name[len(prefix) :])
    return tuple(sorted(f"{n} (unique)" if n in unique else n for n in names | unique))
