"""Translation of PyMongo errors into the package's exception hierarchy, exactly and nothing more.

Only these are renamed (always chained with ``raise ... from``):

* duplicate-key errors (codes 11000, 11001, 12582; ``DuplicateKeyError``; ``BulkWriteError`` whose
  write errors all carry those codes) -> ``DuplicateInsertError`` with ``field``/``value`` taken from
  the server's ``keyValue``;
* other server-side failures (``OperationFailure``) -> ``QueryError`` with the server's message
  and ``code``, except the server's own "document too large" codes, and ``CursorNotFound`` (a
  stream whose server restarted between two batches) -> ``ConnectionFailedError``;
* documents over the size limit (``DocumentTooLarge``, server codes 10334/17419/17420)
  -> ``DocumentTooLargeError``;
* connection failures (``ConnectionFailure`` and its subclasses ``AutoReconnect``,
  ``ServerSelectionTimeoutError``, ``NetworkTimeout``...) -> ``ConnectionFailedError`` naming the
  URL with its password hidden;
* a document string that is not valid Unicode (``UnicodeEncodeError``: lone surrogates) ->
  Pydantic's ``ValidationError`` (type ``string_unicode``), as on every backend;
* ints beyond 64 bits (PyMongo's ``OverflowError``) -> ``InvalidDocument``, like every other value
  BSON cannot encode.

Everything else (``InvalidDocument`` for unencodable values, ``ConfigurationError`` for a bad URL,
programming errors) propagates unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from bson.errors import InvalidDocument
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DocumentTooLarge,
    OperationFailure,
)

from mindtrace.database.core.exceptions import (
    ConnectionFailedError,
    DocumentTooLargeError,
    DuplicateInsertError,
    QueryError,
    duplicate_key,
)
from mindtrace.database.core.input_checks import invalid_text_error
from mindtrace.database.core.urls import redact_url

__all__ = ["DUPLICATE_KEY_CODES", "MongoErrorContext", "bulk_insert_error"]

DUPLICATE_KEY_CODES = frozenset({11000, 11001, 12582})
# BSONObjectTooLarge, and the "resulting document after update is larger than ..." codes.
_TOO_LARGE_CODES = frozenset({10334, 17419, 17420})
_CURSOR_NOT_FOUND = 43
_OPERATOR = re.compile(r"\$[A-Za-z][A-Za-z0-9]*")


class MongoErrorContext:
    """Knows the collection and URL of one backend, to word the translated errors.

    Use ``with ctx.translate("find"):`` around driver calls, in sync and async code alike.
    """

    __slots__ = ("collection", "url")

    def __init__(self, collection: str, url: str) -> None:
        self.collection = collection
        self.url = redact_url(url)

    @contextmanager
    def translate(self, operation: str) -> Iterator[None]:
        """Re-raise PyMongo errors raised inside the block as the package's errors (see module doc)."""
        try:
            yield
        except BulkWriteError as e:
            self.raise_bulk(e, operation)
        except OperationFailure as e:
            self.raise_operation_failure(e, operation)
        except DocumentTooLarge as e:
            raise self.too_large(str(e)) from e
        except UnicodeEncodeError as e:
            # BSON holds UTF-8 only. Queries are checked before they get here, so this is a
            # document's string with a lone surrogate: Pydantic's error for invalid text.
            raise invalid_text_error(self.collection, None, str(e.object)) from e
        except OverflowError as e:
            # PyMongo's "MongoDB can only handle up to 8-byte ints": a value BSON cannot encode,
            # reported like every other one (InvalidDocument).
            raise InvalidDocument(
                f"{e} (collection {self.collection!r}, {operation}); store larger integers as Decimal or str"
            ) from e
        except ConnectionFailure as e:
            raise ConnectionFailedError(
                f"cannot reach MongoDB at {self.url} during {operation} on collection "
                f"{self.collection!r}: {e}. Check that the server is running and the URL is right; "
                "the backend reconnects on the next call.",
                url=self.url,
            ) from e

    def too_large(self, detail: str) -> DocumentTooLargeError:
        return DocumentTooLargeError(
            f"document too large for collection {self.collection!r}: {detail}. MongoDB stores at most "
            "16 MiB per document; split it or keep large blobs outside the document."
        )

    def raise_operation_failure(self, e: OperationFailure, operation: str) -> NoReturn:
        details: Mapping[str, Any] = e.details or {}
        if e.code in DUPLICATE_KEY_CODES:
            raise self.duplicate(details, str(details.get("errmsg", e))) from e
        if e.code in _TOO_LARGE_CODES:
            raise self.too_large(str(details.get("errmsg", e))) from e
        message = str(details.get("errmsg") or e)
        if e.code == _CURSOR_NOT_FOUND:
            # The server no longer knows the cursor of a stream: it restarted or failed over
            # between two batches (or the cursor idled past the server's cursor timeout). To
            # the caller that is a broken connection, never a bad query.
            raise ConnectionFailedError(
                f"MongoDB at {self.url} lost the cursor of {operation} on collection "
                f"{self.collection!r} ({message}): the server restarted or failed over mid-stream, "
                "or the cursor idled past the server's cursor timeout. Start the operation again.",
                url=self.url,
            ) from e
        found = _OPERATOR.search(message)
        raise QueryError(
            f"MongoDB rejected {operation} on collection {self.collection!r}: {message} "
            f"(code {e.code}{', ' + str(details['codeName']) if details.get('codeName') else ''}). "
            "Fix the filter, update or pipeline.",
            operator=found.group(0) if found else None,
            code=e.code,
        ) from e

    def raise_bulk(self, e: BulkWriteError, operation: str, ids: Sequence[str] | None = None) -> NoReturn:
        """Translate a bulk write failure; with ``ids`` (the input ids, in order) report who was stored."""
        write_errors: list[Mapping[str, Any]] = list(e.details.get("writeErrors") or [])
        codes = {err.get("code") for err in write_errors}
        if write_errors and codes <= DUPLICATE_KEY_CODES:
            raise bulk_insert_error(self, write_errors, ids) from e
        # A mix (or write-concern errors): report the first non-duplicate problem as the server did.
        first = next((err for err in write_errors if err.get("code") not in DUPLICATE_KEY_CODES), None)
        if first is None:
            concern = (e.details.get("writeConcernErrors") or [{}])[0]
            first = concern
        raise self.write_error(first, operation, str(e)) from e

    def write_error(
        self, error: Mapping[str, Any], operation: str, fallback: str = ""
    ) -> DocumentTooLargeError | QueryError:
        """The error for one failed statement of a bulk write (not a duplicate key: see ``duplicate``)."""
        code = error.get("code")
        message = str(error.get("errmsg") or fallback)
        if code in _TOO_LARGE_CODES:
            return self.too_large(message)
        found = _OPERATOR.search(message)
        return QueryError(
            f"MongoDB rejected {operation} on collection {self.collection!r}: {message} (code {code}). "
            "Fix the documents or update.",
            operator=found.group(0) if found else None,
            code=code,
        )

    def duplicate(
        self,
        details: Mapping[str, Any],
        errmsg: str,
        *,
        inserted_ids: list[str] | None = None,
        failed: list[int] | None = None,
    ) -> DuplicateInsertError:
        """A ``DuplicateInsertError`` naming the unique fields and values from the server's
        ``keyValue`` (the same shapes and wording as on every backend)."""
        return duplicate_key(
            self.collection,
            _key_of(details),
            index=_index_name(errmsg),
            inserted_ids=inserted_ids,
            failed=failed,
            detail=errmsg,
        )


