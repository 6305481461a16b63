"""Local benchmark: LocalODMBackend vs raw sqlite3 + orjson doing the same work, and peers.

Contenders, all on files under one temporary directory:

* ``local``: ``LocalODMBackend`` on a model with a unique ``email`` and an index on ``value``.
* ``raw``: the same table idea by hand — ``(id TEXT PRIMARY KEY, doc TEXT)``, orjson text, the
  same two expression indexes, WAL and ``synchronous=FULL`` — and the same work: ``model_dump``
  before writing, ``model_validate_json`` after reading, one transaction per bulk write.
* ``aiosqlite`` (if installed): the raw primary-key get through aiosqlite's worker thread, the
  usual way to use SQLite from asyncio, for the async ``get``.
* peers, at ``--peers-size`` documents: TinyDB (JSON file), Mongita (``MongitaClientDisk``, with
  ``create_index`` on ``email`` and ``value``; also without, as a Mongita user who does not call
  it would see) and MontyDB (sqlite storage; it keeps no secondary indexes). Results of peers are
  validated into the same model, as ours are.

Operations: ``insert_many`` (all documents, one call), ``get``/``get_sync`` by id, ``find_one``
by the unique indexed field, a range ``find`` on the indexed field (100 documents),
``update_many`` (``$inc`` on 1% of the documents), and a ``$group`` (count and average per city
over every document; ``raw`` does it in SQL, ``raw+python`` loads every document and groups in
Python). Each timing is the best of several rounds, contenders taking turns so that noise from
other processes hits them alike. Memory: ``iterate`` over ``--memory-docs`` stored documents in a
fresh process, peak RSS growth (``ru_maxrss``) reported.

Targets (the ratios printed): insert_many throughput >= 0.5 x raw; get_sync <= 1.5 x raw;
indexed find_one <= 1.5 x raw; >= 100 x faster than Mongita and MontyDB on an indexed find_one;
iterate over 1,000,000 documents grows peak memory by < 100 MB.

Run with ``python -m bench.local`` (``--quick`` for a smoke run); ``bench/__main__.py`` calls
:func:`main`, or :func:`run` for the results as data and :func:`report` for the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import orjson
from bson import ObjectId
from pydantic import BaseModel

from mindtrace.database import Index
from mindtrace.database.backends.local_odm_backend import LocalODMBackend

CITIES = ["Paris", "London", "Berlin", "Rome", "Oslo", "Lima", "Kyoto"]


class BenchDoc(BaseModel):
    id: str | None = None
    name: str
    email: Annotated[str, Index(unique=True)]
    value: Annotated[int, Index()]
    score: float
    tags: list[str]
    city: str

    class Settings:
        name = "bench"


def fields(i: int, run: str) -> dict[str, Any]:
    return {
        "name": f"user-{i}",
        "email": f"user-{i}-{run}@example.com",
        "value": i,
        "score": i / 7,
        "tags": ["a", "b", str(i % 10)],
        "city": CITIES[i % len(CITIES)],
    }


@dataclass
class Result:
    """One measurement: seconds per unit (an operation, or a document for bulk work)."""

    size: int
    operation: str
    contender: str
    seconds_per_unit: float
    unit: str


def _best(
    contenders: dict[str, Callable[[Any], Any]], items: Sequence[Any], rounds: int, block: int
) -> dict[str, float]:
    """Seconds per call of each contender on ``items``: the best block, contenders taking turns."""
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for first in range(0, len(items) - block + 1, block):
            chunk = items[first : first + block]
            for name, fn in contenders.items():
                start = time.perf_counter()
                for item in chunk:
                    fn(item)
                best[name] = min(best[name], (time.perf_counter() - start) / len(chunk))
    return best


def _fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


RAW_RANGE = (
    "SELECT id, doc FROM bench WHERE json_extract(doc, '$.value') >= ? AND json_extract(doc, '$.value') < ?"
)


class Raw:
    """Hand-written sqlite3 + orjson doing what the backend does."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(_fresh(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")
        self.db.execute("CREATE TABLE bench (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL)")
        self.db.execute("CREATE UNIQUE INDEX bench_email ON bench (json_extract(doc, '$.email'))")
        self.db.execute("CREATE INDEX bench_value ON bench (json_extract(doc, '$.value'))")

    def insert_many(self, models: list[BenchDoc]) -> list[str]:
        rows = [(str(ObjectId()), orjson.dumps(m.model_dump(exclude={"id"})).decode()) for m in models]
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("INSERT INTO bench (id, doc) VALUES (?, ?)", rows)
        self.db.execute("COMMIT")
        return [r[0] for r in rows]

    @staticmethod
    def _model(id: str, doc: str) -> BenchDoc:
        model = BenchDoc.model_validate_json(doc)
        model.id = id
        return model

    def get(self, id: str) -> BenchDoc:
        row = self.db.execute("SELECT doc FROM bench WHERE id = ?", (id,)).fetchone()
        return self._model(id, row[0])

    def find_one_email(self, email: str) -> BenchDoc:
        row = self.db.execute(
            "SELECT id, doc FROM bench WHERE json_extract(doc, '$.email') = ?", (email,)
        ).fetchone()
        return self._model(row[0], row[1])

    def range(self, low: int) -> list[BenchDoc]:
        return [self._model(i, d) for i, d in self.db.execute(RAW_RANGE, (low, low + 100))]

    def update_many(self, low: int, high: int) -> int:
        self.db.execute("BEGIN IMMEDIATE")
        changes = []
        for id, text in self.db.execute(RAW_RANGE, (low, high)).fetchall():
            doc = orjson.loads(text)
            doc["score"] += 1
            changes.append((orjson.dumps(doc).decode(), id))
        self.db.executemany("UPDATE bench SET doc = ? WHERE id = ?", changes)
        self.db.execute("COMMIT")
        return len(changes)

    def group_sql(self) -> list[tuple[Any, ...]]:
        sql = (
            "SELECT json_extract(doc, '$.city'), count(*), avg(json_extract(doc, '$.score')) "
            "FROM bench GROUP BY 1"
        )
        return self.db.execute(sql).fetchall()

    def group_python(self) -> dict[str, tuple[int, float]]:
        groups: dict[str, list[float]] = defaultdict(list)
        for (text,) in self.db.execute("SELECT doc FROM bench"):
            doc = orjson.loads(text)
            groups[doc["city"]].append(doc["score"])
        return {k: (len(v), sum(v) / len(v)) for k, v in groups.items()}

    def close(self) -> None:
        self.db.close()


