"""Durability and concurrency: WAL, kill -9, several processes and threads, busy waits.

Processes are real (``subprocess`` with this interpreter), the lock holder is a real second
SQLite connection; nothing is mocked. No test asserts on elapsed time: where a test must show that
the event loop keeps running while a write waits, the lock is released only after the loop has
proved it is alive.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

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


def run_child(code: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    script = textwrap.dedent(
        """
        import sys
        from pydantic import BaseModel
        from mindtrace.database.backends.local_odm_backend import LocalODMBackend

        class Event(BaseModel):
            id: str | None = None
            source: str
            n: int

            class Settings:
                name = "events"
        """
    ) + textwrap.dedent(code)
    return subprocess.Popen([sys.executable, "-c", script, *args], text=True, **popen)


def test_wal_and_full_synchronous(make: MakeBackend) -> None:
    events = make(Event)
    assert events._db.raw_execute("PRAGMA journal_mode") == [("wal",)]
    assert events._db.raw_execute("PRAGMA synchronous") == [(2,)]  # FULL
    normal = make(Event, synchronous="normal")
    assert normal._db.raw_execute("PRAGMA synchronous") == [(1,)]
    with pytest.raises(ValueError, match="synchronous"):
        LocalODMBackend(Event, ":memory:", synchronous="sometimes")


def test_acknowledged_writes_survive_kill_9(db_path: Path) -> None:
    child = run_child(
        """
        events = LocalODMBackend(Event, sys.argv[1])
        i = 0
        while True:
            stored = events.insert_sync(Event(source="child", n=i))
            print(stored.id, flush=True)  # acknowledged: insert returned
            i += 1
        """,
        str(db_path),
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    acknowledged = [child.stdout.readline().strip() for _ in range(40)]
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    with LocalODMBackend(Event, db_path) as events:
        stored = {e.id for e in events.all_sync()}
    assert set(acknowledged) <= stored


def test_insert_many_is_all_or_nothing_when_killed(db_path: Path) -> None:
    child = run_child(
        """
        events = LocalODMBackend(Event, sys.argv[1])
        events.initialize_sync()
        print("ready", flush=True)
        while True:
            events.insert_many_sync([Event(source="batch", n=i) for i in range(5000)])
            print("batch", flush=True)
        """,
        str(db_path),
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    assert child.stdout.readline().strip() == "batch"
    os.kill(child.pid, signal.SIGKILL)  # most likely in the middle of the next batch
    child.wait()
    with LocalODMBackend(Event, db_path) as events:
        assert events.count_sync() % 5000 == 0
        assert events.count_sync() >= 5000


def test_processes_writing_and_reading_one_file_never_see_locks(db_path: Path) -> None:
    LocalODMBackend(Event, db_path).initialize_sync()
    workers = [
        run_child(
            """
            events = LocalODMBackend(Event, sys.argv[1])
            me = sys.argv[2]
            for i in range(60):
                events.insert_sync(Event(source=me, n=i))
                events.insert_many_sync([Event(source=me, n=1000 + i * 3 + k) for k in range(3)])
                events.update_many_sync({"source": me, "n": i}, {"$inc": {"n": 100000}})
                assert events.count_sync({"source": me}) == 4 * (i + 1)
                events.find_sync({"n": {"$gte": 100000}}, limit=5)
            print("done", flush=True)
            """,
            str(db_path),
            f"w{k}",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for k in range(4)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
        assert out.strip() == "done"
    with LocalODMBackend(Event, db_path) as events:
        assert events.count_sync() == 4 * 60 * 4
        assert events.count_sync({"n": {"$gte": 100000}}) == 4 * 60


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
