"""The embedded default backend: one SQLite file (standard library ``sqlite3``), no server.

``LocalODMBackend(Model)`` stores ``Model`` documents in the table named after the collection
(``Settings.name`` or the class name) of the database file given by ``path``, else
``$MINDTRACE_DB_PATH``, else ``~/.local/share/mindtrace/database.sqlite3`` (honouring
``XDG_DATA_HOME``); ``path=":memory:"`` keeps the data in memory. See ``docs/local.md`` for the
storage layout, durability and locking, and what the SQL pushdown does.

Every operation is available as a coroutine and as a blocking ``_sync`` twin. Both call
``sqlite3`` directly on the calling thread: a primary-key lookup costs a few microseconds, far
less than a hop to a worker thread would. Coroutines never block the event loop on another
process's lock (they sleep and retry), and long scans yield to the loop between batches.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from mindtrace.database.backends.local.database_path import MEMORY, resolve_database_path
from mindtrace.database.backends.local.model_paths import ArrayPaths
from mindtrace.database.backends.local.sqlite_connection import SqliteDatabase, is_busy
from mindtrace.database.backends.local.sqlite_pushdown import (
    FALSE,
    TRUE,
    FilterPlan,
    SortPlan,
    SqlitePushdown,
    simple_kind,
    sql_and,
    sql_not,
)
from mindtrace.database.backends.local.sqlite_schema import FORMAT_VERSION, CollectionTable, quote_ident
from mindtrace.database.core import typed_json
from mindtrace.database.core.backend import (
    DEFAULT_BATCH_SIZE,
    FindQuery,
    MindtraceODMBackend,
    ProjectionSpec,
    SortSpec,
    UpdateResult,
)
from mindtrace.database.core.document import is_valid_id, new_id
from mindtrace.database.core.exceptions import (
    DatabaseError,
    DocumentTooLargeError,
    DuplicateInsertError,
    QueryError,
)
from mindtrace.database.core.gc_pause import gc_paused
from mindtrace.database.core.indexes import index_specs
from mindtrace.database.core.input_checks import MAX_DOCUMENT_BYTES, invalid_text_error
from mindtrace.database.query.filter import compile_filter
from mindtrace.database.query.pipeline import run_pipeline
from mindtrace.database.query.projection import compile_projection
from mindtrace.database.query.sort import sort_documents
from mindtrace.database.query.update import compile_update, upsert_seed

__all__ = ["MAX_DOCUMENT_BYTES", "LocalODMBackend"]

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")

_WRITE_BATCH: Final = 1000  # rows per statement batch inside update_many / delete_many
_LONG_INSERT: Final = 200  # an async insert_many of more documents (~20 µs each) runs on the worker
_Predicate = Callable[[Mapping[str, Any]], bool]
_Row = tuple[str, str, "dict[str, Any] | None"]  # (id, stored JSON, decoded doc if already decoded)


class LocalODMBackend(MindtraceODMBackend[ModelT]):
    """Stores one Pydantic model class in one table of a local SQLite database file.

    ``path``: the database file (created with its directory on first use), ``":memory:"``, or
    None for the default location (see the module docstring). ``timeout``: seconds an operation
    waits for another process's write lock before failing with ``DatabaseError``.
    ``synchronous``: SQLite's durability setting; ``"FULL"`` (default) makes every acknowledged
    write survive a process kill and a power cut, ``"NORMAL"`` survives a process kill only and
    writes faster. Several backends (for different models, in one or several processes) may use
    the same file; their writers take turns through a lock on the side file ``<path>-writelock``
    (see ``backends/local/write_gate.py``), so none of them starves.
    """

    def __init__(
        self,
        model_cls: type[ModelT],
        path: str | os.PathLike[str] | None = None,
        *,
        timeout: float = 30.0,
        synchronous: str = "FULL",
    ) -> None:
        super().__init__(model_cls)
        self.path = resolve_database_path(path)
        name = self.collection_name
        self._table = CollectionTable(name, index_specs(model_cls))
        self._pushdown = SqlitePushdown(ArrayPaths(model_cls), self._table.leading_paths)
        self._db = SqliteDatabase(
            self.path,
            timeout=timeout,
            synchronous=synchronous,
            describe=f"LocalODMBackend({model_cls.__name__}) on {self.path!r}",
        )
        self._ready = False
        self._exact_sql: dict[str, str] = {}  # WHERE text -> windowed SELECT (exact filters)
        # (field, value kind) -> (windowed SELECT, number of value parameters; -1: not a point query)
        self._points: dict[tuple[str, str], tuple[str, int]] = {}
        t = self._table.table
        self._t = t
        self._sql_get = f"SELECT doc FROM {t} WHERE id = ?"
        self._sql_insert = f"INSERT INTO {t} (id, doc) VALUES (?, ?)"
        self._sql_replace = f"UPDATE {t} SET doc = ? WHERE id = ?"
        self._sql_delete = f"DELETE FROM {t} WHERE id = ?"
        self._sql_update_rowid = f"UPDATE {t} SET doc = ? WHERE rowid = ?"
        self._sql_delete_rowid = f"DELETE FROM {t} WHERE rowid = ?"

    def __repr__(self) -> str:
        model = self.model_cls.__name__
        return f"LocalODMBackend({model}, collection={self.collection_name!r}, path={self.path!r})"

    # ================================================================== setup
    def _create(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > FORMAT_VERSION:
            raise DatabaseError(
                f"the database file {self.path!r} was written by a newer mindtrace-database (layout "
                f"version {version}, this one reads up to {FORMAT_VERSION}); upgrade the package"
            )
        if version < FORMAT_VERSION:
            db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
        self._table.create(db)

    def _schema_is_current(self, db: sqlite3.Connection) -> bool:
        # Read-only: the common case (the file was set up before) needs no write lock, so opening
        # a backend never waits behind busy writers in other processes.
        version = db.execute("PRAGMA user_version").fetchone()[0]
        return bool(version == FORMAT_VERSION and self._table.is_current(db))

    def _prepare_file(self) -> None:
        if self.path != MEMORY:
            directory = os.path.dirname(self.path)
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as e:
                raise DatabaseError(
                    f"cannot create the directory {directory!r} for the database of collection "
                    f"{self.collection_name!r}: {e}; pass path= or set MINDTRACE_DB_PATH"
                ) from e

    def _initialize_sync(self) -> None:
        if self._ready:
            return
        self._prepare_file()
        if not self._sqlite(lambda: self._db.read_snapshot(self._schema_is_current)):
            self._sqlite(lambda: self._db.write(self._create))
        self._ready = True

    async def _initialize(self) -> None:
        if self._ready:
            return
        self._prepare_file()
        if not await self._sqlite_async(self._db.read_async(self._schema_is_current, snapshot=True)):
            await self._sqlite_async(self._db.write_async(self._create))
        self._ready = True

    # ================================================================== errors
    def _translate(self, e: sqlite3.Error) -> DatabaseError:
        if is_busy(e):
            return DatabaseError(
                f"the database file {self.path!r} stayed locked by another connection for more than "
                f"{self._db.timeout:g}s (collection {self.collection_name!r}); retry later or raise timeout="
            )
        return DatabaseError(f"SQLite failed on collection {self.collection_name!r} in {self.path!r}: {e}")

    def _sqlite(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except sqlite3.Error as e:
            raise self._translate(e) from e

    async def _sqlite_async(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except sqlite3.Error as e:
            raise self._translate(e) from e

    def _duplicate(
        self, e: sqlite3.IntegrityError, doc: Mapping[str, Any], position: int | None = None
    ) -> DatabaseError:
        """DuplicateInsertError for a UNIQUE/PRIMARY KEY failure caused by ``doc`` (input number
        ``position`` of a batch); any other integrity error becomes a DatabaseError."""
        code = getattr(e, "sqlite_errorcode", None)
        if code not in (sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
            return self._translate(e)
        message = str(e)
        where = f" (input {position})" if position is not None else ""
        if message.endswith(".id") or code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
            taken = doc.get("_id")
            return DuplicateInsertError(
                f"collection {self.collection_name!r} already has a document with _id {taken!r}{where}; "
                "leave id unset to get a fresh one, or use update() to replace it",
                collection=self.collection_name,
                field="_id",
                value=taken,
            )
        index_name = message.rsplit("index '", 1)[-1].rstrip("'") if "index '" in message else ""
        ix = self._table.by_name.get(index_name)
        if ix is None:
            return DuplicateInsertError(
                f"a unique index of collection {self.collection_name!r} rejected the document{where}: {e}",
                collection=self.collection_name,
            )
        paths = ix.spec.paths
        field = ", ".join(paths)
        values = [_get_path(doc, p) for p in paths]
        value: Any = values[0] if len(values) == 1 else tuple(values)
        if ix.null_guard:
            detail = f"another document already lacks {field!r} (missing or null), and it is unique"
        else:
            detail = f"another document already has {field} = {value!r}"
        return DuplicateInsertError(
            f"duplicate key in collection {self.collection_name!r}{where}: {detail} "
            f"(unique index {ix.spec.name!r}); choose another value",
            collection=self.collection_name,
            field=field,
            value=None if ix.null_guard else value,
        )

    # ================================================================== encoding
    def _encode(self, doc: Mapping[str, Any]) -> tuple[str, str]:
        """(id, stored JSON) for an engine document; DocumentTooLargeError above 16 MiB."""
        try:
            data = typed_json.dumps(doc, assume_plain=self.codec.is_plain_json(doc))
        except UnicodeEncodeError as e:  # a lone surrogate: no store can hold it
            raise invalid_text_error(self.model_cls.__name__, doc) from e
        doc_id = doc["_id"]
        # ``_id`` (a 24-hex string, first key as ModelCodec and the update engine write it) lives
        # in its own column: cut it out of the JSON rather than copying the dict without it.
        if data[:8] == b'{"_id":"' and data[32:33] == b'"':
            data = b"{" + data[34:] if data[33:34] == b"," else b"{}"
        else:
            data = typed_json.dumps({k: v for k, v in doc.items() if k != "_id"})
        if len(data) > MAX_DOCUMENT_BYTES:
            raise DocumentTooLargeError(
                f"document {doc.get('_id')!r} of collection {self.collection_name!r} is {len(data)} bytes "
                f"encoded, over the {MAX_DOCUMENT_BYTES} byte limit; store large payloads elsewhere "
                "(e.g. a file) and keep a reference in the document"
            )
        return str(doc_id), data.decode("utf-8")

    @staticmethod
    def _decode(id: str, text: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"_id": id}
        doc.update(typed_json.loads(text))
        return doc

    def _checked(self, doc: dict[str, Any]) -> dict[str, Any]:
        """``doc`` (an update's result) unchanged, once the model has shown it can read it back.

        The document is stored as the update made it (an ``$unset`` field stays absent, as in
        MongoDB) but never one the model would reject: that would make it unreadable. Raises
        QueryError naming the document and the validation errors, ``DocumentTooLargeError`` when
        the update nested it more than 100 levels deep.
        """
        self.codec.check_stored(doc)
        try:
            self.codec.from_document(doc)
        except ValidationError as e:
            raise QueryError(
                f"the update would leave document {doc.get('_id')!r} of collection {self.collection_name!r} "
                f"invalid for {self.model_cls.__name__}: {e.errors(include_url=False)!r}; fix the update"
            ) from e
        return doc

    # ================================================================== filter plans
    def _plan(self, filter: dict[str, Any]) -> tuple[FilterPlan, Callable[[], _Predicate]]:
        """Pushdown plan plus a lazy engine predicate (compiled at most once, eagerly when the
        compiler did not vouch for the filter so that invalid filters always raise QueryError)."""
        plan = self._pushdown.compile(filter)
        compiled: list[_Predicate] = []

        def predicate() -> _Predicate:
            if not compiled:
                compiled.append(compile_filter(filter))
            return compiled[0]

        if not plan.validated:
            predicate()
        return plan, predicate

    def _sorted_plan(
        self, db: sqlite3.Connection, filter: dict[str, Any], sort: Sequence[tuple[str, int]]
    ) -> tuple[FilterPlan, Callable[[], _Predicate], SortPlan | None]:
        """Plan a filter plus sort: the ORDER BY is used only if probes find no candidate row
        whose sort values SQLite would order differently from MongoDB; the filter is then
        recompiled knowing those paths hold plain scalars, so an index can deliver rows in order."""
        plan, predicate = self._plan(filter)
        if not sort:
            return plan, predicate, None
        sort_plan = self._pushdown.sort(sort)
        if plan.where is FALSE:
            # No row can match, so nothing is sorted: still refuse an invalid sort, as everywhere.
            sort_documents([], list(sort))
            return plan, predicate, None
        if sort_plan is None:
            return plan, predicate, None
        for probe in sort_plan.probes:
            cond = sql_and([plan.where, probe])
            if (
                cond is not FALSE
                and db.execute(f"SELECT 1 FROM {self._t} WHERE {cond.text} LIMIT 1", cond.params).fetchone()
            ):
                return plan, predicate, None
        scalar = frozenset(path for path, _ in sort if path != "_id")
        return self._pushdown.compile(filter, scalar), predicate, sort_plan

    # ================================================================== find
    def _select(self, db: sqlite3.Connection, *, query: FindQuery, decode_all: bool) -> list[_Row]:
        """Rows matching ``query`` in order, windowed by skip/limit. Row docs are decoded when
        the engine had to look at them, or for every row with ``decode_all``."""
        if not query.sort:
            plan, predicate = self._plan(query.filter)
            if plan.exact and plan.where is not FALSE:
                # Hot path: SQL alone decides, windows and orders (insertion order).
                sql = self._windowed_sql(plan)
                window = -1 if query.limit is None else query.limit
                found = db.execute(sql, (*plan.where.params, window, query.skip)).fetchall()
                if decode_all:
                    decode = self._decode
                    return [(i, t, decode(i, t)) for i, t in found]
                return [(i, t, None) for i, t in found]
            sort_plan = None
        else:
            plan, predicate, sort_plan = self._sorted_plan(db, query.filter, query.sort)
        engine_sort = bool(query.sort) and sort_plan is None
        order = sort_plan.order_by if sort_plan is not None else "rowid"
        if plan.where is FALSE:
            return []
        select, params = self._select_sql(plan, order)
        skip, limit = query.skip, query.limit
        if plan.exact and not engine_sort and (limit is not None or skip):
            select += " LIMIT ? OFFSET ?"
            params = (*params, -1 if limit is None else limit, skip)
            skip = 0
        rows: list[_Row] = []
        cursor = db.execute(select, params)
        try:
            window = not engine_sort
            flagged = not plan.exact and plan.check is not FALSE
            decode = self._decode
            for record in cursor:
                doc_id, text = record[0], record[1]
                doc = None
                if not plan.exact and not (flagged and record[2]):
                    doc = decode(doc_id, text)
                    if not predicate()(doc):
                        continue
                if window and skip:
                    skip -= 1
                    continue
                if decode_all and doc is None:
                    doc = decode(doc_id, text)
                rows.append((doc_id, text, doc))
                if window and limit is not None and len(rows) >= limit:
                    break
        finally:
            cursor.close()
        if engine_sort:
            rows = self._engine_sort(rows, query.sort, skip, limit)
        return rows

    def _engine_sort(
        self, rows: list[_Row], sort: Sequence[tuple[str, int]], skip: int, limit: int | None
    ) -> list[_Row]:
        # sort_documents is stable and returns the same dict objects: map them back to rows.
        decoded = [r if r[2] is not None else (r[0], r[1], self._decode(r[0], r[1])) for r in rows]
        by_identity = {id(r[2]): r for r in decoded}
        ordered = sort_documents([r[2] for r in decoded if r[2] is not None], list(sort))
        end = None if limit is None else skip + limit
        return [by_identity[id(d)] for d in ordered[skip:end]]

    def _select_sql(self, plan: FilterPlan, order: str) -> tuple[str, tuple[Any, ...]]:
        if plan.exact or plan.check is FALSE:
            return (
                f"SELECT id, doc FROM {self._t} WHERE {plan.where.text} ORDER BY {order}",
                plan.where.params,
            )
        return (
            f"SELECT id, doc, ({plan.check.text}) FROM {self._t} WHERE {plan.where.text} ORDER BY {order}",
            plan.check.params + plan.where.params,
        )

    def _project(self, rows: list[_Row], query: FindQuery) -> list[dict[str, Any]]:
        docs = [r[2] if r[2] is not None else self._decode(r[0], r[1]) for r in rows]
        if query.projection is None:
            return docs
        projection = compile_projection(query.projection, filter=query.filter)
        return [projection.apply(d) for d in docs]

    def _models(self, rows: list[_Row]) -> list[ModelT]:
        from_json = self.codec.from_stored_json
        from_document = self.codec.from_document
        return [from_document(r[2]) if r[2] is not None else from_json(r[0], r[1]) for r in rows]

    def _read(self, query: FindQuery, fn: Callable[[sqlite3.Connection], T]) -> T:
        # A sorted find runs probes before its query: both must see the same snapshot.
        return self._db.read_snapshot(fn) if query.sort else self._db.read(fn)

    def _find_docs_sync(self, query: FindQuery) -> list[dict[str, Any]]:
        self._initialize_sync()
        rows = self._sqlite(lambda: self._read(query, partial(self._select, query=query, decode_all=True)))
        return self._project(rows, query)

    async def _find_docs(self, query: FindQuery) -> list[dict[str, Any]]:
        await self._initialize()
        rows = await self._sqlite_async(
            self._db.read_async(
                partial(self._select, query=query, decode_all=True), snapshot=bool(query.sort), long=True
            )
        )
        return self._project(rows, query)

    def _find_models_sync(self, query: FindQuery) -> list[ModelT]:
        if not self._ready:
            self._initialize_sync()
        select = partial(self._select, query=query, decode_all=False)
        try:
            rows = self._db.read_snapshot(select) if query.sort else self._db.read(select)
        except sqlite3.Error as e:
            raise self._translate(e) from e
        return self._models(rows)

    async def _find_models(self, query: FindQuery) -> list[ModelT]:
        await self._initialize()
        rows = await self._sqlite_async(
            self._db.read_async(
                partial(self._select, query=query, decode_all=False), snapshot=bool(query.sort), long=True
            )
        )
        if len(rows) <= DEFAULT_BATCH_SIZE:
            return self._models(rows)
        out: list[ModelT] = []
        for start in range(0, len(rows), DEFAULT_BATCH_SIZE):
            out.extend(self._models(rows[start : start + DEFAULT_BATCH_SIZE]))
            await asyncio.sleep(0)  # validating a large result: let other tasks run between batches
        return out

    def _point_sql(self, filters: tuple[Any, ...], limit: int | None) -> tuple[str, tuple[Any, ...]] | None:
        """SQL for the most common query — one filter ``{"field": plain value}`` (a string, an int,
        a float) that SQL answers exactly, e.g. a lookup by a unique field — or None.

        Skips the general path's normalisation and planning, which for a point lookup cost as
        much as the lookup itself; the result is the same (checked by the tests).
        """
        if len(filters) != 1:
            return None
        f = filters[0]
        if type(f) is not dict or len(f) != 1:
            return None
        for key, value in f.items():
            kind = simple_kind(value)
            if kind is None or type(key) is not str or key[:1] == "$":
                return None
            point = self._points.get((key, kind))
            if point is None:
                # First query of this shape: plan it; reusable when SQL decides exactly and the
                # value is the only parameter.
                plan = self._pushdown.compile(f)
                reusable = (
                    plan.exact and plan.where is not FALSE and all(p is value for p in plan.where.params)
                )
                point = (self._windowed_sql(plan), len(plan.where.params)) if reusable else ("", -1)
                self._points[(key, kind)] = point
            sql, n = point
            if n < 0:
                return None
            return sql, (*((value,) * n), -1 if limit is None else limit, 0)
        return None

    def _windowed_sql(self, plan: FilterPlan) -> str:
        """``SELECT ... WHERE <exact filter> ORDER BY rowid LIMIT ? OFFSET ?``, built once per shape."""
        sql = self._exact_sql.get(plan.where.text)
        if sql is None:
            sql = f"SELECT id, doc FROM {self._t} WHERE {plan.where.text} ORDER BY rowid LIMIT ? OFFSET ?"
            self._exact_sql[plan.where.text] = sql
        return sql

    def _point_sync(self, sql: str, params: tuple[Any, ...]) -> list[ModelT]:
        if not self._ready:
            self._initialize_sync()
        try:
            found = self._db.read(lambda db: db.execute(sql, params).fetchall())
        except sqlite3.Error as e:
            raise self._translate(e) from e
        from_json = self.codec.from_stored_json
        return [from_json(i, t) for i, t in found]

    async def _point(self, sql: str, params: tuple[Any, ...]) -> list[ModelT]:
        if not self._ready:
            await self._initialize()
        found = await self._sqlite_async(
            self._db.read_async(lambda db: db.execute(sql, params).fetchall(), long=True)
        )
        from_json = self.codec.from_stored_json
        return [from_json(i, t) for i, t in found]

    # Public find/get/all are overridden only to build models straight from the stored JSON
    # (Pydantic's model_validate_json) when no projection is asked for; arguments, results and
    # errors are exactly the contract's.
    async def find(
        self,
        *filters: Any,
        sort: SortSpec = None,
        skip: int = 0,
        limit: int | None = None,
        projection: ProjectionSpec = None,
    ) -> list[Any]:
        if sort is None and not skip and projection is None and (limit is None or _plain_limit(limit)):
            point = self._point_sql(filters, limit or None)
            if point is not None:
                return await self._point(*point)
        query, shape = self._find_query(filters, sort, skip, limit, projection)
        if shape is None:
            return await self._find_models(query)
        return self._shape(await self._find_docs(query), shape)

    def find_sync(
        self,
        *filters: Any,
        sort: SortSpec = None,
        skip: int = 0,
        limit: int | None = None,
        projection: ProjectionSpec = None,
    ) -> list[Any]:
        if sort is None and not skip and projection is None and (limit is None or _plain_limit(limit)):
            point = self._point_sql(filters, limit or None)
            if point is not None:
                return self._point_sync(*point)
        query, shape = self._find_query(filters, sort, skip, limit, projection)
        if shape is None:
            return self._find_models_sync(query)
        return self._shape(self._find_docs_sync(query), shape)

    async def find_one(self, *filters: Any, sort: SortSpec = None, projection: ProjectionSpec = None) -> Any:
        point = self._point_sql(filters, 1) if sort is None and projection is None else None
        if point is not None:
            found_point = await self._point(*point)
            return found_point[0] if found_point else None
        query, shape = self._find_query(filters, sort, 0, 1, projection)
        found = (
            await self._find_models(query)
            if shape is None
            else self._shape(await self._find_docs(query), shape)
        )
        return found[0] if found else None

    def find_one_sync(self, *filters: Any, sort: SortSpec = None, projection: ProjectionSpec = None) -> Any:
        point = self._point_sql(filters, 1) if sort is None and projection is None else None
        if point is not None:
            found_point = self._point_sync(*point)
            return found_point[0] if found_point else None
        query, shape = self._find_query(filters, sort, 0, 1, projection)
        found = (
            self._find_models_sync(query)
            if shape is None
            else self._shape(self._find_docs_sync(query), shape)
        )
        return found[0] if found else None

    async def all(self) -> list[ModelT]:
        return await self._find_models(FindQuery(filter={}))

    def all_sync(self) -> list[ModelT]:
        return self._find_models_sync(FindQuery(filter={}))

    # ================================================================== get
    def _get_text(self, db: sqlite3.Connection, *, id: str) -> str | None:
        row = db.execute(self._sql_get, (id,)).fetchone()
        return None if row is None else row[0]

    def _get_doc_sync(self, id: str) -> dict[str, Any] | None:
        self._initialize_sync()
        text = self._sqlite(lambda: self._db.read(partial(self._get_text, id=id)))
        return None if text is None else self._decode(id, text)

    async def _get_doc(self, id: str) -> dict[str, Any] | None:
        await self._initialize()
        text = await self._sqlite_async(self._db.read_async(partial(self._get_text, id=id)))
        return None if text is None else self._decode(id, text)

    def get_sync(self, id: str) -> ModelT:
        if not is_valid_id(id):
            raise self._not_found(id)
        id = str(id)
        if not self._ready:
            self._initialize_sync()
        try:
            text = self._db.read(partial(self._get_text, id=id))
        except sqlite3.Error as e:
            raise self._translate(e) from e
        if text is None:
            raise self._not_found(id)
        return self.codec.from_stored_json(id, text)

    async def get(self, id: str) -> ModelT:
        if not is_valid_id(id):
            raise self._not_found(id)
        id = str(id)
        if not self._ready:
            await self._initialize()
        text = await self._sqlite_async(self._db.read_async(partial(self._get_text, id=id)))
        if text is None:
            raise self._not_found(id)
        return self.codec.from_stored_json(id, text)

    # ================================================================== count
    def _count_rows(
        self, db: sqlite3.Connection, plan: FilterPlan, predicate: Callable[[], _Predicate]
    ) -> int:
        if plan.where is FALSE:
            return 0
        t = self._t
        if plan.exact:
            sql = f"SELECT count(*) FROM {t} WHERE {plan.where.text}"
            return int(db.execute(sql, plan.where.params).fetchone()[0])
        total = 0
        if plan.check is not FALSE:
            sure = sql_and([plan.where, plan.check])
            total = int(db.execute(f"SELECT count(*) FROM {t} WHERE {sure.text}", sure.params).fetchone()[0])
        doubt = sql_and([plan.where, sql_not(plan.check)])
        decode = self._decode
        for doc_id, text in db.execute(f"SELECT id, doc FROM {t} WHERE {doubt.text}", doubt.params):
            if predicate()(decode(doc_id, text)):
                total += 1
        return total

    def _count_sync(self, filter: dict[str, Any]) -> int:
        self._initialize_sync()
        plan, predicate = self._plan(filter)
        # Two statements (sure rows, rows in doubt) must see the same snapshot.
        read = self._db.read if plan.exact else self._db.read_snapshot
        return self._sqlite(lambda: read(lambda db: self._count_rows(db, plan, predicate)))

    async def _count(self, filter: dict[str, Any]) -> int:
        await self._initialize()
        plan, predicate = self._plan(filter)
        return await self._sqlite_async(
            self._db.read_async(
                lambda db: self._count_rows(db, plan, predicate), snapshot=not plan.exact, long=True
            )
        )

    # ================================================================== insert
    # insert_many is ordered, like MongoDB's default: documents are stored in input order in one
    # transaction; at the first one a unique constraint rejects, the ones before it are committed
    # and it and the ones after it are not stored (DuplicateInsertError.inserted_ids / .failed).
    def _insert_run(
        self, rows: list[tuple[str, str]], stopped: list[Any]
    ) -> Callable[[sqlite3.Connection], None]:
        sql = self._sql_insert

        def run(db: sqlite3.Connection) -> None:
            if len(rows) == 1:
                db.execute(sql, rows[0])  # a lone failure rolls back: nothing to commit
                return
            before = db.total_changes
            try:
                db.executemany(sql, rows)
            except sqlite3.IntegrityError as e:
                # SQLite undid only the failing row; commit those before it, report after.
                stopped.extend((e, db.total_changes - before))

        return run

    def _insert_error(
        self, e: sqlite3.IntegrityError, rows: list[tuple[str, str]], done: int
    ) -> DatabaseError:
        if len(rows) == 1:
            single = self._duplicate(e, self._decode(*rows[0]))
            if isinstance(single, DuplicateInsertError):
                single.failed = [0]  # as for longer batches (and on Redis): input 0 was not stored
            return single
        error = self._duplicate(e, self._decode(*rows[done]), done)
        if isinstance(error, DuplicateInsertError):
            error.inserted_ids = [row[0] for row in rows[:done]]
            error.failed = list(range(done, len(rows)))
            error.args = (
                f"{error.args[0]}; insert_many stopped there: inputs 0-{done - 1} were stored, "
                f"{len(rows) - done} were not"
                if done
                else f"{error.args[0]}; nothing was stored",
            )
        return error

    def _write_rows_sync(self, rows: list[tuple[str, str]]) -> None:
        if not self._ready:
            self._initialize_sync()
        stopped: list[Any] = []
        try:
            self._db.write(self._insert_run(rows, stopped))
        except sqlite3.IntegrityError as e:
            raise self._insert_error(e, rows, 0) from e
        except sqlite3.Error as e:
            raise self._translate(e) from e
        if stopped:
            raise self._insert_error(stopped[0], rows, stopped[1]) from stopped[0]

    async def _write_rows(self, rows: list[tuple[str, str]]) -> None:
        if not self._ready:
            await self._initialize()
        stopped: list[Any] = []
        try:
            await self._db.write_async(self._insert_run(rows, stopped))
        except sqlite3.IntegrityError as e:
            raise self._insert_error(e, rows, 0) from e
        except sqlite3.Error as e:
            raise self._translate(e) from e
        if stopped:
            raise self._insert_error(stopped[0], rows, stopped[1]) from stopped[0]

    def _insert_docs_sync(self, docs: list[dict[str, Any]]) -> None:
        self._write_rows_sync([self._encode(d) for d in docs])

    async def _insert_docs(self, docs: list[dict[str, Any]]) -> None:
        await self._write_rows([self._encode(d) for d in docs])

    def _prepare_many(self, objs: Iterable[BaseModel]) -> tuple[list[tuple[str, str]], list[ModelT]]:
        """Rows to store and the models to return, document by document: each engine document is
        dropped as soon as it is encoded and copied, so a large batch does not keep them all
        alive (the cyclic garbage collector's work grows with what stays alive)."""
        rows: list[tuple[str, str]] = []
        models: list[ModelT] = []
        prepare, encode, copy = self._prepare_insert, self._encode, self.codec.from_document
        with gc_paused():  # see core.gc_pause: nothing built here is garbage
            for obj in objs:
                doc = prepare(obj)
                rows.append(encode(doc))
                models.append(copy(doc))
        return rows, models

    # insert_many is overridden only for the memory behaviour above; arguments, results and errors
    # are exactly the contract's.
    def insert_many_sync(self, objs: Iterable[BaseModel]) -> list[ModelT]:
        rows, models = self._prepare_many(objs)
        if rows:
            self._write_rows_sync(rows)
        return models

    async def insert_many(self, objs: Iterable[BaseModel]) -> list[ModelT]:
        batch = objs if isinstance(objs, Sequence) else list(objs)
        if len(batch) > _LONG_INSERT:  # validating, encoding and storing it: off the event loop
            return await self._db.offload(partial(self.insert_many_sync, batch))
        rows, models = self._prepare_many(batch)
        if rows:
            await self._write_rows(rows)
        return models

    # ================================================================== replace / delete
    def _replace_doc_sync(self, id: str, doc: dict[str, Any]) -> bool:
        self._initialize_sync()
        _, text = self._encode(doc)
        try:
            return self._db.write(lambda db: db.execute(self._sql_replace, (text, id)).rowcount > 0)
        except sqlite3.IntegrityError as e:
            raise self._duplicate(e, doc) from e
        except sqlite3.Error as e:
            raise self._translate(e) from e

    async def _replace_doc(self, id: str, doc: dict[str, Any]) -> bool:
        await self._initialize()
        _, text = self._encode(doc)
        try:
            return await self._db.write_async(
                lambda db: db.execute(self._sql_replace, (text, id)).rowcount > 0
            )
        except sqlite3.IntegrityError as e:
            raise self._duplicate(e, doc) from e
        except sqlite3.Error as e:
            raise self._translate(e) from e

    def _delete_sync(self, id: str) -> bool:
        self._initialize_sync()
        return self._sqlite(
            lambda: self._db.write(lambda db: db.execute(self._sql_delete, (id,)).rowcount > 0)
        )

    async def _delete(self, id: str) -> bool:
        await self._initialize()
        return await self._sqlite_async(
            self._db.write_async(lambda db: db.execute(self._sql_delete, (id,)).rowcount > 0)
        )

    def _delete_rows(
        self, db: sqlite3.Connection, plan: FilterPlan, predicate: Callable[[], _Predicate]
    ) -> int:
        t = self._t
        if plan.where is FALSE:
            return 0
        if plan.exact:
            return int(db.execute(f"DELETE FROM {t} WHERE {plan.where.text}", plan.where.params).rowcount)
        deleted = 0
        if plan.check is not FALSE:
            sure = sql_and([plan.where, plan.check])
            deleted = int(db.execute(f"DELETE FROM {t} WHERE {sure.text}", sure.params).rowcount)
        doubt = self._scan(FilterPlan(sql_and([plan.where, sql_not(plan.check)]), FALSE, FALSE, False, True))
        while not doubt.done:
            page = doubt.next_page(db, _WRITE_BATCH)
            doomed = [(rowid,) for rowid, doc_id, text, _ in page if predicate()(self._decode(doc_id, text))]
            if doomed:
                db.executemany(self._sql_delete_rowid, doomed)
                deleted += len(doomed)
        return deleted

    def _delete_many_sync(self, filter: dict[str, Any]) -> int:
        self._initialize_sync()
        plan, predicate = self._plan(filter)
        return self._sqlite(lambda: self._db.write(lambda db: self._delete_rows(db, plan, predicate)))

    async def _delete_many(self, filter: dict[str, Any]) -> int:
        await self._initialize()
        plan, predicate = self._plan(filter)
        return await self._sqlite_async(
            self._db.write_async(lambda db: self._delete_rows(db, plan, predicate), long=True)
        )

    # ================================================================== update_many
    def _update_rows(
        self, db: sqlite3.Connection, filter: dict[str, Any], update: Any, upsert: bool
    ) -> UpdateResult:
        compiled = compile_update(update)
        plan, predicate = self._plan(filter)
        matched = modified = 0
        scan = self._scan(plan)
        while not scan.done:
            page = scan.next_page(db, _WRITE_BATCH)
            changes: list[tuple[str, int]] = []
            docs: list[dict[str, Any]] = []
            for rowid, doc_id, text, sure in page:
                doc = self._decode(doc_id, text)
                if not sure and not predicate()(doc):
                    continue
                matched += 1
                new = self._checked(compiled.apply(doc, filter=filter))
                new_text = self._encode(new)[1]
                if new_text != text:
                    changes.append((new_text, rowid))
                    docs.append(new)
            if changes:
                self._write_changes(db, changes, docs)
                modified += len(changes)
        if matched or not upsert:
            return UpdateResult(matched, modified)
        seed = upsert_seed(filter)
        new = compiled.apply(seed, is_upsert=True, filter=filter)
        if "_id" not in new:
            new = {"_id": new_id(), **new}
        elif not isinstance(new["_id"], str) or not is_valid_id(new["_id"]):
            raise QueryError(
                f"upsert into collection {self.collection_name!r} would insert _id {new['_id']!r}; "
                "Local stores ids as 24-hex ObjectId strings"
            )
        doc = self._checked(new)
        row = self._encode(doc)
        try:
            db.execute(self._sql_insert, row)
        except sqlite3.IntegrityError as e:
            raise self._duplicate(e, doc) from e
        return UpdateResult(0, 0, row[0])

    def _write_changes(
        self, db: sqlite3.Connection, changes: list[tuple[str, int]], docs: list[dict[str, Any]]
    ) -> None:
        try:
            db.executemany(self._sql_update_rowid, changes)
        except sqlite3.IntegrityError as e:
            # Find the document at fault for the message; the caller's transaction rolls back.
            for (text, rowid), doc in zip(changes, docs, strict=True):
                try:
                    db.execute(self._sql_update_rowid, (text, rowid))
                except sqlite3.IntegrityError as e2:
                    raise self._duplicate(e2, doc) from e2
            raise self._duplicate(e, docs[0]) from e

    def _update_many_sync(self, filter: dict[str, Any], update: Any, upsert: bool) -> UpdateResult:
        self._initialize_sync()
        return self._sqlite(lambda: self._db.write(lambda db: self._update_rows(db, filter, update, upsert)))

    async def _update_many(self, filter: dict[str, Any], update: Any, upsert: bool) -> UpdateResult:
        await self._initialize()
        return await self._sqlite_async(
            self._db.write_async(lambda db: self._update_rows(db, filter, update, upsert), long=True)
        )

    # ================================================================== aggregate
    def _aggregate_plan(self, pipeline: list[dict[str, Any]]) -> tuple[FindQuery, list[dict[str, Any]]]:
        """Split off what SQL can help with: leading ``$match`` stages, then one ``$sort`` and
        ``$skip``/``$limit`` stages. The rest runs in the engine."""
        filters: list[dict[str, Any]] = []
        i = 0
        while i < len(pipeline) and "$match" in pipeline[i] and isinstance(pipeline[i]["$match"], dict):
            filters.append(pipeline[i]["$match"])
            i += 1
        sort: tuple[tuple[str, int], ...] = ()
        if i < len(pipeline) and "$sort" in pipeline[i]:
            spec = pipeline[i]["$sort"]
            if (
                isinstance(spec, dict)
                and spec
                and all(
                    isinstance(k, str) and v in (1, -1) and not isinstance(v, bool) for k, v in spec.items()
                )
            ):
                sort = tuple(spec.items())
                i += 1
        skip, limit = 0, None
        while i < len(pipeline):
            stage = pipeline[i]
            n = _count_arg(stage.get("$skip", stage.get("$limit")))
            if n is None or ("$limit" in stage and n == 0):
                break  # not a plain window stage: the engine validates and runs it
            if "$skip" in stage:
                skip += n
                limit = None if limit is None else max(limit - n, 0)
            else:
                limit = n if limit is None else min(limit, n)
            i += 1
        filter = filters[0] if len(filters) == 1 else ({"$and": filters} if filters else {})
        return FindQuery(filter=filter, sort=sort, skip=skip, limit=limit), pipeline[i:]

    def _aggregate_run(
        self, pipeline: list[dict[str, Any]], docs: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        if not pipeline:
            return docs
        return run_pipeline(docs, pipeline, collections=_TableCollections(self))

    def _aggregate_sync(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        query, rest = self._aggregate_plan(pipeline)
        docs = [] if query.limit == 0 else self._find_docs_sync(query)
        return self._aggregate_run(rest, docs)

    async def _aggregate(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # The engine's stages are Python work as long as the read: all of it off the event loop.
        return await self._db.offload(partial(self._aggregate_sync, pipeline))

    def _load_collection(self, name: str) -> list[dict[str, Any]] | None:
        """Every document of another collection (table) in this database file, or None."""
        table = quote_ident(name)

        def load(db: sqlite3.Connection) -> list[dict[str, Any]] | None:
            columns = {r[0] for r in db.execute("SELECT name FROM pragma_table_info(?)", (name,))}
            if not {"id", "doc"} <= columns:
                return None  # no such table, or not a collection of this package
            decode = self._decode
            return [
                decode(id, text) for id, text in db.execute(f"SELECT id, doc FROM {table} ORDER BY rowid")
            ]

        return self._sqlite(lambda: self._db.read_snapshot(load))

    def _table_names(self) -> list[str]:
        """Names of the tables (collections) in this database file."""
        sql = "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        return self._sqlite(lambda: self._db.read(lambda db: [r[0] for r in db.execute(sql)]))

    # ================================================================== iterate
    def _scan(self, plan: FilterPlan) -> _Scan:
        """A page-by-page reader of the rows that may match ``plan``, in rowid order."""
        return _Scan(self._t, plan)

    def _next_batch(
        self, db: sqlite3.Connection, *, scan: _Scan, predicate: Callable[[], _Predicate], size: int
    ) -> list[dict[str, Any]]:
        """The matching documents of the scan's next page (empty when the scan is done)."""
        decode = self._decode
        out = []
        for _, doc_id, text, sure in scan.next_page(db, size):
            doc = decode(doc_id, text)
            if sure or predicate()(doc):
                out.append(doc)
        return out

    def _sorted_rowids(self, db: sqlite3.Connection, query: FindQuery) -> array[int]:
        """Rowids of the matching documents in sort order (SQL when it can, else the engine on
        documents reduced to their sort fields)."""
        plan, predicate, sort_plan = self._sorted_plan(db, query.filter, query.sort)
        ids: array[int] = array("q")
        if plan.where is FALSE:
            return ids
        if sort_plan is not None and plan.exact:
            for (rowid,) in db.execute(
                f"SELECT rowid FROM {self._t} WHERE {plan.where.text} ORDER BY {sort_plan.order_by}",
                plan.where.params,
            ):
                ids.append(rowid)
            return ids
        order = sort_plan.order_by if sort_plan is not None else "rowid"
        tops = {path.split(".", 1)[0] for path, _ in query.sort}
        skeletons: list[dict[str, Any]] = []
        flagged = not plan.exact and plan.check is not FALSE
        select, params = self._select_sql(plan, order)
        select = select.replace("SELECT id, doc", "SELECT id, doc, rowid", 1)
        for record in db.execute(select, params):
            doc = self._decode(record[0], record[1])
            if not plan.exact and not (flagged and record[3]) and not predicate()(doc):
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

    def _fetch_rowids(self, db: sqlite3.Connection, rowids: Sequence[int]) -> list[dict[str, Any]]:
        found = {
            rowid: (id, text)
            for rowid, id, text in db.execute(
                f"SELECT rowid, id, doc FROM {self._t} WHERE rowid IN (SELECT value FROM json_each(?))",
                (typed_json.dumps_text(list(rowids)),),
            )
        }
        return [self._decode(*found[r]) for r in rowids if r in found]

    def _iterate_docs_sync(self, query: FindQuery, batch_size: int) -> Iterator[dict[str, Any]]:
        self._initialize_sync()
        size = max(1, int(batch_size))
        if query.sort:
            rowids = self._sqlite(lambda: self._db.read_snapshot(lambda db: self._sorted_rowids(db, query)))
            for start in range(0, len(rowids), size):
                chunk = rowids[start : start + size]
                yield from self._sqlite(partial(self._db.read, partial(self._fetch_rowids, rowids=chunk)))
            return
        plan, predicate = self._plan(query.filter)
        scan = self._scan(plan)
        step = partial(self._next_batch, scan=scan, predicate=predicate, size=size)
        while not scan.done:
            yield from self._sqlite(partial(self._db.read, step))

    async def _iterate_docs(self, query: FindQuery, batch_size: int) -> AsyncIterator[dict[str, Any]]:
        await self._initialize()
        size = max(1, int(batch_size))
        if query.sort:
            rowids = await self._sqlite_async(
                self._db.read_async(lambda db: self._sorted_rowids(db, query), snapshot=True, long=True)
            )
            for start in range(0, len(rowids), size):
                chunk = rowids[start : start + size]
                docs = await self._sqlite_async(
                    self._db.read_async(partial(self._fetch_rowids, rowids=chunk))
                )
                for doc in docs:
                    yield doc
                await asyncio.sleep(0)
            return
        plan, predicate = self._plan(query.filter)
        scan = self._scan(plan)
        step = partial(self._next_batch, scan=scan, predicate=predicate, size=size)
        while not scan.done:
            for doc in await self._sqlite_async(self._db.read_async(step)):
                yield doc
            await asyncio.sleep(0)  # a long scan must not hold the event loop

    # ================================================================== close
    def _close_sync(self) -> None:
        self._db.close()

    async def _close(self) -> None:
        self._db.close()

    # ================================================================== diagnostics
    def explain(self, *filters: Any, sort: SortSpec = None) -> list[str]:
        """SQLite's query plan (``EXPLAIN QUERY PLAN`` details) for ``find(*filters, sort=sort)``:
        shows whether an index is used. The filter is not run."""
        query, _ = self._find_query(filters, sort, 0, None, None)
        self._initialize_sync()

        def run(db: sqlite3.Connection) -> list[str]:
            plan, _, sort_plan = self._sorted_plan(db, query.filter, query.sort)
            select, params = self._select_sql(plan, sort_plan.order_by if sort_plan else "rowid")
            return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + select, params)]

        return self._sqlite(lambda: self._db.read(run))


class _Scan:
    """Reads the rows a filter plan may match in rowid order, one page per call, holding no
    statement open between pages (so callers may write, or await, in between).

    Without a ``WHERE`` restriction it pages by rowid (``rowid > last``). With one it first lists
    the candidate rowids (SQLite is then free to use an index; paging by rowid would make it scan
    the table in rowid order) and reads pages of those, re-checking ``WHERE`` on rows that changed
    in between. Memory: 8 bytes per candidate.
    """

    def __init__(self, table: str, plan: FilterPlan) -> None:
        self._table = table
        self._plan = plan
        self._flagged = not plan.exact and plan.check is not FALSE
        self._columns = f"rowid, id, doc, ({plan.check.text})" if self._flagged else "rowid, id, doc"
        self._rowids: array[int] | None = None
        self._position = 0
        self._last = 0
        self.done = plan.where is FALSE

    def next_page(self, db: sqlite3.Connection, size: int) -> list[tuple[int, str, str, bool]]:
        """Up to ``size`` rows: (rowid, id, stored JSON, certainly matches). Sets ``done``."""
        plan, columns = self._plan, self._columns
        check_params = plan.check.params if self._flagged else ()
        if plan.where is TRUE:
            batch = db.execute(
                f"SELECT {columns} FROM {self._table} WHERE rowid > ? ORDER BY rowid LIMIT {int(size)}",
                (*check_params, self._last),
            ).fetchall()
            self.done = len(batch) < size
        else:
            if self._rowids is None:
                self._rowids = array(
                    "q",
                    sorted(
                        r[0]
                        for r in db.execute(
                            f"SELECT rowid FROM {self._table} WHERE {plan.where.text}", plan.where.params
                        )
                    ),
                )
            chunk = self._rowids[self._position : self._position + size]
            self._position += size
            self.done = self._position >= len(self._rowids)
            if not chunk:
                return []
            batch = db.execute(
                f"SELECT {columns} FROM {self._table} WHERE rowid IN (SELECT value FROM json_each(?)) "
                f"AND ({plan.where.text}) ORDER BY rowid",
                (*check_params, typed_json.dumps_text(chunk.tolist()), *plan.where.params),
            ).fetchall()
        if batch:
            self._last = batch[-1][0]
        exact, flagged = plan.exact, self._flagged
        return [(r[0], r[1], r[2], exact or (flagged and bool(r[3]))) for r in batch]


class _TableCollections(Mapping[str, Sequence[Mapping[str, Any]]]):
    """Other collections of the same database file for ``$lookup``/``$unionWith``: a mapping
    over the file's tables whose documents are loaded on first access only."""

    def __init__(self, backend: LocalODMBackend[Any]) -> None:
        self._backend = backend
        self._loaded: dict[str, list[dict[str, Any]] | None] = {}
        self._names: list[str] | None = None

    def __getitem__(self, name: str) -> Sequence[Mapping[str, Any]]:
        if name not in self._loaded:
            self._loaded[name] = self._backend._load_collection(name)
        docs = self._loaded[name]
        if docs is None:
            raise KeyError(name)
        return docs

    def _tables(self) -> list[str]:
        if self._names is None:
            self._names = self._backend._table_names()
        return self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables())

    def __len__(self) -> int:
        return len(self._tables())


def _count_arg(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    n = int(value)
    return n if n >= 0 else None


def _get_path(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _plain_limit(limit: object) -> bool:
    """A limit the point-query fast path may use as is; anything else takes the validated path."""
    return type(limit) is int and limit >= 0
