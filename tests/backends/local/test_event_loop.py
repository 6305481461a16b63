"""Long operations leave the event loop free; short ones stay inline; cancellation leaves nothing open.

How a test proves that the loop keeps running while an ``update_many`` is in progress, without
timing anything: the model's validator (run on every updated document before it is written)
blocks until the test, on the event loop, lets it go. Had the update run inline, the validator
would block the loop itself, nobody could let it go, and the validator fails after its timeout.
The same trick holds a transaction open to cancel the task awaiting it.
"""

from __future__ import annotations

import asyncio
import math
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field, field_validator

from mindtrace.database import DatabaseError, DuplicateInsertError, Index
from mindtrace.database.backends.local_odm_backend import LocalODMBackend
from tests.backends.local.conftest import MakeBackend

HOLD = "hold"


class Holder:
    """Makes the validator of ``Item.mark == "hold"`` wait on a thread other than the loop's."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.resume = threading.Event()
        self.on: threading.Thread | None = None

    def wait(self) -> None:
        self.on = threading.current_thread()
        self.entered.set()
        if not self.resume.wait(20):
            raise ValueError("the event loop never let the update go on: it was blocked")


_holder = Holder()


class Item(BaseModel):
    id: str | None = None
    n: int
    mark: str = ""
    # Unique per document unless a test sets it (a null would be a value: only one could lack it).
    email: Annotated[str, Index(unique=True)] = Field(default_factory=lambda: f"{uuid.uuid4().hex}@x")

    class Settings:
        name = "items"

    @field_validator("mark")
    @classmethod
    def _hold(cls, value: str) -> str:
        if value == HOLD:
            _holder.wait()
        return value


@pytest.fixture
def holder() -> Iterator[Holder]:
    global _holder
    _holder = Holder()
    yield _holder
    _holder.resume.set()  # never leave a worker waiting


async def until(event: threading.Event) -> None:
    """Let the loop run until ``event`` is set (by another thread)."""
    for _ in range(20_000):
        if event.is_set():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the other thread never got there")


@pytest.mark.parametrize("where", ["file", "memory"])
async def test_the_loop_runs_while_update_many_is_in_its_transaction(
    make: MakeBackend, holder: Holder, where: str
) -> None:
    items = make(Item, **({"path": ":memory:"} if where == "memory" else {}))
    stored = items.insert_many_sync([Item(n=i) for i in range(50)])
    update = asyncio.create_task(items.update_many({}, {"$set": {"mark": HOLD}}))
    await until(holder.entered)  # the update is in its transaction, on another thread
    assert holder.on is not threading.current_thread()
    if where == "file":
        # WAL: the loop reads the last committed state meanwhile, inline.
        assert (await items.get(stored[0].id)).mark == ""
        assert await items.count({"mark": HOLD}) == 0
        holder.resume.set()
    else:
        # One connection, held by the worker: the read queues behind it instead of blocking.
        read = asyncio.create_task(items.get(stored[0].id))
        for _ in range(10):
            await asyncio.sleep(0.001)
        assert not read.done()
        holder.resume.set()
        assert (await read).mark == HOLD
    result = await update
    assert (result.matched_count, result.modified_count) == (50, 50)
    assert await items.count({"mark": HOLD}) == 50


@pytest.mark.parametrize("where", ["file", "memory"])
async def test_cancelling_a_long_write_rolls_it_back_and_frees_the_lock(
    make: MakeBackend, holder: Holder, where: str
) -> None:
    items = make(Item, timeout=5, **({"path": ":memory:"} if where == "memory" else {}))
    items.insert_many_sync([Item(n=i) for i in range(50)])
    update = asyncio.create_task(items.update_many({}, {"$set": {"mark": HOLD}, "$inc": {"n": 1}}))
    await until(holder.entered)
    update.cancel()
    await asyncio.sleep(0)  # the task takes its cancellation and waits for the worker to stop
    assert not update.done()
    holder.resume.set()
    with pytest.raises(asyncio.CancelledError):
        await update
    # Rolled back: nothing changed. Nothing held: writers from the loop and from a blocking
    # call go through at once (timeout=5 would turn a held lock into an error).
    assert await items.count({"mark": HOLD}) == 0
    assert sorted(i.n for i in await items.find({})) == list(range(50))
    await items.insert(Item(n=100))
    items.update_many_sync({"n": 100}, {"$set": {"n": 101}})
    assert (await items.update_many({"n": 101}, {"$set": {"n": 102}})).modified_count == 1


async def test_a_task_cancelled_before_its_work_starts_writes_nothing(
    make: MakeBackend, holder: Holder
) -> None:
    items = make(Item, path=":memory:")
    items.insert_many_sync([Item(n=i) for i in range(5)])
    first = asyncio.create_task(items.update_many({}, {"$set": {"mark": HOLD}}))
    await until(holder.entered)  # the worker is busy with the first update
    second = asyncio.create_task(items.update_many({}, {"$inc": {"n": 10}}))  # queued behind it
    await asyncio.sleep(0.01)
    second.cancel()
    holder.resume.set()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert (await first).modified_count == 5
    assert sorted(i.n for i in await items.find({})) == list(range(5))


async def test_errors_from_the_worker_are_translated_as_inline(make: MakeBackend) -> None:
    items = make(Item)
    items.insert_many_sync([Item(n=1, email="a@x"), Item(n=2, email="b@x")])
    with pytest.raises(DuplicateInsertError) as info:
        await items.update_many({"n": 2}, {"$set": {"email": "a@x"}})
    assert info.value.field == "email"
    assert await items.count({"email": "a@x"}) == 1  # all or nothing


async def test_a_big_async_insert_many_reports_duplicates_in_order(make: MakeBackend) -> None:
    items = make(Item)
    items.insert_sync(Item(n=-1, email="taken@x"))
    batch = [Item(n=i, email=f"{i}@x") for i in range(300)]
    batch[250] = Item(n=250, email="taken@x")
    with pytest.raises(DuplicateInsertError) as info:
        await items.insert_many(iter(batch))  # any iterable; big batches run on the worker
    assert info.value.failed == list(range(250, 300))
    assert len(info.value.inserted_ids) == 250
    assert await items.count({}) == 251


@pytest.mark.parametrize("budget", [0.0, 1e-9, 60.0])
@pytest.mark.parametrize("where", ["file", "memory"])
async def test_long_reads_give_the_same_answers_inline_interrupted_or_on_the_worker(
    make: MakeBackend, budget: float, where: str
) -> None:
    """``inline_budget`` 0: every long read goes to the worker; 1e-9: it starts inline and is
    interrupted at SQLite's first progress check, then runs again on the worker; 60 s: inline."""
    items = make(Item, **({"path": ":memory:"} if where == "memory" else {}))
    items.insert_many_sync([Item(n=i % 100, mark=f"m{i % 7}") for i in range(3000)])
    expected: dict[str, Any] = {
        "find": [i.id for i in items.find_sync({"n": {"$gte": 50}}, sort=[("mark", 1), ("n", -1)])],
        "count": items.count_sync({"mark": {"$regex": "^m[12]"}}),
        "exact_count": items.count_sync({"n": {"$lt": 10}}),
        "iterate": [i.id for i in items.iterate_sync({"mark": "m3"}, sort="-n", batch_size=100)],
        "aggregate": items.aggregate_sync([{"$group": {"_id": "$mark", "total": {"$sum": "$n"}}}]),
        "projected": items.find_sync({"n": 7}, projection={"n": 1, "_id": 0}),
    }
    items._db.inline_budget = budget
    got: dict[str, Any] = {
        "find": [i.id for i in await items.find({"n": {"$gte": 50}}, sort=[("mark", 1), ("n", -1)])],
        "count": await items.count({"mark": {"$regex": "^m[12]"}}),
        "exact_count": await items.count({"n": {"$lt": 10}}),
        "iterate": [i.id async for i in items.iterate({"mark": "m3"}, sort="-n", batch_size=100)],
        "aggregate": await items.aggregate([{"$group": {"_id": "$mark", "total": {"$sum": "$n"}}}]),
        "projected": await items.find({"n": 7}, projection={"n": 1, "_id": 0}),
    }
    assert got == expected
    connection = items._db.connection()
    assert not connection.db.in_transaction  # an interrupted snapshot was closed
    assert connection.watch.deadline == math.inf and not connection.watch.jobs
    # The worker ran the reads unless they had all the time they needed inline (it always
    # runs aggregate).
    assert items._db._pool is not None