GROUP = [{"$group": {"_id": "$city", "n": {"$sum": 1}, "avg": {"$avg": "$score"}}}]


def _measure_size(n: int, directory: Path, quick: bool) -> list[Result]:
    rounds = 1 if quick else 3
    out: list[Result] = []
    local = LocalODMBackend(BenchDoc, _fresh(directory / f"local-{n}.db"))
    raw = Raw(directory / f"raw-{n}.db")
    try:
        # insert_many: alternate contenders, a fresh file each round, best round kept.
        best = {"local": float("inf"), "raw": float("inf")}
        for r in range(max(1, rounds - 1)):
            if r:
                local.close_sync()
                raw.close()
                local = LocalODMBackend(BenchDoc, _fresh(directory / f"local-{n}.db"))
                raw = Raw(directory / f"raw-{n}.db")
            local.initialize_sync()
            models = [BenchDoc(**fields(i, "l")) for i in range(n)]
            start = time.perf_counter()
            stored = local.insert_many_sync(models)
            best["local"] = min(best["local"], (time.perf_counter() - start) / n)
            models = [BenchDoc(**fields(i, "r")) for i in range(n)]
            start = time.perf_counter()
            raw_ids = raw.insert_many(models)
            best["raw"] = min(best["raw"], (time.perf_counter() - start) / n)
        out += [Result(n, "insert_many", k, v, "doc") for k, v in best.items()]

        rng = random.Random(n)
        picks = rng.sample(range(n), min(n, 4000 if not quick else 400))
        block = max(1, len(picks) // 10)
        local_ids = [stored[i].id for i in picks]
        raw_ids_picked = [raw_ids[i] for i in picks]
        got = _best(
            {
                "local": lambda pair: local.get_sync(pair[0]),
                "raw": lambda pair: raw.get(pair[1]),
            },
            list(zip(local_ids, raw_ids_picked, strict=True)),
            rounds,
            block,
        )
        out += [Result(n, "get_sync", k, v, "op") for k, v in got.items()]
        out += _async_gets(n, local, local_ids, directory / f"raw-{n}.db", raw_ids_picked, rounds)

        emails = [(f"user-{i}-l@example.com", f"user-{i}-r@example.com") for i in picks]
        found = _best(
            {
                "local": lambda pair: local.find_one_sync({"email": pair[0]}),
                "raw": lambda pair: raw.find_one_email(pair[1]),
            },
            emails,
            rounds,
            block,
        )
        out += [Result(n, "find_one by email", k, v, "op") for k, v in found.items()]

        lows = [rng.randrange(0, n - 100) for _ in range(200 if not quick else 20)]
        ranged = _best(
            {
                "local": lambda low: local.find_sync({"value": {"$gte": low, "$lt": low + 100}}),
                "raw": raw.range,
            },
            lows,
            rounds,
            max(1, len(lows) // 10),
        )
        out += [Result(n, "find value range (100)", k, v, "op") for k, v in ranged.items()]

        width = max(1, n // 100)
        starts = [rng.randrange(0, n - width) for _ in range(rounds * 2)]
        updated = _best(
            {
                "local": lambda low: local.update_many_sync(
                    {"value": {"$gte": low, "$lt": low + width}}, {"$inc": {"score": 1}}
                ),
                "raw": lambda low: raw.update_many(low, low + width),
            },
            starts,
            1,
            1,
        )
        out += [Result(n, f"update_many ({width} docs)", k, v / width, "doc") for k, v in updated.items()]

        grouped = _best(
            {
                "local": lambda _: local.aggregate_sync(GROUP),
                "raw": lambda _: raw.group_sql(),
                "raw+python": lambda _: raw.group_python(),
            },
            list(range(rounds)),
            1,
            1,
        )
        out += [Result(n, "$group by city", k, v / n, "doc") for k, v in grouped.items()]
    finally:
        local.close_sync()
        raw.close()
    return out


def _async_gets(
    n: int, local: LocalODMBackend[BenchDoc], ids: list[str], raw_path: Path, raw_ids: list[str], rounds: int
) -> list[Result]:
    async def measure() -> list[Result]:
        results = []
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            for id in ids:
                await local.get(id)
            best = min(best, (time.perf_counter() - start) / len(ids))
        results.append(Result(n, "get (async)", "local", best, "op"))
        try:
            import aiosqlite  # noqa: PLC0415 - optional peer
        except ImportError:
            return results
        async with aiosqlite.connect(raw_path) as db:
            best = float("inf")
            for _ in range(rounds):
                start = time.perf_counter()
                for id in raw_ids:
                    async with db.execute("SELECT doc FROM bench WHERE id = ?", (id,)) as cursor:
                        row = await cursor.fetchone()
                    model = BenchDoc.model_validate_json(row[0])
                    model.id = id
                best = min(best, (time.perf_counter() - start) / len(raw_ids))
        results.append(Result(n, "get (async)", "aiosqlite", best, "op"))
        return results

    return asyncio.run(measure())


# ----------------------------------------------------------------------------- peers


def _peers(n: int, directory: Path, quick: bool) -> list[Result]:
    out: list[Result] = []
    docs = [fields(i, "p") for i in range(n)]
    rng = random.Random(7)
    picks = rng.sample(range(n), 20 if not quick else 5)
    lows = [rng.randrange(0, n - 100) for _ in range(5 if not quick else 2)]
    width = max(1, n // 100)

    def timed(fn: Callable[[], Any], repeat: int = 1) -> float:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        return best

    # -- TinyDB (JSON file)
    from tinydb import Query, TinyDB  # noqa: PLC0415 - benchmark peers are optional

    tiny = TinyDB(directory / "tiny.json")
    q = Query()
    out.append(Result(n, "insert_many", "tinydb", timed(lambda: tiny.insert_multiple(docs)) / n, "doc"))
    out.append(
        Result(
            n,
            "get_sync",
            "tinydb",
            timed(lambda: [BenchDoc(**tiny.get(doc_id=i + 1)) for i in picks]) / len(picks),
            "op",
        )
    )
    out.append(
        Result(
            n,
            "find_one by email",
            "tinydb",
            timed(lambda: [BenchDoc(**tiny.get(q.email == docs[i]["email"])) for i in picks[:5]]) / 5,
            "op",
        )
    )
    out.append(
        Result(
            n,
            "find value range (100)",
            "tinydb",
            timed(
                lambda: [
                    [BenchDoc(**d) for d in tiny.search((q.value >= lo) & (q.value < lo + 100))]
                    for lo in lows
                ]
            )
            / len(lows),
            "op",
        )
    )

    def tiny_update() -> None:
        lo = lows[0]
        docs_ = tiny.search((q.value >= lo) & (q.value < lo + width))
        tiny.update_multiple([({"score": d["score"] + 1}, q.value == d["value"]) for d in docs_])

    out.append(Result(n, f"update_many ({width} docs)", "tinydb", timed(tiny_update) / width, "doc"))
    out.append(Result(n, "$group by city", "tinydb", timed(lambda: _group_python(tiny.all())) / n, "doc"))
    tiny.close()

    # -- Mongita (disk), with and without its indexes
    from mongita import MongitaClientDisk  # noqa: PLC0415

    mongita = MongitaClientDisk(str(directory / "mongita"))
    coll = mongita["bench"]["bench"]
    out.append(
        Result(
            n, "insert_many", "mongita", timed(lambda: coll.insert_many([dict(d) for d in docs])) / n, "doc"
        )
    )
    mongita_ids = [d["_id"] for d in coll.find({})]

    def one(doc: dict[str, Any]) -> BenchDoc:
        doc = dict(doc)
        return BenchDoc(id=str(doc.pop("_id")), **doc)

    out.append(
        Result(
            n,
            "get_sync",
            "mongita",
            timed(lambda: [one(coll.find_one({"_id": mongita_ids[i]})) for i in picks]) / len(picks),
            "op",
        )
    )
    out.append(
        Result(
            n,
            "find_one by email",
            "mongita (no index)",
            timed(lambda: [one(coll.find_one({"email": docs[i]["email"]})) for i in picks[:5]]) / 5,
            "op",
        )
    )
    coll.create_index("email")
    coll.create_index("value")
    out.append(
        Result(
            n,
            "find_one by email",
            "mongita",
            timed(lambda: [one(coll.find_one({"email": docs[i]["email"]})) for i in picks], 3) / len(picks),
            "op",
        )
    )
    out.append(
        Result(
            n,
            "find value range (100)",
            "mongita",
            timed(
                lambda: [[one(d) for d in coll.find({"value": {"$gte": lo, "$lt": lo + 100}})] for lo in lows]
            )
            / len(lows),
            "op",
        )
    )
    out.append(
        Result(
            n,
            f"update_many ({width} docs)",
            "mongita",
            timed(
                lambda: coll.update_many(
                    {"value": {"$gte": lows[0], "$lt": lows[0] + width}}, {"$inc": {"score": 1}}
                )
            )
            / width,
            "doc",
        )
    )
    out.append(Result(n, "$group by city", "mongita", timed(lambda: _group_python(coll.find({}))) / n, "doc"))

    # -- MontyDB (sqlite storage; no secondary indexes)
    from montydb import MontyClient, set_storage  # noqa: PLC0415

    repo = str(directory / "monty")
    set_storage(repo, storage="sqlite")
    monty = MontyClient(repo)["bench"]["bench"]
    out.append(
        Result(
            n, "insert_many", "montydb", timed(lambda: monty.insert_many([dict(d) for d in docs])) / n, "doc"
        )
    )
    monty_ids = [d["_id"] for d in monty.find({}, {"_id": 1})]
    out.append(
        Result(
            n,
            "get_sync",
            "montydb",
            timed(lambda: [one(monty.find_one({"_id": monty_ids[i]})) for i in picks[:3]]) / 3,
            "op",
        )
    )
    out.append(
        Result(
            n,
            "find_one by email",
            "montydb",
            timed(lambda: [one(monty.find_one({"email": docs[i]["email"]})) for i in picks[:3]]) / 3,
            "op",
        )
    )
    out.append(
        Result(
            n,
            "find value range (100)",
            "montydb",
            timed(lambda: [one(d) for d in monty.find({"value": {"$gte": lows[0], "$lt": lows[0] + 100}})]),
            "op",
        )
    )
    out.append(
        Result(
            n,
            f"update_many ({width} docs)",
            "montydb",
            timed(
                lambda: monty.update_many(
                    {"value": {"$gte": lows[0], "$lt": lows[0] + width}}, {"$inc": {"score": 1}}
                )
            )
            / width,
            "doc",
        )
    )
    out.append(
        Result(n, "$group by city", "montydb", timed(lambda: _group_python(monty.find({}))) / n, "doc")
    )

    # -- ours on the same size, for the peer ratios
    local = LocalODMBackend(BenchDoc, _fresh(directory / "local-peers.db"))
    start = time.perf_counter()
    stored = local.insert_many_sync([BenchDoc(**d) for d in docs])
    out.append(Result(n, "insert_many", "local (peers run)", (time.perf_counter() - start) / n, "doc"))
    ids = [stored[i].id for i in picks]
    out.append(
        Result(
            n,
            "get_sync",
            "local (peers run)",
            timed(lambda: [local.get_sync(i) for i in ids], 5) / len(ids),
            "op",
        )
    )
    out.append(
        Result(
            n,
            "find_one by email",
            "local (peers run)",
            timed(lambda: [local.find_one_sync({"email": docs[i]["email"]}) for i in picks], 5) / len(picks),
            "op",
        )
    )
    out.append(
        Result(
            n,
            "find value range (100)",
            "local (peers run)",
            timed(lambda: [local.find_sync({"value": {"$gte": lo, "$lt": lo + 100}}) for lo in lows], 3)
            / len(lows),
            "op",
        )
    )
    out.append(
        Result(
            n,
            f"update_many ({width} docs)",
            "local (peers run)",
            timed(
                lambda: local.update_many_sync(
                    {"value": {"$gte": lows[0], "$lt": lows[0] + width}}, {"$inc": {"score": 1}}
                )
            )
            / width,
            "doc",
        )
    )
    out.append(
        Result(
            n, "$group by city", "local (peers run)", timed(lambda: local.aggregate_sync(GROUP)) / n, "doc"
        )
    )
    local.close_sync()
    return out


def _group_python(docs: Any) -> dict[str, tuple[int, float]]:
    groups: dict[str, list[float]] = defaultdict(list)
    for doc in docs:
        groups[doc["city"]].append(doc["score"])
    return {k: (len(v), sum(v) / len(v)) for k, v in groups.items()}


# ----------------------------------------------------------------------------- memory

_POPULATE = """
import sys
from bench.local import BenchDoc, fields
from mindtrace.database.backends.local_odm_backend import LocalODMBackend
backend = LocalODMBackend(BenchDoc, sys.argv[1], synchronous="NORMAL")
total, chunk = int(sys.argv[2]), 50_000
for start in range(0, total, chunk):
    backend.insert_many_sync([BenchDoc(**fields(i, "m")) for i in range(start, min(total, start + chunk))])
backend.close_sync()
"""

_ITERATE = """
import gc, resource, sys
from bench.local import BenchDoc
from mindtrace.database.backends.local_odm_backend import LocalODMBackend


def peak_kib():
    # VmHWM is this process's own peak RSS; ru_maxrss would include the parent's peak on Linux,
    # which survives fork + exec.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)


backend = LocalODMBackend(BenchDoc, sys.argv[1])
backend.initialize_sync()
next(backend.iterate_sync(batch_size=1000))  # warm up: connection, statements, validators
gc.collect()
before = peak_kib()
seen = 0
total = 0.0
for doc in backend.iterate_sync(batch_size=1000):
    seen += 1
    total += doc.score
after = peak_kib()
print(seen, before, after)
"""


def measure_iterate_memory(docs: int, directory: Path) -> tuple[int, float, float]:
    """(documents seen, peak RSS before, peak RSS after, in MiB) of iterating ``docs`` stored
    documents in a fresh process."""
    path = _fresh(directory / "memory.db")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent), *sys.path]),
    }
    subprocess.run([sys.executable, "-c", _POPULATE, str(path), str(docs)], check=True, env=env)
    out = subprocess.run(
        [sys.executable, "-c", _ITERATE, str(path)], check=True, env=env, capture_output=True, text=True
    ).stdout.split()
    seen, before, after = int(out[0]), int(out[1]), int(out[2])
    return seen, before / 1024, after / 1024


