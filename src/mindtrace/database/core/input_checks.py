"""Limits every store shares, checked on untrusted queries and documents without recursion.

MongoDB refuses documents nested deeper than 100 levels and query trees deeper than 100; BSON,
JSON and SQLite store only valid UTF-8, and BSON field names cannot contain NUL. The backends
check the same limits before any I/O, so a hostile input fails the same way everywhere — with
the package's error — instead of exhausting Python's stack (``RecursionError``) or failing deep
inside a driver. The walks use an explicit stack, so they are safe on input of any depth, and
stop at the first problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from bson import Decimal128
from bson.errors import InvalidDocument
from pydantic_core import ValidationError

from mindtrace.database.core.exceptions import DocumentTooLargeError, QueryError

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_NESTING",
    "check_collection_name",
    "check_document",
    "check_query",
    "find_invalid_text",
    "invalid_text_error",
    "is_valid_text",
    "nesting_exceeds",
]

MAX_DOCUMENT_BYTES: Final = 16 * 1024 * 1024
"""Largest encoded document any backend stores (MongoDB's BSON limit); larger ones raise
``DocumentTooLargeError`` and nothing is written."""

MAX_NESTING: Final = 100
"""Most levels of documents and arrays in a stored document or a query (MongoDB's limit); the
top-level document counts as one."""


def is_valid_text(value: str) -> bool:
    """False when ``value`` cannot be encoded as UTF-8 (it holds lone surrogates, e.g. from
    ``os.fsdecode`` of a non-UTF-8 file name); such text cannot be stored by any backend."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _children(value: Any) -> list[tuple[str, Any]] | None:
    # (label, child) pairs of a container; None for leaves. Tuples and sets count as arrays,
    # any Mapping as a document (field expressions and user mappings included).
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, list | tuple | set | frozenset):
        return [(str(i), v) for i, v in enumerate(value)]
    return None


def nesting_exceeds(value: Any, limit: int = MAX_NESTING) -> bool:
    """True when ``value`` has more than ``limit`` nested levels of documents and arrays.

    Linear in the size of ``value`` (stops early once past the limit); never recursive.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = _children(item)
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for _, child in children)
    return False


def find_invalid_text(value: Any) -> tuple[tuple[str, ...], str] | None:
    """The location (keys and list positions, as strings) and the text of the first string or
    dict key in ``value`` that is not valid Unicode text; None when every one is. Never recursive."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if not is_valid_text(item):
                return where, item
            continue
        if isinstance(item, Mapping):
            for key, child in item.items():
                if isinstance(key, str) and not is_valid_text(key):
                    return (*where, key), key
                stack.append((child, (*where, str(key))))
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend((child, (*where, str(i))) for i, child in enumerate(item))
    return None


def invalid_text_error(title: str, doc: Any, text: str | None = None) -> ValidationError:
    """The error for a document holding a string that is not valid Unicode text: Pydantic's
    ``ValidationError`` of type ``string_unicode`` (what Pydantic raises for such text in JSON),
    located at the first offending string of ``doc``, else carrying ``text``. ``title`` names the
    model or collection in the message; nothing has been written when it is raised."""
    found = find_invalid_text(doc) if doc is not None else None
    where, value = found if found is not None else ((), text)
    # Pydantic cannot print a title that is not valid text itself (it panics): escape it.
    safe_title = title.encode("utf-8", "backslashreplace").decode("utf-8")
    return ValidationError.from_exception_data(
        safe_title, [{"type": "string_unicode", "loc": where, "input": value}]
    )


def check_collection_name(name: str) -> None:
    """Refuse a collection name no store can use: empty, containing NUL, or not valid Unicode.

    Raises ``ValueError`` naming it (at backend construction, before any I/O). Quotes, spaces,
    ``:``, ``*``, ``{}`` and the like are fine: every backend quotes or escapes the name.
    """
    if not name or "\x00" in name or not is_valid_text(name):
        raise ValueError(
            f"collection name {name!r} cannot be used: it must be non-empty text without NUL and "
            "without lone surrogates; set Settings.name to another name"
        )


def check_query(value: Any, what: str) -> None:
    """Refuse a filter, update, projection, sort or pipeline that no store could run.

    ``what`` names the argument in the message ("filter", "update", ...). Raises ``QueryError``
    when it is nested more than ``MAX_NESTING`` levels deep, holds a string or key that is not
    valid Unicode (lone surrogates), a signalling-NaN decimal (Python cannot compare it), or a key
    (field name, path or operator) containing NUL.
    """
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, Decimal | Decimal128) and _is_snan(item):
            raise QueryError(
                f"the {what} holds a signalling NaN decimal at {_short(where)}; it cannot be compared "
                "or stored portably: use Decimal('NaN')"
            )
        if isinstance(item, str):
            if not is_valid_text(item):
                raise QueryError(
                    f"the {what} holds a string that is not valid Unicode text (a lone surrogate) "
                    f"at {_short(where)}: {item!r}; no store can hold or compare it, so "
                    "decode the input strictly (e.g. bytes.decode('utf-8')) before querying"
                )
            continue
        children = _children(item)
        if children is None:
            continue
        if depth > MAX_NESTING:
            raise QueryError(
                f"the {what} is nested more than {MAX_NESTING} levels deep (at {_short(where)}); MongoDB "
                "refuses such queries too: flatten it (e.g. one $and/$or with many clauses)"
            )
        if isinstance(item, Mapping):
            for key in item:
                if isinstance(key, str) and ("\x00" in key or not is_valid_text(key)):
                    raise QueryError(
                        f"the {what} has a key that contains NUL or is not valid Unicode text: "
                        f"{key!r} (at {_short(where)}); field names cannot hold either"
                    )
        prefix = where + "." if where else ""
        stack.extend((child, depth + 1, prefix + label) for label, child in children)


