"""Pytest fixtures for users' own test suites: throwaway servers and ready backends for every store.

Enable with ``pytest_plugins = ["mindtrace.database.testing.plugin"]`` in the top-level
``conftest.py``. Servers start lazily, once per session, only when a test asks for them: a
throwaway SecantusDB for MongoDB unless ``MONGODB_URI`` is set, a throwaway Redis/Valkey unless
``REDIS_URL`` is set (tests then get their own database names / key prefixes there, removed
afterwards). Async fixtures need ``pytest-asyncio``.

Every backend fixture takes the model class by indirect parametrization, as in the spec's
"Writing New Tests"::

    @pytest.mark.parametrize("mongo_backend", [UserDoc], indirect=True)
    async def test_users(mongo_backend):
        await mongo_backend.insert(UserDoc(name="a", age=1, email="a@x"))

MongoDB:

* ``mongo_test_target`` (session): the server URL and unique database names;
* ``mongo_client``: a ``pymongo.AsyncMongoClient`` on that server, closed after the test;
* ``test_db``: a fresh ``AsyncDatabase``, dropped after the test;
* ``mongo_backend``: a ``MongoMindtraceODMBackend`` on ``test_db``, initialised, closed after.

``event_loop``: the loop the test runs in, for tests written against the spec's fixture list
(pytest-asyncio 1.x gives every async test its loop by itself and no longer has this fixture).

Redis: ``redis_test_url`` (session) and ``redis_backend`` (a ``RedisODMBackend`` under a key
prefix of the test's own, whose keys are deleted afterwards). Local: ``local_backend`` (and
``local_backend_factory``, ``local_database_path``) from ``mindtrace.database.testing.local``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from mindtrace.database.testing.local import local_backend, local_backend_factory, local_database_path

if TYPE_CHECKING:
    from pymongo import AsyncMongoClient
    from pymongo.asynchronous.database import AsyncDatabase

    from mindtrace.database.backends.mongo_odm_backend import MongoMindtraceODMBackend
    from mindtrace.database.backends.redis_odm_backend import RedisODMBackend
    from mindtrace.database.testing.mongo_server import MongoTestTarget

__all__ = [
    "REDIS_URL_ENV",
    "event_loop",
    "local_backend",
    "local_backend_factory",
    "local_database_path",
    "mongo_backend",
    "mongo_client",
    "mongo_test_target",
    "redis_backend",
    "redis_test_url",
    "test_db",
]

REDIS_URL_ENV = "REDIS_URL"
"""Environment variable naming a Redis server to test against instead of a throwaway one."""

# Drivers and backends are imported inside the fixtures (noqa: PLC0415 below): loading the plugin
# must not need the optional extras of stores a suite does not use.


def _model_param(request: pytest.FixtureRequest, fixture: str) -> Any:
    model = getattr(request, "param", None)
    if model is None:
        raise pytest.UsageError(
            f"the {fixture} fixture needs a model class: "
            f'@pytest.mark.parametrize("{fixture}", [YourModel], indirect=True)'
        )
    return model


@pytest_asyncio.fixture
async def event_loop() -> asyncio.AbstractEventLoop:
    """The event loop the test runs in (the spec lists an ``event_loop`` fixture)."""
    return asyncio.get_running_loop()


# ----------------------------------------------------------------------------- MongoDB


@pytest.fixture(scope="session")
def mongo_test_target() -> Iterator[MongoTestTarget]:
    """The MongoDB server of this session: ``$MONGODB_URI``, else a SecantusDB started now."""
    from mindtrace.database.testing.mongo_server import mongo_test_target as target  # noqa: PLC0415

    with target() as found:
        yield found


@pytest_asyncio.fixture
async def mongo_client(mongo_test_target: MongoTestTarget) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """An async PyMongo client on the session's server (standard UUID representation)."""
    from pymongo import AsyncMongoClient  # noqa: PLC0415

    from mindtrace.database.backends.mongo.bson_types import CLIENT_OPTIONS  # noqa: PLC0415

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_test_target.url, **CLIENT_OPTIONS)
    try:
        yield client
    finally:
        await client.close()


@pytest_asyncio.fixture
async def test_db(
    mongo_client: AsyncMongoClient[dict[str, Any]], mongo_test_target: MongoTestTarget
) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """A database of its own for this test, dropped afterwards."""
    name = mongo_test_target.new_database_name()
    try:
        yield mongo_client[name]
    finally:
        await mongo_client.drop_database(name)


@pytest_asyncio.fixture
async def mongo_backend(
    request: pytest.FixtureRequest,
    test_db: AsyncDatabase[dict[str, Any]],
    mongo_test_target: MongoTestTarget,
) -> AsyncIterator[MongoMindtraceODMBackend[Any]]:
    """A ready ``MongoMindtraceODMBackend`` for the parametrized model class, on ``test_db``."""
    from mindtrace.database.backends.mongo_odm_backend import MongoMindtraceODMBackend  # noqa: PLC0415

    backend: MongoMindtraceODMBackend[Any] = MongoMindtraceODMBackend(
        _model_param(request, "mongo_backend"), mongo_test_target.url, test_db.name
    )
    try:
        await backend.initialize()
        yield backend
    finally:
        await backend.close()


# ----------------------------------------------------------------------------- Redis


@pytest.fixture(scope="session")
def redis_test_url() -> Iterator[str]:
    """The Redis server of this session: ``$REDIS_URL``, else a throwaway Redis/Valkey started now."""
    url = os.environ.get(REDIS_URL_ENV)
    if url:
        yield url
        return
    from mindtrace.database.testing.redis_server import RedisServer  # noqa: PLC0415

    with RedisServer() as server:
        yield server.url


@pytest_asyncio.fixture
async def redis_backend(
    request: pytest.FixtureRequest, redis_test_url: str
) -> AsyncIterator[RedisODMBackend[Any]]:
    """A ready ``RedisODMBackend`` for the parametrized model class, under a key prefix of its own."""
    import redis  # noqa: PLC0415

    from mindtrace.database.backends.redis_odm_backend import RedisODMBackend  # noqa: PLC0415

    prefix = f"mt-test-{uuid.uuid4().hex[:12]}"
    backend: RedisODMBackend[Any] = RedisODMBackend(
        _model_param(request, "redis_backend"), redis_test_url, key_prefix=prefix
    )
    try:
        await backend.initialize()
        yield backend
    finally:
        await backend.close()
        # Remove what the test left under its prefix (test code may SCAN; the backend never does).
        client = redis.Redis.from_url(redis_test_url)
        try:
            keys = list(client.scan_iter(match="{" + prefix + ":*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