def _key_of(details: Mapping[str, Any]) -> dict[str, Any] | None:
    key_value = details.get("keyValue")
    if not isinstance(key_value, Mapping) or not key_value:
        return None
    key = dict(key_value)
    if "_id" in key and key["_id"] is not None:
        key["_id"] = str(key["_id"])
    return key


def _index_name(errmsg: str) -> str | None:
    # "E11000 duplicate key error collection: db.c index: email_1 dup key: { ... }"
    found = re.search(r"index: (\S+) dup key", errmsg)
    if found is None or found.group(1) == "_id_":
        return None
    return found.group(1)


def bulk_insert_error(
    ctx: MongoErrorContext, write_errors: Sequence[Mapping[str, Any]], ids: Sequence[str] | None
) -> DuplicateInsertError:
    """The error for an ordered bulk insert that stopped at a duplicate key.

    An ordered insert stores the documents before the first failure and none after it, so
    ``failed`` lists every input position from the first rejected one on and, with ``ids`` given,
    ``inserted_ids`` the ids before it.
    """
    first = min(write_errors, key=lambda err: int(err["index"]))
    stop = int(first["index"])
    failed = list(range(stop, len(ids))) if ids is not None else [stop]
    inserted = list(ids[:stop]) if ids is not None else None
    return ctx.duplicate(first, str(first.get("errmsg", "")), inserted_ids=inserted, failed=failed)
