"""The one exception hierarchy; backends translate driver errors into these, chaining the original."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendNotAvailableError",
    "ConnectionFailedError",
    "DatabaseError",
    "DocumentNotFoundError",
    "DocumentTooLargeError",
    "DuplicateInsertError",
    "QueryError",
    "WriteConflictError",
]


class DatabaseError(Exception):
    """Base class of every error this package raises on purpose; catch it to handle them all."""


class DocumentNotFoundError(DatabaseError, LookupError):
    """No document with the given id (or matching the given filter) exists in the collection.

    A malformed id is reported the same way: it cannot name a stored document.
    """

    def __init__(self, message: str, *, collection: str | None = None, id: Any = None) -> None:
        super().__init__(message)
        self.collection = collection
        self.id = id


class DuplicateInsertError(DatabaseError):
    """A write would break a unique constraint (the id or a field declared unique).

    ``field`` and ``value`` name the constraint and the offending value when the backend knows them.
    For bulk inserts, ``inserted_ids`` lists the documents that were stored and ``failed`` the
    positions (in the input) of those that were not.
    """

    def __init__(
        self,
        message: str,
        *,
        collection: str | None = None,
        field: str | None = None,
        value: Any = None,
        inserted_ids: list[str] | None = None,
        failed: list[int] | None = None,
    ) -> None:
        super().__init__(message)
        self.collection = collection
        self.field = field
        self.value = value
        self.inserted_ids = inserted_ids if inserted_ids is not None else []
        self.failed = failed if failed is not None else []


class QueryError(DatabaseError, ValueError):
    """A filter, update, projection, sort or pipeline is invalid or uses an unsupported operator.

    ``operator`` names the operator at fault when there is one; ``code`` carries the server's
    error code when the error came from a database server.
    """

    def __init__(self, message: str, *, operator: str | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.operator = operator
        self.code = code


class DocumentTooLargeError(DatabaseError):
    """A document exceeds the size limit (16 MiB encoded, as in MongoDB); nothing was written."""


class ConnectionFailedError(DatabaseError, ConnectionError):
    """The database server could not be reached or the connection broke mid-operation.

    The message names the URL with any password hidden. The backend object stays usable:
    once the server is reachable again, the next call reconnects.
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class BackendNotAvailableError(DatabaseError, ImportError):
    """A backend was requested whose optional dependencies are not installed.

    The message names the extra to install, e.g. ``pip install 'mindtrace-database[redis]'``.
    """


class WriteConflictError(DatabaseError):
    """Documents kept changing under concurrent writes until a bulk update or delete gave up.

    Raised only by backends that update documents by compare-and-set (Redis) after retrying with
    back-off for a long time (30 s); ``ids`` lists the documents not written. The call may be
    retried. Documents not listed were written.
    """

    def __init__(self, message: str, *, collection: str | None = None, ids: list[str] | None = None) -> None:
        super().__init__(message)
        self.collection = collection
        self.ids = ids if ids is not None else []
