"""A dead server raises ConnectionFailedError naming the URL (password hidden); the same backend
object works again once the server is back."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from mindtrace.database import ConnectionFailedError, DatabaseError
from mindtrace.database.backends.redis_odm_backend import RedisODMBackend
from mindtrace.database.core.urls import redact_url
from mindtrace.database.testing.redis_server import RedisServer
from tests.backends.redis.conftest import KINDS
from tests.backends.redis.models import Person


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_names_url_without_password() -> None:
    url = f"redis://:s3cret@127.0.0.1:{_closed_port()}/0"
    backend = RedisODMBackend(Person, url, socket_connect_timeout=0.5)
    with pytest.raises(ConnectionFailedError) as caught:
        backend.insert_sync(Person(name="a", email="a@x"))
    error = caught.value
    assert "s3cret" not in str(error) and "***" in str(error)
    assert error.url == redact_url(url) and "s3cret" not in error.url
    assert error.__cause__ is not None
    assert "s3cret" not in repr(backend)


async def test_unreachable_server_async() -> None:
    url = f"redis://user:pw@127.0.0.1:{_closed_port()}/0"
    backend = RedisODMBackend(Person, url, socket_connect_timeout=0.5)
    with pytest.raises(ConnectionFailedError, match=r"redis://user:\*\*\*@127\.0\.0\.1"):
        await backend.count()


def test_redact_url() -> None:
    assert redact_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redact_url("rediss://u:pw@h/2?x=1") == "rediss://u:***@h/2?x=1"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"
    assert redact_url("redis://:p%40w@[::1]:7/0") == "redis://:***@[::1]:7/0"


def test_wrong_password_is_a_connection_error() -> None:
    with RedisServer(KINDS[0], password="right") as server:
        url = server.url.replace(":right@", ":wrong@")
        with pytest.raises(ConnectionFailedError) as caught:
            RedisODMBackend(Person, url).count_sync()
        assert "wrong" not in str(caught.value)


@pytest.mark.parametrize("kind", KINDS)
async def test_same_backend_works_after_server_restart(kind: str) -> None:
    with RedisServer(kind, persistence=True, password="pw") as server:  # type: ignore[arg-type]
        backend = RedisODMBackend(Person, server.url, socket_connect_timeout=1)
        ada = backend.insert_sync(Person(name="Ada", email="ada@x"))
        await backend.insert(Person(name="Bob", email="bob@x"))
        server.stop()
        with pytest.raises(ConnectionFailedError) as sync_error:
            backend.get_sync(ada.id)
        with pytest.raises(ConnectionFailedError):
            await backend.find({"name": "Ada"})
        with pytest.raises(ConnectionFailedError):
            backend.insert_sync(Person(name="Cy", email="cy@x"))
        assert "pw" not in str(sync_error.value)
        server.start()  # same port; the script cache is empty now
        assert backend.get_sync(ada.id) == ada
        assert [p.name for p in backend.find_sync({"email": "ada@x"})] == ["Ada"]
        backend.insert_sync(Person(name="Cy", email="cy@x"))
        assert await backend.count() == 3
        assert [p.name for p in await backend.find({"email": "bob@x"})] == ["Bob"]
        await backend.close()


def test_foreign_data_in_our_keys_is_a_database_error(make_backend: Any, raw: Any) -> None:
    people = make_backend(Person)
    people.initialize_sync()
    raw.set(people.keys.ids, "not a sorted set")
    with pytest.raises(DatabaseError, match="WRONGTYPE"):
        people.insert_sync(Person(name="a", email="a@x"))


async def test_a_single_server_is_recognised_as_one(make_backend: Any) -> None:
    # The default cluster=None asks the server once, on first use, in each API.
    people = make_backend(Person)
    assert (people._sync.cluster, people._async.cluster) == (None, None)
    ada = people.insert_sync(Person(name="Ada", email="ada@x"))
    assert await people.get(ada.id) == ada
    assert (people._sync.cluster, people._async.cluster) == (False, False)
