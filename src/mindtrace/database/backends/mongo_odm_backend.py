"""The MongoDB backend: Beanie 2 documents (or plain Pydantic models) over PyMongo's own clients.

Async methods run on ``pymongo.AsyncMongoClient``; their ``_sync`` twins on ``pymongo.MongoClient``
directly (no event loop, no thread hop), so they also work inside a running event loop. Clients
are shared per URL between backends (see ``backends.mongo.clients``). Every operation goes
through the backend's own collection, with real ``ObjectId`` values as ``_id`` in the database and
24-hex strings on the Python side; Beanie is used for what it owns — the document class, its
indexes, field expressions, ``Link`` fetching — and is initialised once per backend and event loop.
"""

from __future__ import annotations

from mindtrace.database.core.extras import require_extra

require_extra("mongo", "beanie", "pymongo")

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from beanie import Document, init_beanie
from beanie.odm.utils.find import construct_lookup_queries
from bson import ObjectId
from pydantic import BaseModel
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.command_cursor import AsyncCommandCursor
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.synchronous.collection import Collection
from pymongo.synchronous.command_cursor import CommandCursor
from pymongo.synchronous.cursor import Cursor

from mindtrace.database.backends.engine_backed import DocumentRules
from mindtrace.database.backends.mongo.bindings import SHARED_BINDINGS, BeanieBindings
from mindtrace.database.backends.mongo.bson_types import (
    AGGREGATE_CODEC_OPTIONS,
    CODEC_OPTIONS,
    filter_to_bson,
    from_bson,
    pipeline_to_bson,
    to_bson,
)
from mindtrace.database.backends.mongo.clients import SHARED_CLIENTS, AsyncClientLease, MongoClients
from mindtrace.database.backends.mongo.document import (
    MindtraceDocument,
    link_fields,
    linked_document_classes,
    parse_settings,
    stored_link_value,
)
from mindtrace.database.backends.mongo.errors import MongoErrorContext
from mindtrace.database.backends.mongo.indexes import index_models
from mindtrace.database.backends.mongo.pipelines import ids_as_strings
from mindtrace.database.backends.mongo.updates import (
    Insert,
    Pause,
    Read,
    Request,
    UpdatePlan,
    Write,
    WriteReply,
    update_plan,
)
from mindtrace.database.core.backend import (
    FindQuery,
    Found,
    MindtraceODMBackend,
    ProjectionSpec,
    Shape,
    SortSpec,
    UpdateResult,
    WriteOptions,
)
from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.core.schema import model_schema
from mindtrace.database.core.urls import redact_url

__all__ = ["MindtraceDocument", "MongoMindtraceODMBackend"]

ModelT = TypeVar("ModelT", bound=BaseModel)

_Doc = dict[str, Any]


@dataclass
class _LoopState:
    """The backend's view of its server from one event loop."""

    lease: AsyncClientLease
    database: AsyncDatabase[_Doc]
    collection: AsyncCollection[_Doc]
    ready: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _object_id(id: str) -> ObjectId:
    # The base class only hands valid 24-hex ids to the primitives.
    return ObjectId(id)


