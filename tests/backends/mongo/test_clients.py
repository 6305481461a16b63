"""Set-up of the MongoDB backend: init once, shared clients, Beanie binding, event loops, threads."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from mindtrace.database.backends.mongo.bindings import BeanieBindings
from mindtrace.database.backends.mongo.clients import MongoClients
from mindtrace.database.backends.mongo_odm_backend import MindtraceDocument, MongoMindtraceODMBackend
from tests.backends.mongo.conftest import Setup
from tests.backends.mongo.models import House, MyDoc, UserDoc, Window


async def test_concurrent_first_calls_initialise_once(mongo: Setup) -> None:
    users = mongo.backend(UserDoc)
    results = await asyncio.gather(*(users.find({"age": {"$gte": i}}) for i in range(20)))
    assert results == [[]] * 20
    names = mongo.log.names(mongo.db_name)
    # init_beanie asks for buildInfo exactly once per initialisation; indexes are created once.
    assert names.count("buildInfo") == 1
    assert names.count("createIndexes") == 1
    assert names.count("find") == 20
    await users.initialize()
    users.initialize_sync()
    assert mongo.log.names(mongo.db_name).count("createIndexes") == 1


async def test_sync_first_then_async_creates_indexes_once(mongo: Setup) -> None:
    users = mongo.backend(UserDoc)
    users.insert_sync(UserDoc(name="a", age=1, email="a@x"))
    await users.insert(UserDoc(name="b", age=1, email="b@x"))
    assert mongo.log.names(mongo.db_name).count("createIndexes") == 1


async def test_backends_on_one_url_share_clients(mongo: Setup) -> None:
    users = mongo.backend(UserDoc)
    docs = mongo.backend(MyDoc)
    other_db = mongo.backend(MyDoc, db_name=mongo.target.new_database_name())
    assert await users.async_client() is await docs.async_client() is await other_db.async_client()
    assert users.sync_client() is docs.sync_client() is other_db.sync_client()
    separate = mongo.backend(MyDoc, clients=MongoClients())
    assert await separate.async_client() is not await users.async_client()
    assert separate.sync_client() is not users.sync_client()


async def test_shared_client_stays_open_until_last_backend_closes(mongo: Setup) -> None:
    users = mongo.backend(UserDoc)
    docs = mongo.backend(MyDoc)
    await users.insert(UserDoc(name="a", age=1, email="a@x"))
    docs.insert_sync(MyDoc(name="d", value=1))
    await users.close()
    users.close_sync()  # idempotent
    assert [d.name for d in await docs.all()] == ["d"]
    assert [d.name for d in docs.all_sync()] == ["d"]


async def test_closed_backend_reconnects_on_next_use(mongo: Setup) -> None:
    docs = mongo.backend(MyDoc)
    await docs.insert(MyDoc(name="a", value=1))
    await docs.close()
    assert [d.name for d in await docs.all()] == ["a"]
    assert [d.name for d in docs.all_sync()] == ["a"]


async def test_two_databases_one_class_do_not_rebind_each_other(mongo: Setup) -> None:
    db2 = mongo.target.new_database_name()
    first = mongo.backend(UserDoc)
    second = mongo.backend(UserDoc, db_name=db2)
    a = await first.insert(UserDoc(name="in-first", age=1, email="same@x"))
    b = await second.insert(UserDoc(name="in-second", age=2, email="same@x"))  # unique per database
    assert [u.name for u in await first.all()] == ["in-first"]
    assert [u.name for u in await second.all()] == ["in-second"]
    assert [u.name for u in second.find_sync(UserDoc.age > 0)] == ["in-second"]
    with pytest.raises(Exception):  # noqa: B017 - the id only exists in the first database
        await second.get(a.id)
    assert (await second.get(b.id)).name == "in-second"
    # Beanie's class-level binding stays with the first backend's database.
    assert UserDoc.get_settings().pymongo_db.name == mongo.db_name
    assert [u.name for u in await UserDoc.find_all().to_list()] == ["in-first"]
    # Once the first backend is closed, a new backend may take the class over.
    await first.close()
    third = mongo.backend(UserDoc, db_name=db2)
    await third.initialize()
    assert UserDoc.get_settings().pymongo_db.name == db2
    assert [u.name for u in await UserDoc.find_all().to_list()] == ["in-second"]


async def test_same_database_backends_bind_once(mongo: Setup) -> None:
    one = mongo.backend(UserDoc)
    two = mongo.backend(UserDoc)
    await asyncio.gather(one.initialize(), two.initialize())
    assert mongo.log.names(mongo.db_name).count("buildInfo") == 1


async def test_sync_twins_run_on_the_callers_thread_inside_a_running_loop(mongo: Setup) -> None:
    asyncio.get_running_loop()  # we are inside a running event loop
    docs = mongo.backend(MyDoc)
    mongo.log.clear()
    inserted = docs.insert_sync(MyDoc(name="a", value=1))
    assert docs.get_sync(inserted.id) == inserted
    threads = {s.thread for s in mongo.log.sent if s.database == mongo.db_name}
    assert threads == {threading.get_ident()}


def test_sync_api_without_any_event_loop(mongo_test_target: Any) -> None:
    backend = MongoMindtraceODMBackend(
        MyDoc, mongo_test_target.url, mongo_test_target.new_database_name(), clients=MongoClients()
    )
    with backend:
        doc = backend.insert_sync(MyDoc(name="a", value=1))
        assert backend.find_sync({"value": 1}) == [doc]
        assert list(backend.iterate_sync()) == [doc]


def test_one_backend_across_event_loops(mongo_test_target: Any) -> None:
    clients = MongoClients()
    backend = MongoMindtraceODMBackend(
        UserDoc,
        mongo_test_target.url,
        mongo_test_target.new_database_name(),
        clients=clients,
        bindings=BeanieBindings(),
    )

    async def insert(name: str) -> list[str]:
        await backend.insert(UserDoc(name=name, age=1, email=f"{name}@x"))
        # Beanie's own class-level calls follow the backend to the new loop.
        return sorted(u.name for u in await UserDoc.find_all().to_list())

    try:
        assert asyncio.run(insert("first")) == ["first"]
        assert asyncio.run(insert("second")) == ["first", "second"]
        assert [u.name for u in backend.all_sync()] == ["first", "second"]
    finally:
        backend.close_sync()


async def test_links_bind_linked_classes_too(mongo: Setup) -> None:
    houses = mongo.backend(House)
    await houses.initialize()
    assert Window.get_settings().pymongo_db.name == mongo.db_name
    assert House.get_link_fields() is not None and "window" in House.get_link_fields()  # type: ignore[operator]


def test_construction_does_not_touch_the_server() -> None:
    backend = MongoMindtraceODMBackend(MyDoc, "mongodb://127.0.0.1:9", "db", clients=MongoClients())
    assert "127.0.0.1:9" in repr(backend)
    backend.close_sync()


def test_inheritance_with_is_root_is_rejected() -> None:
    class Animal(MindtraceDocument):
        name: str

        class Settings:
            is_root = True

    class Cat(Animal):
        lives: int = 9

    with pytest.raises(TypeError, match="is_root"):
        MongoMindtraceODMBackend(Cat, "mongodb://127.0.0.1:9", "db")
