"""Every Redis backend operation as a sans-I/O generator, shared by the sync and async shells.

An operation is a generator that yields a *step* — a list of requests to send in one round trip
(one pipeline) — and receives the list of replies; or yields ``Emit(docs)`` to stream results.
Its return value is the operation's result. The shells (``shells.py``) only move bytes: all
planning, encoding, retries and result shaping live here, once::

    def run_sync(op):                      async def run_async(op):
        reply = None                           reply = None
        while True:                            while True:
            step = op.send(reply)                  step = op.send(reply)
            reply = execute(step)                  reply = await execute(step)

Writes go through the Lua scripts in ``lua/`` so a document, its index members and unique
claims change in one atomic step. Reads fetch candidates in batches (``fetch.lua``) and check
every one with the query engine, so pushdown only ever narrows what is read.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from mindtrace.database.backends.engine_backed import (
    DocumentRules,
    Predicate,
    ResultShaper,
    foreign_collections,
    predicate,
    split_pipeline,
    upsert_document,
    value_at,
)
from mindtrace.database.backends.index_keys import KEYS_VERSION, unique_component
from mindtrace.database.backends.redis.index_encoding import (
    indexed_values,
    members_for,
    unique_fields_for,
)
from mindtrace.database.backends.redis.keys import KeySpace
from mindtrace.database.backends.redis.planner import (
    ClaimsPlan,
    IdsPlan,
    IndexPlan,
    Plan,
    RedisIndex,
    ScanPlan,
    SortPlan,
    plan_query,
)
from mindtrace.database.backends.redis.scripts import LuaScript, Scripts
from mindtrace.database.core import typed_json
from mindtrace.database.core.backend import FindQuery, UpdateResult
from mindtrace.database.core.exceptions import DuplicateInsertError, WriteConflictError, duplicate_key
from mindtrace.database.query.pipeline import CompiledAggregation
from mindtrace.database.query.update import compile_update

__all__ = [
    "Collection",
    "Emit",
    "IndexDeclaration",
    "Op",
    "Pause",
    "Request",
    "ScriptCall",
]

T = TypeVar("T")

_INSERT_CHUNK = 500
# Compare-and-set rounds on a document that keeps changing back off (with jitter, so contenders
# spread out) and keep trying; only after this long without winning does the call give up, with
# an error naming the documents (never by silently leaving them out).
_CONFLICT_DEADLINE = 30.0
_BACKOFF_MAX = 0.05


def _backoff(attempt: int) -> Pause:
    return Pause(random.uniform(0, min(_BACKOFF_MAX, 0.0005 * 2**attempt)))


def _write_conflict(collection: str, ids: Sequence[str], operation: str) -> WriteConflictError:
    return WriteConflictError(
        f"{operation} on collection {collection!r}: documents {list(ids)[:5]} kept changing under "
        f"concurrent writes for {_CONFLICT_DEADLINE:.0f} s and were not updated; retry the call",
        collection=collection,
        ids=list(ids),
    )


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """EVALSHA of ``script`` with ``keys`` and ``args`` (the shell handles NOSCRIPT)."""

    script: LuaScript
    keys: tuple[str, ...]
    args: tuple[Any, ...]


Request = tuple[Any, ...] | ScriptCall
"""A raw command (``("HGET", key, field)``) or a script call."""


@dataclass(frozen=True, slots=True)
class Emit:
    """A batch of engine documents for a streaming operation's consumer."""

    docs: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait this many seconds before the next step (back-off between compare-and-set rounds)."""

    seconds: float


Op = Generator[list[Request] | Emit | Pause, Any, T]
"""A sans-I/O operation: yields steps (or ``Emit``), receives replies, returns its result."""


class IndexDeclaration(NamedTuple):
    """What the backend needs to know of a declared index (from ``core.indexes``).

    ``sparse``: as in MongoDB, documents without the field are exempt from a unique constraint.
    """

    name: str
    fields: tuple[str, ...]
    unique: bool
    sparse: bool = False


class _Row(NamedTuple):
    seq: float
    doc: dict[str, Any]
    raw: bytes


class _Matched(NamedTuple):
    """Rows of one fetched batch that matched the filter (yielded by ``_batches``)."""

    rows: list[_Row]


_Batches = Generator[list[Request] | _Matched, Any, None]


def _sha(raw: bytes) -> str:
    return hashlib.sha1(raw).hexdigest()


class Collection:
    """One collection's keys, indexes and operations; holds no connection and no mutable state."""

    def __init__(
        self,
        keys: KeySpace,
        indexes: Sequence[IndexDeclaration],
        scripts: Scripts,
        *,
        batch_size: int = 500,
        rules: DocumentRules | None = None,
    ) -> None:
        self.keys = keys
        self.scripts = scripts
        # What may be written (encoding, size limit, the model check of an update's result);
        # None for another collection read by $lookup, which is never written through here.
        self.rules = rules
        self.batch_size = batch_size
        self.indexes = tuple(
            RedisIndex(
                i.name,
                tuple(i.fields),
                i.unique,
                None if (i.unique and len(i.fields) == 1) else keys.index(i.name),
                keys.unique(i.name) if i.unique else None,
                sparse=i.sparse,
            )
            for i in indexes
        )
        self._sorted = tuple(i for i in self.indexes if i.key is not None)
        self._unique = tuple(i for i in self.indexes if i.unique)
        self._fixed = (keys.ids, keys.entries, keys.expiry, keys.meta)
        self._write_keys = (
            self._fixed
            + tuple(str(i.key) for i in self._sorted)
            + tuple(str(i.unique_key) for i in self._unique)
        )
        self._counts = (str(len(self._sorted)), str(len(self._unique)))

    # ------------------------------------------------------------------ encoding
    def encode(self, doc: dict[str, Any]) -> bytes:
        """The stored bytes of an engine document (see ``DocumentRules.encode``)."""
        if self.rules is None:
            raise TypeError(f"collection {self.keys.collection!r} is open for reading only")
        return self.rules.encode(doc)

    @staticmethod
    def decode(raw: bytes) -> dict[str, Any]:
        """The engine document stored as ``raw``."""
        doc: dict[str, Any] = typed_json.loads(raw)
        return doc

    def _entry_args(self, doc: dict[str, Any]) -> list[Any]:
        id = doc["_id"]
        out: list[Any] = []
        for index in self._sorted:
            members, complex = members_for(doc, index.fields, id)
            out.append(len(members))
            out.extend(members)
            out.append(b"1" if complex else b"0")
        for index in self._unique:
            claimed = unique_fields_for(doc, index.fields, sparse=index.sparse)
            out.append(len(claimed))
            out.extend(claimed)
        return out

    def _duplicate(
        self,
        doc: dict[str, Any],
        unique_number: int,
        claim: bytes,
        *,
        inserted: list[str] | None = None,
        failed: list[int] | None = None,
    ) -> DuplicateInsertError:
        collection = self.keys.collection
        if unique_number == 0:
            return duplicate_key(collection, {"_id": doc["_id"]}, inserted_ids=inserted, failed=failed)
        index = self._unique[unique_number - 1]
        key: dict[str, Any] = {}
        for path in index.fields:
            found = indexed_values(doc, path).values or [None]
            # For an array field, name the element that collided.
            hit = [v for v in found if unique_component(v) in claim]
            key[path] = hit[0] if hit else value_at(doc, path)
        return duplicate_key(collection, key, index=index.name, inserted_ids=inserted, failed=failed)

    # ------------------------------------------------------------------ requests
    def purge_call(self) -> ScriptCall:
        """Clean up expired documents; replies with the number of documents left."""
        return ScriptCall(self.scripts.purge, self._fixed, (self.keys.doc_prefix,))

    def _fetch(self, source: str, mode: str, *args: Any) -> ScriptCall:
        return ScriptCall(self.scripts.fetch, (source, self.keys.ids), (self.keys.doc_prefix, mode, *args))

    def _rows(self, reply: list[Any], seen: set[bytes] | None = None) -> tuple[int, bytes, list[_Row]]:
        scanned, last = int(reply[0]), reply[1]
        rows: list[_Row] = []
        decode = self.decode
        for i in range(2, len(reply), 3):
            member, seq, raw = reply[i], reply[i + 1], reply[i + 2]
            if seen is not None:
                # Multikey indexes and $in ranges can name one document several times.
                id = member[-24:]
                if id in seen:
                    continue
                seen.add(id)
            rows.append(_Row(float(seq), decode(raw), raw))
        return scanned, last, rows

    def _writable(self) -> DocumentRules:
        if self.rules is None:
            raise TypeError(f"collection {self.keys.collection!r} is open for reading only")
        return self.rules

    # ------------------------------------------------------------------ writes
    def insert(
        self, docs: list[dict[str, Any]], ttl_ms: int | None, *, generated_ids: bool = False
    ) -> Op[None]:
        """Insert ``docs`` in input order, each atomically with its index entries.

        Stops at the first conflict (as MongoDB's ordered inserts do) and raises
        ``DuplicateInsertError`` naming the field and value, with the ids stored before it in
        ``inserted_ids`` and the positions not stored in ``failed``. ``generated_ids`` says every
        id was freshly generated (a new ObjectId cannot be taken), which saves a lookup.
        """
        ttl = "" if ttl_ms is None else str(ttl_ms)
        if len(docs) == 1:
            doc = docs[0]
            one = (
                self.keys.doc_prefix,
                *self._counts,
                doc["_id"],
                self.encode(doc),
                ttl,
                "0" if generated_ids else "1",
                *self._entry_args(doc),
            )
            keys = (*self._write_keys, self.keys.doc_prefix + doc["_id"])
            (conflict,) = yield [ScriptCall(self.scripts.insert_one, keys, one)]
            if conflict:
                raise self._duplicate(doc, int(conflict[0]), conflict[1], inserted=[], failed=[0])
            return
        head = (self.keys.doc_prefix, *self._counts, "1")
        encoded = [(d, self.encode(d), self._entry_args(d)) for d in docs]
        for start in range(0, len(encoded), _INSERT_CHUNK):
            chunk = encoded[start : start + _INSERT_CHUNK]
            keys = self._write_keys + tuple(self.keys.doc_prefix + d["_id"] for d, _, _ in chunk)
            args: list[Any] = list(head)
            for doc, raw, entries in chunk:
                args += (doc["_id"], raw, ttl)
                args += entries
            (failures,) = yield [ScriptCall(self.scripts.insert, keys, tuple(args))]
            if failures:
                position = start + int(failures[0]) - 1
                inserted = [d["_id"] for d, _, _ in encoded[:position]]
                raise self._duplicate(
                    docs[position],
                    int(failures[1]),
                    failures[2],
                    inserted=inserted,
                    failed=list(range(position, len(docs))),
                )

    def _replace_call(self, doc: dict[str, Any], raw: bytes, expected: str, ttl: str) -> ScriptCall:
        id = doc["_id"]
        args = (self.keys.doc_prefix, *self._counts, id, raw, expected, ttl, *self._entry_args(doc))
        return ScriptCall(self.scripts.replace, (*self._write_keys, self.keys.doc_prefix + id), args)

    def replace(self, doc: dict[str, Any], ttl_ms: int | None = None) -> Op[bool]:
        """Replace the document with ``doc["_id"]``; False when there is none.

        Keeps the current expiry unless ``ttl_ms`` is given (0 removes it). Raises
        ``DuplicateInsertError`` when the new values break a unique constraint (nothing changes).
        """
        ttl = "" if ttl_ms is None else str(ttl_ms)
        (reply,) = yield [self._replace_call(doc, self.encode(doc), "", ttl)]
        status = int(reply[0])
        if status == 2:
            raise self._duplicate(doc, int(reply[1]), reply[2])
        return status == 1

    def delete(self, id: str) -> Op[bool]:
        """Delete one document with its index entries; False when there is none."""
        (reply,) = yield [self._delete_call([(id, "")])]
        return int(reply[0]) == 1

    def _delete_call(self, targets: Sequence[tuple[str, str]]) -> ScriptCall:
        keys = self._fixed + tuple(self.keys.doc_prefix + id for id, _ in targets)
        args: list[Any] = [self.keys.doc_prefix]
        for id, expected in targets:
            args += (id, expected)
        return ScriptCall(self.scripts.delete, keys, tuple(args))

    # ------------------------------------------------------------------ reads
    def get_key(self, id: str) -> str:
        """Key of a document, for the shells' single-GET fast path."""
        return self.keys.doc_prefix + id

    def _batches(self, plan: Plan, matches: Predicate, first: list[Request]) -> _Batches:
        # Yields steps (lists of requests) and the matching rows of each fetched batch.
        # ``first`` is sent with the first fetch (to purge expired documents in the same trip).
        size = self.batch_size
        pre = list(first)

        def step(call: ScriptCall) -> list[Request]:
            nonlocal pre
            requests, pre = [*pre, call], []
            return requests

        if isinstance(plan, ScanPlan):
            after = "-inf"
            while True:
                replies = yield step(self._fetch(self.keys.ids, "seq", after, "+inf", size))
                scanned, last, rows = self._rows(replies[-1])
                yield _Matched([r for r in rows if matches(r.doc)])
                if scanned < size:
                    return
                after = "(" + last.decode()
        elif isinstance(plan, IdsPlan):
            for start in range(0, max(len(plan.ids), 1), size):
                chunk = plan.ids[start : start + size]
                replies = yield step(self._fetch(self.keys.ids, "ids", *chunk))
                _, _, rows = self._rows(replies[-1])
                yield _Matched([r for r in rows if matches(r.doc)])
        elif isinstance(plan, ClaimsPlan):
            replies = yield step(self._fetch(str(plan.index.unique_key), "claims", *plan.claims))
            _, _, rows = self._rows(replies[-1], set())
            yield _Matched([r for r in rows if matches(r.doc)])
        elif isinstance(plan, IndexPlan):
            seen: set[bytes] = set()
            for low, high in plan.ranges:
                cursor: bytes = low
                while True:
                    replies = yield step(self._fetch(str(plan.index.key), "lex", cursor, high, size))
                    scanned, last, rows = self._rows(replies[-1], seen)
                    yield _Matched([r for r in rows if matches(r.doc)])
                    if scanned < size:
                        break
                    cursor = b"(" + last
        else:
            yield from self._sorted_batches(plan, matches, pre)

    def _sorted_batches(self, plan: SortPlan, matches: Predicate, pre: list[Request]) -> _Batches:
        replies = yield [*pre, ("HGET", self.keys.meta, str(plan.index.key))]
        if replies[-1] not in (None, b"0"):
            # Some document holds an array or sub-document here: the index cannot give the order.
            yield from self._batches(plan.fallback, matches, [])
            return
        size = self.batch_size
        found = 0
        boundary: bytes | None = None
        seen: set[bytes] = set()
        ranges = list(reversed(plan.ranges)) if plan.reverse else list(plan.ranges)
        mode = "revlex" if plan.reverse else "lex"
        for range_low, range_high in ranges:
            low, high = range_low, range_high
            while True:
                reply = (yield [self._fetch(str(plan.index.key), mode, low, high, size)])[0]
                scanned = int(reply[0])
                out: list[_Row] = []
                for i in range(2, len(reply), 3):
                    member = reply[i]
                    group = member[: member.find(b"\x00\x01")]
                    if boundary is not None and group != boundary:
                        yield _Matched(out)
                        return
                    id = member[-24:]
                    if id in seen:
                        continue
                    seen.add(id)
                    row = _Row(float(reply[i + 1]), self.decode(reply[i + 2]), reply[i + 2])
                    if matches(row.doc):
                        out.append(row)
                        found += 1
                        if found >= plan.needed and boundary is None:
                            # Keep reading the rest of this group: ties must all be seen.
                            boundary = group
                yield _Matched(out)
                if scanned < size:
                    break
                if plan.reverse:
                    high = b"(" + reply[1]
                else:
                    low = b"(" + reply[1]

    def _collect(self, plan: Plan, matches: Predicate, *, stop_after: int | None = None) -> Op[list[_Row]]:
        # All matching rows of a plan, in insertion order.
        rows: list[_Row] = []
        batches = self._batches(plan, matches, [self.purge_call()])
        reply: Any = None
        while True:
            try:
                out = batches.send(reply)
            except StopIteration:
                break
            if isinstance(out, _Matched):
                rows.extend(out.rows)
                reply = None
                if stop_after is not None and len(rows) >= stop_after:
                    batches.close()
                    break
            else:
                reply = yield out
        if not isinstance(plan, ScanPlan):
            rows.sort(key=lambda r: r.seq)
        return rows

    def _plan(self, query: FindQuery) -> Plan:
        needed = None if query.limit is None else query.skip + query.limit
        return plan_query(query.filter, self.indexes, sort=query.sort, needed=needed)

    def find(self, query: FindQuery) -> Op[list[dict[str, Any]]]:
        """Documents matching ``query``: filtered, sorted, windowed and projected.

        Without a sort, results come in insertion order. Raises ``QueryError`` (before any I/O)
        for an invalid filter.
        """
        matches = predicate(query.filter)
        shape = ResultShaper(query)  # a bad sort or projection fails before any I/O
        plan = self._plan(query)
        stop = None
        if isinstance(plan, ScanPlan) and not query.sort and query.limit is not None:
            stop = query.skip + query.limit
        rows = yield from self._collect(plan, matches, stop_after=stop)
        return shape([r.doc for r in rows])

    def iterate(self, query: FindQuery, batch_size: int) -> Op[None]:
        """Stream matching documents as ``Emit`` batches of at most ``batch_size``.

        Without a sort and without a pushed-down index, memory stays bounded by the batch size;
        otherwise the matches are gathered first (to order them), as ``find`` does.
        """
        matches = predicate(query.filter)
        plan = self._plan(query)
        if not isinstance(plan, ScanPlan) or query.sort or query.skip or query.limit is not None:
            docs = yield from self.find(query)
            for start in range(0, len(docs), batch_size):
                yield Emit(docs[start : start + batch_size])
            return
        batches = self._batches(plan, matches, [self.purge_call()])
        reply: Any = None
        pending: list[dict[str, Any]] = []
        while True:
            try:
                out = batches.send(reply)
            except StopIteration:
                break
            reply = None
            if isinstance(out, _Matched):
                pending.extend(r.doc for r in out.rows)
                while len(pending) >= batch_size:
                    yield Emit(pending[:batch_size])
                    pending = pending[batch_size:]
            else:
                reply = yield out
        if pending:
            yield Emit(pending)

    def count(self, filter: dict[str, Any]) -> Op[int]:
        """Number of matching documents; the whole collection is counted without reading it."""
        matches = predicate(filter)
        if not filter:
            (left,) = yield [self.purge_call()]
            return int(left)
        rows = yield from self._collect(plan_query(filter, self.indexes), matches)
        return len(rows)

    # ------------------------------------------------------------------ bulk writes
    def update_many(self, filter: dict[str, Any], update: Any, upsert: bool) -> Op[UpdateResult]:
        """Apply ``update`` to every matching document, each atomically (compare-and-set).

        A document changed by someone else between read and write is read again and re-checked.
        All new versions are computed and checked against the model (``DocumentRules``) before
        anything is written, so a refused update changes nothing. Raises ``DuplicateInsertError``
        when a new version breaks a unique constraint; that document is left as it was.
        """
        matches = predicate(filter)
        compiled = compile_update(update)
        check = self._writable().check_update
        rows = yield from self._collect(plan_query(filter, self.indexes), matches)
        if not rows:
            if not upsert:
                return UpdateResult(0, 0)
            doc = upsert_document(filter, compiled, self._writable())
            yield from self.insert([doc], None)
            return UpdateResult(0, 0, str(doc["_id"]))
        matched = modified = 0
        pending = [(r.doc, r.raw) for r in rows]
        error: DuplicateInsertError | None = None
        deadline = time.monotonic() + _CONFLICT_DEADLINE
        for attempt in itertools.count():
            writes: list[tuple[dict[str, Any], ScriptCall]] = []
            for old, raw in pending:
                # "Modified" means the stored bytes change, as in MongoDB.
                new = compiled.apply(old, filter=filter)
                matched += 1
                encoded = self.encode(new)
                if encoded != raw:
                    check(new)
                    writes.append((new, self._replace_call(new, encoded, _sha(raw), "")))
            if not writes:
                break
            replies = yield [call for _, call in writes]
            retry: list[str] = []
            for (new, _), reply in zip(writes, replies, strict=True):
                status = int(reply[0])
                if status == 1:
                    modified += 1
                elif status == -1:
                    matched -= 1
                    retry.append(new["_id"])
                elif status == 0:
                    matched -= 1  # deleted meanwhile
                elif error is None:
                    matched -= 1
                    error = self._duplicate(new, int(reply[1]), reply[2])
            if not retry:
                break
            if time.monotonic() > deadline:
                raise _write_conflict(self.keys.collection, retry, "update_many")
            yield _backoff(attempt)
            again = yield from self._collect(IdsPlan(tuple(retry)), matches)
            pending = [(r.doc, r.raw) for r in again]
        if error is not None:
            raise error
        return UpdateResult(matched, modified)

    def delete_many(self, filter: dict[str, Any]) -> Op[int]:
        """Delete every matching document, each atomically; returns how many were deleted."""
        matches = predicate(filter)
        deleted = 0
        targets = yield from self._collect(plan_query(filter, self.indexes), matches)
        deadline = time.monotonic() + _CONFLICT_DEADLINE
        for attempt in itertools.count():
            if not targets:
                break
            calls: list[Request] = [
                self._delete_call([(r.doc["_id"], _sha(r.raw)) for r in targets[i : i + self.batch_size]])
                for i in range(0, len(targets), self.batch_size)
            ]
            replies = yield calls
            statuses = [int(s) for reply in replies for s in reply]
            deleted += statuses.count(1)
            retry = tuple(r.doc["_id"] for r, s in zip(targets, statuses, strict=True) if s == -1)
            if not retry:
                break
            if time.monotonic() > deadline:
                raise _write_conflict(self.keys.collection, retry, "delete_many")
            yield _backoff(attempt)
            targets = yield from self._collect(IdsPlan(retry), matches)
        return deleted

    # ------------------------------------------------------------------ aggregation
    def aggregate(
        self, pipeline: list[dict[str, Any]], others: Callable[[str], Collection]
    ) -> Op[list[dict[str, Any]]]:
        """Run ``pipeline``; its leading ``$match``/``$sort``/``$skip``/``$limit`` stages run as
        a find (pushed down like one), the rest in the engine.

        Collections named by ``$lookup``/``$unionWith`` are read through ``others`` (same
        prefix) before the pipeline runs.
        """
        query, rest = split_pipeline(pipeline)
        compiled = CompiledAggregation(rest)  # validates every stage before any I/O
        docs = [] if query.limit == 0 else (yield from self.find(query))
        collections: dict[str, list[dict[str, Any]]] = {}
        for name in sorted(foreign_collections(pipeline)):
            other = self if name == self.keys.collection else others(name)
            found = yield from other._collect(ScanPlan(), lambda _: True)
            collections[name] = [r.doc for r in found]
        return compiled.run(docs, collections=collections)

    # ------------------------------------------------------------------ index builds
    def ensure_indexes(self) -> Op[None]:
        """Make sure every declared index covers every document (build it once if new).

        Each index records its definition in the collection's meta hash; a new or changed one is
        built by rewriting every document's entries with the replace script (values unchanged).
        Raises ``DuplicateInsertError`` when existing documents break a new unique constraint.
        """
        if not self.indexes:
            return
        fields = [f"index:{i.name}" for i in self.indexes]
        # The keys version changes when index_keys encodes claims differently, so existing
        # collections are re-claimed once by the next initialize.
        signatures = [
            f"{','.join(i.fields)}|{int(i.unique)}|{int(i.sparse)}|{KEYS_VERSION}" for i in self.indexes
        ]
        (current,) = yield [("HMGET", self.keys.meta, *fields)]
        if [c.decode() if c is not None else None for c in current] == signatures:
            return
        rows = yield from self._collect(ScanPlan(), lambda _: True)
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            replies = yield [self._replace_call(r.doc, r.raw, _sha(r.raw), "") for r in chunk]
            for row, reply in zip(chunk, replies, strict=True):
                if int(reply[0]) == 2:
                    raise self._duplicate(row.doc, int(reply[1]), reply[2])
        mapping = [x for pair in zip(fields, signatures, strict=True) for x in pair]
        yield [("HSET", self.keys.meta, *mapping)]
