"""Several backends side by side, context managers, reopening, and sync twins inside an event loop."""

from __future__ import annotations

import asyncio

import pytest

from tests.conformance.conftest import Database
from tests.conformance.models import PEOPLE, Note, Order, User, names, people


async def test_backends_for_different_models_side_by_side(db: Database) -> None:
    users = await db.open(User)
    orders = await db.open(Order)
    notes = await db.open(Note)
    await users.insert_many(people())
    await orders.insert(Order(user_name="Ada", total=3))
    await notes.insert(Note(text="n"))
    assert await users.count() == len(PEOPLE)
    assert await orders.count() == 1 and await notes.count() == 1
    assert names(await users.find({"name": "Ada"})) == ["Ada"]
    assert (await orders.find_one({}, projection={"_id": 0, "user_name": 1})) == {"user_name": "Ada"}
    # Closing one backend leaves the others working.
    await db.close(orders)
    assert await users.count() == len(PEOPLE)
    assert await notes.count() == 1


async def test_two_backends_on_one_model_share_the_collection(db: Database) -> None:
    db.require("shared_database")
    first = await db.open(User)
    second = await db.open(User)
    ada = await first.insert(User(name="Ada", age=36))
    assert await second.get(ada.id) == ada
    await second.update_many({"name": "Ada"}, {"$set": {"age": 37}})
    assert (await first.get(ada.id)).age == 37
    await second.delete(ada.id)
    assert await first.count() == 0


async def test_initialize_is_idempotent(db: Database) -> None:
    users = await db.open(User)
    await users.insert(User(name="Ada", age=36))
    await users.initialize()
    await users.initialize()
    assert await users.count() == 1


async def test_data_survives_closing_and_reopening(db: Database) -> None:
    db.require("persistent")
    users = await db.open(User)
    stored = await users.insert_many(people())
    await db.close(users)
    again = await db.open(User)
    assert sorted(u.id for u in await again.all()) == sorted(u.id for u in stored)


async def test_close_is_idempotent(db: Database) -> None:
    users = await db.open(User)
    await users.close()
    await users.close()


@pytest.mark.parametrize("api", ["async"])
async def test_async_with_initialises_and_closes(db: Database) -> None:
    async with db.backend(User) as users:
        assert users.model_cls is User
        ada = await users.insert(User(name="Ada", age=36))
        assert (await users.get(ada.id)).name == "Ada"
    if db.caps.persistent:
        async with db.backend(User) as again:
            assert (await again.get(ada.id)).name == "Ada"


@pytest.mark.parametrize("api", ["sync"])
async def test_with_initialises_and_closes(db: Database) -> None:
    with db.backend(User) as users:
        ada = users.insert_sync(User(name="Ada", age=36))
        assert users.get_sync(ada.id).name == "Ada"
    if db.caps.persistent:
        with db.backend(User) as again:
            assert again.get_sync(ada.id).name == "Ada"


@pytest.mark.parametrize("api", ["async"])
async def test_sync_twins_work_inside_a_running_event_loop(db: Database) -> None:
    # As in a Jupyter cell or a FastAPI handler: blocking calls while the loop is running.
    asyncio.get_running_loop()
    users = db.backend(User)
    users.initialize_sync()
    stored = users.insert_many_sync(people())
    ada = users.insert_sync(User(name="Ada2", age=36))
    assert users.get_sync(ada.id) == ada
    assert names(users.find_sync({"age": {"$gt": 40}}, sort="name")) == sorted(
        p["name"] for p in PEOPLE if p["age"] > 40
    )
    assert users.find_one_sync(User.name == "Eve").name == "Eve"  # type: ignore[union-attr]
    assert users.count_sync() == len(stored) + 1
    assert len(list(users.iterate_sync(batch_size=2))) == len(stored) + 1
    assert users.update_many_sync({"name": "Ada2"}, {"$set": {"age": 1}}).modified_count == 1
    assert users.aggregate_sync([{"$count": "n"}]) == [{"n": len(stored) + 1}]
    users.delete_sync(ada.id)
    assert users.delete_many_sync({}) == len(stored)
    # ...and the async API keeps working on the same backend in the same loop.
    assert await users.count() == 0
    users.close_sync()


@pytest.mark.parametrize("api", ["async"])
async def test_concurrent_async_operations(db: Database) -> None:
    users = await db.open(User)
    stored = await asyncio.gather(*(users.insert(User(name=f"u{i}", age=i)) for i in range(20)))
    assert len({u.id for u in stored}) == 20
    fetched = await asyncio.gather(*(users.get(u.id) for u in stored))
    assert fetched == list(stored)
    counts = await asyncio.gather(*(users.count({"age": {"$lt": i}}) for i in range(20)))
    assert counts == list(range(20))