def _is_snan(value: Decimal | Decimal128) -> bool:
    return (value.to_decimal() if isinstance(value, Decimal128) else value).is_snan()


def _short(where: str) -> str:
    # Locations in deeply nested input are long; the start and the end say enough.
    if not where:
        return "the top level"
    return where if len(where) <= 80 else where[:40] + "..." + where[-30:]


def check_document(doc: Any, collection: str) -> None:
    """Refuse a document MongoDB could not store, on every backend, before anything is written.

    Raises ``DocumentTooLargeError`` when it is nested more than ``MAX_NESTING`` levels deep
    (depth is a size limit too), and BSON's ``InvalidDocument`` — what the MongoDB backend
    raises for it — when a key contains NUL (no query could name that field either).
    Runs on every stored update result: leaves are skipped without a call, plain dicts and lists
    are recognised by exact type first (the ABC checks cost more than the rest of the walk).
    """
    stack: list[tuple[Any, int]] = [(doc, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        t = type(item)
        if t is dict or (t is not list and isinstance(item, Mapping)):
            if depth > MAX_NESTING:
                raise _too_deep_document(doc, collection)
            for key, value in item.items():
                if type(key) is str and "\x00" in key:
                    raise InvalidDocument(
                        f"document {_id_of(doc)!r} of collection {collection!r} has a key "
                        f"containing NUL ({key!r}): key names must not contain the NULL byte "
                        "(as in MongoDB), on every backend"
                    )
                tv = type(value)
                if tv is dict or tv is list or (tv not in _LEAVES and _is_container(value)):
                    push((value, depth + 1))
        elif t is list or isinstance(item, list | tuple | set | frozenset):
            if depth > MAX_NESTING:
                raise _too_deep_document(doc, collection)
            for value in item:
                tv = type(value)
                if tv is dict or tv is list or (tv not in _LEAVES and _is_container(value)):
                    push((value, depth + 1))


_LEAVES: Final = frozenset({str, int, float, bool, type(None), bytes})


def _is_container(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple | set | frozenset)


def _too_deep_document(doc: Any, collection: str) -> DocumentTooLargeError:
    return DocumentTooLargeError(
        f"document {_id_of(doc)!r} of collection {collection!r} is nested more than "
        f"{MAX_NESTING} levels deep (documents and arrays), MongoDB's limit on every "
        "backend; flatten it or store the deep part as a string (e.g. JSON text)"
    )


def _id_of(doc: Any) -> Any:
    return doc.get("_id") if isinstance(doc, Mapping) else None
