"""The Redis backend: Pydantic documents on plain Redis (>= 6, Valkey, managed), no modules needed.

Documents are stored with the package's exact-type codec, one string key each; a per-collection
id set, secondary indexes (sorted sets) and unique claims (hashes) are maintained by Lua scripts
in the same atomic step as the document. All keys of a collection share one hash tag, so the
same code runs on Redis Cluster. Queries use MongoDB's language: what the indexes can answer is
pushed down, the query engine checks every candidate. See ``docs/redis.md``.

    backend = RedisODMBackend(User, "redis://localhost:6379/0")
    user = await backend.insert(User(name="Ada", email="ada@x.io"))
    cached = backend.insert_sync(Session(token="t"), ttl=3600)   # expires in an hour
"""

from __future__ import annotations

from mindtrace.database.core.extras import require_extra

require_extra("redis", "redis")

import datetime as dt
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, TypeVar

from pydantic import BaseModel

from mindtrace.database.backends.engine_backed import DocumentRules
from mindtrace.database.backends.redis.keys import KeySpace
from mindtrace.database.backends.redis.operations import Collection, IndexDeclaration
from mindtrace.database.backends.redis.scripts import load_scripts
from mindtrace.database.backends.redis.shells import AsyncShell, SyncShell
from mindtrace.database.core.backend import FindQuery, Found, MindtraceODMBackend, UpdateResult, WriteOptions
from mindtrace.database.core.indexes import index_specs
from mindtrace.database.core.urls import redact_url

__all__ = ["RedisODMBackend"]

ModelT = TypeVar("ModelT", bound=BaseModel)

TTL = float | int | dt.timedelta | None
"""An expiry: seconds (int or float) or a ``timedelta``; None for no expiry."""


def _ttl_ms(ttl: TTL, what: str) -> int | None:
    if ttl is None:
        return None
    seconds = ttl.total_seconds() if isinstance(ttl, dt.timedelta) else ttl
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValueError(f"{what} must be a positive number of seconds or a timedelta, got {ttl!r}")
    return max(1, round(seconds * 1000))


