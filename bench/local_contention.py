"""Local contention benchmark: several processes writing one file flat out — who gets through?

For 1, 2 and 4 writer processes (half through the sync API, half async), each runs
``update_many({}, {"$inc": {"n": 1}})`` over the same 20 documents as fast as it can for
``--seconds``. Contenders, each on its own file:

* ``backend``: ``LocalODMBackend`` (writers queue in the write gate, see
  ``mindtrace.database.backends.local.write_gate``);
* ``raw``: plain sqlite3 doing the same work the way a careful user would — WAL,
  ``busy_timeout`` of 30 s, ``BEGIN IMMEDIATE``; ``UPDATE … SET doc = json_set(…)``; ``COMMIT``
  — which leaves the waiting to SQLite's sleeping busy handler.

Reported per contender: writes per process (fewest and most), the fairness ratio (fewest / most;
1.0 is perfectly even), the longest single write call, and total writes per second. The point is
the shape: with SQLite's busy handler alone one writer can wait seconds (and, past ``timeout``,
fail), while the gate keeps every writer moving. Absolute throughput is not comparable between the
two: ``raw`` increments inside SQL with ``json_set``, the backend runs MongoDB's update semantics
in Python and validates every document against the model.

Run with ``python -m bench.local_contention`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mindtrace.database.backends.local_odm_backend import LocalODMBackend

DOCUMENTS = 20


class Counter(BaseModel):
    """The shared documents every writer increments."""

    id: str | None = None
    n: int = 0

    class Settings:
        name = "counters"


def _backend_writer(path: str, api: str, seconds: float, results: Queue[Any]) -> None:
    backend = LocalODMBackend(Counter, path)
    backend.initialize_sync()
    writes, worst = 0, 0.0

    async def run() -> None:
        nonlocal writes, worst
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.monotonic()
            if api == "sync":
                backend.update_many_sync({}, {"$inc": {"n": 1}})
            else:
                await backend.update_many({}, {"$inc": {"n": 1}})
            worst = max(worst, time.monotonic() - started)
            writes += 1

    asyncio.run(run())
    backend.close_sync()
    results.put((writes, worst))


def _raw_writer(path: str, api: str, seconds: float, results: Queue[Any]) -> None:
    db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    writes, worst = 0, 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE counters SET doc = json_set(doc, '$.n', json_extract(doc, '$.n') + 1)")
        db.execute("COMMIT")
        worst = max(worst, time.monotonic() - started)
        writes += 1
    db.close()
    results.put((writes, worst))


def _prepare(path: Path) -> None:
    with LocalODMBackend(Counter, str(path)) as backend:
        backend.insert_many_sync([Counter() for _ in range(DOCUMENTS)])


def measure(contender: str, writers: int, seconds: float, directory: Path) -> dict[str, Any]:
    """Run ``writers`` processes of one contender on a fresh file; returns the figures."""
    path = directory / f"{contender}-{writers}.sqlite3"
    _prepare(path)
    context = multiprocessing.get_context("spawn")
    results: Queue[Any] = context.Queue()
    target = _backend_writer if contender == "backend" else _raw_writer
    processes = [
        context.Process(target=target, args=(str(path), "async" if i % 2 else "sync", seconds, results))
        for i in range(writers)
    ]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=seconds + 120) for _ in processes]
    for p in processes:
        p.join()
    counts = sorted(w for w, _ in outcomes)
    with LocalODMBackend(Counter, str(path)) as backend:  # every acknowledged write is there
        total = sum(c.n for c in backend.all_sync())
    assert total == sum(counts) * DOCUMENTS, f"{contender}: stored increments differ from the writes"
    return {
        "fewest": counts[0],
        "most": counts[-1],
        "fairness": counts[0] / counts[-1] if counts[-1] else 0.0,
        "worst_wait_ms": max(w for _, w in outcomes) * 1000,
        "writes_per_s": sum(counts) / seconds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run every writer count for both contenders, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.local_contention", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each run writes")
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--quick", action="store_true", help="1 s runs of 2 writers: a smoke run")
    args = parser.parse_args(argv)
    seconds, counts = (1.0, [2]) if args.quick else (args.seconds, args.writers)
    header = ("writers", "contender", "fewest", "most", "fair", "worst ms", "writes/s")
    print("{:>7}  {:<9} {:>7} {:>7} {:>5} {:>9} {:>9}".format(*header))
    with tempfile.TemporaryDirectory(prefix="mindtrace-contention-") as tmp:
        for writers in counts:
            for contender in ("backend", "raw"):
                r = measure(contender, writers, seconds, Path(tmp))
                print(
                    f"{writers:>7}  {contender:<9} {r['fewest']:>7} {r['most']:>7} {r['fairness']:>5.2f} "
                    f"{r['worst_wait_ms']:>9.1f} {r['writes_per_s']:>9.0f}"
                )
    print("fair = fewest / most writes per process (1.0: even); worst = longest single write call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
