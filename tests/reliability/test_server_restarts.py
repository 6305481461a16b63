"""Server faults under a running workload (Redis, Valkey, MongoDB): stopped and restarted, killed
with SIGKILL, or frozen with SIGSTOP, while sync threads and async tasks insert, get, find and
``update_many`` on one backend object.

What must hold, checked for every call:

* a call either succeeds or raises ``ConnectionFailedError`` naming the URL with the password
  hidden — nothing else escapes — and it returns within a bound derived from the configured
  client timeout (a hang check, not a benchmark);
* a successful read never disagrees with what was acknowledged: each worker writes only its own
  documents and keeps a ledger of acknowledged versions and of writes whose outcome is unknown
  (they raised), and every get/find/counter read must fit that ledger;
* once the server is back, the same backend object works again through both APIs, and every
  acknowledged write is still there (the servers persist: Redis with ``appendfsync always``,
  SecantusDB with ``--sync-on-commit`` on a storage directory it reopens across restarts), even
  after SIGKILL; on Redis the index entries still match the documents exactly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

import pytest
import redis
from bson import ObjectId
from pydantic import BaseModel
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from mindtrace.database import ConnectionFailedError, DocumentNotFoundError, Index
from mindtrace.database.backends.mongo_odm_backend import MongoMindtraceODMBackend
from mindtrace.database.backends.redis_odm_backend import RedisODMBackend
from mindtrace.database.core.backend import MindtraceODMBackend
from mindtrace.database.core.urls import redact_url
from mindtrace.database.testing.mongo_server import MONGODB_URI_ENV, secantus_binary
from mindtrace.database.testing.redis_server import RedisServer, available_server_kinds
from tests.backends.redis.test_indexes import assert_consistent
from tests.reliability.conftest import short_and_soak

TIMEOUT = 0.5
"""Client timeout configured on every backend under test (seconds: connect, socket, selection)."""

REDIS_BOUND = 5 * TIMEOUT
"""No Redis call may take longer, failed or not. A call needs at most a connect, the handshake and
one command or pipeline, each bounded by the timeout (redis-py does not retry: the backend's
clients are made with ``from_url`` and no ``retry``); the margin is for a loaded machine."""

MONGO_BOUND = 10 * TIMEOUT
"""The same for MongoDB: PyMongo retries a read or write once after a network error, and each
attempt may spend the timeout on server selection, connecting, authenticating and the reply."""

PASSWORD = "s3cret-pw"

STREAM_BATCH = 3
"""Documents per round trip of the workload's ``iterate`` calls."""


class Entry(BaseModel):
    """A worker's document; ``seq == -1`` marks the worker's counter (bumped with update_many)."""

    id: str | None = None
    worker: Annotated[str, Index()]
    seq: int
    n: int = 0

    class Settings:
        name = "entries"


# ----------------------------------------------------------------------------- servers under test


