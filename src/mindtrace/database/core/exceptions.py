"""The one exception hierarchy, and the one wording of each error every backend raises.

Backends translate driver errors into these classes, chaining the original. Errors that more
than one backend raises are built by the functions at the end of this module
(``duplicate_key``, ``not_found``, ``too_large``, ``invalid_after_update``), so a message reads
the same whatever the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    "duplicate_key",
    "invalid_after_update",
    "not_found",
    "too_large",
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

    The same shapes on every backend: ``key`` maps each field of the violated index to the
    offending value (MongoDB's ``keyValue``; ``{"_id": id}`` for a taken id); ``field`` is the
    field name (``"a, b"`` for a compound index) and ``value`` its value (a tuple in index order
    for a compound index); ``index`` names the index when known. All are None when the backend
    could not tell. For bulk inserts, ``inserted_ids`` lists the documents that were stored and
    ``failed`` the positions (in the input) of those that were not.
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
        key: dict[str, Any] | None = None,
        index: str | None = None,
    ) -> None:
        super().__init__(message)
        self.collection = collection
        self.field = field
        self.value = value
        self.key = key
        self.index = index
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


# --------------------------------------------------------------------------- one wording per error


def duplicate_key(
    collection: str,
    key: Mapping[str, Any] | None,
    *,
    index: str | None = None,
    position: int | None = None,
    inserted_ids: Sequence[str] | None = None,
    failed: Sequence[int] | None = None,
    missing: bool = False,
    detail: str | None = None,
) -> DuplicateInsertError:
    """The ``DuplicateInsertError`` every backend raises when a write breaks a unique constraint.

    ``key``: the violated index's fields and the offending values in index order (None when the
    store did not say; ``detail`` then carries what it did say). ``position``: the input number
    in a batch. ``missing``: the document lacks the (non-sparse) unique field and another one
    already does. ``inserted_ids``/``failed``: for a batch that stopped there.
    """
    stopped = list(failed or ())
    batch = len(stopped) > 1 or (len(stopped) == 1 and bool(inserted_ids))
    if position is None and batch:
        position = stopped[0]  # a batch stops at its first failure
    fields = list(key) if key else []
    values = [key[f] for f in fields] if key else []
    field = ", ".join(fields) if fields else None
    value: Any = (values[0] if len(values) == 1 else tuple(values)) if values else None
    where = f" (input {position})" if position is not None else ""
    if fields == ["_id"]:
        what = (
            f"collection {collection!r} already has a document with _id {value!r}{where}; "
            "leave the id unset to get a fresh one, or use update() to replace the document"
        )
    else:
        if missing:
            clash = f"another document already lacks {field!r} (missing or null), and it is unique"
        elif field is not None:
            shown = " and ".join(f"{f} = {v!r}" for f, v in zip(fields, values, strict=True))
            clash = f"another document already has {shown}"
        else:
            clash = f"a unique constraint rejected the document ({detail or 'no detail'})"
        named = f" (unique index {index!r})" if index else ""
        what = f"duplicate key in collection {collection!r}{where}: {clash}{named}; choose another value"
    if batch:
        done = len(inserted_ids or [])
        what += (
            f"; the batch stopped there: {done} document(s) before it were stored, "
            f"{len(stopped)} from it on were not"
        )
    return DuplicateInsertError(
        what,
        collection=collection,
        field=field,
        value=None if missing else value,
        key=None if key is None else dict(key),
        index=index,
        inserted_ids=None if inserted_ids is None else list(inserted_ids),
        failed=None if failed is None else list(failed),
    )


def not_found(collection: str, id: object) -> DocumentNotFoundError:
    """No document with ``id`` (or a malformed id) in ``collection``."""
    return DocumentNotFoundError(
        f"no document with id {id!r} in collection {collection!r}", collection=collection, id=id
    )


def too_large(collection: str, id: object, size: int, limit: int) -> DocumentTooLargeError:
    """A document whose encoded form exceeds the per-document size limit; nothing was written."""
    return DocumentTooLargeError(
        f"document {id!r} of collection {collection!r} is {size} bytes encoded, over the {limit} "
        "byte limit; store large payloads elsewhere (e.g. a file) and keep a reference in the document"
    )


def invalid_after_update(collection: str, model: str, id: object, errors: object) -> QueryError:
    """An update whose result the model would reject; nothing was written (chain the
    ``ValidationError``)."""
    return QueryError(
        f"the update would leave document {id!r} of collection {collection!r} invalid for "
        f"{model}: {errors!r}; fix the update (nothing was written)"
    )