class RedisODMBackend(MindtraceODMBackend[ModelT]):
    """Stores ``model_cls`` in Redis at ``redis_url`` (``redis://[:password@]host:port/db``,
    ``rediss://`` for TLS, ``unix://`` sockets).

    Options:

    * ``key_prefix`` — first part of every key's hash tag (``{prefix:collection}:...``); two
      backends with different prefixes never see each other's data.
    * ``cluster`` — whether ``redis_url`` names a node of a Redis Cluster (then redis-py's
      Cluster client is used). ``None`` (the default) asks the server on first use with one
      ``INFO cluster``, so the same code runs on a single server and on a cluster; pass
      ``True``/``False`` to skip the question.
    * ``default_ttl`` — expiry of every inserted document (seconds or ``timedelta``); defaults
      to the model's ``Settings.ttl`` when it declares one. ``insert(obj, ttl=...)`` overrides it
      per document, ``update(obj, ttl=...)`` resets it (``update`` otherwise keeps it).
    * ``batch_size`` — documents read per round trip when scanning.
    * any other keyword goes to the redis-py client (``socket_timeout``, ``ssl_ca_certs``...).

    Connection problems raise ``ConnectionFailedError`` naming the URL (password hidden); the
    same object reconnects on the next call once the server is back.
    """

    def __init__(
        self,
        model_cls: type[ModelT],
        redis_url: str,
        *,
        key_prefix: str = "mindtrace",
        cluster: bool | None = None,
        default_ttl: TTL = None,
        batch_size: int = 500,
        **client_options: Any,
    ) -> None:
        super().__init__(model_cls)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        settings = getattr(model_cls, "Settings", None)
        self.default_ttl_ms = _ttl_ms(
            default_ttl if default_ttl is not None else getattr(settings, "ttl", None), "default_ttl"
        )
        self.redis_url = redis_url
        self.key_prefix = key_prefix
        declarations = [
            IndexDeclaration(spec.name, spec.paths, spec.unique, spec.sparse)
            for spec in index_specs(model_cls)
            if spec.is_plain  # text/geo/hashed indexes are MongoDB-only
        ]
        scripts = load_scripts()
        self._collection = Collection(
            KeySpace(key_prefix, self.collection_name),
            declarations,
            scripts,
            batch_size=batch_size,
            rules=DocumentRules(self.codec),
        )
        options = {"decode_responses": False, **client_options}
        self._sync = SyncShell(redis_url, scripts, self.collection_name, cluster=cluster, options=options)
        self._async = AsyncShell(redis_url, scripts, self.collection_name, cluster=cluster, options=options)
        self._ready = False

    def __repr__(self) -> str:
        return (
            f"RedisODMBackend({self.model_cls.__name__}, {redact_url(self.redis_url)!r}, "
            f"key_prefix={self.key_prefix!r}, collection={self.collection_name!r})"
        )

    @property
    def keys(self) -> KeySpace:
        """The key names this backend uses (for inspection and tests)."""
        return self._collection.keys

    def _other(self, name: str) -> Collection:
        # Another collection under the same prefix, read without index knowledge ($lookup).
        return Collection(self.keys.for_collection(name), [], self._collection.scripts)

    # ----------------------------------------------------------------- TTL-aware public API
    # Thin overrides: they only turn ``ttl=`` into write options for the shared path.
    async def insert(self, obj: BaseModel, *, ttl: TTL = None) -> ModelT:
        """Store a new document (see the base class); ``ttl`` expires it after that many seconds."""
        return await self._insert_one(obj, self._insert_options(obj, ttl))

    def insert_sync(self, obj: BaseModel, *, ttl: TTL = None) -> ModelT:
        """Blocking twin of ``insert``."""
        return self._insert_one_sync(obj, self._insert_options(obj, ttl))

    async def insert_many(self, objs: Iterable[BaseModel], *, ttl: TTL = None) -> list[ModelT]:
        """Store several documents in input order (see the base class); ``ttl`` applies to each."""
        return await self._insert_batch(objs, WriteOptions(ttl_ms=_ttl_ms(ttl, "ttl")))

    def insert_many_sync(self, objs: Iterable[BaseModel], *, ttl: TTL = None) -> list[ModelT]:
        """Blocking twin of ``insert_many``."""
        return self._insert_batch_sync(objs, WriteOptions(ttl_ms=_ttl_ms(ttl, "ttl")))

    async def update(self, obj: BaseModel, *, ttl: TTL = None) -> ModelT:
        """Replace by id (see the base class); keeps the document's expiry unless ``ttl`` is given."""
        return await self._replace(obj, WriteOptions(ttl_ms=_ttl_ms(ttl, "ttl")))

    def update_sync(self, obj: BaseModel, *, ttl: TTL = None) -> ModelT:
        """Blocking twin of ``update``."""
        return self._replace_sync(obj, WriteOptions(ttl_ms=_ttl_ms(ttl, "ttl")))

    def _insert_options(self, obj: BaseModel, ttl: TTL) -> WriteOptions:
        return WriteOptions(ttl_ms=_ttl_ms(ttl, "ttl"), fresh_ids=self.codec.id_of(obj) is None)

    def _doc_ttl(self, options: WriteOptions) -> int | None:
        return self.default_ttl_ms if options.ttl_ms is None else options.ttl_ms

    # ----------------------------------------------------------------- running operations
    async def _run(self, op: Any) -> Any:
        if not self._ready:
            await self._initialize()
        return await self._async.run(op)

    def _run_sync(self, op: Any) -> Any:
        if not self._ready:
            self._initialize_sync()
        return self._sync.run(op)

    # ----------------------------------------------------------------- primitives (async)
    async def _initialize(self) -> None:
        await self._async.load_scripts()
        await self._async.run(self._collection.ensure_indexes())
        self._ready = True

    async def _insert_docs(self, docs: list[dict[str, Any]], options: WriteOptions) -> None:
        await self._run(
            self._collection.insert(docs, self._doc_ttl(options), generated_ids=options.fresh_ids)
        )

    async def _get_doc(self, id: str) -> Found | None:
        raw = await self._async.get(self._collection.get_key(id))
        return None if raw is None else self._collection.decode(raw)

    async def _find_docs(self, query: FindQuery) -> list[Found]:
        result: list[Found] = await self._run(self._collection.find(query))
        return result

    async def _iterate_docs(self, query: FindQuery, batch_size: int) -> AsyncIterator[dict[str, Any]]:
        if not self._ready:
            await self._initialize()
        async for doc in self._async.stream(self._collection.iterate(query, batch_size)):
            yield doc

    async def _count(self, filter: dict[str, Any]) -> int:
        result: int = await self._run(self._collection.count(filter))
        return result

    async def _replace_doc(self, id: str, doc: dict[str, Any], options: WriteOptions) -> bool:
        result: bool = await self._run(self._collection.replace(doc, options.ttl_ms))
        return result

    async def _update_many(self, filter: dict[str, Any], update: Any, upsert: bool) -> UpdateResult:
        result: UpdateResult = await self._run(self._collection.update_many(filter, update, upsert))
        return result

    async def _delete(self, id: str) -> bool:
        result: bool = await self._run(self._collection.delete(id))
        return result

    async def _delete_many(self, filter: dict[str, Any]) -> int:
        result: int = await self._run(self._collection.delete_many(filter))
        return result

    async def _aggregate(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._run(self._collection.aggregate(pipeline, self._other))
        return result

    async def _close(self) -> None:
        await self._async.close()
        self._sync.close()

    # ----------------------------------------------------------------- primitives (sync)
    def _initialize_sync(self) -> None:
        self._sync.load_scripts()
        self._sync.run(self._collection.ensure_indexes())
        self._ready = True

    def _insert_docs_sync(self, docs: list[dict[str, Any]], options: WriteOptions) -> None:
        self._run_sync(self._collection.insert(docs, self._doc_ttl(options), generated_ids=options.fresh_ids))

    def _get_doc_sync(self, id: str) -> Found | None:
        raw = self._sync.get(self._collection.get_key(id))
        return None if raw is None else self._collection.decode(raw)

    def _find_docs_sync(self, query: FindQuery) -> list[Found]:
        result: list[Found] = self._run_sync(self._collection.find(query))
        return result

    def _iterate_docs_sync(self, query: FindQuery, batch_size: int) -> Iterator[dict[str, Any]]:
        if not self._ready:
            self._initialize_sync()
        yield from self._sync.stream(self._collection.iterate(query, batch_size))

    def _count_sync(self, filter: dict[str, Any]) -> int:
        result: int = self._run_sync(self._collection.count(filter))
        return result

    def _replace_doc_sync(self, id: str, doc: dict[str, Any], options: WriteOptions) -> bool:
        result: bool = self._run_sync(self._collection.replace(doc, options.ttl_ms))
        return result

    def _update_many_sync(self, filter: dict[str, Any], update: Any, upsert: bool) -> UpdateResult:
        result: UpdateResult = self._run_sync(self._collection.update_many(filter, update, upsert))
        return result

    def _delete_sync(self, id: str) -> bool:
        result: bool = self._run_sync(self._collection.delete(id))
        return result

    def _delete_many_sync(self, filter: dict[str, Any]) -> int:
        result: int = self._run_sync(self._collection.delete_many(filter))
        return result

    def _aggregate_sync(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._run_sync(self._collection.aggregate(pipeline, self._other))
        return result

    def _close_sync(self) -> None:
        self._sync.close()