# ----------------------------------------------------------------------------- entry points


def run(
    sizes: Sequence[int] = (20_000, 100_000),
    *,
    peers_size: int | None = 20_000,
    memory_docs: int | None = 1_000_000,
    quick: bool = False,
) -> list[Result]:
    """Measure everything; returns the raw results (see :func:`report` for the table)."""
    results: list[Result] = []
    with _workdir() as directory:
        for n in sizes:
            results += _measure_size(n, directory, quick)
        if peers_size:
            results += _peers(peers_size, directory, quick)
        if memory_docs:
            seen, before, after = measure_iterate_memory(memory_docs, directory)
            label = f"local ({before:.0f} -> {after:.0f} MiB)"
            results.append(Result(seen, "iterate peak RSS growth", label, after - before, "MiB"))
    return results


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="mindtrace-bench-") as name:
        yield Path(name)


def _find(results: list[Result], size: int, operation: str, contender: str) -> float | None:
    for r in results:
        if r.size == size and r.operation == operation and r.contender == contender:
            return r.seconds_per_unit
    return None


def report(results: list[Result]) -> str:
    """A table of every timing, then the ratios: ours / raw (time) and peers / ours."""
    lines = [f"{'docs':>8} {'operation':<26} {'contender':<20} {'value':>12}  unit"]
    for r in results:
        value = f"{r.seconds_per_unit:>12.1f}" if r.unit == "MiB" else f"{r.seconds_per_unit * 1e6:>12.2f}"
        unit = r.unit if r.unit == "MiB" else f"µs/{r.unit}"
        lines.append(f"{r.size:>8} {r.operation:<26} {r.contender:<20} {value}  {unit}")
    lines.append("")
    lines.append("ratios (time ours / time raw: lower is better; peers: how many times slower than ours)")
    sizes = sorted({r.size for r in results if r.contender == "raw"})
    for n in sizes:
        ops = [r.operation for r in results if r.size == n and r.contender == "raw"]
        for op in ops:
            ours, raw = _find(results, n, op, "local"), _find(results, n, op, "raw")
            if ours is None or raw is None:
                continue
            target = {"insert_many": 2.0, "get_sync": 1.5, "find_one by email": 1.5}.get(op)
            verdict = ""
            if target is not None:
                verdict = f"  target <= {target}: {'ok' if ours / raw <= target else 'MISSED'}"
                if op == "insert_many":
                    ok = "ok" if raw / ours >= 0.5 else "MISSED"
                    verdict = f"  (throughput {raw / ours:.2f} x raw; target >= 0.5: {ok})"
            lines.append(f"{n:>8} {op:<26} local / raw {ours / raw:8.2f}{verdict}")
        async_local, aio = (
            _find(results, n, "get (async)", "local"),
            _find(results, n, "get (async)", "aiosqlite"),
        )
        sync_local = _find(results, n, "get_sync", "local")
        if async_local is not None and sync_local is not None:
            lines.append(f"{n:>8} {'get (async)':<26} async / sync {async_local / sync_local:7.2f}")
        if async_local is not None and aio is not None:
            lines.append(f"{n:>8} {'get (async)':<26} aiosqlite / local {aio / async_local:6.1f} x slower")
    peer_sizes = sorted({r.size for r in results if r.contender in ("tinydb", "mongita", "montydb")})
    for n in peer_sizes:
        for op in dict.fromkeys(
            r.operation for r in results if r.size == n and r.contender == "local (peers run)"
        ):
            ours = _find(results, n, op, "local (peers run)")
            if ours is None:
                continue
            for peer in ("tinydb", "mongita", "mongita (no index)", "montydb"):
                theirs = _find(results, n, op, peer)
                if theirs is None:
                    continue
                note = ""
                if op == "find_one by email" and peer in ("mongita", "montydb"):
                    note = f"  target >= 100: {'ok' if theirs / ours >= 100 else 'MISSED'}"
                lines.append(f"{n:>8} {op:<26} {peer:<20} {theirs / ours:10.1f} x slower{note}")
    for r in results:
        if r.operation == "iterate peak RSS growth":
            verdict = "ok" if r.seconds_per_unit < 100 else "MISSED"
            lines.append(
                f"{r.size:>8} iterate: peak RSS growth {r.seconds_per_unit:.1f} MiB (target < 100: {verdict})"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m bench.local [--quick] [--sizes 20000 100000] ...``."""
    parser = argparse.ArgumentParser(prog="python -m bench.local", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds (smoke run)")
    parser.add_argument("--sizes", type=int, nargs="+", help="collection sizes (default 20000 100000)")
    parser.add_argument(
        "--peers-size", type=int, help="documents for the peers (0 skips them; default 20000)"
    )
    parser.add_argument("--memory-docs", type=int, help="documents for the iterate memory test (0 skips it)")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([2000] if args.quick else [20_000, 100_000])
    peers = args.peers_size if args.peers_size is not None else (2000 if args.quick else 20_000)
    memory = args.memory_docs if args.memory_docs is not None else (20_000 if args.quick else 1_000_000)
    print(report(run(sizes, peers_size=peers, memory_docs=memory, quick=args.quick)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["BenchDoc", "Result", "fields", "main", "measure_iterate_memory", "report", "run"]
