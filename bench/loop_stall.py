"""Event-loop stall benchmark: how long do other tasks wait while Local runs a long operation?

On a file of ``--docs`` documents (default 20,000; ``synchronous=FULL``, the default), each round
runs one ``await update_many({}, {"$inc": {"n": 1}})`` over every document while two other
tasks run on the same event loop:

* a *ticker* sleeping 1 ms in a loop and recording how late it wakes: the longest lateness is the
  longest stall of the loop;
* a *request* task: every 1 ms a request arrives and is answered with ``await get(id)``; its
  slowest latency, counted from arrival, is what an HTTP request served meanwhile would see (the
  issue's 4 ms -> 100 ms).

An *idle* round runs the ticker alone for as long, to show what the machine itself adds (other
processes, the scheduler). Target: longest stall <= 20 ms while the update runs.

Then the short operations, whose inline fast path must stay as it was: async ``get`` by id,
``find_one`` by a unique indexed field, ``find`` of 10 documents, an exact ``count``, and an
``update_many`` of one document by ``_id`` (µs per call, best block of several rounds), each
with its ``_sync`` twin for the ratio. Before/after a change, run the same file against both
checkouts (``PYTHONPATH=<checkout>/src python -m bench.loop_stall``): it uses the public API only.

Run with ``python -m bench.loop_stall`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel

from mindtrace.database import Index
from mindtrace.database.backends.local_odm_backend import LocalODMBackend

TICK = 0.001


class Row(BaseModel):
    """A small document with a unique and a plain index, like an application's table."""

    id: str | None = None
    n: int
    email: Annotated[str, Index(unique=True)]
    group: Annotated[int, Index()]
    tags: list[str]

    class Settings:
        name = "rows"


async def _ticker(stop: asyncio.Event, lateness: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(TICK)
        lateness.append(time.perf_counter() - started - TICK)


async def _requests(backend: LocalODMBackend[Row], id: str, stop: asyncio.Event, calls: list[float]) -> None:
    # A request arrives every millisecond and is answered by a get(): its latency counts from its
    # arrival, so one that arrives while the loop is blocked waits for the whole block.
    while not stop.is_set():
        arrival = time.perf_counter() + TICK
        await asyncio.sleep(TICK)
        await backend.get(id)
        calls.append(time.perf_counter() - arrival)


async def stall_round(backend: LocalODMBackend[Row] | None, id: str, idle_for: float) -> dict[str, float]:
    """One round: the ticker and the request task around one update_many over every document
    (or, with no backend, the ticker alone for ``idle_for`` seconds). Milliseconds."""
    stop = asyncio.Event()
    lateness: list[float] = []
    calls: list[float] = []
    tasks = [asyncio.create_task(_ticker(stop, lateness))]
    if backend is not None:
        tasks.append(asyncio.create_task(_requests(backend, id, stop, calls)))
    await asyncio.sleep(0.05)  # both running before the work starts
    lateness.clear()
    calls.clear()
    started = time.perf_counter()
    if backend is None:
        await asyncio.sleep(idle_for)
    else:
        await backend.update_many({}, {"$inc": {"n": 1}})
    took = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*tasks)
    return {
        "took_ms": took * 1000,
        "stall_ms": max(lateness, default=0.0) * 1000,
        "p99_ms": statistics.quantiles(lateness, n=100, method="inclusive")[98] * 1000
        if len(lateness) > 1
        else 0.0,
        "ticks": len(lateness),
        "slowest_get_ms": max(calls, default=0.0) * 1000,
        "gets": len(calls),
    }


