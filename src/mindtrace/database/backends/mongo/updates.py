"""``update_many`` on MongoDB as a verified read-modify-write, written once for both APIs.

MongoDB would apply update operators to whatever they produce; the model may reject the result
(``$set`` of a value outside an Enum, ``$unset`` of a required field, an upsert missing required
fields), and then every read of the collection fails. So, as the Redis backend does:

1. read the matching documents;
2. apply the update to each with the package's engine (the same code Local and Redis run), and
   validate every result with the model — ``QueryError`` before anything is written if one fails;
3. write each changed document with a compare-and-set: an update pipeline that replaces the
   document by its new version only if it still equals the version read (``$$ROOT`` compared
   with the old document), and otherwise fails that one write with an ``_id`` change (error 66),
   which tells the writes that lost a race apart from the others in one ordered=False bulk write;
4. read the documents that lost a race again, and redo steps 2-3 for those still matching, with
   back-off, for at most 30 s (then ``WriteConflictError``).

Every document is written from a version that was read and validated, so no interleaving of
concurrent writers can leave a document the model rejects, and no concurrent update is lost.
Upserts insert the engine's document (validated) with ``insert_one``.

The plan is a generator of requests (:class:`Read`, :class:`Write`, :class:`Insert`,
:class:`Pause`); the backend's async and sync shells perform them with their own driver.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import bson
from pymongo import UpdateOne

from mindtrace.database.backends.engine_backed import DocumentRules, upsert_document
from mindtrace.database.backends.mongo.bson_types import CODEC_OPTIONS, filter_to_bson, to_bson
from mindtrace.database.backends.mongo.errors import DUPLICATE_KEY_CODES, MongoErrorContext
from mindtrace.database.core.backend import UpdateResult
from mindtrace.database.core.exceptions import (
    DocumentTooLargeError,
    DuplicateInsertError,
    WriteConflictError,
)
from mindtrace.database.query.update import compile_update

__all__ = ["Insert", "Pause", "Read", "Write", "WriteReply", "update_plan"]

CONFLICT_DEADLINE: Final = 30.0
"""Seconds a document may keep losing races before ``update_many`` gives up on it."""
_BACKOFF_MAX: Final = 0.05
_IMMUTABLE_FIELD: Final = 66  # MongoDB's code for a write that changes _id: the lost race
_MISS: Final = {"_id": {"mindtrace_compare_and_set": "lost"}}
# A compare-and-set carries the old and the new document in one statement, which MongoDB caps at
# 16 MiB plus some room for the command around it.
_STATEMENT_LIMIT: Final = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Read:
    """Find every document matching ``filter`` (BSON form); the reply is the list of documents."""

    filter: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Write:
    """One unordered bulk write of compare-and-set updates; the reply is a :class:`WriteReply`."""

    ops: list[UpdateOne]


@dataclass(frozen=True, slots=True)
class WriteReply:
    """What the server said about a :class:`Write`: totals, and each failed statement's error."""

    matched: int
    modified: int
    errors: list[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Insert:
    """Insert one document (BSON form); the reply is ignored."""

    doc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Pause:
    """Sleep for ``seconds`` before going on (back-off after lost races)."""

    seconds: float


Request = Read | Write | Insert | Pause
UpdatePlan = Generator[Request, Any, UpdateResult]


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, Decimal):
        return value.is_nan()
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    return False


def _same_as(expression: Any, value: Any) -> Any:
    """An aggregation expression: the value of ``expression`` equals ``value``.

    One ``$eq`` on the whole value, except around NaN: some servers (SecantusDB) find two
    documents holding NaN unequal although ``$eq`` of two NaNs is true, so values holding NaN
    are compared part by part (field count, then each field; array length, then each element).
    """
    if isinstance(value, dict) and _has_nan(value):
        return {
            "$and": [
                {"$eq": [{"$type": expression}, "object"]},
                {"$eq": [{"$size": {"$objectToArray": expression}}, len(value)]},
                *(
                    _same_as({"$getField": {"field": {"$literal": k}, "input": expression}}, v)
                    for k, v in value.items()
                ),
            ]
        }
    if isinstance(value, list) and _has_nan(value):
        return {
            "$and": [
                {"$isArray": expression},
                {"$eq": [{"$size": expression}, len(value)]},
                *(_same_as({"$arrayElemAt": [expression, i]}, v) for i, v in enumerate(value)),
            ]
        }
    return {"$eq": [expression, {"$literal": value}]}