class MongoMindtraceODMBackend(MindtraceODMBackend[ModelT]):
    """Stores ``model_cls`` in the collection ``Settings.name`` (else the class name) of ``db_name``.

    ``model_cls`` is a ``MindtraceDocument`` (or any Beanie ``Document``), or a plain Pydantic
    model — the same model class can then move between the Local, Redis and MongoDB backends.
    Nothing talks to the server before the first operation (or ``initialize``), which creates the
    declared indexes (``Indexed``, ``Settings.indexes``) and binds Beanie documents to the database.

    Backends on the same URL share one client (``clients`` defaults to the process-wide pool).
    A Beanie class is bound to the database of the first open backend that uses it; another
    backend using the same class on another database works on its own collection without
    rebinding the class (see ``backends.mongo.bindings``).

    Datetimes are stored as UTC instants with millisecond precision and come back naive (in UTC),
    except where the model declares ``AwareDatetime`` (at any depth) and in aggregation results
    (aware, UTC). ``update_many`` never stores a document the model rejects (a verified
    compare-and-set per document, see ``backends.mongo.updates``). See ``docs/mongo.md``.

    Any other keyword is a PyMongo client option, e.g. ``serverSelectionTimeoutMS=2000,
    socketTimeoutMS=2000`` to bound how long a call may wait for an unreachable server (PyMongo's
    defaults: 30 s to find a server, no socket timeout) before it raises ``ConnectionFailedError``.
    Backends share a client only when URL and options are equal.
    """

    def __init__(
        self,
        model_cls: type[ModelT],
        db_uri: str,
        db_name: str,
        *,
        clients: MongoClients | None = None,
        bindings: BeanieBindings | None = None,
        **client_options: Any,
    ) -> None:
        super().__init__(model_cls)
        if not isinstance(db_uri, str) or not db_uri:
            raise ValueError(
                f"db_uri must be a MongoDB URL such as 'mongodb://localhost:27017', got {db_uri!r}"
            )
        if not isinstance(db_name, str) or not db_name:
            raise ValueError(f"db_name must be a non-empty database name, got {db_name!r}")
        self._beanie_classes: list[type[Document]] = linked_document_classes(model_cls)
        for cls in self._beanie_classes:
            _reject_inheritance(cls)
        self.db_uri = db_uri
        self.db_name = db_name
        self._errors = MongoErrorContext(self.collection_name, db_uri)
        self._rules = DocumentRules(self.codec)
        self._clients = clients if clients is not None else SHARED_CLIENTS
        self._client_options = client_options
        self._bindings = bindings if bindings is not None else SHARED_BINDINGS
        self._indexes = index_models(model_cls)
        self._links = link_fields(model_cls)  # name -> (stored name, is a BackLink)
        self._schema = model_schema(model_cls)  # where the model declares aware datetimes
        self._lock = threading.Lock()
        self._indexes_ready = not self._indexes
        self._sync_collection: Collection[_Doc] | None = None
        self._loops: dict[int, _LoopState] = {}
        self._current: _LoopState | None = None
        self._closing: set[asyncio.Future[Any]] = set()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.model_cls.__name__}, url={redact_url(self.db_uri)!r}, "
            f"db={self.db_name!r}, collection={self.collection_name!r})"
        )

    # ----------------------------------------------------------------- clients and set-up
    async def async_client(self) -> AsyncMongoClient[_Doc]:
        """The shared async client this backend uses on the running event loop (connects if needed)."""
        await self._acollection()
        state = self._current
        assert state is not None
        return state.lease.client

    def sync_client(self) -> MongoClient[_Doc]:
        """The shared sync client this backend uses (connects if needed)."""
        return self._scollection().database.client

    async def _acollection(self) -> AsyncCollection[_Doc]:
        loop = asyncio.get_running_loop()
        state = self._current
        if state is not None and state.ready and state.lease.loop is loop:
            return state.collection
        state = self._loop_state(loop)
        async with state.lock:
            if not state.ready:
                with self._errors.translate("initialize"):
                    if not self._indexes_ready:
                        await state.collection.create_indexes(self._indexes)
                        self._indexes_ready = True
                    await self._bind_beanie(state)
                state.ready = True
        self._current = state
        return state.collection

    def _loop_state(self, loop: asyncio.AbstractEventLoop) -> _LoopState:
        with self._lock:
            state = self._loops.get(id(loop))
            if state is not None and state.lease.loop is loop:
                return state
            for key, old in list(self._loops.items()):
                if old.lease.loop.is_closed():
                    del self._loops[key]
                    self._clients.release_async(self.db_uri, old.lease)
            lease = self._clients.acquire_async(self.db_uri, loop, self._client_options)
            database = lease.client[self.db_name]
            collection = database.get_collection(self.collection_name, codec_options=CODEC_OPTIONS)
            state = _LoopState(lease, database, collection)
            self._loops[id(loop)] = state
            return state

    async def _bind_beanie(self, state: _LoopState) -> None:
        # Bind the Beanie classes to this database unless another open backend holds them for
        # another one (then that backend has initialised them; link metadata is shared).
        if not self._beanie_classes:
            return
        if self._bindings.claim(self._beanie_classes, (self.db_uri, self.db_name), self) is not None:
            return
        async with state.lease.beanie_lock:
            if any(self._needs_binding(cls, state) for cls in self._beanie_classes):
                await init_beanie(
                    database=state.database, document_models=self._beanie_classes, skip_indexes=True
                )

    def _needs_binding(self, cls: type[Document], state: _LoopState) -> bool:
        settings = cls.__dict__.get("_document_settings")
        database = None if settings is None else settings.pymongo_db
        return database is None or database.client is not state.lease.client or database.name != self.db_name

    def _scollection(self) -> Collection[_Doc]:
        collection = self._sync_collection
        if collection is not None:
            return collection
        with self._lock:
            if self._sync_collection is None:
                client = self._clients.acquire_sync(self.db_uri, self._client_options)
                try:
                    collection = client[self.db_name].get_collection(
                        self.collection_name, codec_options=CODEC_OPTIONS
                    )
                    if not self._indexes_ready:
                        with self._errors.translate("initialize"):
                            collection.create_indexes(self._indexes)
                        self._indexes_ready = True
                except BaseException:
                    self._clients.release_sync(self.db_uri, self._client_options)
                    raise
                self._sync_collection = collection
            return self._sync_collection

    # ----------------------------------------------------------------- shared request building
    def _prepare_insert(self, obj: BaseModel) -> dict[str, Any]:
        doc = super()._prepare_insert(obj)
        for name, (stored, is_back_link) in self._links.items():
            if is_back_link:  # computed by Beanie from the other side, never stored
                doc.pop(stored, None)
            else:
                doc[stored] = stored_link_value(getattr(obj, name, None))
        # What insert() and update() return is then what a read gives back: UTC, aware only
        # where the model declares it (BSON keeps neither the offset nor the awareness).
        return self._schema.to_utc_instants(doc)

    def _find_query(
        self, filters: Sequence[Any], sort: SortSpec, skip: int, limit: int | None, projection: ProjectionSpec
    ) -> tuple[FindQuery, Shape | None]:
        query, shape = super()._find_query(filters, sort, skip, limit, projection)
        # A Beanie projection model may declare its own (computed) projection in Settings.
        declared = getattr(getattr(projection, "Settings", None), "projection", None)
        if isinstance(projection, type) and isinstance(declared, dict):
            query = dataclasses.replace(query, projection=dict(declared))
        return query, shape

    def _engine(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A stored document as an engine document of this model, in place (string id, UTC on
        the datetimes the model declares aware)."""
        return self._schema.attach_utc(from_bson(doc))

    def _update_plan(self, filter: dict[str, Any], update: Any, upsert: bool) -> UpdatePlan:
        return update_plan(
            filter, update, upsert, engine=self._engine, rules=self._rules, errors=self._errors
        )

    def _find_args(self, query: FindQuery) -> dict[str, Any]:
        return {
            "filter": filter_to_bson(query.filter),
            "projection": query.projection,
            "sort": list(query.sort) or None,
            "skip": query.skip,
            "limit": query.limit or 0,
        }

    def _links_pipeline(self, query: FindQuery) -> list[dict[str, Any]]:
        """Beanie's ``$lookup`` stages for every link, then the query as pipeline stages."""
        # The class's own link metadata: a base class initialised by Beanie would lend its own.
        if self.model_cls.__dict__.get("_link_fields") is None:
            raise QueryError(
                f"fetch_links on {self.model_cls.__name__} needs Beanie's link metadata, which the "
                "async API sets up: call `await backend.initialize()` once before using find_sync(..., "
                "fetch_links=True), or use `await backend.find(..., fetch_links=True)`",
                operator="fetch_links",
            )
        pipeline: list[dict[str, Any]] = construct_lookup_queries(self.model_cls)  # type: ignore[arg-type]
        if query.filter:  # after the lookups, so filters may name fields of linked documents
            pipeline.append({"$match": filter_to_bson(query.filter)})
        if query.sort:
            pipeline.append({"$sort": dict(query.sort)})
        if query.skip:
            pipeline.append({"$skip": query.skip})
        if query.limit:
            pipeline.append({"$limit": query.limit})
        if query.projection:
            pipeline.append({"$project": query.projection})
        return pipeline

    # ----------------------------------------------------------------- public overrides
    def _find_query_with(
        self,
        filters: Sequence[Any],
        *,
        sort: SortSpec,
        skip: int,
        limit: int | None,
        projection: ProjectionSpec,
        projection_model: type[BaseModel] | None,
        fetch_links: bool,
    ) -> tuple[FindQuery, Shape | None]:
        # Beanie's options, translated into the request every find primitive takes.
        query, shape = self._find_query(
            filters, sort, skip, limit, _one_projection(projection, projection_model)
        )
        if fetch_links:
            query = dataclasses.replace(query, fetch_links=True)
        return query, shape

    async def find(
        self,
        *filters: Any,
        sort: SortSpec = None,
        skip: int = 0,
        limit: int | None = None,
        projection: ProjectionSpec = None,
        projection_model: type[BaseModel] | None = None,
        fetch_links: bool = False,
    ) -> list[Any]:
        """Documents matching every filter: dicts, field expressions, or Beanie expressions
        (``UserDoc.age > 30``, ``In(UserDoc.name, [...])``).

        ``projection_model`` is Beanie's spelling of ``projection=Model`` (results are that model,
        honouring its ``Settings.projection``). ``fetch_links=True`` replaces Beanie ``Link`` fields
        by the linked documents (one aggregation with ``$lookup``). Raises ``QueryError`` for an
        invalid query, including when both ``projection`` and ``projection_model`` are given.
        """
        query, shape = self._find_query_with(
            filters,
            sort=sort,
            skip=skip,
            limit=limit,
            projection=projection,
            projection_model=projection_model,
            fetch_links=fetch_links,
        )
        return await self._find(query, shape)

    def find_sync(
        self,
        *filters: Any,
        sort: SortSpec = None,
        skip: int = 0,
        limit: int | None = None,
        projection: ProjectionSpec = None,
        projection_model: type[BaseModel] | None = None,
        fetch_links: bool = False,
    ) -> list[Any]:
        """Blocking twin of ``find``."""
        query, shape = self._find_query_with(
            filters,
            sort=sort,
            skip=skip,
            limit=limit,
            projection=projection,
            projection_model=projection_model,
            fetch_links=fetch_links,
        )
        return self._find_sync(query, shape)

    # ----------------------------------------------------------------- async primitives
    async def _initialize(self) -> None:
        await self._acollection()

    async def _insert_docs(self, docs: list[dict[str, Any]], options: WriteOptions) -> None:
        collection = await self._acollection()
        with self._errors.translate("insert"):
            if len(docs) == 1:
                stored = to_bson(docs[0])
                try:
                    await collection.insert_one(stored)
                except DuplicateKeyError:
                    # A retried insert may meet its own first attempt: see _own_retry.
                    if not (options.fresh_ids and await collection.find_one(_own_retry(stored))):
                        raise
                return
            try:
                await collection.insert_many([to_bson(d) for d in docs])
            except BulkWriteError as e:
                self._errors.raise_bulk(e, "insert_many", [d["_id"] for d in docs])

    async def _get_doc(self, id: str) -> dict[str, Any] | None:
        collection = await self._acollection()
        with self._errors.translate("get"):
            doc = await collection.find_one({"_id": _object_id(id)})
        return None if doc is None else self._engine(doc)

    async def _find_docs(self, query: FindQuery) -> list[Found]:
        collection = await self._acollection()
        with self._errors.translate("find"):
            if query.fetch_links and self._links:
                docs = await (await collection.aggregate(self._links_pipeline(query))).to_list()
            else:
                docs = await collection.find(**self._find_args(query)).to_list()
        return [self._engine(d) for d in docs]

    async def _iterate_docs(self, query: FindQuery, batch_size: int) -> AsyncIterator[dict[str, Any]]:
        collection = await self._acollection()
        with self._errors.translate("iterate"):
            cursor: AsyncCursor[_Doc] | AsyncCommandCursor[_Doc]
            if query.fetch_links and self._links:
                cursor = await collection.aggregate(self._links_pipeline(query), batchSize=batch_size)
            else:
                cursor = collection.find(**self._find_args(query), batch_size=batch_size)
            try:
                async for doc in cursor:
                    yield self._engine(doc)
            finally:
                await cursor.close()

    async def _count(self, filter: dict[str, Any]) -> int:
        collection = await self._acollection()
        with self._errors.translate("count"):
            return await collection.count_documents(filter_to_bson(filter))

    async def _replace_doc(self, id: str, doc: dict[str, Any], options: WriteOptions) -> bool:
        collection = await self._acollection()
        with self._errors.translate("update"):
            result = await collection.replace_one({"_id": _object_id(id)}, to_bson(doc))
        return result.matched_count > 0

    async def _update_many(self, filter: dict[str, Any], update: Any, upsert: bool) -> UpdateResult:
        plan = self._update_plan(filter, update, upsert)
        collection = await self._acollection()
        with self._errors.translate("update_many"):
            reply: Any = None
            while True:
                try:
                    request = plan.send(reply)
                except StopIteration as done:
                    result: UpdateResult = done.value
                    return result
                reply = await _perform(collection, request)

    async def _delete(self, id: str) -> bool:
        collection = await self._acollection()
        with self._errors.translate("delete"):
            result = await collection.delete_one({"_id": _object_id(id)})
        return result.deleted_count > 0

    async def _delete_many(self, filter: dict[str, Any]) -> int:
        collection = await self._acollection()
        with self._errors.translate("delete_many"):
            result = await collection.delete_many(filter_to_bson(filter))
        return result.deleted_count

    async def _aggregate(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        collection = (await self._acollection()).with_options(codec_options=AGGREGATE_CODEC_OPTIONS)
        with self._errors.translate("aggregate"):
            cursor = await collection.aggregate(ids_as_strings(pipeline_to_bson(pipeline)))
            docs = await cursor.to_list()
        return [from_bson(d) for d in docs]

    async def _close(self) -> None:
        for client, loop in self._detach():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if loop is running:
                await client.close()
            else:
                self._close_on_loop(client, loop)

    # ----------------------------------------------------------------- sync primitives
    def _initialize_sync(self) -> None:
        self._scollection()

    def _insert_docs_sync(self, docs: list[dict[str, Any]], options: WriteOptions) -> None:
        collection = self._scollection()
        with self._errors.translate("insert"):
            if len(docs) == 1:
                stored = to_bson(docs[0])
                try:
                    collection.insert_one(stored)
                except DuplicateKeyError:
                    # A retried insert may meet its own first attempt: see _own_retry.
                    if not (options.fresh_ids and collection.find_one(_own_retry(stored))):
                        raise
                return
            try:
                collection.insert_many([to_bson(d) for d in docs])
            except BulkWriteError as e:
                self._errors.raise_bulk(e, "insert_many", [d["_id"] for d in docs])

    def _get_doc_sync(self, id: str) -> dict[str, Any] | None:
        collection = self._scollection()
        with self._errors.translate("get"):
            doc = collection.find_one({"_id": _object_id(id)})
        return None if doc is None else self._engine(doc)

    def _find_docs_sync(self, query: FindQuery) -> list[Found]:
        collection = self._scollection()
        with self._errors.translate("find"):
            if query.fetch_links and self._links:
                docs = collection.aggregate(self._links_pipeline(query)).to_list()
            else:
                docs = collection.find(**self._find_args(query)).to_list()
        return [self._engine(d) for d in docs]

    def _iterate_docs_sync(self, query: FindQuery, batch_size: int) -> Iterator[dict[str, Any]]:
        collection = self._scollection()
        with self._errors.translate("iterate"):
            cursor: Cursor[_Doc] | CommandCursor[_Doc]
            if query.fetch_links and self._links:
                cursor = collection.aggregate(self._links_pipeline(query), batchSize=batch_size)
            else:
                cursor = collection.find(**self._find_args(query), batch_size=batch_size)
            try:
                for doc in cursor:
                    yield self._engine(doc)
            finally:
                cursor.close()

    def _count_sync(self, filter: dict[str, Any]) -> int:
        collection = self._scollection()
        with self._errors.translate("count"):
            return collection.count_documents(filter_to_bson(filter))

    def _replace_doc_sync(self, id: str, doc: dict[str, Any], options: WriteOptions) -> bool:
        collection = self._scollection()
        with self._errors.translate("update"):
            result = collection.replace_one({"_id": _object_id(id)}, to_bson(doc))
        return result.matched_count > 0

    def _update_many_sync(self, filter: dict[str, Any], update: Any, upsert: bool) -> UpdateResult:
        plan = self._update_plan(filter, update, upsert)
        collection = self._scollection()
        with self._errors.translate("update_many"):
            reply: Any = None
            while True:
                try:
                    request = plan.send(reply)
                except StopIteration as done:
                    result: UpdateResult = done.value
                    return result
                reply = _perform_sync(collection, request)

    def _delete_sync(self, id: str) -> bool:
        collection = self._scollection()
        with self._errors.translate("delete"):
            result = collection.delete_one({"_id": _object_id(id)})
        return result.deleted_count > 0

    def _delete_many_sync(self, filter: dict[str, Any]) -> int:
        collection = self._scollection()
        with self._errors.translate("delete_many"):
            result = collection.delete_many(filter_to_bson(filter))
        return result.deleted_count

    def _aggregate_sync(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        collection = self._scollection().with_options(codec_options=AGGREGATE_CODEC_OPTIONS)
        with self._errors.translate("aggregate"):
            docs = collection.aggregate(ids_as_strings(pipeline_to_bson(pipeline))).to_list()
        return [from_bson(d) for d in docs]

    def _close_sync(self) -> None:
        for client, loop in self._detach():
            self._close_on_loop(client, loop)

    # ----------------------------------------------------------------- closing
    def _detach(self) -> list[tuple[AsyncMongoClient[_Doc], asyncio.AbstractEventLoop]]:
        """Give back every client and claim; returns the async clients that are now unused."""
        with self._lock:
            states = list(self._loops.values())
            self._loops.clear()
            self._current = None
            had_sync = self._sync_collection is not None
            self._sync_collection = None
        self._bindings.release(self)
        if had_sync:
            self._clients.release_sync(self.db_uri, self._client_options)
        unused = []
        for state in states:
            client = self._clients.release_async(self.db_uri, state.lease)
            if client is not None:
                unused.append((client, state.lease.loop))
        return unused

    def _close_on_loop(self, client: AsyncMongoClient[_Doc], loop: asyncio.AbstractEventLoop) -> None:
        # An async client can only be closed on its own loop.
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is running:  # close_sync() called from async code on that loop
            task = loop.create_task(client.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        elif loop.is_running():  # the loop runs in another thread
            asyncio.run_coroutine_threadsafe(client.close(), loop)
        elif not loop.is_closed():
            loop.run_until_complete(client.close())


def _own_retry(stored: dict[str, Any]) -> dict[str, Any]:
    """The filter that finds ``stored`` itself after its insert failed with a duplicate key.

    PyMongo retries a write whose reply was lost (a server restart); a server without
    retryable-write support then reports the first attempt's document as a duplicate (on
    ``_id`` or any other unique index). When the backend generated the id, no one else can hold
    it: finding the document under that id means the insert did happen.
    """
    return {"_id": stored["_id"]}


def _one_projection(projection: ProjectionSpec, projection_model: type[BaseModel] | None) -> ProjectionSpec:
    if projection_model is None:
        return projection
    if projection is not None:
        raise QueryError(
            "pass either projection or projection_model to find, not both", operator="projection"
        )
    return projection_model


# Documents per batch when update_many reads what it will update: all of them are held anyway,
# so as few round trips as the server's 16 MiB reply limit allows.
_READ_BATCH = 100_000


async def _perform(collection: AsyncCollection[_Doc], request: Request) -> Any:
    """One request of an update plan (see ``backends.mongo.updates``), on the async driver."""
    if isinstance(request, Read):
        return await collection.find(request.filter, batch_size=_READ_BATCH).to_list()
    if isinstance(request, Write):
        try:
            result = await collection.bulk_write(request.ops, ordered=False)
        except BulkWriteError as e:
            return _write_reply(e)
        return WriteReply(result.matched_count, result.modified_count, [])
    if isinstance(request, Insert):
        await collection.insert_one(request.doc)
        return None
    assert isinstance(request, Pause)
    await asyncio.sleep(request.seconds)
    return None


def _perform_sync(collection: Collection[_Doc], request: Request) -> Any:
    """Blocking twin of ``_perform``."""
    if isinstance(request, Read):
        return collection.find(request.filter, batch_size=_READ_BATCH).to_list()
    if isinstance(request, Write):
        try:
            result = collection.bulk_write(request.ops, ordered=False)
        except BulkWriteError as e:
            return _write_reply(e)
        return WriteReply(result.matched_count, result.modified_count, [])
    if isinstance(request, Insert):
        collection.insert_one(request.doc)
        return None
    assert isinstance(request, Pause)
    time.sleep(request.seconds)
    return None


def _write_reply(e: BulkWriteError) -> WriteReply:
    if e.details.get("writeConcernErrors"):
        raise e  # not a statement's failure: translated as any bulk write error
    return WriteReply(
        int(e.details.get("nMatched", 0)), int(e.details.get("nModified", 0)), e.details["writeErrors"]
    )


def _reject_inheritance(cls: type[Document]) -> None:
    # Beanie stores a class hierarchy with ``is_root`` in the root's collection, tagged with a
    # class id; the backend stores each class in its own collection, so it would not see them.
    for base in cls.__mro__:
        if (
            isinstance(base, type)
            and issubclass(base, Document)
            and base is not Document
            and parse_settings(base).is_root
        ):
            raise TypeError(
                f"{cls.__name__} uses Beanie's document inheritance (Settings.is_root on "
                f"{base.__name__}), which MongoMindtraceODMBackend does not support; give each "
                "class its own collection, or use Beanie directly for the hierarchy"
            )
