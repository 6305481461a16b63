"""A cross-process queue in front of SQLite's write lock, so that busy writers take turns.

Why: a writer that finds SQLite's write lock taken sleeps in SQLite's busy handler (1 ms, growing
to 100 ms between polls) or, on an event loop, in our ``asyncio.sleep`` backoff. A process that
commits and begins its next transaction at once almost always wins against such sleepers, so
under steady write load from a few processes one of them could wait for seconds (measured: 4
processes updating flat out for 5 s, one got 16 writes done and waited up to 3.8 s for one) and,
past ``timeout``, report the database as locked. A writer blocked in ``flock(2)`` is instead woken
by the kernel the moment the holder lets go, so the lock passes from process to process.

The gate is an exclusive ``flock`` on a side file next to the database (``<file>-writelock``),
taken around every write transaction of this package (the file is created by the first write;
where it cannot be, e.g. in a read-only directory, writes go ahead without the gate). It is only
about fairness: each write still takes SQLite's own lock (``BEGIN IMMEDIATE``), so a program that
writes without the gate (the ``sqlite3`` shell, another library) stays correct, it just does not
queue. The kernel drops a dead process's ``flock``, so ``kill -9`` never leaves the gate closed.
The side file is never deleted: removing it while others hold it open would split them into two
gates.

Each connection has its own gate (its own open file description), so threads of one process
queue too. Taking a free gate is one non-blocking system call on the caller's thread; only a
taken gate costs a helper thread that blocks in ``flock`` while the caller waits (with a
timeout, or awaiting on an event loop). On platforms without ``fcntl`` (Windows) there is no
gate and SQLite's busy handling alone applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from typing import Final

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["SUFFIX", "WriteGate", "gate_supported"]

SUFFIX: Final = "-writelock"
"""Appended to the database path to name the gate's side file."""


def gate_supported() -> bool:
    """True where ``flock`` exists (Linux, macOS, the BSDs)."""
    return fcntl is not None


class _Wait:
    """One helper thread's attempt to take the gate on ``fd`` for a caller who may give up."""

    def __init__(self, fd: int, on_done: Callable[[], None] | None) -> None:
        self.fd = fd
        self.on_done = on_done
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.acquired = False
        self.abandoned = False
        self.error: OSError | None = None

    def run(self) -> None:
        assert fcntl is not None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as e:
            self.error = e
        with self.lock:
            if self.abandoned:
                os.close(self.fd)  # the caller has moved on to a new descriptor; this frees the gate
            else:
                self.acquired = self.error is None
        self.done.set()
        if self.on_done is not None:
            self.on_done()

    def give_up(self) -> bool:
        """Called by a caller that stops waiting; True when the gate was taken after all."""
        with self.lock:
            if self.acquired:
                return True
            self.abandoned = True
            return False


class WriteGate:
    """The gate as seen by one connection: :meth:`acquire` (or :meth:`acquire_async`) before
    ``BEGIN IMMEDIATE``, :meth:`release` after ``COMMIT``/``ROLLBACK``."""

    def __init__(self, database_path: str) -> None:
        self.path = database_path + SUFFIX
        self._fd: int | None = None  # opened by the first write: readers never touch the file
        self._unavailable = False

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def _try(self) -> bool:
        """Take the gate if it is free. Also True when there can be no gate: the side file cannot
        be created (a read-only directory) or locked (a file system without ``flock``); writes
        then rely on SQLite's own locking alone, as they would without a gate."""
        assert fcntl is not None
        if self._unavailable:
            return True
        try:
            if self._fd is None:
                self._fd = self._open()
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:
            self._unavailable = True
            self.close()
        return True

    def _start_wait(self, on_done: Callable[[], None] | None = None) -> _Wait:
        assert self._fd is not None  # _try opened it
        wait = _Wait(self._fd, on_done)
        threading.Thread(target=wait.run, name="mindtrace-write-gate", daemon=True).start()
        return wait

    def _abandon(self, wait: _Wait) -> bool:
        # The helper thread may still take the gate later on the old descriptor; it then closes
        # that descriptor (releasing the gate), so this connection continues on a fresh one.
        if wait.give_up():
            return True
        self._fd = None  # the next attempt opens a fresh descriptor
        return False

    def acquire(self, timeout: float) -> bool:
        """Take the gate, waiting in line up to ``timeout`` seconds; False when that ran out."""
        if self._try():
            return True
        wait = self._start_wait()
        wait.done.wait(timeout)
        if wait.error is not None:  # flock failed outright: go on without the gate, as _try does
            self._unavailable = True
            return True
        return wait.acquired or self._abandon(wait)

    async def acquire_async(self, timeout: float) -> bool:
        """:meth:`acquire` for coroutines: the event loop keeps running while this one waits.
        Cancelling the waiting coroutine leaves the gate free."""
        if self._try():
            return True
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def wake() -> None:
            if not done.done():
                done.set_result(None)

        def from_thread() -> None:
            # RuntimeError: the loop was closed meanwhile, so nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake)

        wait = self._start_wait(from_thread)
        try:
            await asyncio.wait_for(done, timeout)
        except TimeoutError:
            return self._abandon(wait)
        except BaseException:
            if self._abandon(wait):
                self.release()
            raise
        if wait.error is not None:  # flock failed outright: go on without the gate, as _try does
            self._unavailable = True
        return True

    def release(self) -> None:
        """Let the next writer in line through."""
        assert fcntl is not None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the side file's descriptor (which also releases the gate if held)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
