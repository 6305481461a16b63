"""SQLite connections for one backend: per-thread connections, durable settings, write
transactions that wait for other processes without ever reporting "database is locked", and a
worker thread that keeps long operations off the event loop.

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

Short and long work on the event loop. Coroutines run SQLite inline on the loop's thread: a
primary-key read costs ~10 µs, a hop to another thread 100-300 µs. A long operation (an
``update_many`` over thousands of documents, a scan) would stall every other task for its whole
duration, so the caller marks those ``long=True``:

* ``write_async(fn, long=True)`` runs the whole transaction on this object's worker thread
  (no inline attempt: a write's Python work comes in pages between two statements, ~20 ms per
  1,000 documents of ``update_many``, so a budget could not stop it in time);
* ``read_async(fn, long=True)`` first runs ``fn`` inline within ``inline_budget`` (5 ms). A read
  that is still running then is interrupted by SQLite's progress handler and run again, from the
  start, on the worker. Short reads so keep the inline cost; a long one loses at most the budget.
  ``fn`` must be re-runnable: no effect outside the connection it is given.
* :meth:`SqliteDatabase.offload` runs any blocking code that uses the blocking methods
  (``read``/``write``) on the worker, e.g. a whole ``_sync`` operation whose Python work is long.

The worker is one thread per :class:`SqliteDatabase`, started by the first long operation; it
has its own connection, so it takes the write gate and ``BEGIN IMMEDIATE`` like any other thread
(work on the loop and on the worker are serialised as writers of two processes are). For
``":memory:"`` it shares the one connection: a coroutine that finds that connection's lock taken
(by the worker, or another thread) hands its work to the worker, behind the holder, rather than
blocking the loop. The loop keeps turning while the worker computes because the interpreter
switches threads every ``sys.getswitchinterval()`` (5 ms) and SQLite releases the GIL.

Cancelling a coroutine that awaits the worker asks the job to stop: the running statement is
interrupted (progress handler), a write rolls back instead of committing (checked before
``BEGIN IMMEDIATE`` and before ``COMMIT``), and the coroutine waits for the job to end before it
re-raises ``CancelledError``, so no transaction stays open and no write gate stays held. A job
cancelled once it is committing does commit, as a cancelled MongoDB write may have been applied.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, Final, Generic, TypeVar

from mindtrace.database.backends.local.write_gate import WriteGate, gate_supported
from mindtrace.database.core.exceptions import ConnectionFailedError, DatabaseError
from mindtrace.database.core.gc_pause import gc_paused

__all__ = ["INLINE_BUDGET", "SqliteDatabase", "is_busy"]

T = TypeVar("T")

MEMORY: Final = ":memory:"
INLINE_BUDGET: Final = 0.005
"""Seconds a ``long=True`` read may run inline on the event loop before it moves to the worker."""
_SYNCHRONOUS: Final = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
_FIRST_BACKOFF: Final = 0.001
_MAX_BACKOFF: Final = 0.05
# SQLite virtual-machine steps between two calls of the progress handler: 20 µs (count(*)) to
# 0.2 ms (json_extract per row) of work on this machine; a check costs ~60 ns.
_PROGRESS_STEPS: Final = 1000


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


class _Watch:
    """What SQLite's progress handler of one connection checks every ``_PROGRESS_STEPS`` steps
    of a statement; returning true interrupts the statement (``OperationalError: interrupted``).

    ``deadline``: the end of an inline attempt's budget (``overran`` records that it passed); set
    by the one thread that runs statements on the connection meanwhile (the connection is per
    thread, or held under the ``":memory:"`` lock). ``jobs``: thread id -> the worker job that
    thread runs, whose task may cancel it (keyed by thread: the ``":memory:"`` connection is
    shared by the loop's thread and the worker).
    """

    __slots__ = ("deadline", "jobs", "overran")

    def __init__(self) -> None:
        self.deadline = math.inf
        self.overran = False
        self.jobs: dict[int, _Job[Any]] = {}

    def __call__(self) -> bool:
        if time.monotonic() >= self.deadline:
            self.overran = True
            return True
        jobs = self.jobs
        if jobs:
            job = jobs.get(threading.get_ident())
            return job is not None and job.stopped
        return False


class _Connection:
    """A ``sqlite3.Connection`` plus the state we track about it."""

    __slots__ = ("busy_ms", "db", "gate", "lock", "pid", "watch")

    def __init__(
        self, db: sqlite3.Connection, busy_ms: int, lock: threading.RLock | None, gate: WriteGate | None
    ) -> None:
        self.db = db
        self.busy_ms = busy_ms
        self.lock = lock
        self.gate = gate
        self.pid = os.getpid()
        self.watch = _Watch()
        db.set_progress_handler(self.watch, _PROGRESS_STEPS)

    def set_busy(self, ms: int) -> None:
        if self.busy_ms != ms:
            self.db.execute(f"PRAGMA busy_timeout = {int(ms)}")
            self.busy_ms = ms

    def check_cancelled(self) -> None:
        """Raise if this thread runs a worker job whose task was cancelled meanwhile."""
        jobs = self.watch.jobs
        if jobs:
            job = jobs.get(threading.get_ident())
            if job is not None and job.stopped:
                raise sqlite3.OperationalError("interrupted: the task waiting for this write was cancelled")


class _Job(Generic[T]):
    """A call run on the worker thread on behalf of a task, which may cancel it."""

    __slots__ = ("call", "cancelled", "database", "waiter")

    def __init__(self, database: SqliteDatabase, call: Callable[[], T]) -> None:
        self.database = database
        self.call = call
        self.cancelled = False  # set by the awaiting task; polled by SQLite and before COMMIT
        # The future the task awaits: Task.cancel() cancels it at once, while the task itself
        # (which sets ``cancelled``) resumes only later, possibly after the worker took the job.
        self.waiter: asyncio.Future[Any] | None = None

    @property
    def stopped(self) -> bool:
        """Whether the task gave up on this job (read from the worker thread)."""
        waiter = self.waiter
        return self.cancelled or (waiter is not None and waiter.cancelled())

    def run(self) -> T:
        if self.stopped:
            raise sqlite3.OperationalError("interrupted: the task was cancelled before the work began")
        jobs = self.database.connection().watch.jobs
        me = threading.get_ident()
        jobs[me] = self
        try:
            # A pass of the cyclic garbage collector holds the GIL from start to end (measured:
            # 23-45 ms during an update_many over 20,000 documents), stalling the loop as the
            # inline work did; the job's allocations are what trigger those passes. Paused, they
            # do not happen: the job's temporaries are freed by reference counting, and cyclic
            # garbage made meanwhile (by any thread) is collected by the first pass after.
            with gc_paused():
                return self.call()
        finally:
            del jobs[me]


async def _settled(future: concurrent.futures.Future[Any]) -> None:
    """Wait until the worker's ``future`` is done. The job was asked to stop and ends at its
    next SQLite step, so this does not wait long; a further cancellation of the waiting task
    does not cut it short (the point is that nothing stays open behind the task)."""
    done = asyncio.wrap_future(future)
    while not done.done():
        try:
            await asyncio.wait({done})
        except asyncio.CancelledError:
            continue
    if not done.cancelled():
        done.exception()  # retrieved: the task reports its cancellation, not the job's outcome


class SqliteDatabase:
    """Connections to one database file (or ``":memory:"``) on behalf of one backend.

    ``timeout`` (seconds) bounds how long an operation waits for another process's write lock;
    ``synchronous`` is SQLite's setting (``"FULL"``: a commit reaches the disk before it returns).
    ``describe`` names the backend in error messages. ``inline_budget`` (seconds) is how long a
    ``long=True`` read may run on the event loop before it moves to the worker thread; 0 sends
    every long operation straight to the worker. Opening is lazy: nothing touches the file until
    the first operation.
    """

    def __init__(
        self,
        path: str,
        *,
        timeout: float,
        synchronous: str,
        describe: str,
        on_connect: Callable[[sqlite3.Connection], None] | None = None,
        inline_budget: float = INLINE_BUDGET,
    ) -> None:
        sync = synchronous.upper()
        if sync not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(_SYNCHRONOUS)}, got {synchronous!r}")
        if timeout < 0:
            raise ValueError(f"timeout must be >= 0 seconds, got {timeout!r}")
        if inline_budget < 0:
            raise ValueError(f"inline_budget must be >= 0 seconds, got {inline_budget!r}")
        self.path = path
        self.timeout = timeout
        self._busy_ms = int(timeout * 1000)
        self.synchronous = sync
        self.describe = describe
        self.inline_budget = inline_budget
        self.is_memory = path == MEMORY
        self._on_connect = on_connect
        self._local = threading.local()
        self._all: list[_Connection] = []
        self._all_lock = threading.Lock()
        self._memory_lock = threading.RLock() if self.is_memory else None
        self._shared: _Connection | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._closed = False

    # ------------------------------------------------------------------ connections
    def _closed_error(self) -> DatabaseError:
        return DatabaseError(f"{self.describe} is closed; create a new backend to use it again")

    def _open(self) -> _Connection:
        if self._closed:
            raise self._closed_error()
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
            raise self._closed_error()
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
    def read(self, fn: Callable[[sqlite3.Connection], T], *, snapshot: bool = False) -> T:
        """Run ``fn`` on this thread's connection, waiting up to ``timeout`` for a busy database;
        with ``snapshot``, inside one read transaction so that all its statements see the same
        data. sqlite3 errors propagate unchanged."""
        if snapshot:
            return self.read_snapshot(fn)
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
        """``read(fn, snapshot=True)``: ``fn`` inside one read transaction."""
        conn = self.connection()
        with self._using(conn) as db:
            conn.set_busy(self._busy_ms)
            return self._retry_sync(partial(_in_snapshot, db, fn))

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
                conn.check_cancelled()  # a job whose task gave up while it queued stops here
                # Time spent in the gate's queue counts against the same ``timeout`` (changing
                # the busy timeout costs a statement, so only after an actual wait).
                now = time.monotonic()
                busy_ms = self._busy_ms if now - started < 0.001 else max(0, int((deadline - now) * 1000))
                conn.set_busy(busy_ms)
                self._retry_sync(lambda: db.execute("BEGIN IMMEDIATE"), deadline)
                return self._finish(conn, fn)
            finally:
                if gate is not None:
                    gate.release()

    @staticmethod
    def _finish(conn: _Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = conn.db
        try:
            result = fn(db)
            conn.check_cancelled()  # the last point where a cancelled job can still undo its work
            db.execute("COMMIT")
        except BaseException:
            # An interrupted statement may already have rolled the transaction back.
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
    async def read_async(
        self, fn: Callable[[sqlite3.Connection], T], *, snapshot: bool = False, long: bool = False
    ) -> T:
        """:meth:`read` for coroutines: runs inline; a busy database is awaited, not blocked on.
        ``fn`` must not await. With ``long``, ``fn`` may run too long for the event loop: it
        gets ``inline_budget`` inline, then runs again on the worker thread, so it must be
        re-runnable (see the module docstring)."""
        conn = self.connection()
        if long:
            # The inline attempt: SQLite's progress handler (``_Watch``) interrupts the statement
            # running at the deadline. Written out here, not in a helper coroutine, because short
            # reads take this path: it costs ~0.2 µs over a plain inline read.
            budget = self.inline_budget
            if budget > 0:
                lock = conn.lock
                if lock is None or lock.acquire(blocking=False):
                    watch, db = conn.watch, conn.db
                    try:
                        if conn.busy_ms:
                            conn.set_busy(0)
                        if snapshot:
                            db.execute("BEGIN")
                        watch.overran = False
                        watch.deadline = time.monotonic() + budget
                        try:
                            result = fn(db)
                        finally:
                            watch.deadline = math.inf
                            if snapshot and db.in_transaction:
                                db.execute("COMMIT")  # unwatched: ending the snapshot is never interrupted
                        if not watch.overran:
                            return result
                    except Exception as e:
                        # Interrupted at the budget, or a busy database (the worker waits for it
                        # without holding up the loop): run it again on the worker. Once the budget
                        # ran out, whatever ``fn`` raised is a consequence of the interruption.
                        if not (watch.overran or is_busy(e)):
                            raise
                    finally:
                        if lock is not None:
                            lock.release()
            return await self.offload(partial(self.read, fn, snapshot=snapshot))
        lock = conn.lock
        if lock is not None:  # ":memory:": one connection, whoever holds it, the loop must not wait
            if not lock.acquire(blocking=False):
                return await self.offload(partial(self.read, fn, snapshot=snapshot))
            try:
                return _in_snapshot(conn.db, fn) if snapshot else fn(conn.db)
            finally:
                lock.release()
        if not snapshot:  # hot path (files): first try, inline
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
            conn.set_busy(0)
            try:
                return _in_snapshot(conn.db, fn) if snapshot else fn(conn.db)
            except sqlite3.OperationalError as e:
                if not is_busy(e) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    async def write_async(self, fn: Callable[[sqlite3.Connection], T], *, long: bool = False) -> T:
        """:meth:`write` for coroutines. ``fn`` runs inline once the write lock is held (it must
        not await: the transaction belongs to the connection, not to the task); while another
        process holds the lock, this coroutine sleeps and retries instead of blocking the loop.
        With ``long``, the whole transaction runs on the worker thread instead."""
        if long:
            return await self.offload(partial(self.write, fn))
        conn = self.connection()
        lock = conn.lock
        if lock is not None:  # ":memory:": no other process, no gate; only the lock may be taken
            if not lock.acquire(blocking=False):
                return await self.offload(partial(self.write, fn))
            try:
                conn.db.execute("BEGIN IMMEDIATE")
                return self._finish(conn, fn)
            finally:
                lock.release()
        deadline = time.monotonic() + self.timeout
        gate = conn.gate
        if gate is not None and not await gate.acquire_async(self.timeout):
            raise _gate_timeout(self.timeout)
        try:
            delay = _FIRST_BACKOFF
            while True:
                conn.set_busy(0)
                try:
                    conn.db.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as e:
                    if not is_busy(e) or time.monotonic() >= deadline:
                        raise
                else:
                    return self._finish(conn, fn)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
        finally:
            if gate is not None:
                gate.release()

    async def offload(self, call: Callable[[], T]) -> T:
        """Run ``call`` — blocking code that uses :meth:`read`/:meth:`write` of this object — on
        the worker thread, where those use the worker's own connection; the event loop keeps
        running meanwhile. Errors propagate unchanged. Cancelling the awaiting task stops the
        call at its next SQLite step (a write rolls back) and waits for it to end, then
        re-raises ``CancelledError``."""
        job = _Job(self, call)
        future = self._worker().submit(job.run)
        waiter: asyncio.Future[T] = asyncio.wrap_future(future)
        job.waiter = waiter
        try:
            return await waiter
        except asyncio.CancelledError:
            job.cancelled = True  # (a job not yet started was cancelled outright)
            await _settled(future)
            raise

    def _worker(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._all_lock:
            if self._closed:
                raise self._closed_error()
            pool = self._pool
            if pool is None or self._pool_pid != os.getpid():  # a forked child has no threads
                pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="mindtrace-sqlite-worker"
                )
                self._pool, self._pool_pid = pool, os.getpid()
            return pool

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close every connection this object opened (from any thread); idempotent. Work already
        handed to the worker thread runs to its end first (a write commits or rolls back)."""
        with self._all_lock:
            self._closed = True
            pool, self._pool = self._pool, None
        me = os.getpid()
        if pool is not None and self._pool_pid == me:
            pool.shutdown(wait=True)
        with self._all_lock:
            conns, self._all = self._all, []
            self._shared = None
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


def _in_snapshot(db: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """``fn`` inside one read transaction, so that all its statements see the same data."""
    db.execute("BEGIN")
    try:
        return fn(db)
    finally:
        if db.in_transaction:
            db.execute("COMMIT")
