"""The write gate: writers queue in ``flock`` and a waiter that gives up never keeps it closed.

Real side files and real ``flock``; each "writer" is a separate ``WriteGate`` (its own open file
description), which excludes like another process does. No assertion on elapsed time.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from mindtrace.database import DatabaseError
from mindtrace.database.backends.local.write_gate import SUFFIX, WriteGate, gate_supported
from mindtrace.database.backends.local_odm_backend import LocalODMBackend
from tests.backends.local.conftest import MakeBackend

pytestmark = pytest.mark.skipif(not gate_supported(), reason="no flock on this platform")


@pytest.fixture
def gates(tmp_path: Path) -> Any:
    opened: list[WriteGate] = []

    def make() -> WriteGate:
        gate = WriteGate(str(tmp_path / "db.sqlite3"))
        opened.append(gate)
        return gate

    yield make
    for gate in opened:
        gate.close()


def test_a_waiter_gets_the_gate_when_the_holder_releases(gates: Any) -> None:
    holder, waiter = gates(), gates()
    assert holder.acquire(1.0)
    got: list[bool] = []
    thread = threading.Thread(target=lambda: got.append(waiter.acquire(30.0)))
    thread.start()
    thread.join(0.2)
    assert thread.is_alive()  # queued behind the holder
    holder.release()
    thread.join(30)
    assert got == [True]
    assert not holder.acquire(0.05)  # the waiter holds it now
    waiter.release()
    assert holder.acquire(30.0)  # (its abandoned helper may hold the gate for a moment first)


def test_a_waiter_that_times_out_does_not_keep_the_gate(gates: Any) -> None:
    holder, quitter, third = gates(), gates(), gates()
    assert holder.acquire(1.0)
    assert not quitter.acquire(0.05)  # gives up; its helper thread is still queued
    holder.release()
    # The abandoned helper takes the gate and lets it go at once: the third writer gets in.
    assert third.acquire(30.0)
    third.release()
    # The quitter itself carries on with a fresh descriptor.
    assert quitter.acquire(30.0)
    quitter.release()


async def test_an_async_waiter_queues_and_can_be_cancelled(gates: Any) -> None:
    holder, waiter, third = gates(), gates(), gates()
    assert holder.acquire(1.0)
    task = asyncio.create_task(waiter.acquire_async(30.0))
    await asyncio.sleep(0.05)
    assert not task.done()  # waiting without blocking this loop
    holder.release()
    assert await task
    waiter.release()

    assert holder.acquire(1.0)
    cancelled = asyncio.create_task(waiter.acquire_async(30.0))
    await asyncio.sleep(0.05)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    holder.release()
    assert await third.acquire_async(30.0)  # the cancelled waiter left it free
    third.release()
    assert await waiter.acquire_async(30.0)  # and the cancelled one can queue again
    waiter.release()


def test_writes_wait_in_the_gate_and_time_out_as_locked(make: MakeBackend, db_path: Path) -> None:
    class Item(BaseModel):
        id: str | None = None
        n: int

    items = make(Item, timeout=0.1)
    other = WriteGate(str(db_path))  # another writer holding the gate (as a process would)
    try:
        assert other.acquire(1.0)
        with pytest.raises(DatabaseError, match="locked") as info:
            items.insert_sync(Item(n=1))
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        assert "write queue" in str(info.value.__cause__)
        assert items.count_sync() == 0  # readers do not queue
    finally:
        other.release()
        other.close()
    items.insert_sync(Item(n=2))
    assert [i.n for i in items.all_sync()] == [2]
    assert (db_path.parent / (db_path.name + SUFFIX)).exists()


async def test_async_writes_time_out_in_the_gate(make: MakeBackend, db_path: Path) -> None:
    class Item(BaseModel):
        id: str | None = None
        n: int

    items = make(Item, timeout=0.1)
    other = WriteGate(str(db_path))
    try:
        assert other.acquire(1.0)
        with pytest.raises(DatabaseError, match="locked"):
            await items.insert(Item(n=1))
    finally:
        other.release()
        other.close()
    await items.insert(Item(n=2))
    assert await items.count() == 1


def test_memory_databases_have_no_gate() -> None:
    class Item(BaseModel):
        id: str | None = None

    with LocalODMBackend(Item, ":memory:") as items:
        items.insert_sync(Item())
        assert items._db.connection().gate is None


def test_readers_never_create_the_side_file(make: MakeBackend, db_path: Path) -> None:
    class Item(BaseModel):
        id: str | None = None
        n: int

    make(Item).insert_sync(Item(n=1))
    side = db_path.parent / (db_path.name + SUFFIX)
    side.unlink()
    with LocalODMBackend(Item, path=db_path) as reader:
        assert [i.n for i in reader.find_sync({})] == [1]
        assert reader.count_sync() == 1
    assert not side.exists()


def test_writes_go_ahead_where_the_side_file_cannot_be_made(db_path: Path) -> None:
    class Item(BaseModel):
        id: str | None = None
        n: int

    (db_path.parent / (db_path.name + SUFFIX)).mkdir()  # opening it for writing fails
    with LocalODMBackend(Item, path=db_path) as items:
        items.insert_sync(Item(n=1))
        items.update_many_sync({}, {"$inc": {"n": 1}})
        assert [i.n for i in items.all_sync()] == [2]
