"""Translation of ``sqlite3`` errors into the package's exceptions, for one collection.

One context manager, ``LocalErrors.translate(operation)``, wraps every call into SQLite (sync
and async alike, as httpcore's ``map_exceptions`` does); errors this package raised on purpose
pass through untouched. A duplicate ``_id`` (the table's primary key) becomes
``DuplicateInsertError`` through ``duplicate``; a key that collides in a unique index's side table
through ``clash``, which names the index, the fields and the values that collided.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from mindtrace.database.backends.local.sqlite_connection import is_busy
from mindtrace.database.backends.local.sqlite_schema import CollectionTable, UniqueTable
from mindtrace.database.core.exceptions import DatabaseError, DuplicateInsertError, duplicate_key

__all__ = ["LocalErrors"]

_UNIQUE_CODES = (sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)


class _Translation:
    """``LocalErrors.translate``'s context manager: a class rather than a generator because it
    wraps every call, a primary-key read included (a generator-based one costs about 1 µs)."""

    __slots__ = ("_errors", "_operation")

    def __init__(self, errors: LocalErrors, operation: str) -> None:
        self._errors = errors
        self._operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(error, sqlite3.Error):
            raise self._errors.database_error(error, self._operation) from error


class LocalErrors:
    """Error translation for one collection's table in one database file."""

    def __init__(self, table: CollectionTable, path: str, timeout: float) -> None:
        self.table = table
        self.collection = table.collection
        self.path = path
        self.timeout = timeout
        self._translations: dict[str, _Translation] = {}

    def translate(self, operation: str) -> _Translation:
        """A context manager that turns a ``sqlite3.Error`` raised inside the block into
        ``DatabaseError`` (chained); errors of this package pass through."""
        translation = self._translations.get(operation)
        if translation is None:  # one per operation name: they hold no state of a call
            translation = self._translations[operation] = _Translation(self, operation)
        return translation

    def database_error(self, e: sqlite3.Error, operation: str) -> DatabaseError:
        """The error for a failed SQLite call that is not a duplicate key."""
        if is_busy(e):
            return DatabaseError(
                f"{operation} on collection {self.collection!r}: the database file {self.path!r} stayed "
                f"locked by another connection for more than {self.timeout:g}s; retry later or raise timeout="
            )
        return DatabaseError(
            f"{operation} on collection {self.collection!r}: SQLite failed in {self.path!r}: {e}"
        )

    def duplicate(
        self,
        e: sqlite3.IntegrityError,
        doc: Mapping[str, Any],
        position: int | None = None,
        *,
        inserted_ids: list[str] | None = None,
        failed: list[int] | None = None,
    ) -> DatabaseError:
        """``DuplicateInsertError`` for a UNIQUE/PRIMARY KEY failure of the collection's table
        caused by ``doc`` (input number ``position`` of a batch); any other integrity error
        becomes a ``DatabaseError``."""
        code = getattr(e, "sqlite_errorcode", None)
        if code not in _UNIQUE_CODES:
            return self.database_error(e, "write")
        message = str(e)
        extra: dict[str, Any] = {"position": position, "inserted_ids": inserted_ids, "failed": failed}
        if message.endswith(".id") or code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
            return duplicate_key(self.collection, {"_id": doc.get("_id")}, **extra)
        # A UNIQUE index this package did not create (e.g. added by hand): say what SQLite said.
        return duplicate_key(self.collection, None, detail=message, **extra)

    def clash(
        self,
        unique: UniqueTable,
        doc: Mapping[str, Any],
        claim: bytes,
        position: int | None = None,
        *,
        inserted_ids: list[str] | None = None,
        failed: list[int] | None = None,
    ) -> DuplicateInsertError:
        """``DuplicateInsertError`` for ``doc`` (input number ``position`` of a batch), whose key
        ``claim`` in ``unique`` another document already holds."""
        key = unique.key_of(doc, claim)
        return duplicate_key(
            self.collection,
            key,
            index=unique.index,
            position=position,
            inserted_ids=inserted_ids,
            failed=failed,
            # Every field null: MongoDB's null key, which a missing field has too.
            missing=all(v is None for v in key.values()),
        )