@pytest.mark.parametrize(
    ("budget", "interrupted", "on_worker"), [(60.0, False, False), (1e-9, True, True), (0.0, False, True)]
)
async def test_where_a_long_read_runs(
    make: MakeBackend, budget: float, interrupted: bool, on_worker: bool
) -> None:
    items = make(Item)
    items.insert_many_sync([Item(n=i, mark=f"m{i % 7}") for i in range(3000)])
    items._db.inline_budget = budget
    assert await items.count({"mark": {"$regex": "^m[12]"}}) == 858  # 3000 rows read: > 1000 SQLite steps
    assert items._db.connection().watch.overran is interrupted  # the inline attempt hit the budget
    assert (items._db._pool is not None) is on_worker


async def test_short_reads_and_writes_stay_on_the_loop_thread(make: MakeBackend) -> None:
    """Only the loop's own connection is used for point operations: no worker connection."""
    items = make(Item)
    stored = await items.insert(Item(n=1, email="a@x"))
    await items.get(stored.id)
    await items.find_one({"email": "a@x"})
    await items.find({"n": 1})
    await items.count({"n": 1})
    await items.insert_many([Item(n=2), Item(n=3)])
    await items.update(stored)
    await items.delete(stored.id)
    assert items._db._pool is None  # the worker was never started


async def test_close_lets_the_running_work_finish_first(db_path: Path, holder: Holder) -> None:
    items = LocalODMBackend(Item, path=db_path)
    items.insert_many_sync([Item(n=i) for i in range(50)])
    update = asyncio.create_task(items.update_many({}, {"$set": {"mark": HOLD}}))
    await until(holder.entered)
    closer = threading.Thread(target=items.close_sync)
    closer.start()
    await asyncio.sleep(0.01)
    assert closer.is_alive()  # waiting for the job, which cannot end before resume
    holder.resume.set()
    assert (await update).modified_count == 50
    closer.join(20)
    assert not closer.is_alive()
    with pytest.raises(DatabaseError, match="closed"):
        await items.update_many({}, {"$inc": {"n": 1}})
    reopened = LocalODMBackend(Item, path=db_path)
    assert reopened.count_sync({"mark": HOLD}) == 50
    reopened.close_sync()
