"""MongoDB benchmark: MongoMindtraceODMBackend vs raw PyMongo (async) vs plain Beanie, one server.

All three run against the same server in the same process: ``MONGODB_URI`` when set, else a
throwaway SecantusDB. Operations: ``get`` and ``insert`` (one document per call), ``insert_many``
of 1k and 10k documents, a ``find`` returning 1k documents, and an ``update_many`` (``$inc``) over
1k documents — a verified read-modify-write on the backend (it reads, validates and
compares-and-sets each document, see ``backends/mongo/updates.py``), one server-side command for
the others. Each measurement is the best of
several rounds (the machine is shared), reported per operation or per document, with the ratios
the targets are stated in:

* backend / raw PyMongo for ``get`` and ``insert`` (target: at most 1.3);
* backend throughput / plain Beanie throughput for ``insert_many`` (target: at least 2);
* backend / raw PyMongo for ``update_many`` (reported: the price of never storing a document the
  model rejects; no target).

Run it with ``python -m bench.mongo`` (``--quick`` for a smoke run, ``--url`` for a server);
``bench/__main__.py`` calls :func:`main`, or :func:`run` for the results as data.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

from beanie import Document, init_beanie
from bson import ObjectId
from pymongo import AsyncMongoClient

from mindtrace.database.backends.mongo.clients import MongoClients
from mindtrace.database.backends.mongo_odm_backend import MindtraceDocument, MongoMindtraceODMBackend
from mindtrace.database.testing.mongo_server import MONGODB_URI_ENV, MongoServer

DB_NAME = "mindtrace_bench"


class BenchDoc(MindtraceDocument):
    name: str
    value: int
    score: float
    tags: list[str]

    class Settings:
        name = "bench_backend"


class BeanieBenchDoc(Document):
    name: str
    value: int
    score: float
    tags: list[str]

    class Settings:
        name = "bench_beanie"


def fields(i: int) -> dict[str, Any]:
    return {"name": f"user-{i}", "value": i, "score": i / 7, "tags": ["a", "b", str(i % 10)]}


@dataclass(frozen=True)
class Timing:
    """Seconds per unit (an operation, or a document for bulk work): wall clock, and the CPU time
    of this process — the client's own work, since the server runs in another process."""

    wall: float
    cpu: float


@dataclass(frozen=True)
class Result:
    """One measurement of one operation by one contender."""

    operation: str
    contender: str
    timing: Timing
    unit: str


class Clock:
    """Times one block: ``with Clock(n) as clock: ...`` then ``clock.timing`` (per unit)."""

    def __init__(self, units: int) -> None:
        self.units = units
        self.timing = Timing(0.0, 0.0)

    def __enter__(self) -> Clock:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timing = Timing(
            (time.perf_counter() - self._wall) / self.units, (time.process_time() - self._cpu) / self.units
        )


async def best_of(
    rounds: int, measure: Callable[[str], Awaitable[Timing]], operation: str, unit: str
) -> list[Result]:
    """Each contender's fastest (by wall clock) of ``rounds`` runs of ``measure(contender)``.

    Rounds interleave the contenders, starting with a different one each round, so that a busy
    moment of the shared machine or of the server does not fall on one contender only.
    """
    timings: dict[str, list[Timing]] = {who: [] for who in CONTENDERS}
    for r in range(rounds):
        order = CONTENDERS[r % len(CONTENDERS) :] + CONTENDERS[: r % len(CONTENDERS)]
        for who in order:
            timings[who].append(await measure(who))
    return [Result(operation, who, min(timings[who], key=lambda t: t.wall), unit) for who in CONTENDERS]


