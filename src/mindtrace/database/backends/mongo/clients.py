"""PyMongo clients shared between backends: one sync client per URL, one async client per (URL, loop).

A PyMongo client owns a connection pool and monitor threads or tasks, so backends on the same
server should share one. The async client is bound to the event loop it is first used on, hence
one per loop; clients of loops that have been closed are dropped when next seen. Clients are
reference counted and closed when the last backend using them releases them. Backends that pass
their own client options (timeouts, pool sizes...) share a client only with backends on the same
URL with the same options.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient, MongoClient

from mindtrace.database.backends.mongo.bson_types import CLIENT_OPTIONS

__all__ = ["SHARED_CLIENTS", "AsyncClientLease", "MongoClients"]


@dataclass
class _SyncEntry:
    client: MongoClient[dict[str, Any]]
    users: int = 0


@dataclass
class AsyncClientLease:
    """One async client bound to one event loop, and the lock serialising Beanie set-up on it."""

    client: AsyncMongoClient[dict[str, Any]]
    loop: asyncio.AbstractEventLoop
    key: str  # the URL and options it was made for (see _client_key)
    beanie_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


def _client_key(url: str, options: Mapping[str, Any] | None) -> str:
    # Clients are shared by URL *and* options: a backend asking for a 500 ms timeout must not get
    # (or hand its timeout to) the client of a backend that asked for none. repr() because option
    # values may be unhashable (event_listeners is a list); equal options give equal text.
    if not options:
        return url
    return url + "\x00" + repr(sorted(options.items()))


class MongoClients:
    """Hands out shared clients by URL; thread-safe.

    Every ``acquire_*`` must be paired with one ``release_*`` (the backend does this in ``close``).
    """

    def __init__(self, **client_options: Any) -> None:
        self._options = {**CLIENT_OPTIONS, **client_options}
        self._lock = threading.Lock()
        self._sync: dict[str, _SyncEntry] = {}
        self._async: dict[tuple[str, int], AsyncClientLease] = {}

    def acquire_sync(self, url: str, options: Mapping[str, Any] | None = None) -> MongoClient[dict[str, Any]]:
        """The sync client for ``url`` (created on first use; connects in the background).

        ``options`` are PyMongo client options on top of this pool's own; release with the same.
        """
        key = _client_key(url, options)
        with self._lock:
            entry = self._sync.get(key)
            if entry is None:
                entry = _SyncEntry(MongoClient(url, **{**self._options, **(options or {})}))
                self._sync[key] = entry
            entry.users += 1
            return entry.client

    def release_sync(self, url: str, options: Mapping[str, Any] | None = None) -> None:
        """Give back one use of the sync client for ``url``; the last user closes it."""
        key = _client_key(url, options)
        with self._lock:
            entry = self._sync.get(key)
            if entry is None:
                return
            entry.users -= 1
            if entry.users > 0:
                return
            del self._sync[key]
        entry.client.close()

    def acquire_async(
        self, url: str, loop: asyncio.AbstractEventLoop, options: Mapping[str, Any] | None = None
    ) -> AsyncClientLease:
        """The async client for ``url`` on ``loop`` (the running loop of the caller); ``options``
        as for ``acquire_sync``."""
        client_key = _client_key(url, options)
        with self._lock:
            self._forget_closed_loops()
            key = (client_key, id(loop))
            lease = self._async.get(key)
            if lease is None or lease.loop is not loop:
                client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
                    url, **{**self._options, **(options or {})}
                )
                lease = AsyncClientLease(client, loop, client_key)
                self._async[key] = lease
            lease.users += 1
            return lease

    def release_async(self, url: str, lease: AsyncClientLease) -> AsyncMongoClient[dict[str, Any]] | None:
        """Give back one use of ``lease``; returns the client to close when this was the last use.

        The caller closes it on its loop (``await client.close()``); a client whose loop is already
        closed cannot be closed any more and is simply dropped (None is returned).
        """
        with self._lock:
            key = (lease.key, id(lease.loop))
            if self._async.get(key) is not lease:
                return None
            lease.users -= 1
            if lease.users > 0:
                return None
            del self._async[key]
        return None if lease.loop.is_closed() else lease.client

    def _forget_closed_loops(self) -> None:
        # Called with the lock held. A closed loop's client cannot run any more; keeping it would
        # also keep the loop alive (and let a new loop reuse its id()).
        for key in [k for k, lease in self._async.items() if lease.loop.is_closed()]:
            del self._async[key]


SHARED_CLIENTS = MongoClients()
"""The clients every backend shares unless it is given its own ``MongoClients``."""
