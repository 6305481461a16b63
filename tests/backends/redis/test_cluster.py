"""The same backend on a three-master Redis Cluster: every collection lives in one slot.

Some tests pass ``cluster=True``; the others leave the default, under which the backend finds
out by itself (the same code as on a single server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from redis.cluster import RedisCluster

from mindtrace.database import DocumentNotFoundError, DuplicateInsertError
from mindtrace.database.backends.redis.planner import IndexPlan, plan_query
from mindtrace.database.backends.redis_odm_backend import RedisODMBackend
from mindtrace.database.testing.redis_server import RedisClusterServer
from tests.backends.redis.conftest import KINDS
from tests.backends.redis.models import Person
from tests.backends.redis.test_concurrency import run_unique_race


@pytest.fixture(scope="module", params=KINDS)
def cluster(request: pytest.FixtureRequest) -> Iterator[RedisClusterServer]:
    with RedisClusterServer(request.param) as server:
        yield server


def test_crud_and_indexed_find_on_cluster(cluster: RedisClusterServer, prefix: str) -> None:
    people = RedisODMBackend(Person, cluster.url, key_prefix=prefix)  # detects the cluster
    stored = people.insert_many_sync(
        [Person(name=f"p{i}", age=i, email=f"{i}@x", tags=[f"t{i % 2}"]) for i in range(40)]
    )
    assert people.get_sync(stored[3].id) == stored[3]
    assert isinstance(plan_query({"age": {"$gte": 30}}, people._collection.indexes), IndexPlan)
    assert [p.age for p in people.find_sync({"age": {"$gte": 30}})] == list(range(30, 40))
    assert [p.age for p in people.find_sync({}, sort="-age", limit=2)] == [39, 38]
    assert people.count_sync({"tags": "t1"}) == 20
    with pytest.raises(DuplicateInsertError):
        people.insert_sync(Person(name="dup", email="3@x"))
    people.update_sync(stored[0].model_copy(update={"email": "new@x"}))
    assert people.find_one_sync({"email": "new@x"}).id == stored[0].id
    assert people.update_many_sync({"age": {"$lt": 10}}, {"$set": {"city": "Oslo"}}).modified_count == 10
    people.delete_sync(stored[1].id)
    with pytest.raises(DocumentNotFoundError):
        people.get_sync(stored[1].id)
    assert people.delete_many_sync({"tags": "t0"}) == 20
    assert people.count_sync() == 19
    # All of the collection's keys hash to one slot, whichever node serves it.
    client = RedisCluster.from_url(cluster.url)
    slots = {client.keyslot(k) for k in (people.keys.ids, people.keys.doc(stored[2].id), people.keys.meta)}
    client.close()
    assert len(slots) == 1
    assert people._sync.cluster is True
    people.close_sync()


async def test_async_on_cluster(cluster: RedisClusterServer, prefix: str) -> None:
    people = RedisODMBackend(Person, cluster.url, key_prefix=prefix)  # detects the cluster
    ada = await people.insert(Person(name="Ada", age=36, email="ada@x"))
    assert (await people.get(ada.id)) == ada
    assert [p.name for p in await people.find({"email": "ada@x"})] == ["Ada"]
    assert [p.name async for p in people.iterate()] == ["Ada"]
    await people.delete(ada.id)
    assert await people.count() == 0
    assert people._async.cluster is True
    await people.close()


def test_aggregation_on_cluster(cluster: RedisClusterServer, prefix: str) -> None:
    people = RedisODMBackend(Person, cluster.url, key_prefix=prefix, cluster=True)
    batch = [Person(name=f"p{i}", age=i, email=f"{i}@x", tags=[f"t{i % 3}"]) for i in range(30)]
    people.insert_many_sync(batch)
    result = people.aggregate_sync(
        [
            {"$match": {"age": {"$gte": 10}}},
            {"$unwind": "$tags"},
            {"$group": {"_id": "$tags", "n": {"$sum": 1}, "oldest": {"$max": "$age"}}},
            {"$sort": {"_id": 1}},
        ]
    )
    groups: dict[str, list[int]] = {}
    for p in batch:
        if p.age >= 10:
            for tag in p.tags:
                groups.setdefault(tag, []).append(p.age)
    assert result == [{"_id": t, "n": len(ages), "oldest": max(ages)} for t, ages in sorted(groups.items())]
    people.close_sync()


def test_unique_race_on_cluster(cluster: RedisClusterServer, prefix: str) -> None:
    run_unique_race(cluster.url, prefix, cluster=True)


@pytest.mark.parametrize("declared", [True, None])
def test_collections_spread_over_nodes(
    cluster: RedisClusterServer, prefix: str, declared: bool | None
) -> None:
    # Different collections may live on different nodes (a client that does not know it is on a
    # cluster gets MOVED for most of them); each one works on its own.
    backends: list[Any] = []
    for i in range(6):

        class Item(Person):
            class Settings:
                name = f"items{i}"

        backend = RedisODMBackend(Item, cluster.url, key_prefix=prefix, cluster=declared)
        backend.insert_sync(Item(name="n", email=f"{i}@x"))
        backends.append(backend)
    client = RedisCluster.from_url(cluster.url)
    nodes = {client.get_node_from_key(b.keys.ids).name for b in backends}
    client.close()
    assert len(nodes) > 1
    assert all(b.count_sync() == 1 for b in backends)
    for b in backends:
        b.close_sync()
