"""The backends the conformance suite runs on: one factory and one set of capability flags each.

To put a new backend under the suite, add one ``BackendFactory`` to ``BACKENDS``. Its ``database``
context manager prepares one throwaway database per test (a temp file, a key prefix on a test
server, a fresh MongoDB database name...) and yields a *location*; ``open`` builds an unopened
backend for a model class at that location (the suite initialises and closes it). Behaviour a
backend cannot offer is described by ``Capabilities``; tests skip on those flags, never on names.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import BaseModel
from pymongo import MongoClient

from mindtrace.database.backends.local_odm_backend import LocalODMBackend
from mindtrace.database.backends.mongo_odm_backend import MongoMindtraceODMBackend
from mindtrace.database.backends.redis_odm_backend import RedisODMBackend
from mindtrace.database.core.backend import MindtraceODMBackend
from mindtrace.database.testing.mongo_server import MongoTestTarget
from mindtrace.database.testing.redis_server import RedisServer, ServerKind, available_server_kinds


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond the contract every backend must meet."""

    # Two backends opened on the same location see the same data (needed for $lookup between
    # collections and for two backends on one model).
    shared_database: bool = True
    # The data is still there after every backend on the location is closed and a new one opened.
    persistent: bool = True
    # Beanie's ``Indexed(unique=True)`` annotation on a plain Pydantic model is enforced.
    beanie_indexed: bool = True
    # An aware datetime comes back with its original UTC offset (otherwise: same instant, in UTC).
    keeps_utc_offset: bool = True


@dataclass(frozen=True)
class BackendFactory:
    """How to get a fresh database and backends on it for one backend kind."""

    name: str
    database: Callable[[pytest.FixtureRequest], AbstractContextManager[Any]]
    open: Callable[[Any, type[BaseModel]], MindtraceODMBackend[Any]]
    caps: Capabilities = field(default_factory=Capabilities)


# ----------------------------------------------------------------------------- Local (SQLite)


@contextmanager
def _local_memory(request: pytest.FixtureRequest) -> Iterator[str]:
    yield ":memory:"


@contextmanager
def _local_file(request: pytest.FixtureRequest) -> Iterator[Path]:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    yield tmp_path / "conformance.db"


def _open_local(location: Any, model_cls: type[BaseModel]) -> MindtraceODMBackend[Any]:
    return LocalODMBackend(model_cls, path=location)


# ----------------------------------------------------------------------------- MongoDB


@contextmanager
def _mongo_database(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    # A fresh database on the session's server (SecantusDB, or MONGODB_URI), dropped afterwards.
    target: MongoTestTarget = request.getfixturevalue("mongo_test_target")
    name = target.new_database_name("conformance")
    try:
        yield target.url, name
    finally:
        with MongoClient(target.url) as client:
            client.drop_database(name)


def _open_mongo(location: Any, model_cls: type[BaseModel]) -> MindtraceODMBackend[Any]:
    url, db_name = location
    return MongoMindtraceODMBackend(model_cls, url, db_name)


# ----------------------------------------------------------------------------- Redis / Valkey

_REDIS_SERVERS = pytest.StashKey[dict[str, RedisServer]]()


def _redis_server(request: pytest.FixtureRequest, kind: ServerKind) -> RedisServer:
    # One throwaway server per kind per session, started on first use, stopped at session end.
    servers = request.config.stash.setdefault(_REDIS_SERVERS, {})
    if kind not in servers:
        servers[kind] = RedisServer(kind).start()
        request.config.add_cleanup(servers[kind].close)
    return servers[kind]


def _redis_database(kind: ServerKind) -> Callable[[pytest.FixtureRequest], AbstractContextManager[Any]]:
    @contextmanager
    def database(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
        # A key prefix of this test's own on the session's server; its keys are deleted afterwards.
        server = _redis_server(request, kind)
        prefix = f"conformance{uuid.uuid4().hex[:12]}"
        try:
            yield server.url, prefix
        finally:
            with redis.Redis.from_url(server.url) as client:
                for key in client.scan_iter(match=f"{{{prefix}:*", count=1000):
                    client.delete(key)

    return database


def _open_redis(location: Any, model_cls: type[BaseModel]) -> MindtraceODMBackend[Any]:
    url, prefix = location
    return RedisODMBackend(model_cls, url, key_prefix=prefix)


BACKENDS: dict[str, BackendFactory] = {
    factory.name: factory
    for factory in [
        BackendFactory(
            "local-memory",
            _local_memory,
            _open_local,
            Capabilities(shared_database=False, persistent=False),
        ),
        BackendFactory("local-file", _local_file, _open_local),
        # BSON dates are UTC instants: an aware datetime comes back as the same instant in UTC.
        BackendFactory("mongo", _mongo_database, _open_mongo, Capabilities(keeps_utc_offset=False)),
        *(BackendFactory(kind, _redis_database(kind), _open_redis) for kind in available_server_kinds()),
    ]
}
