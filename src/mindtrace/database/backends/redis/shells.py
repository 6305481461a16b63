"""The two thin I/O shells of the Redis backend: ``redis.Redis`` (sync) and ``redis.asyncio`` (async).

Each shell runs the sans-I/O operations of ``operations.py``: it sends every step as one
command or one non-transactional pipeline and hands the replies back. Scripts go out as
EVALSHA; on NOSCRIPT (a new or restarted server) the shell loads every script and re-sends only
the calls that were refused, so nothing runs twice. Driver errors are translated here:
connection and timeout errors become ``ConnectionFailedError`` naming the URL with its password
hidden; redis-py reconnects by itself on the next call, so the same backend keeps working once
the server is back.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, TypeVar

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.exceptions import NoScriptError, ResponseError

try:  # redis-py >= 7
    from redis.maint_notifications import MaintNotificationsConfig
except ImportError:  # pragma: no cover - older redis-py has no maintenance notifications to turn off
    MaintNotificationsConfig = None  # type: ignore[assignment,misc]

from mindtrace.database.backends.redis.errors import RedisErrors
from mindtrace.database.backends.redis.operations import Emit, Op, Pause, Request, ScriptCall
from mindtrace.database.backends.redis.scripts import Scripts

DEFAULT_MAX_CONNECTIONS = 100
"""Connections per event loop of one async backend; override with ``max_connections=``."""
DEFAULT_POOL_TIMEOUT = 20.0
"""Seconds a coroutine waits for a free connection before ConnectionFailedError; ``pool_timeout=``."""

__all__ = ["AsyncShell", "SyncShell"]

T = TypeVar("T")


def _command(request: Request) -> tuple[Any, ...]:
    if isinstance(request, ScriptCall):
        return ("EVALSHA", request.script.sha, len(request.keys), *request.keys, *request.args)
    return request


def _is_cluster(info: Mapping[str, Any]) -> bool:
    # ``INFO cluster`` answers ``cluster_enabled:1`` on a node of a Redis (or Valkey) Cluster.
    return bool(info.get("cluster_enabled"))


class SyncShell:
    """Runs operations with a lazily created ``redis.Redis`` (or ``RedisCluster``) client."""

    def __init__(
        self, url: str, scripts: Scripts, collection: str, *, cluster: bool | None, options: Mapping[str, Any]
    ) -> None:
        self.url = url
        self.scripts = scripts
        self.cluster = cluster  # None: ask the server on first use
        self.options = dict(options)
        self.errors = RedisErrors(url, collection)
        self._client: Any = None
        self._creating = threading.Lock()  # threads share the client: make it once

    @property
    def client(self) -> Any:
        """The redis-py client (created on first use; a standalone client's connections open
        lazily, detecting a cluster costs one ``INFO cluster``)."""
        if self._client is None:
            with self._creating:
                if self._client is None:
                    with self.errors.translate():
                        self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        if self.cluster:
            return redis.cluster.RedisCluster.from_url(self.url, **self.options)
        client = redis.Redis.from_url(self.url, **self.options)
        if self.cluster is None:
            try:
                self.cluster = _is_cluster(client.info("cluster"))
            except ResponseError:  # INFO refused (a managed service's ACL): standalone
                self.cluster = False
            finally:
                if self.cluster is not False:  # a cluster, or no answer at all
                    client.close()
            if self.cluster:
                return redis.cluster.RedisCluster.from_url(self.url, **self.options)
        return client

    def load_scripts(self) -> None:
        """SCRIPT LOAD every script (on every primary of a cluster)."""
        with self.errors.translate():
            for script in self.scripts.all():
                self.client.script_load(script.source)

    def execute(self, step: list[Request]) -> list[Any]:
        """Send ``step`` in one round trip; returns the replies in order."""
        with self.errors.translate():
            return self._execute(step)

    def _execute(self, step: list[Request]) -> list[Any]:
        client = self.client
        if len(step) == 1:
            try:
                return [client.execute_command(*_command(step[0]))]
            except NoScriptError:
                self.load_scripts()
                return [client.execute_command(*_command(step[0]))]
        pipe = client.pipeline(transaction=False)
        for request in step:
            pipe.execute_command(*_command(request))
        replies: list[Any] = pipe.execute(raise_on_error=False)
        refused = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if refused:
            self.load_scripts()
            for i in refused:
                replies[i] = client.execute_command(*_command(step[i]))
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def run(self, op: Op[T]) -> T:
        """Drive a sans-I/O operation to its result."""
        reply: Any = None
        try:
            while True:
                step = op.send(reply)
                if isinstance(step, Emit):
                    reply = None
                    continue
                if isinstance(step, Pause):
                    reply = None
                    time.sleep(step.seconds)
                    continue
                reply = self.execute(step)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def stream(self, op: Op[None]) -> Iterator[dict[str, Any]]:
        """Drive a streaming operation, yielding the documents it emits."""
        reply: Any = None
        try:
            while True:
                step = op.send(reply)
                if isinstance(step, Emit):
                    reply = None
                    yield from step.docs
                elif isinstance(step, Pause):
                    reply = None
                    time.sleep(step.seconds)
                else:
                    reply = self.execute(step)
        except StopIteration:
            return
        finally:
            op.close()

    def get(self, key: str) -> bytes | None:
        """GET one key (the point-read fast path: no script, no pipeline)."""
        with self.errors.translate():
            value: bytes | None = self.client.get(key)
        return value

    def close(self) -> None:
        """Close the client's connections; a later call would open new ones."""
        client, self._client = self._client, None
        if client is not None:
            client.close()