async def _time_async(call: Callable[[], Awaitable[Any]], calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            await call()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def _time_sync(call: Callable[[], Any], calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


async def short_ops(
    backend: LocalODMBackend[Row], ids: list[str], calls: int, rounds: int
) -> list[tuple[str, float, float]]:
    """(operation, async µs, sync µs) per short operation, best block of ``rounds``."""
    one = ids[len(ids) // 2]
    email = f"user-{len(ids) // 2}@example.com"
    cases: list[tuple[str, Callable[[], Awaitable[Any]], Callable[[], Any]]] = [
        ("get by id", lambda: backend.get(one), lambda: backend.get_sync(one)),
        (
            "find_one by unique field",
            lambda: backend.find_one({"email": email}),
            lambda: backend.find_one_sync({"email": email}),
        ),
        ("find, 10 results", lambda: backend.find({"group": 7}), lambda: backend.find_sync({"group": 7})),
        ("count, exact", lambda: backend.count({"group": 7}), lambda: backend.count_sync({"group": 7})),
        (
            "update_many by _id",
            lambda: backend.update_many({"_id": one}, {"$inc": {"n": 1}}),
            lambda: backend.update_many_sync({"_id": one}, {"$inc": {"n": 1}}),
        ),
    ]
    out = []
    for name, async_call, sync_call in cases:
        a = s = float("inf")
        for _ in range(rounds):  # taking turns, so that noise hits both alike
            a = min(a, await _time_async(async_call, calls, 1))
            s = min(s, _time_sync(sync_call, calls, 1))
        out.append((name, a * 1e6, s * 1e6))
    return out


async def run(
    docs: int, rounds: int, short_rounds: int, calls: int, directory: Path, synchronous: str = "FULL"
) -> tuple[list[dict[str, float]], list[dict[str, float]], list[tuple[str, float, float]]]:
    """(update rounds, idle rounds, short operations) on a fresh file in ``directory``."""
    backend = LocalODMBackend(Row, directory / "loop_stall.sqlite3", synchronous=synchronous)
    try:
        groups = max(1, docs // 10)  # "group" matches 10 documents
        stored = backend.insert_many_sync(
            [Row(n=i, email=f"user-{i}@example.com", group=i % groups, tags=["a", "b"]) for i in range(docs)]
        )
        ids = [s.id for s in stored if s.id is not None]
        updates, idles = [], []
        for _ in range(rounds):
            updates.append(await stall_round(backend, ids[0], 0))
            idles.append(await stall_round(None, ids[0], updates[-1]["took_ms"] / 1000))
        short = await short_ops(backend, ids, calls, short_rounds) if short_rounds else []
        return updates, idles, short
    finally:
        await backend.close()


def report(
    docs: int,
    updates: list[dict[str, float]],
    idles: list[dict[str, float]],
    short: list[tuple[str, float, float]],
) -> str:
    lines = []
    if updates:
        lines += stall_table(docs, updates, idles) + [""]
    if short:
        lines.append(f"{'short operation':<26} {'async µs':>9} {'sync µs':>8} {'async/sync':>10}")
        for name, a, s in short:
            lines.append(f"{name:<26} {a:>9.1f} {s:>8.1f} {a / s:>10.2f}")
    return "\n".join(lines)


def stall_table(docs: int, updates: list[dict[str, float]], idles: list[dict[str, float]]) -> list[str]:
    """The stall rounds as lines of text, with the summary line."""
    lines = [
        f"update_many over {docs:,} documents while a 1 ms ticker and get() requests every 1 ms run (ms):",
        f"{'round':>5}  {'update':>8} {'stall':>7} {'p99':>6} {'ticks':>6} {'slowest req':>12} {'reqs':>5}"
        f"  | idle: {'stall':>6} {'p99':>6}",
    ]
    for i, (u, idle) in enumerate(zip(updates, idles, strict=True)):
        lines.append(
            f"{i + 1:>5}  {u['took_ms']:>8.0f} {u['stall_ms']:>7.1f} {u['p99_ms']:>6.1f} {u['ticks']:>6} "
            f"{u['slowest_get_ms']:>12.1f} {u['gets']:>5}  |       "
            f"{idle['stall_ms']:>6.1f} {idle['p99_ms']:>6.1f}"
        )
    stalls = sorted(u["stall_ms"] for u in updates)
    lines.append(
        f"longest stall: median {statistics.median(stalls):.1f} ms, worst {stalls[-1]:.1f} ms "
        f"(idle machine, same rounds: worst {max(i['stall_ms'] for i in idles):.1f} ms); target <= 20 ms"
    )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the rounds, print the tables."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.loop_stall", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--docs", type=int, default=20_000, help="documents updated by each update_many")
    parser.add_argument("--rounds", type=int, default=5, help="update_many rounds (0: none)")
    parser.add_argument(
        "--short-rounds", type=int, default=5, help="timing blocks per short operation (0: none)"
    )
    parser.add_argument("--calls", type=int, default=2000, help="calls per timing block of a short operation")
    parser.add_argument(
        "--synchronous", default="FULL", help="SQLite's setting (FULL, the default, or NORMAL)"
    )
    parser.add_argument("--quick", action="store_true", help="2,000 documents, 1 round: a smoke run")
    args = parser.parse_args(argv)
    docs, rounds, short_rounds, calls = (
        (2000, 1, 1, 200) if args.quick else (args.docs, args.rounds, args.short_rounds, args.calls)
    )
    with tempfile.TemporaryDirectory(prefix="mindtrace-loop-stall-") as tmp:
        updates, idles, short = asyncio.run(
            run(docs, rounds, short_rounds, calls, Path(tmp), synchronous=args.synchronous)
        )
    print(report(docs, updates, idles, short))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
