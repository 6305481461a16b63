"""Every operation of one Local collection, as functions of a ``sqlite3.Connection``.

``LocalCollection`` holds the collection's SQL, its pushdown compiler and its caches, but no
connection: each operation returns (or is) a function ``fn(db)`` that the façade runs inside a
read, a snapshot read or a write transaction of ``SqliteDatabase`` — the same function for the
blocking and the async API. This is the Local counterpart of ``redis/operations.py``; what both
share around the query engine lives in ``backends/engine_backed.py``.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import accumulate
from typing import Any, Final, NamedTuple

from mindtrace.database.backends.engine_backed import (
    DocumentRules,
    Predicate,
    ResultShaper,
    predicate,
    upsert_document,
)
from mindtrace.database.backends.local.errors import LocalErrors
from mindtrace.database.backends.local.scan import RowScan
from mindtrace.database.backends.local.sqlite_pushdown import (
    FALSE,
    FilterPlan,
    SortPlan,
    Sql,
    SqlitePushdown,
    simple_kind,
    sql_and,
    sql_not,
)
from mindtrace.database.backends.local.sqlite_schema import (
    FORMAT_VERSION,
    UNIQUE_MARK,
    CollectionTable,
    UniqueTable,
    quote_ident,
)
from mindtrace.database.core import typed_json
from mindtrace.database.core.backend import FindQuery, Found, UpdateResult
from mindtrace.database.core.document import ModelCodec
from mindtrace.database.core.exceptions import DatabaseError
from mindtrace.database.core.gc_pause import gc_paused
from mindtrace.database.query.sort import sort_documents
from mindtrace.database.query.update import compile_update

__all__ = ["LocalCollection", "Reader", "TableCollections"]

WRITE_BATCH: Final = 1000  # rows per statement batch inside update_many / delete_many
Reader = Callable[[sqlite3.Connection], Any]
_Claims = dict[str, list[list[bytes]]]  # side table name -> per document, its keys there


class _Clash(NamedTuple):
    """The first document of a batch whose key in ``unique`` another document holds."""

    position: int
    unique: UniqueTable
    key: bytes
    error: sqlite3.IntegrityError


def decode(id: str, text: str) -> dict[str, Any]:
    """The engine document stored under ``id`` as ``text``."""
    doc: dict[str, Any] = {"_id": id}
    doc.update(typed_json.loads(text))
    return doc


class _LazyPredicate:
    """The engine predicate of a filter, compiled on first use (eagerly when the pushdown did not
    vouch for the filter, so that an invalid filter always raises ``QueryError``)."""

    __slots__ = ("_compiled", "_filter")

    def __init__(self, filter: dict[str, Any], validated: bool) -> None:
        self._filter = filter
        self._compiled: Predicate | None = None if validated else predicate(filter)

    def __call__(self) -> Predicate:
        if self._compiled is None:
            self._compiled = predicate(self._filter)
        return self._compiled


class LocalCollection:
    """One collection's table, SQL texts and operations; holds no connection."""

    def __init__(
        self,
        codec: ModelCodec[Any],
        table: CollectionTable,
        pushdown: SqlitePushdown,
        errors: LocalErrors,
    ) -> None:
        self.codec = codec
        self.table = table
        self.pushdown = pushdown
        self.errors = errors
        self.rules = DocumentRules(codec)
        t = self.t = table.table
        self._exact_sql: dict[str, str] = {}  # WHERE text -> windowed SELECT (exact filters)
        # (field, value kind) -> (windowed SELECT, number of value parameters; -1: not a point query)
        self._points: dict[tuple[str, str], tuple[str, int]] = {}
        self._sql_get = f"SELECT id, doc FROM {t} WHERE id = ?"
        self._sql_insert = f"INSERT INTO {t} (id, doc) VALUES (?, ?)"
        self._sql_replace = f"UPDATE {t} SET doc = ? WHERE id = ?"
        self._sql_delete = f"DELETE FROM {t} WHERE id = ?"
        self._sql_update_rowid = f"UPDATE {t} SET doc = ? WHERE rowid = ?"
        self._sql_delete_rowid = f"DELETE FROM {t} WHERE rowid = ?"

    # ================================================================== schema
    def create(self, db: sqlite3.Connection) -> None:
        """Create the table and its indexes (inside a write transaction)."""
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > FORMAT_VERSION:
            raise DatabaseError(
                f"the database file {self.errors.path!r} was written by a newer mindtrace-database "
                f"(layout version {version}, this one reads up to {FORMAT_VERSION}); upgrade the package"
            )
        if version < FORMAT_VERSION:
            db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
        self.table.create(db)

    def schema_is_current(self, db: sqlite3.Connection) -> bool:
        """Read-only check that ``create`` would change nothing: opening a backend on a file set
        up before needs no write lock, so it never waits behind busy writers."""
        version = db.execute("PRAGMA user_version").fetchone()[0]
        return bool(version == FORMAT_VERSION and self.table.is_current(db))

    # ================================================================== encoding
    def encode(self, doc: Mapping[str, Any]) -> tuple[str, str]:
        """(id, stored JSON without ``_id``) of an engine document; ``DocumentTooLargeError``
        above 16 MiB."""
        data = self.rules.encode(doc)
        # ``_id`` (a 24-hex string, first key as ModelCodec and the update engine write it) lives
        # in its own column: cut it out of the JSON rather than copying the dict without it.
        if data[:8] == b'{"_id":"' and data[32:33] == b'"':
            data = b"{" + data[34:] if data[33:34] == b"," else b"{}"
        else:
            data = typed_json.dumps({k: v for k, v in doc.items() if k != "_id"})
        return str(doc["_id"]), data.decode("utf-8")

    # ================================================================== planning
    def plan(self, filter: dict[str, Any]) -> tuple[FilterPlan, _LazyPredicate]:
        """Pushdown plan plus the engine predicate for the rows SQL cannot decide."""
        plan = self.pushdown.compile(filter)
        return plan, _LazyPredicate(filter, plan.validated)

    def sorted_plan(
        self, db: sqlite3.Connection, filter: dict[str, Any], sort: Sequence[tuple[str, int]]
    ) -> tuple[FilterPlan, _LazyPredicate, SortPlan | None]:
        """Plan a filter plus sort: the ORDER BY is used only if probes find no candidate row
        whose sort values SQLite would order differently from MongoDB; the filter is then
        recompiled knowing those paths hold plain scalars, so an index can deliver rows in order."""
        plan, lazy = self.plan(filter)
        if not sort:
            return plan, lazy, None
        sort_plan = self.pushdown.sort(sort)
        if plan.where is FALSE:
            # No row can match, so nothing is sorted: still refuse an invalid sort, as everywhere.
            sort_documents([], list(sort))
            return plan, lazy, None
        if sort_plan is None:
            return plan, lazy, None
        for probe in sort_plan.probes:
            cond = sql_and([plan.where, probe])
            if (
                cond is not FALSE
                and db.execute(f"SELECT 1 FROM {self.t} WHERE {cond.text} LIMIT 1", cond.params).fetchone()
            ):
                return plan, lazy, None
        scalar = frozenset(path for path, _ in sort if path != "_id")
        return self.pushdown.compile(filter, scalar), lazy, sort_plan

    def select_sql(self, plan: FilterPlan, order: str) -> tuple[str, tuple[Any, ...]]:
        """The SELECT of the rows ``plan`` may match, in ``order``."""
        if plan.exact or plan.check is FALSE:
            return (
                f"SELECT id, doc FROM {self.t} WHERE {plan.where.text} ORDER BY {order}",
                plan.where.params,
            )
        return (
            f"SELECT id, doc, ({plan.check.text}) FROM {self.t} WHERE {plan.where.text} ORDER BY {order}",
            plan.check.params + plan.where.params,
        )

    def _windowed_sql(self, plan: FilterPlan) -> str:
        """``SELECT ... WHERE <exact filter> ORDER BY rowid LIMIT ? OFFSET ?``, built once per shape."""
        sql = self._exact_sql.get(plan.where.text)
        if sql is None:
            sql = f"SELECT id, doc FROM {self.t} WHERE {plan.where.text} ORDER BY rowid LIMIT ? OFFSET ?"
            self._exact_sql[plan.where.text] = sql
        return sql

    def _point(self, query: FindQuery) -> tuple[str, tuple[Any, ...]] | None:
        """SQL for the most common query — ``{"field": plain value}`` (a string, an int, a float)
        that SQL answers exactly, no sort, skip or projection — or None.

        Skips planning, which for a point lookup costs as much as the lookup itself; the result
        is the same (checked by the tests).
        """
        f = query.filter
        if query.sort or query.skip or query.projection is not None or len(f) != 1:
            return None
        for key, value in f.items():
            kind = simple_kind(value)
            if kind is None or key[:1] == "$":
                return None
            point = self._points.get((key, kind))
            if point is None:
                # First query of this shape: plan it; reusable when SQL decides exactly and the
                # value is the only parameter.
                plan = self.pushdown.compile(f)
                reusable = (
                    plan.exact and plan.where is not FALSE and all(p is value for p in plan.where.params)
                )
                point = (self._windowed_sql(plan), len(plan.where.params)) if reusable else ("", -1)
                self._points[(key, kind)] = point
            sql, n = point
            if n < 0:
                return None
            return sql, (*((value,) * n), -1 if query.limit is None else query.limit, 0)
        return None

    # ================================================================== find
    def find(self, query: FindQuery) -> tuple[Reader, bool]:
        """The reader of ``find(query)`` and whether it needs a snapshot (several statements).

        Without a projection, rows SQL alone decided come back as ``StoredJson`` (the model is
        validated straight from the JSON); with one, every result is a projected dict.
        """
        point = self._point(query)
        if point is not None:
            sql, params = point

            def run_point(db: sqlite3.Connection) -> list[Found]:
                return db.execute(sql, params).fetchall()  # (id, text) rows: StoredJson as they are

            return run_point, False
        shaper = ResultShaper(query, sort=False, window=False) if query.projection is not None else None

        def run(db: sqlite3.Connection) -> list[Found]:
            found = self.select(db, query, decode_all=shaper is not None)
            if shaper is not None:
                return shaper(found)  # type: ignore[arg-type, return-value]
            return found

        return run, bool(query.sort)

    def find_documents(self, query: FindQuery) -> tuple[Reader, bool]:
        """Like ``find`` without projection, as engine documents (for aggregation)."""

        def run(db: sqlite3.Connection) -> list[Found]:
            return self.select(db, query, decode_all=True)

        return run, bool(query.sort)

    def select(self, db: sqlite3.Connection, query: FindQuery, *, decode_all: bool) -> list[Found]:
        """Documents matching ``query`` in order, windowed by skip/limit: engine documents where
        the engine had to look at them (every one with ``decode_all``), else ``(id, text)``."""
        if not query.sort:
            plan, lazy = self.plan(query.filter)
            if plan.exact and plan.where is not FALSE:
                # Hot path: SQL alone decides, windows and orders (insertion order).
                window = -1 if query.limit is None else query.limit
                found = db.execute(
                    self._windowed_sql(plan), (*plan.where.params, window, query.skip)
                ).fetchall()
                if decode_all:
                    return [decode(i, t) for i, t in found]
                return found
            sort_plan = None
        else:
            plan, lazy, sort_plan = self.sorted_plan(db, query.filter, query.sort)
        engine_sort = bool(query.sort) and sort_plan is None
        order = sort_plan.order_by if sort_plan is not None else "rowid"
        if plan.where is FALSE:
            return []
        select, params = self.select_sql(plan, order)
        skip, limit = query.skip, query.limit
        if plan.exact and not engine_sort and (limit is not None or skip):
            select += " LIMIT ? OFFSET ?"
            params = (*params, -1 if limit is None else limit, skip)
            skip = 0
        rows: list[Found] = []
        cursor = db.execute(select, params)
        try:
            window = not engine_sort
            flagged = not plan.exact and plan.check is not FALSE
            for record in cursor:
                doc_id, text = record[0], record[1]
                doc = None
                if not plan.exact and not (flagged and record[2]):
                    doc = decode(doc_id, text)
                    if not lazy()(doc):
                        continue
                if window and skip:
                    skip -= 1
                    continue
                if doc is None:
                    rows.append(decode(doc_id, text) if decode_all else (doc_id, text))
                else:
                    rows.append(doc)
                if window and limit is not None and len(rows) >= limit:
                    break
        finally:
            cursor.close()
        if engine_sort:
            rows = _engine_sort(rows, query.sort, skip, limit)
        return rows

    def get(self, id: str) -> Reader:
        """The reader of one document by id (``StoredJson`` or None)."""
        sql = self._sql_get
        return lambda db: db.execute(sql, (id,)).fetchone()

    # ================================================================== count
    @staticmethod
    def _split(plan: FilterPlan) -> tuple[Sql | None, Sql | None]:
        """(rows SQL proves match, rows the engine must check) of a plan; None for "no rows"."""
        if plan.where is FALSE:
            return None, None
        if plan.exact:
            return plan.where, None
        sure = None if plan.check is FALSE else sql_and([plan.where, plan.check])
        return sure, sql_and([plan.where, sql_not(plan.check)])

    def count(self, filter: dict[str, Any]) -> tuple[Reader, bool]:
        """The reader of ``count(filter)`` and whether it needs a snapshot (sure rows and rows in
        doubt are counted by two statements that must see the same data)."""
        plan, lazy = self.plan(filter)
        sure, doubt = self._split(plan)
        t = self.t

        def run(db: sqlite3.Connection) -> int:
            total = 0
            if sure is not None:
                total = int(
                    db.execute(f"SELECT count(*) FROM {t} WHERE {sure.text}", sure.params).fetchone()[0]
                )
            if doubt is not None:
                for doc_id, text in db.execute(f"SELECT id, doc FROM {t} WHERE {doubt.text}", doubt.params):
                    if lazy()(decode(doc_id, text)):
                        total += 1
            return total

        return run, doubt is not None

    # ================================================================== iterate
    def sorted_rowids(self, db: sqlite3.Connection, query: FindQuery) -> array[int]:
        """Rowids of the matching documents in sort order (SQL when it can, else the engine on
        documents reduced to their sort fields)."""
        plan, lazy, sort_plan = self.sorted_plan(db, query.filter, query.sort)
        ids: array[int] = array("q")
        if plan.where is FALSE:
            return ids
        if sort_plan is not None and plan.exact:
            for (rowid,) in db.execute(
                f"SELECT rowid FROM {self.t} WHERE {plan.where.text} ORDER BY {sort_plan.order_by}",
                plan.where.params,
            ):
                ids.append(rowid)
            return ids
        order = sort_plan.order_by if sort_plan is not None else "rowid"
        tops = {path.split(".", 1)[0] for path, _ in query.sort}
        skeletons: list[dict[str, Any]] = []
        flagged = not plan.exact and plan.check is not FALSE
        select, params = self.select_sql(plan, order)
        select = select.replace("SELECT id, doc", "SELECT id, doc, rowid", 1)
        for record in db.execute(select, params):
            doc = decode(record[0], record[1])
            if not plan.exact and not (flagged and record[3]) and not lazy()(doc):
                continue
            if sort_plan is not None:
                ids.append(record[2])
            else:
                skeleton = {k: doc[k] for k in tops if k in doc}
                skeleton["$rowid"] = record[2]
                skeletons.append(skeleton)
        if sort_plan is None:
            for skeleton in sort_documents(skeletons, list(query.sort)):
                ids.append(skeleton["$rowid"])
        return ids

    def fetch_rowids(self, rowids: Sequence[int]) -> Reader:
        """The reader of the documents with these rowids, in that order."""
        sql = f"SELECT rowid, id, doc FROM {self.t} WHERE rowid IN (SELECT value FROM json_each(?))"

        def run(db: sqlite3.Connection) -> list[dict[str, Any]]:
            found = {
                rowid: (id, text)
                for rowid, id, text in db.execute(sql, (typed_json.dumps_text(list(rowids)),))
            }
            return [decode(*found[r]) for r in rowids if r in found]

        return run

    def scan_pages(self, filter: dict[str, Any], size: int) -> tuple[RowScan, Reader]:
        """A scan of the rows matching ``filter`` in insertion order, and the reader of its next
        page of matching documents (empty once ``scan.done``)."""
        plan, lazy = self.plan(filter)
        scan = RowScan(self.t, plan)

        def next_page(db: sqlite3.Connection) -> list[dict[str, Any]]:
            out = []
            for _, doc_id, text, sure in scan.next_page(db, size):
                doc = decode(doc_id, text)
                if sure or lazy()(doc):
                    out.append(doc)
            return out

        return scan, next_page

    # ================================================================== writes
    # Unique indexes live in side tables (sqlite_schema.UniqueTable): every write below adds and
    # replaces a document's keys there in the same transaction as the document; deletes rely on
    # the tables' AFTER DELETE triggers. The keys of the declared indexes are computed before the
    # transaction (a document with parallel arrays is refused before anything is written); a
    # side table another backend added to the file since is found by ``live_uniques``.
    def _claims(
        self, uniques: Sequence[UniqueTable], docs: Sequence[Mapping[str, Any]], known: _Claims
    ) -> _Claims:
        """Keys of ``docs`` (per side table, per document) in every live side table."""
        return {u.name: known.get(u.name) or [u.claims(d) for d in docs] for u in uniques}

    def _precompute(self, docs: Sequence[Mapping[str, Any]]) -> _Claims:
        return {u.name: [u.claims(d) for d in docs] for u in self.table.uniques}

    @staticmethod
    def _claim(
        db: sqlite3.Connection,
        uniques: Sequence[UniqueTable],
        claims: _Claims,
        ids: Sequence[str],
        limit: int,
    ) -> _Clash | None:
        """Store the keys of documents ``[0, limit)`` in input order, index by index; return the
        first document whose key another one (stored, or earlier in the batch) holds, with the
        keys of the documents before it stored (the caller removes its document and those after)."""
        clash: _Clash | None = None
        for unique in uniques:
            per_doc = claims[unique.name][:limit]
            before = db.total_changes
            try:
                # A generator: the rows die as SQLite takes them (no garbage collection passes).
                rows = ((k, id) for keys, id in zip(per_doc, ids[:limit], strict=True) for k in keys)
                db.executemany(unique.insert_sql, rows)
            except sqlite3.IntegrityError as e:
                at = db.total_changes - before
                keys = [k for keys in per_doc for k in keys]
                limit = next(i for i, n in enumerate(accumulate(map(len, per_doc))) if n > at)
                clash = _Clash(limit, unique, keys[at], e)
        return clash

    # insert is ordered, like MongoDB's default: documents are stored in input order in one
    # transaction; at the first one a unique constraint rejects, the ones before it are committed
    # and it and the ones after it are not stored (DuplicateInsertError.inserted_ids / .failed).
    def insert(self, docs: list[dict[str, Any]]) -> Callable[[sqlite3.Connection], DatabaseError | None]:
        """The writer of ``docs``; it returns the error of a batch that stopped at a duplicate
        (the documents before it are committed), and raises for a lone document."""
        with gc_paused():  # see core.gc_pause: the rows and keys all live until the write
            rows = [self.encode(d) for d in docs]
            ids = [row[0] for row in rows]
            known = self._precompute(docs)
        sql = self._sql_insert
        errors = self.errors
        single = len(rows) == 1

        def run(db: sqlite3.Connection) -> DatabaseError | None:
            uniques = self.table.live_uniques(db)
            claims = self._claims(uniques, docs, known)
            stored, id_error = len(rows), None
            before = db.total_changes
            try:
                if single:
                    db.execute(sql, rows[0])
                else:
                    db.executemany(sql, rows)
            except sqlite3.IntegrityError as e:
                # SQLite undid only the failing row: the ones before it are stored.
                stored, id_error = db.total_changes - before, e
            clash = self._claim(db, uniques, claims, ids, stored) if uniques else None
            if clash is None and id_error is None:
                return None
            stop = clash.position if clash is not None else stored
            report: dict[str, Any] = {"inserted_ids": ids[:stop], "failed": list(range(stop, len(rows)))}
            if clash is not None:
                error: DatabaseError = errors.clash(
                    clash.unique, docs[stop], clash.key, None if single else stop, **report
                )
                cause: sqlite3.Error = clash.error
            else:
                assert id_error is not None
                error, cause = (
                    errors.duplicate(id_error, docs[stop], None if single else stop, **report),
                    id_error,
                )
            if single:
                raise error from cause
            if stop < stored:
                # Documents from the first clash on were stored before their keys were checked:
                # remove them (their triggers remove the keys they claimed).
                db.executemany(self._sql_delete, [(i,) for i in ids[stop:stored]])
            error.__cause__ = cause
            return error

        return run

    def _reclaim(
        self,
        db: sqlite3.Connection,
        changes: Sequence[tuple[str, Sequence[bytes], Sequence[bytes], dict[str, Any]]],
        unique: UniqueTable,
    ) -> None:
        """Replace changed documents' keys in ``unique``: ``changes`` holds (id, old keys, new
        keys, new document). Raises ``DuplicateInsertError`` when a new key is taken (the caller's
        transaction rolls back)."""
        removed: list[tuple[bytes, str]] = []
        added: list[tuple[bytes, str]] = []
        owners: list[dict[str, Any]] = []
        for id, old, new, doc in changes:
            if old == new:
                continue
            kept = set(new)
            removed.extend((k, id) for k in old if k not in kept)
            before = set(old)
            for k in new:
                if k not in before:
                    added.append((k, id))
                    owners.append(doc)
        if removed:
            db.executemany(unique.delete_key_sql, removed)
        if added:
            before_count = db.total_changes
            try:
                db.executemany(unique.insert_sql, added)
            except sqlite3.IntegrityError as e:
                at = db.total_changes - before_count
                raise self.errors.clash(unique, owners[at], added[at][0]) from e

    def replace(self, id: str, doc: dict[str, Any]) -> Callable[[sqlite3.Connection], bool]:
        """The writer replacing the document ``id`` by ``doc``; returns False when there is none."""
        _, text = self.encode(doc)
        known = self._precompute([doc])
        sql, errors = self._sql_replace, self.errors

        def run(db: sqlite3.Connection) -> bool:
            try:
                if db.execute(sql, (text, id)).rowcount == 0:
                    return False
            except sqlite3.IntegrityError as e:
                raise errors.duplicate(e, doc) from e
            uniques = self.table.live_uniques(db)
            claims = self._claims(uniques, [doc], known)
            for unique in uniques:
                old = [row[0] for row in db.execute(unique.keys_of_sql, (id,))]
                self._reclaim(db, [(id, old, claims[unique.name][0], doc)], unique)
            return True

        return run

    def delete(self, id: str) -> Callable[[sqlite3.Connection], bool]:
        """The writer deleting one document by id; returns False when there is none."""
        sql = self._sql_delete
        return lambda db: bool(db.execute(sql, (id,)).rowcount > 0)

    def delete_many(self, filter: dict[str, Any]) -> Callable[[sqlite3.Connection], int]:
        """The writer deleting every matching document; returns how many."""
        plan, lazy = self.plan(filter)
        sure, doubt = self._split(plan)
        t = self.t

        def run(db: sqlite3.Connection) -> int:
            deleted = 0
            if sure is not None:
                deleted = int(db.execute(f"DELETE FROM {t} WHERE {sure.text}", sure.params).rowcount)
            if doubt is not None:
                scan = RowScan(t, FilterPlan(doubt, FALSE, FALSE, False, True))
                while not scan.done:
                    page = scan.next_page(db, WRITE_BATCH)
                    doomed = [(rowid,) for rowid, doc_id, text, _ in page if lazy()(decode(doc_id, text))]
                    if doomed:
                        db.executemany(self._sql_delete_rowid, doomed)
                        deleted += len(doomed)
            return deleted

        return run

    def update_many(
        self, filter: dict[str, Any], update: Any, upsert: bool
    ) -> Callable[[sqlite3.Connection], UpdateResult]:
        """The writer applying ``update`` to every matching document (all or nothing: every new
        version is checked against the model, and its unique keys against the other documents,
        before the transaction commits)."""
        compiled = compile_update(update)
        plan, lazy = self.plan(filter)
        check = self.rules.check_update

        def run(db: sqlite3.Connection) -> UpdateResult:
            uniques = self.table.live_uniques(db)
            matched = modified = 0
            scan = RowScan(self.t, plan)
            while not scan.done:
                changes: list[tuple[str, int]] = []
                olds: list[dict[str, Any]] = []
                news: list[dict[str, Any]] = []
                for rowid, doc_id, text, sure in scan.next_page(db, WRITE_BATCH):
                    doc = decode(doc_id, text)
                    if not sure and not lazy()(doc):
                        continue
                    matched += 1
                    new = check(compiled.apply(doc, filter=filter))
                    new_text = self.encode(new)[1]
                    if new_text != text:  # "modified" means the stored bytes change, as in MongoDB
                        changes.append((new_text, rowid))
                        olds.append(doc)
                        news.append(new)
                if changes:
                    try:
                        db.executemany(self._sql_update_rowid, changes)
                    except sqlite3.IntegrityError as e:  # a UNIQUE index added by hand
                        raise self.errors.duplicate(e, news[0]) from e
                    for unique in uniques:
                        keyed = [
                            (new["_id"], unique.claims(old), unique.claims(new), new)
                            for old, new in zip(olds, news, strict=True)
                        ]
                        self._reclaim(db, keyed, unique)
                    modified += len(changes)
            if matched or not upsert:
                return UpdateResult(matched, modified)
            doc = upsert_document(filter, compiled, self.rules)
            row = self.encode(doc)
            try:
                db.execute(self._sql_insert, row)
            except sqlite3.IntegrityError as e:
                raise self.errors.duplicate(e, doc) from e
            claims = self._claims(uniques, [doc], {})
            clash = self._claim(db, uniques, claims, [row[0]], 1)
            if clash is not None:
                raise self.errors.clash(clash.unique, doc, clash.key) from clash.error
            return UpdateResult(0, 0, row[0])

        return run

    # ================================================================== other collections
    @staticmethod
    def load_collection(name: str) -> Reader:
        """The reader of every document of another collection (table) of the same file, or None
        when there is no such collection."""
        table = quote_ident(name)

        def run(db: sqlite3.Connection) -> list[dict[str, Any]] | None:
            columns = {r[0] for r in db.execute("SELECT name FROM pragma_table_info(?)", (name,))}
            if not {"id", "doc"} <= columns:
                return None  # no such table, or not a collection of this package
            return [
                decode(id, text) for id, text in db.execute(f"SELECT id, doc FROM {table} ORDER BY rowid")
            ]

        return run

    @staticmethod
    def table_names(db: sqlite3.Connection) -> list[str]:
        """Names of the tables (collections) in the database file (not the unique side tables)."""
        sql = (
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            f"AND sql NOT LIKE '%{UNIQUE_MARK}%' ORDER BY name"
        )
        return [r[0] for r in db.execute(sql)]


