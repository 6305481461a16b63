"""The pytest plugin's fixtures for users' suites, used the way the spec shows, on every store."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
from pydantic import BaseModel

from mindtrace.database.backends.local_odm_backend import LocalODMBackend
from mindtrace.database.backends.mongo_odm_backend import MongoMindtraceODMBackend
from mindtrace.database.backends.redis_odm_backend import RedisODMBackend
from tests.backends.mongo.models import UserDoc


class Plain(BaseModel):
    id: str | None = None
    name: str

    class Settings:
        name = "plain"


@pytest.mark.asyncio
@pytest.mark.parametrize("mongo_backend", [UserDoc], indirect=True)
async def test_mongo_fixtures_share_one_fresh_database(
    mongo_backend: Any, test_db: Any, mongo_client: Any
) -> None:
    assert isinstance(mongo_backend, MongoMindtraceODMBackend)
    await mongo_backend.insert(UserDoc(name="a", age=1, email="a@x"))
    assert await test_db["users"].count_documents({}) == 1
    assert test_db.name in await mongo_client.list_database_names()


@pytest.mark.parametrize("redis_backend", [Plain], indirect=True)
async def test_redis_backend_fixture(redis_backend: Any, redis_test_url: str) -> None:
    assert isinstance(redis_backend, RedisODMBackend)
    saved = await redis_backend.insert(Plain(name="r"))
    assert redis_backend.get_sync(saved.id) == saved
    client = redis.Redis.from_url(redis_test_url)
    try:
        assert client.exists(redis_backend.keys.doc(saved.id))
    finally:
        client.close()


@pytest.mark.parametrize("local_backend", [Plain], indirect=True)
async def test_local_backend_fixture(local_backend: Any) -> None:
    assert isinstance(local_backend, LocalODMBackend)
    saved = await local_backend.insert(Plain(name="l"))
    assert await local_backend.find({"name": "l"}) == [saved]


def test_backend_fixture_without_a_model_says_how_to_give_one(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["mindtrace.database.testing.plugin"]')
    pytester.makepyfile(
        """
        async def test_x(mongo_backend):
            pass
        """
    )
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*indirect=True*"])


@pytest.mark.parametrize("mongo_backend", [UserDoc], indirect=True)
async def test_event_loop_fixture_is_the_loop_the_test_runs_in(mongo_backend: Any, event_loop: Any) -> None:
    assert event_loop is asyncio.get_running_loop()
    assert await mongo_backend.count() == 0