class AsyncShell:
    """Runs operations with a ``redis.asyncio`` client, one per event loop.

    redis.asyncio connections belong to the loop that opened them; when the backend is used from
    another loop (e.g. a new ``asyncio.run``), a fresh client is made for it.
    """

    def __init__(
        self, url: str, scripts: Scripts, collection: str, *, cluster: bool | None, options: Mapping[str, Any]
    ) -> None:
        self.url = url
        self.scripts = scripts
        self.cluster = cluster  # None: ask the server on first use
        self.options = dict(options)
        self.standalone_options = dict(options)
        if MaintNotificationsConfig is not None:
            # redis-py 8.1 (RESP3, the default) turns maintenance notifications to "auto", and
            # then its asyncio pool no longer replaces a pooled connection the server has closed:
            # the first call after a server restart failed although the server was back
            # (redis/redis-py#4252, fixed upstream by #4260). Without them the pool checks each
            # connection again. They only matter on Redis Enterprise/Cloud during planned
            # maintenance; pass maint_notifications_config to have them.
            self.standalone_options.setdefault(
                "maint_notifications_config", MaintNotificationsConfig(enabled=False)
            )
        self.errors = RedisErrors(url, collection)
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def client(self) -> Any:
        """The client of the running loop (created on first use in that loop; detecting a
        cluster costs one ``INFO cluster`` the first time)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            with self.errors.translate():
                if self.cluster is None:
                    await self._detect()
                # Checked again: another task may have made the client while this one awaited.
                if self._client is None or self._loop is not loop:
                    self._client = self._connect()
                    self._loop = loop
        return self._client

    async def _detect(self) -> None:
        probe = redis.asyncio.Redis.from_pool(self._blocking_pool())
        try:
            self.cluster = _is_cluster(await probe.info("cluster"))
        except ResponseError:  # INFO refused (a managed service's ACL): standalone
            self.cluster = False
        finally:
            await probe.aclose()

    def _connect(self) -> Any:
        if self.cluster:
            return redis.asyncio.cluster.RedisCluster.from_url(self.url, **self.options)
        return redis.asyncio.Redis.from_pool(self._blocking_pool())

    def _blocking_pool(self) -> Any:
        # redis-py's default asyncio pool raises MaxConnectionsError for the call that would open
        # connection max_connections + 1; many concurrent coroutines on one backend are normal,
        # so they wait for a free connection instead (up to pool_timeout seconds).
        options = dict(self.standalone_options)
        max_connections = options.pop("max_connections", DEFAULT_MAX_CONNECTIONS)
        timeout = options.pop("pool_timeout", DEFAULT_POOL_TIMEOUT)
        return redis.asyncio.BlockingConnectionPool.from_url(
            self.url, max_connections=max_connections, timeout=timeout, **options
        )

    async def load_scripts(self) -> None:
        """SCRIPT LOAD every script (on every primary of a cluster)."""
        with self.errors.translate():
            client = await self.client()
            for script in self.scripts.all():
                await client.script_load(script.source)

    async def execute(self, step: list[Request]) -> list[Any]:
        """Send ``step`` in one round trip; returns the replies in order."""
        with self.errors.translate():
            return await self._execute(step)

    async def _execute(self, step: list[Request]) -> list[Any]:
        client = await self.client()
        if len(step) == 1:
            try:
                return [await client.execute_command(*_command(step[0]))]
            except NoScriptError:
                await self.load_scripts()
                return [await client.execute_command(*_command(step[0]))]
        pipe = client.pipeline(transaction=False)
        for request in step:
            pipe.execute_command(*_command(request))
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        refused = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if refused:
            await self.load_scripts()
            for i in refused:
                replies[i] = await client.execute_command(*_command(step[i]))
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    async def run(self, op: Op[T]) -> T:
        """Drive a sans-I/O operation to its result."""
        reply: Any = None
        try:
            while True:
                step = op.send(reply)
                if isinstance(step, Emit):
                    reply = None
                    continue
                if isinstance(step, Pause):
                    reply = None
                    await asyncio.sleep(step.seconds)
                    continue
                reply = await self.execute(step)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def stream(self, op: Op[None]) -> AsyncIterator[dict[str, Any]]:
        """Drive a streaming operation, yielding the documents it emits."""
        reply: Any = None
        try:
            while True:
                step = op.send(reply)
                if isinstance(step, Emit):
                    reply = None
                    for doc in step.docs:
                        yield doc
                elif isinstance(step, Pause):
                    reply = None
                    await asyncio.sleep(step.seconds)
                else:
                    reply = await self.execute(step)
        except StopIteration:
            return
        finally:
            op.close()

    async def get(self, key: str) -> bytes | None:
        """GET one key (the point-read fast path)."""
        with self.errors.translate():
            value: bytes | None = await (await self.client()).get(key)
        return value

    async def close(self) -> None:
        """Close the client of the running loop; clients of other loops are dropped."""
        client, self._client = self._client, None
        loop, self._loop = self._loop, None
        if client is not None and loop is asyncio.get_running_loop():
            await client.aclose()
