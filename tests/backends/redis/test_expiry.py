"""Expiry for cache use: expired documents never come back and leave no index entries behind."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from mindtrace.database import DocumentNotFoundError
from tests.backends.redis.models import Person, Session
from tests.backends.redis.test_indexes import assert_consistent


def wait_gone(raw: redis.Redis, key: str) -> None:
    """Poll until Redis has expired ``key`` (EXISTS triggers its lazy expiry)."""
    deadline = time.monotonic() + 10
    while raw.exists(key):
        assert time.monotonic() < deadline, f"{key} never expired"
        time.sleep(0.01)


def _index_footprint(raw: redis.Redis, backend: Any) -> dict[str, Any]:
    collection = backend._collection
    out: dict[str, Any] = {"ids": raw.zcard(backend.keys.ids), "expiry": raw.zcard(backend.keys.expiry)}
    out["entries"] = raw.hlen(backend.keys.entries)
    for index in collection.indexes:
        if index.key:
            out[index.name] = raw.zcard(index.key)
        if index.unique_key:
            out[index.name + ":unique"] = raw.hlen(index.unique_key)
    return out


def test_model_default_ttl_expires_documents_and_their_index_entries(
    make_backend: Any, raw: redis.Redis
) -> None:
    sessions = make_backend(Session)
    assert sessions.default_ttl_ms == 50
    a = sessions.insert_sync(Session(token="a"))
    wait_gone(raw, sessions.keys.doc(a.id))
    # The document key is gone but its entries are not cleaned yet: reads must still hide it.
    assert raw.zcard(sessions.keys.ids) == 1
    assert sessions.find_sync({"token": "a"}) == []
    with pytest.raises(DocumentNotFoundError):
        sessions.get_sync(a.id)
    assert sessions.count_sync() == 0
    assert sessions.all_sync() == []
    assert list(sessions.iterate_sync()) == []
    assert all(v == 0 for v in _index_footprint(raw, sessions).values())
    # The unique value is free again.
    again = sessions.insert_sync(Session(token="a"), ttl=60)
    assert sessions.get_sync(again.id).token == "a"


def test_per_document_ttl_and_update_keeps_or_resets_it(make_backend: Any, raw: redis.Redis) -> None:
    people = make_backend(Person)
    short = people.insert_sync(Person(name="short", email="s@x"), ttl=0.05)
    stays = people.insert_sync(Person(name="stays", email="t@x"))
    long = people.insert_sync(Person(name="long", email="l@x"), ttl=3600)
    assert raw.pttl(people.keys.doc(stays.id)) == -1
    people.update_sync(long.model_copy(update={"age": 5}))
    assert 0 < raw.pttl(people.keys.doc(long.id)) <= 3_600_000
    people.update_sync(long.model_copy(update={"age": 6}), ttl=7200)
    assert raw.pttl(people.keys.doc(long.id)) > 3_600_000
    wait_gone(raw, people.keys.doc(short.id))
    assert sorted(p.name for p in people.find_sync({"age": {"$gte": 0}})) == ["long", "stays"]
    assert people.count_sync({"email": "s@x"}) == 0
    assert_consistent(people, raw)
    assert raw.zcard(people.keys.expiry) == 1


async def test_async_paths_hide_expired_documents(make_backend: Any, raw: redis.Redis) -> None:
    people = make_backend(Person)
    gone = await people.insert(Person(name="gone", email="g@x", tags=["t"]), ttl=0.05)
    await people.insert_many([Person(name="x", email="x@x", tags=["t"])], ttl=60)
    wait_gone(raw, people.keys.doc(gone.id))
    assert [p.name for p in await people.find({"tags": "t"})] == ["x"]
    assert await people.count({"tags": "t"}) == 1
    assert [p.name async for p in people.iterate()] == ["x"]
    with pytest.raises(DocumentNotFoundError):
        await people.delete(gone.id)
    assert_consistent(people, raw)


def test_invalid_ttl_is_refused(make_backend: Any) -> None:
    people = make_backend(Person)
    for bad in (0, -1, "10", True):
        with pytest.raises(ValueError, match="ttl"):
            people.insert_sync(Person(name="n", email="e@x"), ttl=bad)
    assert people.count_sync() == 0
