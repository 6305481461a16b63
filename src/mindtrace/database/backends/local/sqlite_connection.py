"""SQLite connections for one backend: per-thread connections, durable settings, write
transactions that wait for other processes without ever reporting "database is locked".

Why one connection per thread: a ``sqlite3.Connection`` carries one transaction state, so two
threads sharing it would interleave their ``BEGIN``/``COMMIT``. Each thread therefore gets its own
(created on first use; ``check_same_thread=False`` only so that :meth:`SqliteDatabase.close` may
close them all from whichever thread closes the backend). ``":memory:"`` is the exception: every
connection to it would be a separate empty database, so there is one connection, serialised by a
lock. A connection inherited through ``fork()`` is never used (SQLite forbids it); the child
opens its own.

Locking: in WAL mode readers never wait; a writer takes the write lock up front with
``BEGIN IMMEDIATE`` (a deferred transaction that upgrades from read to write can deadlock with
another writer, and SQLite then fails at once instead of waiting). Before that, writers of every
process queue in the write gate (:mod:`.write_gate`), so that none of them starves. Blocking
calls let SQLite's busy handler wait up to ``timeout`` seconds. Coroutines must not freeze the
event loop for that long, so on the event loop's thread the busy wait is turned off and a busy
database is retried with ``asyncio.sleep`` backoff until ``timeout`` runs out; only then does the
caller see an error.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from mindtrace.database.backends.local.write_gate import WriteGate, gate_supported
from mindtrace.database.core.exceptions import ConnectionFailedError, DatabaseError

__all__ = ["SqliteDatabase", "is_busy"]

T = TypeVar("T")

MEMORY: Final = ":memory:"
_SYNCHRONOUS: Final = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
_FIRST_BACKOFF: Final = 0.001
_MAX_BACKOFF: Final = 0.05


def _gate_timeout(timeout: float) -> sqlite3.OperationalError:
    # Reported like SQLite's own lock timeout (``is_busy`` is true for it), so callers translate
    # both the same way.
    return sqlite3.OperationalError(
        f"database is locked: other writers kept the write queue busy for more than {timeout:g}s"
    )


def is_busy(e: BaseException) -> bool:
    """True for SQLITE_BUSY and SQLITE_LOCKED in any of their extended forms."""
    code = getattr(e, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return isinstance(e, sqlite3.OperationalError) and "locked" in str(e)


class _Connection:
    """A ``sqlite3.Connection`` plus the state we track about it."""

    __slots__ = ("busy_ms", "db", "gate", "lock", "pid")

    def __init__(
        self, db: sqlite3.Connection, busy_ms: int, lock: threading.RLock | None, gate: WriteGate | None
    ) -> None:
        self.db = db
        self.busy_ms = busy_ms
        self.lock = lock
        self.gate = gate
        self.pid = os.getpid()

    def set_busy(self, ms: int) -> None:
        if self.busy_ms != ms:
            self.db.execute(f"PRAGMA busy_timeout = {int(ms)}")
            self.busy_ms = ms


class SqliteDatabase:
    """Connections to one database file (or ``":memory:"``) on behalf of one backend.

    ``timeout`` (seconds) bounds how long an operation waits for another process's write lock;
    ``synchronous`` is SQLite's setting (``"FULL"``: a commit reaches the disk before it returns).
    ``describe`` names the backend in error messages. Opening is lazy: nothing touches the file
    until the first operation.
    """

    def __init__(
        self,
        path: str,
        *,
        timeout: float,
        synchronous: str,
        describe: str,
        on_connect: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        sync = synchronous.upper()
        if sync not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(_SYNCHRONOUS)}, got {synchronous!r}")
        if timeout < 0:
            raise ValueError(f"timeout must be >= 0 seconds, got {timeout!r}")
        self.path = path
        self.timeout = timeout
        self._busy_ms = int(timeout * 1000)
        self.synchronous = sync
        self.describe = describe
        self.is_memory = path == MEMORY
        self._on_connect = on_connect
        self._local = threading.local()
        self._all: list[_Connection] = []
        self._all_lock = threading.Lock()
        self._memory_lock = threading.RLock() if self.is_memory else None
        self._shared: _Connection | None = None
        self._closed = False

    # ------------------------------------------------------------------ connections
    def _open(self) -> _Connection:
        if self._closed:
            raise DatabaseError(f"{self.describe} is closed; create a new backend to use it again")
        busy_ms = self._busy_ms
        try:
            db = sqlite3.connect(
                self.path,
                timeout=self.timeout,
                isolation_level=None,  # autocommit: we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # see module docstring: only close() crosses threads
                cached_statements=512,
            )
        except sqlite3.Error as e:
            raise ConnectionFailedError(
                f"cannot open the database file {self.path!r} for {self.describe}: {e}; check that "
                "the directory exists and is writable",
                url=self.path,
            ) from e
        try:
            if not self.is_memory:
                # Switching a new file to WAL needs an exclusive lock, and SQLite reports BUSY at
                # once (no busy handler) while another process opens the same new file; retry
                # until ``timeout`` like any other wait for a lock. Only the first connections
                # to a new file can meet this, so blocking here briefly is acceptable even on
                # an event loop's thread.
                mode = self._retry_sync(lambda: db.execute("PRAGMA journal_mode = WAL").fetchone()[0])
                if str(mode).lower() != "wal":
                    raise DatabaseError(
                        f"the database file {self.path!r} cannot use WAL mode (got {mode!r}); "
                        "Local needs a file system with shared-memory support (not a network share)"
                    )
            db.execute(f"PRAGMA synchronous = {self.synchronous}")
            db.execute("PRAGMA temp_store = MEMORY")
            if self._on_connect is not None:
                self._on_connect(db)
        except sqlite3.Error as e:
            db.close()
            raise ConnectionFailedError(
                f"cannot prepare the database file {self.path!r} for {self.describe}: {e}", url=self.path
            ) from e
        except BaseException:
            db.close()
            raise
        gate = WriteGate(self.path) if not self.is_memory and gate_supported() else None
        conn = _Connection(db, busy_ms, self._memory_lock, gate)
        with self._all_lock:
            self._all.append(conn)
        return conn

    def connection(self) -> _Connection:
        """This thread's connection (the shared one for ``":memory:"``), opened on first use.

        Raises ``DatabaseError`` once the backend is closed.
        """
        if self._closed:
            raise DatabaseError(f"{self.describe} is closed; create a new backend to use it again")
        if self._memory_lock is not None:
            conn = self._shared
            if conn is None:
                with self._memory_lock:
                    if self._shared is None:
                        self._shared = self._open()
                    conn = self._shared
            return conn
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.pid != os.getpid():
            conn = self._open()
            self._local.conn = conn
        return conn

    @contextmanager
    def _using(self, conn: _Connection) -> Iterator[sqlite3.Connection]:
        if conn.lock is None:
            yield conn.db
        else:
            with conn.lock:
                yield conn.db

    # ------------------------------------------------------------------ blocking
    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` (statements outside an explicit transaction) on this thread's connection,
        waiting up to ``timeout`` for a busy database. sqlite3 errors propagate unchanged."""
        conn = self.connection()
        if conn.lock is None:  # hot path (files): no lock, no context manager
            if conn.busy_ms != self._busy_ms:
                conn.set_busy(self._busy_ms)
            try:
                return fn(conn.db)
            except sqlite3.OperationalError as e:
                if not is_busy(e):
                    raise
            return self._retry_sync(lambda: fn(conn.db))
        with conn.lock:
            conn.set_busy(self._busy_ms)
            return self._retry_sync(lambda: fn(conn.db))

    def read_snapshot(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside one read transaction, so all its statements see the same data."""
        conn = self.connection()
        with self._using(conn) as db:
            conn.set_busy(self._busy_ms)

            def run() -> T:
                db.execute("BEGIN")
                try:
                    result = fn(db)
                finally:
                    db.execute("COMMIT")
                return result

            return self._retry_sync(run)

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside ``BEGIN IMMEDIATE``...``COMMIT``; on any exception the transaction
        is rolled back and the exception propagates. All or nothing. Writers of all processes
        take turns through the write gate first (see :mod:`.write_gate`)."""
        conn = self.connection()
        with self._using(conn) as db:
            started = time.monotonic()
            deadline = started + self.timeout
            gate = conn.gate
            if gate is not None and not gate.acquire(self.timeout):
                raise _gate_timeout(self.timeout)
            try:
                # Time spent in the gate's queue counts against the same ``timeout`` (changing
                # the busy timeout costs a statement, so only after an actual wait).
                now = time.monotonic()
                busy_ms = self._busy_ms if now - started < 0.001 else max(0, int((deadline - now) * 1000))
                conn.set_busy(busy_ms)
                self._retry_sync(lambda: db.execute("BEGIN IMMEDIATE"), deadline)
                return self._finish(db, fn)
            finally:
                if gate is not None:
                    gate.release()

    @staticmethod
    def _finish(db: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            result = fn(db)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return result

    def _retry_sync(self, fn: Callable[[], T], deadline: float | None = None) -> T:
        # SQLite's busy handler already waited ``timeout``; a few situations (a snapshot that went
        # stale, WAL recovery by another process) report BUSY without waiting, so retry those
        # until the deadline (``timeout`` from now unless given).
        if deadline is None:
            deadline = time.monotonic() + self.timeout
        delay = _FIRST_BACKOFF
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if not is_busy(e) or time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    # ------------------------------------------------------------------ event loop
    async def read_async(self, fn: Callable[[sqlite3.Connection], T], *, snapshot: bool = False) -> T:
        """:meth:`read` (or :meth:`read_snapshot`) for coroutines: runs inline; a busy database
        is awaited, not blocked on. ``fn`` must not await."""
        conn = self.connection()
        if conn.lock is None and not snapshot:  # hot path (files): first try, inline
            if conn.busy_ms:
                conn.set_busy(0)
            try:
                return fn(conn.db)
            except sqlite3.OperationalError as e:
                if not is_busy(e):
                    raise
        deadline = time.monotonic() + self.timeout
        delay = _FIRST_BACKOFF
        while True:
            with self._using(conn) as db:
                conn.set_busy(0)
                try:
                    if not snapshot:
                        return fn(db)
                    db.execute("BEGIN")
                    try:
                        return fn(db)
                    finally:
                        db.execute("COMMIT")
                except sqlite3.OperationalError as e:
                    if not is_busy(e) or time.monotonic() >= deadline:
                        raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    async def write_async(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """:meth:`write` for coroutines. ``fn`` runs inline once the write lock is held (it must
        not await: the transaction belongs to the connection, not to the task); while another
        process holds the lock, this coroutine sleeps and retries instead of blocking the loop."""
        conn = self.connection()
        deadline = time.monotonic() + self.timeout
        gate = conn.gate
        if gate is not None and not await gate.acquire_async(self.timeout):
            raise _gate_timeout(self.timeout)
        try:
            delay = _FIRST_BACKOFF
            while True:
                with self._using(conn) as db:
                    conn.set_busy(0)
                    try:
                        db.execute("BEGIN IMMEDIATE")
                    except sqlite3.OperationalError as e:
                        if not is_busy(e) or time.monotonic() >= deadline:
                            raise
                    else:
                        return self._finish(db, fn)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
        finally:
            if gate is not None:
                gate.release()

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close every connection this object opened (from any thread); idempotent."""
        with self._all_lock:
            conns, self._all = self._all, []
            self._closed = True
            self._shared = None
        me = os.getpid()
        for conn in conns:
            if conn.pid != me:
                continue  # inherited through fork: belongs to the parent
            if conn.lock is not None:
                with conn.lock:
                    conn.db.close()
            else:
                conn.db.close()
            if conn.gate is not None:
                conn.gate.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    def raw_execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Run one statement and return all rows (diagnostics and tests)."""
        return self.read(lambda db: db.execute(sql, params).fetchall())