class Target(Protocol):
    """A server the test can fault; ``start`` reopens it on the same port with the same data."""

    name: str
    bound: float  # seconds no call may exceed (see REDIS_BOUND, MONGO_BOUND)
    # A write the driver retried after a lost reply is applied once (MongoDB's retryable writes);
    # False where a retried delete can meet its own first attempt and report "not found".
    exactly_once: bool

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def kill(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def ensure_running(self) -> None: ...
    def close(self) -> None: ...
    def open(self, model: type[BaseModel], namespace: str) -> MindtraceODMBackend[Any]:
        """A backend with the test's client timeout; ``namespace`` keeps tests apart."""
        ...


class RedisTarget:
    """A password-protected Redis/Valkey whose every acknowledged write is on disk (AOF, fsync
    always), so even SIGKILL loses nothing acknowledged."""

    def __init__(self, kind: str) -> None:
        self.name = kind
        self.bound = REDIS_BOUND
        self.exactly_once = True
        self.server = RedisServer(
            kind,  # type: ignore[arg-type]
            persistence=True,
            password=PASSWORD,
            extra_args=["--appendfsync", "always"],
        )
        self.pid = 0
        self.paused = False

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.server.start()
        with redis.Redis.from_url(self.url) as client:  # the server's own pid, for signals
            self.pid = int(client.info("server")["process_id"])

    def stop(self) -> None:
        self.server.stop()

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.server.stop()  # reaps the process

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.paused = False

    def ensure_running(self) -> None:
        if self.paused:
            self.resume()
        if not self.server.running:
            self.start()

    def close(self) -> None:
        self.ensure_running()
        self.server.close()

    def open(self, model: type[BaseModel], namespace: str) -> MindtraceODMBackend[Any]:
        return RedisODMBackend(
            model, self.url, key_prefix=namespace, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SecantusTarget:
    """SecantusDB on a storage directory it reopens on restart, syncing its log on every commit.

    The package's ``MongoServer`` runs SecantusDB in memory (nothing survives a restart); this one
    keeps port and data so that a restart is a restart.
    """

    def __init__(self) -> None:
        self.name = "mongo"
        self.bound = MONGO_BOUND
        # SecantusDB does not deduplicate PyMongo's retried writes (a real MongoDB does).
        self.exactly_once = False
        binary = secantus_binary()
        if binary is None:
            pytest.skip(reason="secantusd-py is not installed")
        self.binary = binary
        self._dir = tempfile.TemporaryDirectory(prefix="mindtrace-restarts-")
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"mongodb://restarts:{PASSWORD}@127.0.0.1:{self.port}/?authSource=admin"

    def start(self) -> None:
        if self.process is None and not (Path(self._dir.name) / "data").exists():
            # A user needs an open server: create it, then run with --auth from then on.
            self._launch(auth=False)
            client: MongoClient[dict[str, Any]]
            with MongoClient(f"mongodb://127.0.0.1:{self.port}") as client:
                client.admin.command("createUser", "restarts", pwd=PASSWORD, roles=["root"])
            self.kill()  # --sync-on-commit: the user is on disk already; SIGTERM would take 2 s
        self._launch(auth=True)

    def _launch(self, *, auth: bool) -> None:
        workdir = Path(self._dir.name)
        config = workdir / "secantusd.toml"
        config.write_text("")  # stops SecantusDB from reading a config file from elsewhere
        log = (workdir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--config",
                str(config),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--storage-path",
                str(workdir / "data"),
                "--sync-on-commit",
                "--log-level",
                "WARNING",
                *(["--auth"] if auth else []),
            ],  # fmt: skip
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            url = self.url if auth else f"mongodb://127.0.0.1:{self.port}"
            probe: MongoClient[dict[str, Any]]
            with MongoClient(url, serverSelectionTimeoutMS=300, connectTimeoutMS=300) as probe:
                try:
                    probe.admin.command("ping")
                    return
                except PyMongoError:
                    time.sleep(0.05)
        tail = (workdir / "server.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"SecantusDB did not come back on port {self.port}; its log:\n{tail}")

    def _signal_and_reap(self, signum: int) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signum)
            process.wait(timeout=30)

    def stop(self) -> None:
        self._signal_and_reap(signal.SIGTERM)

    def kill(self) -> None:
        self._signal_and_reap(signal.SIGKILL)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def ensure_running(self) -> None:
        if self.paused:
            self.resume()
        if self.process is None or self.process.poll() is not None:
            self.start()

    def close(self) -> None:
        if self.paused:
            self.resume()
        self.kill()
        self._dir.cleanup()

    def open(self, model: type[BaseModel], namespace: str) -> MindtraceODMBackend[Any]:
        timeout_ms = int(TIMEOUT * 1000)
        return MongoMindtraceODMBackend(
            model,
            self.url,
            namespace,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
        )


TARGETS = [*available_server_kinds(), "mongo"]


@pytest.fixture(scope="module", params=TARGETS)
def fault_server(request: pytest.FixtureRequest) -> Iterator[Target]:
    """A server of each kind for this module's tests only (they stop, kill and freeze it)."""
    if request.param == "mongo" and os.environ.get(MONGODB_URI_ENV):
        pytest.skip(reason="restarts need a server this test controls; MONGODB_URI names an external one")
    server: Target = SecantusTarget() if request.param == "mongo" else RedisTarget(request.param)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def target(fault_server: Target) -> Target:
    """The module's server, running (whatever the previous test left it in)."""
    fault_server.ensure_running()
    return fault_server


@pytest.fixture
def namespace() -> str:
    """A key prefix / database name of this test's own."""
    return f"restarts_{uuid.uuid4().hex[:10]}"


# ----------------------------------------------------------------------------- the ledger


State = Entry | None
"""One possible state of a document: the version stored, or None for absent."""


@dataclass
class Ledger:
    """What one worker knows about its own documents, and what it saw.

    ``states[id]`` lists every state the document may be in: exactly one after an acknowledged
    write, more after writes that raised (their outcome is unknown: applied or not). The counter
    was bumped ``incs_acked`` times for sure and at most ``incs_uncertain`` more times.
    """

    worker: str
    bound: float  # seconds no call may exceed
    url: str  # the server's URL as errors must show it (password hidden)
    counter_id: str = ""
    states: dict[str, list[State]] = field(default_factory=dict)
    incs_acked: int = 0
    incs_uncertain: int = 0
    next_seq: int = 0
    successes: int = 0
    failures: int = 0
    slowest: float = 0.0
    slowest_failure: float = 0.0
    causes: Counter[str] = field(default_factory=Counter)  # driver errors behind the failures
    wrong: list[str] = field(default_factory=list)
    exactly_once: bool = True  # the target applies a retried write once (see Target)

    def settled(self) -> list[str]:
        """Ids whose document certainly exists in one known version."""
        return [id for id, states in self.states.items() if len(states) == 1 and states[0] is not None]

    def acknowledged(self, id: str, state: State) -> None:
        self.states[id] = [state]

    def unknown(self, id: str, state: State) -> None:
        states = self.states.setdefault(id, [None])
        if state not in states:
            states.append(state)

    def check_state(self, id: str, found: State) -> None:
        if found not in self.states.get(id, [None]):
            self.wrong.append(f"read {found!r} for {id}, possible: {self.states.get(id)!r}")

    def check_counter(self, n: int) -> None:
        if not self.incs_acked <= n <= self.incs_acked + self.incs_uncertain:
            self.wrong.append(
                f"counter of {self.worker} reads {n}, acknowledged {self.incs_acked} "
                f"(+{self.incs_uncertain} uncertain)"
            )

    def check_found(self, docs: list[Entry]) -> None:
        found = {str(d.id): d for d in docs if d.seq >= 0}
        for id in list(self.states):
            self.check_state(id, found.pop(id, None))
        if found:
            self.wrong.append(f"find for {self.worker} returned documents it never wrote: {sorted(found)}")
        counters = [d for d in docs if d.seq < 0]
        if len(counters) != 1:
            self.wrong.append(f"find for {self.worker} returned {len(counters)} counters")
        for counter in counters:
            self.check_counter(counter.n)

    def new_entry(self) -> Entry:
        self.next_seq += 1
        return Entry(id=str(ObjectId()), worker=self.worker, seq=self.next_seq)


class Call:
    """One operation of the workload: the method to call, its arguments, and what its outcome
    means for the ledger: ``ok(result)`` on success, ``failed()`` on ConnectionFailedError,
    ``not_found()`` on DocumentNotFoundError (where that is a possible answer)."""

    def __init__(
        self,
        method: str,
        args: tuple[Any, ...],
        ok: Callable[[Any], None],
        failed: Callable[[], None] = lambda: None,
        not_found: Callable[[], None] | None = None,
    ) -> None:
        self.method = method
        self.args = args
        self.ok = ok
        self.failed = failed
        self.not_found = not_found


def _insert(ledger: Ledger) -> Call:
    doc = ledger.new_entry()
    id = str(doc.id)

    def ok(result: Any) -> None:
        if result != doc:
            ledger.wrong.append(f"insert returned {result!r} for {doc!r}")
        ledger.acknowledged(id, doc)

    return Call("insert", (doc,), ok, lambda: ledger.unknown(id, doc))


def _insert_many(ledger: Ledger) -> Call:
    docs = [ledger.new_entry() for _ in range(3)]

    def ok(result: Any) -> None:
        if result != docs:
            ledger.wrong.append(f"insert_many returned {result!r} for {docs!r}")
        for doc in docs:
            ledger.acknowledged(str(doc.id), doc)

    def failed() -> None:
        for doc in docs:
            ledger.unknown(str(doc.id), doc)

    return Call("insert_many", (docs,), ok, failed)


def _get(ledger: Ledger, id: str) -> Call:
    return Call(
        "get",
        (id,),
        lambda found: ledger.check_state(id, found),
        not_found=lambda: ledger.check_state(id, None),
    )


def _replace(ledger: Ledger, id: str) -> Call:
    current = ledger.states[id][0]
    assert current is not None
    new = current.model_copy(update={"n": current.n + 1})

    def ok(result: Any) -> None:
        if result != new:
            ledger.wrong.append(f"update returned {result!r} for {new!r}")
        ledger.acknowledged(id, new)

    def lost() -> None:
        ledger.wrong.append(f"update of {id}: acknowledged document not found")

    return Call("update", (new,), ok, lambda: ledger.unknown(id, new), not_found=lost)


def _delete(ledger: Ledger, id: str) -> Call:
    def lost() -> None:
        if not ledger.exactly_once:
            # The driver retried the delete after a lost reply and met its own first attempt:
            # the document is gone (only this worker deletes it).
            ledger.acknowledged(id, None)
            return
        ledger.wrong.append(f"delete of {id}: acknowledged document not found")

    return Call(
        "delete", (id,), lambda _: ledger.acknowledged(id, None), lambda: ledger.unknown(id, None), lost
    )


def _bump(ledger: Ledger) -> Call:
    def ok(result: Any) -> None:
        if result.matched_count != 1:
            ledger.wrong.append(f"update_many of {ledger.worker}'s counter matched {result.matched_count}")
        ledger.incs_acked += 1

    def failed() -> None:
        ledger.incs_uncertain += 1

    return Call("update_many", ({"worker": ledger.worker, "seq": -1}, {"$inc": {"n": 1}}), ok, failed)


def next_call(ledger: Ledger, step: int) -> Call:
    """The workload, in turn: writes of every kind on the worker's own documents, and reads that
    must agree with the ledger."""
    settled = ledger.settled()
    kind = step % 10
    pick = settled[(step * 7) % len(settled)] if settled else ""
    if kind == 0 or not settled:
        return _insert(ledger)
    if kind == 1:
        return _insert_many(ledger)
    if kind == 2:
        return _get(ledger, pick)
    if kind == 3:
        ids = list(ledger.states)  # any id, settled or not
        return _get(ledger, ids[(step * 5) % len(ids)])
    if kind == 4:
        return _replace(ledger, pick)
    if kind == 5 and step % 4 == 1:
        return _delete(ledger, pick)
    if kind == 6:
        return Call("find", ({"worker": ledger.worker},), ledger.check_found)
    if kind == 7:
        return _bump(ledger)
    if kind == 8:  # a stream of small batches: many round trips, so a fault may land mid-stream
        return Call("iterate", ({"worker": ledger.worker},), ledger.check_found)
    return Call("get", (ledger.counter_id,), lambda found: ledger.check_counter(found.n))


def record(ledger: Ledger, call: Call, started: float, outcome: BaseException | None) -> None:
    """Account for one finished call (success when ``outcome`` is None)."""
    elapsed = time.monotonic() - started
    ledger.slowest = max(ledger.slowest, elapsed)
    if elapsed > ledger.bound:
        ledger.wrong.append(f"{call.method} took {elapsed:.2f}s (> {ledger.bound}s), ending with {outcome!r}")
    if outcome is None:
        ledger.successes += 1
    elif isinstance(outcome, ConnectionFailedError):
        ledger.failures += 1
        ledger.slowest_failure = max(ledger.slowest_failure, elapsed)
        ledger.causes[type(outcome.__cause__).__name__] += 1
        if PASSWORD in str(outcome) or outcome.url != ledger.url or ledger.url not in str(outcome):
            ledger.wrong.append(f"connection error does not name {ledger.url} (password hidden): {outcome}")
        call.failed()
    elif isinstance(outcome, DocumentNotFoundError) and call.not_found is not None:
        ledger.successes += 1
        call.not_found()
    else:
        ledger.wrong.append(f"{call.method}{call.args!r} raised {outcome!r}")


def sync_worker(backend: MindtraceODMBackend[Any], ledger: Ledger, stop: threading.Event) -> None:
    """Run the workload through the ``_sync`` methods until ``stop`` is set."""
    step = 0
    while not stop.is_set():
        call = next_call(ledger, step)
        step += 1
        started = time.monotonic()
        try:
            if call.method == "iterate":
                result = list(backend.iterate_sync(*call.args, batch_size=STREAM_BATCH))
            else:
                result = getattr(backend, f"{call.method}_sync")(*call.args)
        except Exception as e:  # classified by record(): anything unexpected is a wrong result
            record(ledger, call, started, e)
            continue
        record(ledger, call, started, None)
        call.ok(result)


async def async_worker(backend: MindtraceODMBackend[Any], ledger: Ledger, stop: threading.Event) -> None:
    """Run the workload through the coroutines until ``stop`` is set."""
    step = 0
    while not stop.is_set():
        call = next_call(ledger, step)
        step += 1
        started = time.monotonic()
        try:
            if call.method == "iterate":
                result = [doc async for doc in backend.iterate(*call.args, batch_size=STREAM_BATCH)]
            else:
                result = await getattr(backend, call.method)(*call.args)
        except Exception as e:  # classified by record(): anything unexpected is a wrong result
            record(ledger, call, started, e)
            continue
        record(ledger, call, started, None)
        call.ok(result)
        await asyncio.sleep(0)  # let the other tasks run even when every call is instant


# ----------------------------------------------------------------------------- the scenario


@dataclass(frozen=True)
class Faults:
    """Which faults to inflict, in turn, and how many times each."""

    cycles: int
    kinds: tuple[str, ...] = ("restart", "kill", "pause")


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll ``condition`` (without blocking the loop) until true; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        await asyncio.sleep(0.02)


def progressed(ledgers: list[Ledger], calls: int = 20) -> Callable[[], bool]:
    """A condition: every worker has completed ``calls`` more successful calls than now."""
    before = [ledger.successes for ledger in ledgers]
    return lambda: all(ledger.successes >= n + calls for ledger, n in zip(ledgers, before, strict=True))


async def inflict(target: Target, fault: str, ledgers: list[Ledger]) -> None:
    """Take the server away until every worker has seen a failure, then bring it back."""
    failures = [ledger.failures for ledger in ledgers]

    def all_failed() -> bool:
        return all(ledger.failures > before for ledger, before in zip(ledgers, failures, strict=True))

    if fault == "pause":
        target.pause()
        try:
            await wait_for(all_failed, "every worker saw the frozen server time out")
        finally:
            target.resume()
        return
    await asyncio.to_thread(target.kill if fault == "kill" else target.stop)
    try:
        await wait_for(all_failed, f"every worker saw the {fault}ed server fail")
    finally:
        await asyncio.to_thread(target.start)


async def verify(backend: MindtraceODMBackend[Any], ledgers: list[Ledger]) -> None:
    """After the faults, on the same backend object: everything acknowledged is there (both
    APIs), nothing is there that should not be, and writes work again (both APIs)."""
    for ledger in ledgers:
        for id in ledger.states:
            try:
                ledger.check_state(id, backend.get_sync(id))
            except DocumentNotFoundError:
                ledger.check_state(id, None)
        for id in ledger.settled()[:20]:
            ledger.check_state(id, await backend.get(id))
        ledger.check_found(backend.find_sync({"worker": ledger.worker}))
        ledger.check_found(await backend.find({"worker": ledger.worker}))
        await backend.update_many({"worker": ledger.worker, "seq": -1}, {"$inc": {"n": 1}})
        backend.update_many_sync({"worker": ledger.worker, "seq": -1}, {"$inc": {"n": 1}})
        ledger.incs_acked += 2
        ledger.check_counter((await backend.get(ledger.counter_id)).n)
        stored = [backend.insert_sync(ledger.new_entry()), await backend.insert(ledger.new_entry())]
        assert [backend.get_sync(str(s.id)) for s in stored] == stored
        await backend.delete(str(stored[0].id))
        backend.delete_sync(str(stored[1].id))
        assert await backend.count({"_id": {"$in": [str(s.id) for s in stored]}}) == 0
        assert not ledger.wrong, ledger.wrong[:20]


@pytest.mark.parametrize("faults", short_and_soak(Faults(cycles=1), Faults(cycles=10)))
async def test_workload_survives_server_faults(
    target: Target, namespace: str, faults: Faults, figure: Callable[[str, Any], None]
) -> None:
    backend = target.open(Entry, namespace)
    url = redact_url(target.url)
    ledgers = [
        Ledger(f"{api}{i}", target.bound, url, exactly_once=target.exactly_once)
        for api in ("sync", "async")
        for i in range(2)
    ]
    for ledger in ledgers:
        counter = backend.insert_sync(Entry(worker=ledger.worker, seq=-1))
        ledger.counter_id = str(counter.id)
    stop = threading.Event()
    threads = [
        threading.Thread(target=sync_worker, args=(backend, ledger, stop), daemon=True)
        for ledger in ledgers
        if ledger.worker.startswith("sync")
    ]
    for thread in threads:
        thread.start()
    tasks = [
        asyncio.create_task(async_worker(backend, ledger, stop))
        for ledger in ledgers
        if ledger.worker.startswith("async")
    ]
    survived = 0
    try:
        for _ in range(faults.cycles):
            for fault in faults.kinds:
                await wait_for(progressed(ledgers), "every worker completed calls on the running server")
                await inflict(target, fault, ledgers)
                survived += 1
        await wait_for(progressed(ledgers), "every worker completed calls after the last fault")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for thread in threads:
            await asyncio.to_thread(thread.join, 30)
    wrong = [w for ledger in ledgers for w in ledger.wrong]
    assert not wrong, wrong[:20]
    await verify(backend, ledgers)
    if isinstance(backend, RedisODMBackend):
        with redis.Redis.from_url(target.url) as raw:
            assert_consistent(backend, raw)
    await backend.close()
    figure("faults_survived", survived)
    figure("calls_ok", sum(ledger.successes for ledger in ledgers))
    figure("calls_failed", sum(ledger.failures for ledger in ledgers))
    figure("slowest_call_s", round(max(ledger.slowest for ledger in ledgers), 3))
    figure("slowest_failed_call_s", round(max(ledger.slowest_failure for ledger in ledgers), 3))
    figure("failure_causes", dict(sum((ledger.causes for ledger in ledgers), Counter())))
    figure("bound_s", target.bound)
    figure("documents_verified", sum(len(ledger.states) for ledger in ledgers))


def restart(target: Target) -> None:
    """Kill the server (SIGKILL: SecantusDB's graceful stop takes seconds; the workload test
    covers graceful stops) and start it again on the same port with the same data."""
    target.kill()
    target.start()


async def test_streams_interrupted_by_a_restart(target: Target, namespace: str) -> None:
    """A stream open across a restart either ends with ``ConnectionFailedError`` (MongoDB: the new
    server does not know the old cursor) or completes with exactly the stored documents (Redis
    reads batches by position and keeps no cursor); new streams on the same object work. One sync
    and one async stream are open at once."""
    backend = target.open(Entry, namespace)
    stored = backend.insert_many_sync([Entry(worker="w", seq=i) for i in range(60)])
    stream = backend.iterate_sync({"worker": "w"}, batch_size=5)
    astream = backend.iterate({"worker": "w"}, batch_size=5)
    seen, aseen = [next(stream)], [await anext(astream)]
    await asyncio.to_thread(restart, target)
    try:
        seen += list(stream)
    except ConnectionFailedError as e:
        assert PASSWORD not in str(e) and e.url == redact_url(target.url)
        seen = stored
    try:
        aseen += [doc async for doc in astream]
    except ConnectionFailedError as e:
        assert PASSWORD not in str(e) and e.url == redact_url(target.url)
        aseen = stored
    for got in (seen, aseen):
        assert sorted(got, key=lambda d: d.seq) == stored
    assert sorted(backend.iterate_sync({"worker": "w"}, batch_size=5), key=lambda d: d.seq) == stored
    again = [doc async for doc in backend.iterate({"worker": "w"}, batch_size=5)]
    assert sorted(again, key=lambda d: d.seq) == stored
    await backend.close()


async def test_first_calls_after_an_idle_restart_succeed(target: Target, namespace: str) -> None:
    """Nothing calls the server while it restarts; then the first call of each API on the same
    object succeeds — the pooled connections the old server closed are replaced, not used. Every
    kind of call gets to be first once (sync and async clients have separate pools)."""
    backend = target.open(Entry, namespace)
    doc = backend.insert_sync(Entry(worker="w", seq=0))
    await backend.count()  # the async client has a pooled connection too
    # Multi-document writes come first on each API: PyMongo does not retry them.
    firsts: list[tuple[tuple[str, tuple[Any, ...]], tuple[str, tuple[Any, ...]]]] = [
        (("update_many", ({"worker": "w"}, {"$inc": {"n": 1}})), ("insert", (Entry(worker="w", seq=1),))),
        (
            ("insert", (Entry(worker="w", seq=2),)),
            ("update_many", ({"worker": "w", "seq": 0}, {"$inc": {"n": 1}})),
        ),
        (("delete_many", ({"seq": {"$gte": 1}},)), ("get", (str(doc.id),))),
        (("get", (str(doc.id),)), ("delete_many", ({"seq": 3},))),
    ]
    for (sync_method, sync_args), (async_method, async_args) in firsts:
        await asyncio.to_thread(restart, target)
        getattr(backend, f"{sync_method}_sync")(*sync_args)
        await getattr(backend, async_method)(*async_args)
    assert backend.get_sync(str(doc.id)).n == 2
    assert await backend.count() == 1
    await backend.close()


class Plain(BaseModel):
    """No index: opening a backend on it does not talk to the server."""

    id: str | None = None
    name: str = ""


def test_mongo_timeouts_are_constructor_options() -> None:
    """``MongoMindtraceODMBackend(..., serverSelectionTimeoutMS=...)`` bounds a call to an
    unreachable server; backends share a client only when URL and options are equal, so one
    backend's timeouts never leak into another's."""
    url = f"mongodb://u:{PASSWORD}@127.0.0.1:{_free_port()}/?authSource=admin"
    quick = MongoMindtraceODMBackend(Plain, url, "x", serverSelectionTimeoutMS=200, connectTimeoutMS=200)
    same = MongoMindtraceODMBackend(Plain, url, "y", serverSelectionTimeoutMS=200, connectTimeoutMS=200)
    default = MongoMindtraceODMBackend(Plain, url, "x")
    try:
        started = time.monotonic()
        with pytest.raises(ConnectionFailedError) as caught:
            quick.count_sync()
        assert time.monotonic() - started < 10 * 0.2
        assert caught.value.url == redact_url(url) and PASSWORD not in str(caught.value)
        client = quick.sync_client()
        assert client is same.sync_client()
        assert client is not default.sync_client()
        assert client.options.server_selection_timeout == 0.2
        assert default.sync_client().options.server_selection_timeout == 30
    finally:
        for backend in (quick, same, default):
            backend.close_sync()