def _compare_and_set(old: dict[str, Any], new: dict[str, Any]) -> UpdateOne:
    return UpdateOne(
        {"_id": old["_id"]},
        [{"$replaceWith": {"$cond": [_same_as("$$ROOT", old), {"$literal": new}, {"$literal": _MISS}]}}],
    )


def _backoff(attempt: int) -> Pause:
    return Pause(random.uniform(0, min(_BACKOFF_MAX, 0.0005 * 2**attempt)))


def _encode(doc: Mapping[str, Any]) -> bytes:
    return bson.encode(doc, codec_options=CODEC_OPTIONS)


def update_plan(
    filter: dict[str, Any],
    update: Any,
    upsert: bool,
    *,
    engine: Callable[[dict[str, Any]], dict[str, Any]],
    rules: DocumentRules,
    errors: MongoErrorContext,
) -> UpdatePlan:
    """The requests of one ``update_many(filter, update, upsert=...)``; returns its result.

    ``filter`` and ``update`` are in engine form (see ``core.backend``). ``engine`` turns a
    document read from the server into an engine document in place (string ``_id``, UTC on
    aware datetimes); ``rules`` check every result against the model (``QueryError``) and
    build an upsert's document, as on Local and Redis.
    Raises ``QueryError`` (invalid update, rejected document: nothing written),
    ``DuplicateInsertError`` (a new version breaks a unique index: that document is left as it
    was, the others are written), ``DocumentTooLargeError``, ``WriteConflictError``.
    """
    compiled = compile_update(update)  # invalid updates fail before any I/O
    check = rules.check_update
    found: list[dict[str, Any]] = yield Read(filter_to_bson(filter))
    if not found:
        if not upsert:
            return UpdateResult(0, 0)
        doc = upsert_document(filter, compiled, rules)
        yield Insert(to_bson(doc))
        return UpdateResult(0, 0, doc["_id"])
    matched = modified = 0
    duplicate: DuplicateInsertError | None = None
    deadline = time.monotonic() + CONFLICT_DEADLINE
    for attempt in itertools.count():
        writes: list[tuple[Any, UpdateOne]] = []
        for raw in found:
            old = dict(raw)  # keeps the stored _id; engine() converts raw's in place
            new = compiled.apply(engine(raw), filter=filter)
            matched += 1
            stored = dict(new)
            stored["_id"] = old["_id"]
            old_bytes, new_bytes = _encode(old), _encode(stored)
            if new_bytes == old_bytes:  # "modified" means the stored bytes change, as in MongoDB
                continue
            check(new)
            if len(old_bytes) + len(new_bytes) > _STATEMENT_LIMIT:
                raise DocumentTooLargeError(
                    f"update_many on collection {errors.collection!r}: document {new['_id']!r} is too "
                    f"large to update in place ({len(old_bytes)} bytes before, {len(new_bytes)} after): "
                    "MongoDB's update_many compares the whole stored document before replacing it, "
                    "and both must fit in one 16 MiB statement. Replace it with update(obj) instead."
                )
            writes.append((old["_id"], _compare_and_set(old, stored)))
        if not writes:
            break
        reply: WriteReply = yield Write([op for _, op in writes])
        modified += reply.modified
        lost: list[Any] = []
        for error in sorted(reply.errors, key=lambda e: int(e["index"])):
            code = error.get("code")
            if code == _IMMUTABLE_FIELD:
                lost.append(writes[int(error["index"])][0])
            elif code in DUPLICATE_KEY_CODES:
                duplicate = duplicate or errors.duplicate(error, str(error.get("errmsg", "")))
            else:
                raise errors.write_error(error, "update_many")
        # Statements that neither matched nor failed found their document deleted meanwhile.
        matched -= len(writes) - reply.matched
        if not lost:
            break
        if time.monotonic() > deadline:
            raise WriteConflictError(
                f"update_many on collection {errors.collection!r}: documents "
                f"{[str(i) for i in lost][:5]} kept changing under concurrent writes for "
                f"{CONFLICT_DEADLINE:.0f} s and were not updated; retry the call",
                collection=errors.collection,
                ids=[str(i) for i in lost],
            )
        yield _backoff(attempt)
        found = yield Read({"$and": [filter_to_bson(filter), {"_id": {"$in": lost}}]})
    if duplicate is not None:
        raise duplicate
    return UpdateResult(matched, modified)
