"""The embedded default backend: one SQLite file (standard library ``sqlite3``), no server.

``LocalODMBackend(Model)`` stores ``Model`` documents in the table named after the collection
(``Settings.name`` or the class name) of the database file given by ``path``, else
``$MINDTRACE_DB_PATH``, else ``~/.local/share/mindtrace/database.sqlite3`` (honouring
``XDG_DATA_HOME``); ``path=":memory:"`` keeps the data in memory. See ``docs/local.md`` for the
storage layout, durability and locking, and what the SQL pushdown does.

This module is the thin shell: each primitive runs one operation of ``LocalCollection`` (a
function of a connection) through ``SqliteDatabase`` inside ``LocalErrors.translate``. Blocking
calls run on the calling thread. Coroutines run short operations inline on the event loop (a
primary-key read costs microseconds, a thread hop a hundred) and never wait on the loop for
another process's lock; operations that may take long (scans, ``update_many``, ``delete_many``,
aggregation, big batches) are marked ``long`` and run on the database's worker thread, so the
loop keeps turning (see ``sqlite_connection`` and docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from functools import partial
from typing import Any, Final, TypeVar

from pydantic import BaseModel

from mindtrace.database.backends.engine_backed import split_pipeline
from mindtrace.database.backends.local.collection import LocalCollection, Reader, TableCollections
from mindtrace.database.backends.local.database_path import MEMORY, resolve_database_path
from mindtrace.database.backends.local.errors import LocalErrors
from mindtrace.database.backends.local.model_paths import ArrayPaths
from mindtrace.database.backends.local.sqlite_connection import SqliteDatabase
from mindtrace.database.backends.local.sqlite_pushdown import SqlitePushdown
from mindtrace.database.backends.local.sqlite_schema import CollectionTable
from mindtrace.database.core.backend import (
    FindQuery,
    Found,
    MindtraceODMBackend,
    SortSpec,
    UpdateResult,
    WriteOptions,
)
from mindtrace.database.core.exceptions import DatabaseError
from mindtrace.database.core.indexes import index_specs
from mindtrace.database.query.pipeline import CompiledAggregation

__all__ = ["LocalODMBackend"]

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")

_LONG_INSERT: Final = 200  # an async insert_many of more documents (~20 µs each) runs on the worker


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
        table = CollectionTable(self.collection_name, index_specs(model_cls))
        self._errors = LocalErrors(table, self.path, timeout)
        self._ops = LocalCollection(
            self.codec, table, SqlitePushdown(ArrayPaths(model_cls), table.leading_paths), self._errors
        )
        self._db = SqliteDatabase(
            self.path,
            timeout=timeout,
            synchronous=synchronous,
            describe=f"LocalODMBackend({model_cls.__name__}) on {self.path!r}",
        )
        self._ready = False

    def __repr__(self) -> str:
        model = self.model_cls.__name__
        return f"LocalODMBackend({model}, collection={self.collection_name!r}, path={self.path!r})"

    # ================================================================== running operations
    def _read(self, operation: str, fn: Reader, snapshot: bool = False) -> Any:
        if not self._ready:
            self._initialize_sync()
        with self._errors.translate(operation):
            return self._db.read_snapshot(fn) if snapshot else self._db.read(fn)

    async def _read_async(
        self, operation: str, fn: Reader, snapshot: bool = False, long: bool = False
    ) -> Any:
        # long: the read may take long; it gets a few ms inline, then moves to the worker thread
        # (``fn`` must be re-runnable: see sqlite_connection).
        if not self._ready:
            await self._initialize()
        with self._errors.translate(operation):
            return await self._db.read_async(fn, snapshot=snapshot, long=long)

    def _write(self, operation: str, fn: Reader) -> Any:
        if not self._ready:
            self._initialize_sync()
        with self._errors.translate(operation):
            return self._db.write(fn)

    async def _write_async(self, operation: str, fn: Reader, long: bool = False) -> Any:
        # long: the transaction runs on the worker thread, off the event loop.
        if not self._ready:
            await self._initialize()
        with self._errors.translate(operation):
            return await self._db.write_async(fn, long=long)

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

    # ================================================================== primitives (sync)
    def _initialize_sync(self) -> None:
        if self._ready:
            return
        self._prepare_file()
        with self._errors.translate("initialize"):
            if not self._db.read_snapshot(self._ops.schema_is_current):
                self._db.write(self._ops.create)
        self._ready = True

    def _insert_docs_sync(self, docs: list[dict[str, Any]], options: WriteOptions) -> None:
        stopped = self._write("insert", self._ops.insert(docs))
        if stopped is not None:
            raise stopped

    def _get_doc_sync(self, id: str) -> Found | None:
        found: Found | None = self._read("get", self._ops.get(id))
        return found

    def _find_docs_sync(self, query: FindQuery) -> list[Found]:
        fn, snapshot = self._ops.find(query)
        found: list[Found] = self._read("find", fn, snapshot=snapshot)
        return found

    def _iterate_docs_sync(self, query: FindQuery, batch_size: int) -> Iterator[dict[str, Any]]:
        size = max(1, int(batch_size))
        if query.sort:
            rowids = self._read("iterate", lambda db: self._ops.sorted_rowids(db, query), snapshot=True)
            for start in range(0, len(rowids), size):
                yield from self._read("iterate", self._ops.fetch_rowids(rowids[start : start + size]))
            return
        scan, next_page = self._ops.scan_pages(query.filter, size)
        while not scan.done:
            yield from self._read("iterate", next_page)

    def _count_sync(self, filter: dict[str, Any]) -> int:
        fn, snapshot = self._ops.count(filter)
        return int(self._read("count", fn, snapshot=snapshot))

    def _replace_doc_sync(self, id: str, doc: dict[str, Any], options: WriteOptions) -> bool:
        return bool(self._write("update", self._ops.replace(id, doc)))

    def _update_many_sync(self, filter: dict[str, Any], update: Any, upsert: bool) -> UpdateResult:
        result: UpdateResult = self._write("update_many", self._ops.update_many(filter, update, upsert))
        return result

    def _delete_sync(self, id: str) -> bool:
        return bool(self._write("delete", self._ops.delete(id)))

    def _delete_many_sync(self, filter: dict[str, Any]) -> int:
        return int(self._write("delete_many", self._ops.delete_many(filter)))

    def _aggregate_sync(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        query, rest = split_pipeline(pipeline)
        compiled = CompiledAggregation(rest)  # validates every stage before any I/O
        docs = [] if query.limit == 0 else self._read("aggregate", *self._ops.find_documents(query))
        return compiled.run(docs, collections=self._collections())

    def _close_sync(self) -> None:
        self._db.close()

    # ================================================================== primitives (async)
    async def _initialize(self) -> None:
        if self._ready:
            return
        self._prepare_file()
        with self._errors.translate("initialize"):
            if not await self._db.read_async(self._ops.schema_is_current, snapshot=True):
                await self._db.write_async(self._ops.create)
        self._ready = True

    async def _insert_docs(self, docs: list[dict[str, Any]], options: WriteOptions) -> None:
        stopped = await self._write_async("insert", self._ops.insert(docs))
        if stopped is not None:
            raise stopped

    async def _get_doc(self, id: str) -> Found | None:
        found: Found | None = await self._read_async("get", self._ops.get(id))
        return found

    async def _find_docs(self, query: FindQuery) -> list[Found]:
        fn, snapshot = self._ops.find(query)
        found: list[Found] = await self._read_async("find", fn, snapshot=snapshot, long=True)
        return found

    async def _iterate_docs(self, query: FindQuery, batch_size: int) -> AsyncIterator[dict[str, Any]]:
        size = max(1, int(batch_size))
        if query.sort:
            rowids = await self._read_async(
                "iterate", lambda db: self._ops.sorted_rowids(db, query), snapshot=True, long=True
            )
            for start in range(0, len(rowids), size):
                for doc in await self._read_async(
                    "iterate", self._ops.fetch_rowids(rowids[start : start + size])
                ):
                    yield doc
                await asyncio.sleep(0)
            return
        scan, next_page = self._ops.scan_pages(query.filter, size)
        while not scan.done:
            for doc in await self._read_async("iterate", next_page):
                yield doc
            await asyncio.sleep(0)  # a long scan must not hold the event loop

    async def _count(self, filter: dict[str, Any]) -> int:
        fn, snapshot = self._ops.count(filter)
        return int(await self._read_async("count", fn, snapshot=snapshot, long=True))

    async def _replace_doc(self, id: str, doc: dict[str, Any], options: WriteOptions) -> bool:
        return bool(await self._write_async("update", self._ops.replace(id, doc)))

    async def _update_many(self, filter: dict[str, Any], update: Any, upsert: bool) -> UpdateResult:
        result: UpdateResult = await self._write_async(
            "update_many", self._ops.update_many(filter, update, upsert), long=True
        )
        return result

    async def _delete(self, id: str) -> bool:
        return bool(await self._write_async("delete", self._ops.delete(id)))

    async def _delete_many(self, filter: dict[str, Any]) -> int:
        return int(await self._write_async("delete_many", self._ops.delete_many(filter), long=True))

    async def _aggregate(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # The engine's stages are Python work as long as the read: all of it off the event loop.
        result: list[dict[str, Any]] = await self._db.offload(partial(self._aggregate_sync, pipeline))
        return result

    async def _insert_batch(self, objs: Iterable[BaseModel], options: WriteOptions) -> list[ModelT]:
        batch = objs if isinstance(objs, Sequence) else list(objs)
        if len(batch) > _LONG_INSERT:  # validating, encoding and storing it: off the event loop
            stored: list[ModelT] = await self._db.offload(partial(self._insert_batch_sync, batch, options))
            return stored
        return await super()._insert_batch(batch, options)

    async def _close(self) -> None:
        self._db.close()

    # ================================================================== helpers
    def _collections(self) -> TableCollections:
        # Other collections of the file, read on first use (snapshot-free: each is one statement).
        return TableCollections(lambda fn: self._read("aggregate", fn))

    # ================================================================== diagnostics
    def explain(self, *filters: Any, sort: SortSpec = None) -> list[str]:
        """SQLite's query plan (``EXPLAIN QUERY PLAN`` details) for ``find(*filters, sort=sort)``:
        shows whether an index is used. The filter is not run."""
        query, _ = self._find_query(filters, sort, 0, None, None)

        def run(db: sqlite3.Connection) -> list[str]:
            plan, _, sort_plan = self._ops.sorted_plan(db, query.filter, query.sort)
            select, params = self._ops.select_sql(plan, sort_plan.order_by if sort_plan else "rowid")
            return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + select, params)]

        result: list[str] = self._read("explain", run)
        return result