class Contenders:
    """The three ways to talk to the same server, each on its own collection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.backend: MongoMindtraceODMBackend[BenchDoc] = MongoMindtraceODMBackend(
            BenchDoc, url, DB_NAME, clients=MongoClients()
        )
        self.raw_client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
        self.raw = self.raw_client[DB_NAME]["bench_raw"]
        self.beanie_client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)

    async def open(self) -> None:
        await self.raw_client.drop_database(DB_NAME)
        await self.backend.initialize()
        await init_beanie(database=self.beanie_client[DB_NAME], document_models=[BeanieBenchDoc])

    async def close(self) -> None:
        await self.raw_client.drop_database(DB_NAME)
        await self.backend.close()
        await self.raw_client.close()
        await self.beanie_client.close()

    async def clear(self) -> None:
        await self.backend.delete_many({})
        await self.raw.delete_many({})
        await BeanieBenchDoc.get_pymongo_collection().delete_many({})

    # ----------------------------------------------------------------- per contender
    async def insert(self, who: str, n: int) -> Timing:
        with Clock(n) as clock:
            if who == "backend":
                for i in range(n):
                    await self.backend.insert(BenchDoc(**fields(i)))
            elif who == "pymongo":
                for i in range(n):
                    await self.raw.insert_one({"_id": ObjectId(), **fields(i)})
            else:
                for i in range(n):
                    await BeanieBenchDoc(**fields(i)).insert()
        return clock.timing

    async def insert_many(self, who: str, n: int) -> Timing:
        await self.clear()
        with Clock(n) as clock:
            if who == "backend":
                await self.backend.insert_many([BenchDoc(**fields(i)) for i in range(n)])
            elif who == "pymongo":
                await self.raw.insert_many([{"_id": ObjectId(), **fields(i)} for i in range(n)])
            else:
                await BeanieBenchDoc.insert_many([BeanieBenchDoc(**fields(i)) for i in range(n)])
        return clock.timing

    async def ids(self, who: str) -> list[Any]:
        if who == "backend":
            return [d.id for d in await self.backend.find(limit=1000)]
        if who == "pymongo":
            return [d["_id"] async for d in self.raw.find({}, {"_id": 1}).limit(1000)]
        return [d.id for d in await BeanieBenchDoc.find_all(limit=1000).to_list()]

    async def get(self, who: str, ids: list[Any], n: int) -> Timing:
        picks = [random.choice(ids) for _ in range(n)]
        with Clock(n) as clock:
            if who == "backend":
                for id in picks:
                    await self.backend.get(id)
            elif who == "pymongo":
                for id in picks:
                    await self.raw.find_one({"_id": id})
            else:
                for id in picks:
                    await BeanieBenchDoc.get(id)
        return clock.timing

    async def find(self, who: str, calls: int) -> Timing:
        with Clock(calls) as clock:
            for _ in range(calls):
                if who == "backend":
                    found: list[Any] = await self.backend.find({"value": {"$gte": 0}})
                elif who == "pymongo":
                    found = await self.raw.find({"value": {"$gte": 0}}).to_list()
                else:
                    found = await BeanieBenchDoc.find(BeanieBenchDoc.value >= 0).to_list()
                assert len(found) == 1000, len(found)
        return clock.timing

    async def update_many(self, who: str, calls: int) -> Timing:
        """``$inc`` on every one of the 1k documents, ``calls`` times; per document updated."""
        with Clock(calls * 1000) as clock:
            for _ in range(calls):
                if who == "backend":
                    modified = (await self.backend.update_many({}, {"$inc": {"value": 1}})).modified_count
                elif who == "pymongo":
                    modified = (await self.raw.update_many({}, {"$inc": {"value": 1}})).modified_count
                else:
                    result = await BeanieBenchDoc.find_all().update({"$inc": {"value": 1}})
                    modified = getattr(result, "modified_count", 1000)
                assert modified == 1000, modified
        return clock.timing


CONTENDERS = ("backend", "pymongo", "beanie")


async def run(url: str, *, quick: bool = False) -> list[Result]:
    """Measure every operation for every contender against the server at ``url``."""
    rounds = 2 if quick else 5
    single = 50 if quick else 300
    many_sizes = (1000,) if quick else (1000, 10000)
    bench = Contenders(url)
    await bench.open()
    results: list[Result] = []
    try:
        for who in CONTENDERS:  # warm-up: connections, pools, Beanie caches
            await bench.insert(who, 20)
        results += await best_of(rounds, lambda who: bench.insert(who, single), "insert", "op")
        for size in many_sizes:
            many = partial(_insert_many, bench, size)
            results += await best_of(rounds, many, f"insert_many {size // 1000}k", "doc")
        await _fill(bench, 1000)
        ids = {who: await bench.ids(who) for who in CONTENDERS}
        results += await best_of(rounds, lambda who: bench.get(who, ids[who], single), "get", "op")
        results += await best_of(rounds, lambda who: bench.find(who, 3 if quick else 10), "find 1k", "call")
        results += await best_of(
            rounds, lambda who: bench.update_many(who, 1 if quick else 3), "update_many 1k", "doc"
        )
    finally:
        await bench.close()
    return results


async def _insert_many(bench: Contenders, size: int, who: str) -> Timing:
    return await bench.insert_many(who, size)


async def _fill(bench: Contenders, n: int) -> None:
    await bench.clear()
    await bench.backend.insert_many([BenchDoc(**fields(i)) for i in range(n)])
    await bench.raw.insert_many([{"_id": ObjectId(), **fields(i)} for i in range(n)])
    await BeanieBenchDoc.insert_many([BeanieBenchDoc(**fields(i)) for i in range(n)])


def _ratio(results: dict[tuple[str, str], Result], op: str, num: str, den: str, field: str) -> float:
    a: float = getattr(results[(op, num)].timing, field)
    b: float = getattr(results[(op, den)].timing, field)
    return a / b


def report(results: list[Result]) -> str:
    """A table of timings (wall clock; client CPU in brackets) and the ratios targets are stated in."""
    by = {(r.operation, r.contender): r for r in results}
    operations = list(dict.fromkeys(r.operation for r in results))
    head = "".join(f"{who:>22}" for who in CONTENDERS)
    lines = [
        f"{'operation':<16}{head}   backend/pymongo   beanie/backend",
        f"{'':<16}{'wall µs (client CPU µs) per unit':>66}",
    ]
    for op in operations:
        cells = [by[(op, who)] for who in CONTENDERS]
        times = "".join(
            f"{c.timing.wall * 1e6:>11.1f} ({c.timing.cpu * 1e6:>6.1f})/{c.unit:<2}" for c in cells
        )
        ratios = [
            f"{_ratio(by, op, a, b, 'wall'):>6.2f} ({_ratio(by, op, a, b, 'cpu'):.2f})"
            for a, b in (("backend", "pymongo"), ("beanie", "backend"))
        ]
        lines.append(f"{op:<16}{times}   {ratios[0]}   {ratios[1]}")
    lines += [
        "",
        "targets (wall clock): backend/pymongo <= 1.3 for get and insert;",
        "  beanie/backend >= 2 for insert_many",
    ]
    for op in ("get", "insert"):
        ratio = _ratio(by, op, "backend", "pymongo", "wall")
        lines.append(f"  {op:<15} backend/pymongo = {ratio:.2f}  {'met' if ratio <= 1.3 else 'missed'}")
    for op in operations:
        if op.startswith("update_many"):
            ratio = _ratio(by, op, "backend", "pymongo", "wall")
            cpu = _ratio(by, op, "backend", "pymongo", "cpu")
            lines.append(
                f"  {op:<15} backend/pymongo = {ratio:.2f} (client CPU {cpu:.2f}x): read, validate and "
                "compare-and-set per document vs one server-side command (no target)"
            )
        if op.startswith("insert_many"):
            ratio = _ratio(by, op, "beanie", "backend", "wall")
            cpu = _ratio(by, op, "beanie", "backend", "cpu")
            lines.append(
                f"  {op:<15} backend throughput = {ratio:.2f}x Beanie's  {'met' if ratio >= 2 else 'missed'}"
                f"  (client CPU per document: Beanie spends {cpu:.2f}x the backend's)"
            )
    return "\n".join(lines)


def _server(url: str | None) -> AbstractContextManager[Any]:
    return nullcontext(None) if url else MongoServer()


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m bench.mongo [--quick] [--url URL]``; prints the table, returns 0."""
    parser = argparse.ArgumentParser(prog="python -m bench.mongo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default=os.environ.get(MONGODB_URI_ENV), help="MongoDB URL (default: SecantusDB)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds and documents (smoke run)")
    args = parser.parse_args(argv)
    with _server(args.url) as server:
        url = args.url or server.url
        kind = "MongoDB at " + url if args.url else "SecantusDB (throwaway, in memory)"
        print(f"MongoDB benchmark against {kind}")
        print(report(asyncio.run(run(url, quick=args.quick))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
