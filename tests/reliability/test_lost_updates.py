"""No lost updates on any backend: several processes, each with several async tasks and a thread on
the sync twins, run ``update_many`` on the same documents at once.

* **Increments.** Every call is ``update_many(<filter on the hot documents>, {"$inc": {"n": 1}})``
  with one of several filter shapes (indexed field, ``_id $in``, a range on the incremented
  field, unique field ``$in``). Each call must report every hot document matched and modified,
  and in the end every hot document's ``n`` equals the number of calls, and the cold document
  (never matched) is untouched.
* **Compare-and-set.** A task reads ``n`` of a document, then runs
  ``update_many({"_id": id, "n": n_read}, {"$inc": {"n": 1}})``; it *wins* value ``n_read`` when
  one document was modified. Atomic per document means every value of every document is won
  exactly once: no value twice (two writers both passing the check), none skipped, final
  ``n`` = number of wins.
* **Bounded counter.** ``update_many({"group": "capped", "n": {"$lt": CAP}}, {"$inc": {"n": 1}})``
  from every task until nothing matches: every document ends at exactly ``CAP`` (never past it),
  and the modified counts reported add up to the increments really made.

Processes reach the same store by location (file path, server URL plus key prefix or database
name), through the conformance suite's backend factories.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from mindtrace.database import Index
from mindtrace.database.core.backend import MindtraceODMBackend
from tests.conformance.backends import BACKENDS
from tests.reliability.conftest import WorkerContext, short_and_soak

PROCESSES = 4
TASKS = 4  # async tasks per process, plus one thread on the sync twins
HOT = 3
CAP = 400  # per document, for the bounded counter
JOIN_TIMEOUT = 600.0  # a guard against hung workers, not a measurement


SHARED = [
    name for name, factory in BACKENDS.items() if factory.caps.shared_database and factory.caps.persistent
]


class Tally(BaseModel):
    id: str | None = None
    name: Annotated[str, Index(unique=True)]
    group: Annotated[str, Index()]
    n: int = 0

    class Settings:
        name = "lost_updates"


@dataclass
class Report:
    """What one worker process did; sent back through a queue."""

    calls: int = 0
    modified: int = 0  # sum of the modified counts the calls reported
    short_calls: int = 0  # calls that reported fewer documents matched and modified, without error
    anomalies: list[str] = field(default_factory=list)
    wins: list[tuple[str, int]] = field(default_factory=list)  # compare-and-set: (id, value won)
    capped_modified: int = 0

    def anomaly(self, text: str) -> None:
        self.anomalies.append(text)


def hot_filters(docs: list[Tally]) -> list[dict[str, Any]]:
    """Several ways to select exactly the hot documents (different plans on every backend)."""
    ids = [d.id for d in docs]
    return [
        {"group": "hot"},
        {"_id": {"$in": ids}},
        {"group": "hot", "n": {"$gte": 0}},
        {"name": {"$in": [d.name for d in docs]}},
    ]


# ============================================================================ workers
class Caller:
    """One way of calling the backend: awaiting coroutines, or the sync twins on a thread."""

    def __init__(self, backend: MindtraceODMBackend[Any], sync: bool) -> None:
        self.backend = backend
        self.sync = sync

    async def __call__(self, name: str, *args: Any) -> Any:
        if self.sync:
            return getattr(self.backend, name + "_sync")(*args)
        return await getattr(self.backend, name)(*args)


async def increments(
    call: Caller, docs: list[Tally], iterations: int, rng: random.Random, report: Report
) -> None:
    filters = hot_filters(docs)
    for i in range(iterations):
        result = await call(
            "update_many", filters[(i + rng.randrange(len(filters))) % len(filters)], {"$inc": {"n": 1}}
        )
        report.calls += 1
        report.modified += result.modified_count
        if result.matched_count == result.modified_count < HOT:
            report.short_calls += 1
        elif (result.matched_count, result.modified_count) != (HOT, HOT):
            report.anomaly(f"$inc on {HOT} documents reported {result}")


async def compare_and_set(
    call: Caller, docs: list[Tally], attempts: int, rng: random.Random, report: Report
) -> None:
    for _ in range(attempts):
        id = rng.choice(docs).id
        assert id is not None
        seen = (await call("get", id)).n
        result = await call("update_many", {"_id": id, "n": seen}, {"$inc": {"n": 1}})
        report.calls += 1
        if result.modified_count == 1:
            report.wins.append((id, seen))
        elif result.modified_count != 0 or result.matched_count != 0:
            report.anomaly(f"compare-and-set on {id} at {seen} reported {result}")


async def bounded(call: Caller, report: Report) -> None:
    while True:
        result = await call("update_many", {"group": "capped", "n": {"$lt": CAP}}, {"$inc": {"n": 1}})
        report.calls += 1
        report.capped_modified += result.modified_count
        if result.matched_count != result.modified_count:
            report.anomaly(f"bounded $inc reported {result}")
        if result.matched_count == 0:
            return


async def crowd(call: Caller, doc: Tally, iterations: int, report: Report) -> None:
    for _ in range(iterations):
        result = await call("update_many", {"_id": doc.id}, {"$inc": {"n": 1}})
        report.calls += 1
        if (result.matched_count, result.modified_count) != (1, 1):
            report.anomaly(f"$inc on one crowded document reported {result}")


Job = Callable[[Caller, random.Random, Report], Coroutine[Any, Any, None]]


def lost_update_worker(
    backend_name: str,
    location: Any,
    test: str,
    iterations: int,
    tasks: int,
    seed: int,
    start: Barrier,
    results: Queue[Any],
) -> None:
    """Process entry point: open the store at ``location``, wait for the others, then run
    ``tasks`` async tasks and one sync thread of ``test``; put a Report on ``results``."""
    report = Report()
    try:
        asyncio.run(run_worker(backend_name, location, test, iterations, tasks, seed, start, report))
    except BaseException as e:  # reported, not raised: the parent fails the test with it
        report.anomaly(f"worker crashed: {e!r}")
    results.put(report)


async def run_worker(
    backend_name: str,
    location: Any,
    test: str,
    iterations: int,
    tasks: int,
    seed: int,
    start: Barrier,
    report: Report,
) -> None:
    backend = BACKENDS[backend_name].open(location, Tally)
    await backend.initialize()
    try:
        hot = await backend.find({"group": "hot"}, sort="name")
        capped = await backend.find({"group": "capped"}, sort="name")
        jobs: dict[str, Job] = {
            "inc": lambda call, rng, rep: increments(call, hot, iterations, rng, rep),
            "cas": lambda call, rng, rep: compare_and_set(call, capped, iterations, rng, rep),
            "bounded": lambda call, rng, rep: bounded(call, rep),
            "crowd": lambda call, rng, rep: crowd(call, hot[0], iterations, rep),
        }
        job = jobs[test]
        thread_report = Report()

        def in_thread() -> None:
            try:
                asyncio.run(job(Caller(backend, sync=True), random.Random(f"{seed}:thread"), thread_report))
            except Exception as e:  # reported through the thread's report
                thread_report.anomaly(f"sync thread failed: {e!r}")

        start.wait(60)
        thread = threading.Thread(target=in_thread)
        thread.start()
        await asyncio.gather(
            *(job(Caller(backend, sync=False), random.Random(f"{seed}:{t}"), report) for t in range(tasks))
        )
        await asyncio.to_thread(thread.join)
        report.calls += thread_report.calls
        report.modified += thread_report.modified
        report.short_calls += thread_report.short_calls
        report.anomalies += thread_report.anomalies
        report.wins += thread_report.wins
        report.capped_modified += thread_report.capped_modified
    finally:
        await backend.close()


def run_processes(
    context: WorkerContext,
    backend_name: str,
    location: Any,
    test: str,
    iterations: int,
    rng: random.Random,
    *,
    processes_n: int = PROCESSES,
    tasks: int = TASKS,
) -> list[Report]:
    start = context.Barrier(processes_n)
    results: Queue[Any] = context.Queue()
    processes = [
        context.Process(
            target=lost_update_worker,
            args=(backend_name, location, test, iterations, tasks, rng.randrange(2**32), start, results),
            daemon=True,
        )
        for _ in range(processes_n)
    ]
    for p in processes:
        p.start()
    try:
        return [results.get(timeout=JOIN_TIMEOUT) for _ in processes]
    finally:
        for p in processes:
            p.join(10)
            if p.is_alive():
                p.kill()


@contextlib.contextmanager
def seeded_store(
    backend_name: str, request: pytest.FixtureRequest
) -> Iterator[tuple[Any, MindtraceODMBackend[Any]]]:
    """A fresh database of this backend kind (its location, for the worker processes) and a
    backend on it holding the hot, cold and capped documents; closed afterwards."""
    factory = BACKENDS[backend_name]
    with factory.database(request) as location:
        backend = factory.open(location, Tally)
        try:
            backend.initialize_sync()
            backend.insert_many_sync(
                [Tally(name=f"hot{i}", group="hot") for i in range(HOT)]
                + [Tally(name="cold", group="cold")]
                + [Tally(name=f"capped{i}", group="capped") for i in range(HOT)]
            )
            yield location, backend
        finally:
            backend.close_sync()


# ============================================================================ tests
@pytest.mark.parametrize("iterations", short_and_soak(40, 400))
@pytest.mark.parametrize("backend_name", SHARED)
def test_concurrent_increments_are_never_lost(
    backend_name: str,
    iterations: int,
    request: pytest.FixtureRequest,
    process_context: WorkerContext,
    rng: random.Random,
    figure: Callable[[str, Any], None],
) -> None:
    with seeded_store(backend_name, request) as (location, backend):
        reports = run_processes(process_context, backend_name, location, "inc", iterations, rng)
        anomalies = [a for r in reports for a in r.anomalies]
        calls = sum(r.calls for r in reports)
        short = sum(r.short_calls for r in reports)
        figure("increments_per_document", calls)
        figure("increments_checked", calls * HOT)
        figure("calls_that_skipped_documents", short)
        assert anomalies == [], anomalies[:5]
        assert calls == PROCESSES * (TASKS + 1) * iterations
        final = {d.name: d.n for d in backend.find_sync({"group": {"$in": ["hot", "cold"]}})}
        # Whatever happened, no increment was lost *unreported*: the stored total is the sum
        # of the modified counts the callers were given.
        assert final["cold"] == 0
        assert sum(final.values()) == sum(r.modified for r in reports)
        assert short == 0, f"{short} calls matched fewer than the {HOT} documents the filter selects"
        assert final == {**{f"hot{i}": calls for i in range(HOT)}, "cold": 0}


@pytest.mark.parametrize("attempts", short_and_soak(20, 200))
@pytest.mark.parametrize("backend_name", SHARED)
def test_compare_and_set_wins_each_value_once(
    backend_name: str,
    attempts: int,
    request: pytest.FixtureRequest,
    process_context: WorkerContext,
    rng: random.Random,
    figure: Callable[[str, Any], None],
) -> None:
    with seeded_store(backend_name, request) as (location, backend):
        reports = run_processes(process_context, backend_name, location, "cas", attempts, rng)
        anomalies = [a for r in reports for a in r.anomalies]
        assert anomalies == [], anomalies[:5]
        wins = [w for r in reports for w in r.wins]
        figure("cas_attempts", sum(r.calls for r in reports))
        figure("cas_wins", len(wins))
        twice = [w for w, n in Counter(wins).items() if n > 1]
        assert twice == [], f"values won by two writers (id, value): {twice[:5]}"
        final = {d.id: d.n for d in backend.find_sync({"group": "capped"})}
        for id, n in final.items():
            assert sorted(v for w_id, v in wins if w_id == id) == list(range(n)), id
        assert sum(final.values()) == len(wins) > 0


@pytest.mark.parametrize("backend_name", SHARED)
def test_bounded_increments_stop_exactly_at_the_bound(
    backend_name: str,
    request: pytest.FixtureRequest,
    process_context: WorkerContext,
    rng: random.Random,
    figure: Callable[[str, Any], None],
) -> None:
    with seeded_store(backend_name, request) as (location, backend):
        reports = run_processes(process_context, backend_name, location, "bounded", 0, rng)
        anomalies = [a for r in reports for a in r.anomalies]
        assert anomalies == [], anomalies[:5]
        figure("bounded_calls", sum(r.calls for r in reports))
        final = [d.n for d in backend.find_sync({"group": "capped"})]
        assert max(final) <= CAP, f"the bound was passed: {final}"
        assert sum(r.capped_modified for r in reports) == sum(final)  # nothing lost unreported
        assert final == [CAP] * HOT


@pytest.mark.parametrize("iterations", short_and_soak(2, 10))
@pytest.mark.parametrize("backend_name", SHARED)
def test_a_crowd_on_one_document_loses_no_increment(
    backend_name: str,
    iterations: int,
    request: pytest.FixtureRequest,
    process_context: WorkerContext,
    rng: random.Random,
    figure: Callable[[str, Any], None],
) -> None:
    """2 processes x 64 tasks on one document: every compare-and-set loser retries until it wins."""
    with seeded_store(backend_name, request) as (location, backend):
        reports = run_processes(
            process_context, backend_name, location, "crowd", iterations, rng, processes_n=2, tasks=64
        )
        calls = sum(r.calls for r in reports)
        figure("crowd_increments", calls)
        anomalies = [a for r in reports for a in r.anomalies]
        figure("crowd_anomalies", len(anomalies))
        stored = backend.find_one_sync({"name": "hot0"}).n
        figure("crowd_lost", calls - stored)
        assert anomalies == [], anomalies[:5]
        assert stored == calls == 2 * 65 * iterations


@pytest.mark.parametrize("backend_name", SHARED)
async def test_many_concurrent_calls_on_one_backend(
    backend_name: str, request: pytest.FixtureRequest
) -> None:
    """150 coroutines updating through one backend object at once all succeed (a pool may make
    them wait, never fail)."""
    factory = BACKENDS[backend_name]
    with factory.database(request) as location:
        backend = factory.open(location, Tally)
        try:
            await backend.initialize()
            doc = await backend.insert(Tally(name="busy", group="hot"))
            results = await asyncio.gather(
                *(backend.update_many({"_id": doc.id}, {"$inc": {"n": 1}}) for _ in range(150)),
                return_exceptions=True,
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            assert errors == [], f"{len(errors)} of 150 calls failed, e.g. {errors[0]!r}"
            assert (await backend.get(doc.id)).n == 150
        finally:
            await backend.close()
