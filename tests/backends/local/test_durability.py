"""Durability and concurrency settings: WAL, threads, busy waits, sync twins inside a loop.

The lock holder is a real second SQLite connection; nothing is mocked. Kill -9 and many-process
tests live in tests/reliability/. No test asserts on elapsed time: where a test must show that
the event loop keeps running while a write waits, the lock is released only after the loop has
proved it is alive.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel

from mindtrace.database import DatabaseError
from mindtrace.database.backends.local_odm_backend import LocalODMBackend
from tests.backends.local.conftest import MakeBackend


class Event(BaseModel):
    id: str | None = None
    source: str
    n: int

    class Settings:
        name = "events"


def test_wal_and_full_synchronous(make: MakeBackend) -> None:
    events = make(Event)
    assert events._db.raw_execute("PRAGMA journal_mode") == [("wal",)]
    assert events._db.raw_execute("PRAGMA synchronous") == [(2,)]  # FULL
    normal = make(Event, synchronous="normal")
    assert normal._db.raw_execute("PRAGMA synchronous") == [(1,)]
    with pytest.raises(ValueError, match="synchronous"):
        LocalODMBackend(Event, ":memory:", synchronous="sometimes")


# Crash durability (kill -9 during writes) and many processes on one file are proven by the
# stronger tests in tests/reliability/test_local_crash.py and test_local_multiprocess.py.


@pytest.mark.parametrize("where", ["file", "memory"])
def test_threads_share_a_backend(make: MakeBackend, where: str) -> None:
    events = make(Event, **({"path": ":memory:"} if where == "memory" else {}))
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for i in range(50):
                events.insert_sync(Event(source=name, n=i))
                assert events.count_sync({"source": name}) == i + 1
            events.update_many_sync({"source": name}, {"$inc": {"n": 1}})
            assert sorted(e.n for e in events.find_sync({"source": name})) == list(range(1, 51))
        except BaseException as e:  # collected for the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert events.count_sync() == 200


def hold_write_lock(path: Path, release: threading.Event, held: threading.Event) -> threading.Thread:
    """Another connection takes the write lock and keeps it until ``release`` is set."""

    def run() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(30)
        other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=run)
    thread.start()
    held.wait(10)
    return thread


async def test_a_locked_database_does_not_block_the_event_loop(make: MakeBackend, db_path: Path) -> None:
    events = make(Event, timeout=20)
    release, held = threading.Event(), threading.Event()
    holder = hold_write_lock(db_path, release, held)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not release.is_set():
            await asyncio.sleep(0.005)
            ticks += 1
            if ticks == 20:
                release.set()  # only a running event loop can let the writer through

    tick_task = asyncio.create_task(ticker())
    stored = await events.insert(Event(source="async", n=1))
    await tick_task
    holder.join()
    assert ticks >= 20
    assert (await events.get(stored.id)).n == 1


def test_lock_held_too_long_is_a_database_error(make: MakeBackend, db_path: Path) -> None:
    events = make(Event, timeout=0.2)
    release, held = threading.Event(), threading.Event()
    holder = hold_write_lock(db_path, release, held)
    try:
        with pytest.raises(DatabaseError, match="locked") as info:
            events.insert_sync(Event(source="x", n=1))
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    finally:
        release.set()
        holder.join()
    # Readers are never blocked by a writer in WAL mode.
    release, held = threading.Event(), threading.Event()
    holder = hold_write_lock(db_path, release, held)
    try:
        assert events.count_sync() == 0
    finally:
        release.set()
        holder.join()


@pytest.mark.parametrize("api", ["sync", "async"])
async def test_opening_an_existing_file_does_not_wait_for_writers(
    make: MakeBackend, db_path: Path, api: str
) -> None:
    """A backend whose table and indexes already exist initialises with a read: a reader that
    starts while other processes keep the write lock busy is not held up (WAL's promise)."""
    make(Event).insert_sync(Event(source="before", n=1))  # sets the file up
    reader = LocalODMBackend(Event, path=db_path, timeout=0.2)
    release, held = threading.Event(), threading.Event()
    holder = hold_write_lock(db_path, release, held)
    try:
        found = reader.find_sync({}) if api == "sync" else await reader.find({})
        assert [e.source for e in found] == ["before"]
    finally:
        release.set()
        holder.join()
        reader.close_sync()


async def test_async_lock_timeout_is_a_database_error(make: MakeBackend, db_path: Path) -> None:
    events = make(Event, timeout=0.1)
    release, held = threading.Event(), threading.Event()
    holder = hold_write_lock(db_path, release, held)
    try:
        with pytest.raises(DatabaseError, match="locked"):
            await events.insert(Event(source="x", n=1))
    finally:
        release.set()
        holder.join()


async def test_sync_twins_work_inside_a_running_loop(make: MakeBackend) -> None:
    events = make(Event)
    stored = events.insert_sync(Event(source="loop", n=1))
    assert events.get_sync(stored.id) == await events.get(stored.id)


def test_closed_backend_refuses_work(make: MakeBackend) -> None:
    events = make(Event)
    events.close_sync()
    events.close_sync()  # idempotent
    with pytest.raises(DatabaseError, match="closed"):
        events.count_sync()
