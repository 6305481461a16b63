"""Pytest fixtures for users' own test suites: throwaway servers and ready backends for every store.

Enable with ``pytest_plugins = ["mindtrace.database.testing.plugin"]`` in the top-level
``conftest.py``. Servers start lazily, once per session, only when a test asks for them:
SecantusDB for MongoDB unless ``MONGODB_URI`` is set (then each test gets its own database there,
dropped afterwards). Async fixtures need ``pytest-asyncio``.

MongoDB fixtures, as in the spec's "Writing New Tests"::

    @pytest.mark.parametrize("mongo_backend", [UserDoc], indirect=True)
    async def test_users(mongo_backend):
        await mongo_backend.insert(UserDoc(name="a", age=1, email="a@x"))

* ``mongo_test_target`` (session): the server URL and unique database names;
* ``mongo_client``: a ``pymongo.AsyncMongoClient`` on that server, closed after the test;
* ``test_db``: a fresh ``AsyncDatabase``, dropped after the test;
* ``mongo_backend``: a ``MongoMindtraceODMBackend`` for the model given by indirect
  parametrization, on ``test_db``, initialised, closed after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    from pymongo import AsyncMongoClient
    from pymongo.asynchronous.database import AsyncDatabase

    from mindtrace.database.backends.mongo_odm_backend import MongoMindtraceODMBackend
    from mindtrace.database.testing.mongo_server import MongoTestTarget

__all__ = ["mongo_backend", "mongo_client", "mongo_test_target", "test_db"]

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