def _engine_sort(
    rows: list[Found], sort: Sequence[tuple[str, int]], skip: int, limit: int | None
) -> list[Found]:
    docs: list[dict[str, Any]] = [decode(*r) if type(r) is tuple else r for r in rows]  # type: ignore[misc]
    end = None if limit is None else skip + limit
    return sort_documents(docs, list(sort))[skip:end]  # type: ignore[return-value]


class TableCollections(Mapping[str, Sequence[Mapping[str, Any]]]):
    """Other collections of the same database file for ``$lookup``/``$unionWith``: a mapping
    over the file's tables whose documents are loaded on first access only."""

    def __init__(self, read: Callable[[Reader], Any]) -> None:
        self._read = read
        self._loaded: dict[str, list[dict[str, Any]] | None] = {}
        self._names: list[str] | None = None

    def __getitem__(self, name: str) -> Sequence[Mapping[str, Any]]:
        if name not in self._loaded:
            self._loaded[name] = self._read(LocalCollection.load_collection(name))
        docs = self._loaded[name]
        if docs is None:
            raise KeyError(name)
        return docs

    def _tables(self) -> list[str]:
        if self._names is None:
            self._names = self._read(LocalCollection.table_names)
        return self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables())

    def __len__(self) -> int:
        return len(self._tables())
