"""Many processes on one Local file: writers and readers at once, and processes that open a fresh
file at the same moment. No "database is locked" (or any other error) may reach a caller, and no
reader may ever see a partial write.

Writers (half through the async API, half through the sync twins) run multi-document
transactions whose effects an observer can check at any instant:

* **transfers** between accounts in one ``update_many`` with a pipeline update
  (``$add``/``$cond``): the total of all balances never changes;
* **pairs** of documents written by one ``insert_many``, bumped together by ``update_many``
  (``$inc`` over several pairs at once) and removed by one ``delete_many``: a pair is always
  complete, and its two versions are always equal.

The accounts are created by whichever writer gets there first (one ``insert_many`` with fixed
ids; the others get ``DuplicateInsertError``), so readers must see either no accounts or all of
them. Readers check the invariants through ``find``, ``aggregate``, ``count`` and sorted
``find`` (a read snapshot), and walk ``iterate`` (not a snapshot: they check only that no
document comes twice). Every writer keeps its own account of what it did; at the end the file
must hold exactly the sum of those accounts — so a lost update between processes shows too.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from mindtrace.database import DuplicateInsertError, Index
from mindtrace.database.backends.local_odm_backend import LocalODMBackend
from tests.reliability.conftest import WorkerContext, short_and_soak

ACCOUNTS = 12
OPENING = 1000
TOTAL = ACCOUNTS * OPENING
WRITERS = 4
READERS = 4
JOIN_TIMEOUT = 300.0  # a guard against hung workers, not a measurement


class Account(BaseModel):
    id: str | None = None
    name: Annotated[str, Index(unique=True)]
    balance: int

    class Settings:
        name = "mp_accounts"


class Half(BaseModel):
    """One of the two documents of a pair."""

    id: str | None = None
    pair: Annotated[str, Index()]
    side: int
    version: int = 0
    writer: Annotated[str, Index()]

    class Settings:
        name = "mp_pairs"


ACCOUNT_IDS = [f"{i:024x}" for i in range(1, ACCOUNTS + 1)]


@dataclass
class Outcome:
    """What one worker did and saw; sent back to the parent through a queue."""

    role: str
    ops: int = 0
    errors: int = 0
    violations: int = 0
    samples: list[str] = field(default_factory=list)
    # writers: net amount each account received, and the version each live pair must have
    transfers: dict[str, int] = field(default_factory=dict)
    pairs: dict[str, int] = field(default_factory=dict)

    def note(self, kind: str, detail: str) -> None:
        if kind == "error":
            self.errors += 1
        else:
            self.violations += 1
        if len(self.samples) < 5:
            self.samples.append(f"{self.role} {kind}: {detail}")


class Handle:
    """A backend seen through the async API or the sync twins (same call either way)."""

    def __init__(self, backend: LocalODMBackend[Any], api: str) -> None:
        self.backend = backend
        self.api = api

    async def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.api == "async":
            return await getattr(self.backend, name)(*args, **kwargs)
        return getattr(self.backend, name + "_sync")(*args, **kwargs)

    async def iterate(self, **kwargs: Any) -> list[Any]:
        if self.api == "async":
            return [d async for d in self.backend.iterate(**kwargs)]
        return list(self.backend.iterate_sync(**kwargs))


# ============================================================================ writers
async def write_loop(
    path: str, me: str, api: str, seconds: float, seed: int, start: Barrier | None
) -> Outcome:
    out = Outcome(f"writer {me} ({api})")
    rng = random.Random(seed)
    accounts = Handle(LocalODMBackend(Account, path), api)
    pairs = Handle(LocalODMBackend(Half, path), api)
    if start is not None:
        start.wait(60)
    deadline = time.monotonic() + seconds
    mine: dict[str, int] = {}  # live pair -> version
    try:
        await write_accounts(accounts, out)
        while time.monotonic() < deadline:
            roll = rng.random()
            try:
                if roll < 0.35:
                    a, b = rng.sample(ACCOUNT_IDS, 2)
                    amount = rng.randint(1, 50)
                    moved = [
                        {
                            "$set": {
                                "balance": {
                                    "$add": ["$balance", {"$cond": [{"$eq": ["$_id", a]}, -amount, amount]}]
                                }
                            }
                        }
                    ]
                    result = await accounts("update_many", {"_id": {"$in": [a, b]}}, moved)
                    if result.modified_count != 2:
                        out.note("violation", f"transfer changed {result}")
                    out.transfers[a] = out.transfers.get(a, 0) - amount
                    out.transfers[b] = out.transfers.get(b, 0) + amount
                elif roll < 0.60 or not mine:
                    pair = uuid.uuid4().hex
                    await pairs("insert_many", [Half(pair=pair, side=s, writer=me) for s in (0, 1)])
                    mine[pair] = 0
                elif roll < 0.85:
                    chosen = rng.sample(sorted(mine), min(len(mine), rng.randint(1, 5)))
                    result = await pairs("update_many", {"pair": {"$in": chosen}}, {"$inc": {"version": 1}})
                    if result.modified_count != 2 * len(chosen):
                        out.note("violation", f"bumping {len(chosen)} pairs changed {result}")
                    for pair in chosen:
                        mine[pair] += 1
                elif roll < 0.95:
                    pair = rng.choice(sorted(mine))
                    deleted = await pairs("delete_many", {"pair": pair})
                    if deleted != 2:
                        out.note("violation", f"deleting pair {pair} deleted {deleted}")
                    del mine[pair]
                else:
                    result = await pairs("update_many", {"writer": me}, {"$inc": {"version": 1}})
                    if result.modified_count != 2 * len(mine):
                        out.note("violation", f"bumping all {len(mine)} pairs changed {result}")
                    for pair in mine:
                        mine[pair] += 1
                out.ops += 1
            except Exception as e:  # counted: any exception reaching the caller is a finding
                out.note("error", repr(e))
                break  # the writer's own account of the state is no longer exact
    finally:
        await accounts("close")
        await pairs("close")
    out.pairs = mine
    return out


async def write_accounts(accounts: Handle, out: Outcome) -> None:
    """Every writer tries to create the accounts; exactly one ``insert_many`` may succeed."""
    docs = [Account(id=id, name=f"acct{i}", balance=OPENING) for i, id in enumerate(ACCOUNT_IDS)]
    try:
        await accounts("insert_many", docs)
    except DuplicateInsertError as e:
        if e.inserted_ids:
            out.note("violation", f"the account batch was partly stored: {e.inserted_ids}")
    except Exception as e:
        out.note("error", f"creating accounts: {e!r}")
    out.ops += 1


# ============================================================================ readers
async def read_loop(
    path: str, me: str, api: str, seconds: float, seed: int, start: Barrier | None
) -> Outcome:
    out = Outcome(f"reader {me} ({api})")
    rng = random.Random(seed)
    accounts = Handle(LocalODMBackend(Account, path), api)
    pairs = Handle(LocalODMBackend(Half, path), api)
    if start is not None:
        start.wait(60)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            roll = rng.random()
            try:
                if roll < 0.25:
                    check_accounts([a.balance for a in await accounts("find", {})], out)
                elif roll < 0.40:
                    totals = await accounts(
                        "aggregate",
                        [{"$group": {"_id": None, "total": {"$sum": "$balance"}, "n": {"$sum": 1}}}],
                    )
                    if totals and (totals[0]["n"], totals[0]["total"]) != (ACCOUNTS, TOTAL):
                        out.note("violation", f"accounts by aggregate: {totals}")
                elif roll < 0.60:
                    check_pairs(await pairs("find", {}), out)
                elif roll < 0.70:
                    check_pairs(await pairs("find", {"version": {"$gte": 1}}, sort="pair"), out)
                elif roll < 0.80:
                    broken = await pairs(
                        "aggregate",
                        [
                            {"$group": {"_id": "$pair", "n": {"$sum": 1}, "v": {"$addToSet": "$version"}}},
                            {"$match": {"$or": [{"n": {"$ne": 2}}, {"v.1": {"$exists": True}}]}},
                        ],
                    )
                    if broken:
                        out.note("violation", f"pairs by aggregate: {broken[:3]}")
                elif roll < 0.90:
                    if (n := await pairs("count")) % 2:
                        out.note("violation", f"odd number of pair documents: {n}")
                else:
                    seen = Counter(d.id for d in await pairs.iterate(batch_size=rng.choice([7, 100, 1000])))
                    if twice := [id for id, n in seen.items() if n > 1]:
                        out.note("violation", f"iterate yielded {twice[:3]} more than once")
                out.ops += 1
            except Exception as e:
                out.note("error", repr(e))
    finally:
        await accounts("close")
        await pairs("close")
    return out


def check_accounts(balances: list[int], out: Outcome) -> None:
    if balances and (len(balances), sum(balances)) != (ACCOUNTS, TOTAL):
        out.note(
            "violation",
            f"{len(balances)} accounts holding {sum(balances)} (expected none or {ACCOUNTS}/{TOTAL})",
        )


def check_pairs(docs: list[Half], out: Outcome) -> None:
    """Each pair seen is complete with equal versions. This holds for a filter on the version
    too: both halves always carry the same version, so they match or miss together."""
    by_pair: dict[str, list[Half]] = {}
    for doc in docs:
        by_pair.setdefault(doc.pair, []).append(doc)
    for pair, halves in by_pair.items():
        if sorted(h.side for h in halves) != [0, 1] or halves[0].version != halves[1].version:
            out.note("violation", f"pair {pair} seen as {[(h.side, h.version) for h in halves]}")
            return


def worker(
    role: str,
    path: str,
    me: str,
    api: str,
    seconds: float,
    seed: int,
    start: Barrier | None,
    results: Queue[Any],
) -> None:
    """Process entry point: run one writer or reader, put its Outcome on ``results``."""
    loop = write_loop if role == "writer" else read_loop
    try:
        outcome = asyncio.run(loop(path, me, api, seconds, seed, start))
    except BaseException as e:  # reported, not raised: the parent decides
        outcome = Outcome(f"{role} {me}")
        outcome.note("error", f"worker crashed: {e!r}")
    results.put(outcome)


def run_workers(
    context: WorkerContext,
    path: Path,
    seconds: float,
    rng: random.Random,
    *,
    writers: int = WRITERS,
    readers: int = READERS,
    victims: int = 0,
) -> tuple[list[Outcome], int]:
    """Run the writers and readers to the end; meanwhile keep ``victims`` more writers running
    and ``kill -9`` one of them at random moments (starting a new one in its place).
    Returns the outcomes of the writers and readers, and the number of kills."""
    roles = [("writer", f"w{i}") for i in range(writers)] + [("reader", f"r{i}") for i in range(readers)]
    start = context.Barrier(len(roles))
    results: Queue[Any] = context.Queue()
    processes = [
        context.Process(
            target=worker,
            args=(
                role,
                str(path),
                me,
                "async" if i % 2 else "sync",
                seconds,
                rng.randrange(2**32),
                start,
                results,
            ),
            daemon=True,
        )
        for i, (role, me) in enumerate(roles)
    ]
    for p in processes:
        p.start()

    def victim(n: int) -> BaseProcess:
        # A writer of its own name, no barrier, no deadline: it runs until it is killed.
        process = context.Process(
            target=worker,
            args=(
                "writer",
                str(path),
                f"v{n}",
                "async" if n % 2 else "sync",
                3600.0,
                rng.randrange(2**32),
                None,
                results,
            ),
            daemon=True,
        )
        process.start()
        return process

    running: list[BaseProcess] = [victim(n) for n in range(victims)]
    kills = 0
    outcomes: list[Outcome] = []
    try:
        deadline = time.monotonic() + JOIN_TIMEOUT
        while len(outcomes) < len(processes) and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):  # no worker finished: time to kill a victim
                outcomes.append(results.get(timeout=rng.uniform(0.05, 0.4) if running else JOIN_TIMEOUT))
            if running:
                doomed = rng.randrange(len(running))
                running[doomed].kill()
                running[doomed].join()
                kills += 1
                running[doomed] = victim(victims + kills)
    finally:
        for survivor in running:
            survivor.kill()
            survivor.join()
        for p in processes:
            p.join(10)
            if p.is_alive():
                p.kill()
    assert len(outcomes) == len(processes), f"only {len(outcomes)} of {len(processes)} workers reported"
    return outcomes, kills


def check_final(path: Path, writers: list[Outcome], *, others: bool = False) -> int:
    """The file holds exactly what the writers say they did; returns the documents checked.

    With ``others`` (killed writers also wrote, and nobody knows their last operation) the
    balances are checked by their total only, and their pairs for completeness only.
    """
    with LocalODMBackend(Account, path) as accounts, LocalODMBackend(Half, path) as pairs:
        expected_balances = dict.fromkeys(ACCOUNT_IDS, OPENING)
        for w in writers:
            for id, amount in w.transfers.items():
                expected_balances[id] += amount
        balances = {a.id: a.balance for a in accounts.all_sync()}
        if others:
            assert (len(balances), sum(balances.values())) == (ACCOUNTS, TOTAL)
        else:
            assert balances == expected_balances
        expected_pairs = {pair: version for w in writers for pair, version in w.pairs.items()}
        stored: dict[str, list[int]] = {}
        steady = {w.role.split()[1] for w in writers}
        for half in pairs.all_sync():
            if half.writer in steady or not others:
                stored.setdefault(half.pair, []).append(half.version)
            else:
                stored.setdefault("other:" + half.pair, []).append(half.version)
        versions = {pair: sorted(v) for pair, v in stored.items()}
        for pair in [p for p in versions if p.startswith("other:")]:
            low, high = versions.pop(pair)  # exactly two halves ...
            assert low == high, pair  # ... with one version
        assert versions == {p: [v, v] for p, v in expected_pairs.items()}
        assert accounts._db.raw_execute("PRAGMA integrity_check") == [("ok",)]
        return ACCOUNTS + 2 * len(stored)


@pytest.mark.parametrize("seconds", short_and_soak(6.0, 30.0))
def test_writers_and_readers_on_one_file(
    seconds: float,
    tmp_path: Path,
    process_context: WorkerContext,
    rng: random.Random,
    figure: Callable[[str, Any], None],
) -> None:
    path = tmp_path / "shared.sqlite3"  # not created beforehand: the workers open it together
    outcomes, _ = run_workers(process_context, path, seconds, rng)
    writers = [o for o in outcomes if o.role.startswith("writer")]
    readers = [o for o in outcomes if o.role.startswith("reader")]
    figure("writer_ops", sum(o.ops for o in writers))
    figure("reader_ops", sum(o.ops for o in readers))
    figure("errors", sum(o.errors for o in outcomes))
    figure("violations", sum(o.violations for o in outcomes))
    samples = [s for o in outcomes for s in o.samples]
    assert sum(o.errors for o in outcomes) == 0, samples
    assert sum(o.violations for o in outcomes) == 0, samples
    # Nobody starves: writers take turns through the write gate, readers never wait. (A string,
    # so that pytest does not shorten the list.)
    assert all(o.ops > 1 for o in outcomes), str([(o.role, o.ops) for o in outcomes])
    figure("writer_ops_fewest_most", (min(o.ops for o in writers), max(o.ops for o in writers)))
    figure("documents_checked_at_end", check_final(path, writers))


@pytest.mark.parametrize("seconds", short_and_soak(5.0, 30.0))
def test_writers_killed_mid_transaction_do_not_disturb_the_others(
    seconds: float,
    tmp_path: Path,
    process_context: WorkerContext,
    rng: random.Random,
    figure: Callable[[str, Any], None],
) -> None:
    """Two more writers are ``kill -9``-ed again and again (often inside a transaction, holding
    the write lock) while 2 writers and 2 readers work: the lock is released with the dead
    process, nobody sees "database is locked" or a partial transfer or pair, and the survivors'
    writes are all there."""
    path = tmp_path / "shared.sqlite3"
    outcomes, kills = run_workers(process_context, path, seconds, rng, writers=2, readers=2, victims=2)
    writers = [o for o in outcomes if o.role.startswith("writer")]
    samples = [s for o in outcomes for s in o.samples]
    figure("writers_killed", kills)
    figure("ops", sum(o.ops for o in outcomes))
    figure("errors", sum(o.errors for o in outcomes))
    figure("violations", sum(o.violations for o in outcomes))
    assert sum(o.errors for o in outcomes) == 0, samples
    assert sum(o.violations for o in outcomes) == 0, samples
    assert kills > 3
    figure("documents_checked_at_end", check_final(path, writers, others=True))


# ============================================================================ cold start
def open_together(path_pattern: str, me: int, rounds: int, start: Barrier, results: Queue[Any]) -> None:
    """Process entry point: each round, open a fresh file at the same moment as the others and
    write to it; reports the errors seen (there must be none)."""
    out = Outcome(f"opener {me}")

    async def run() -> None:
        for r in range(rounds):
            start.wait(60)
            backend = LocalODMBackend(Account, path_pattern.format(r))
            handle = Handle(backend, "async" if (me + r) % 2 else "sync")
            try:
                await handle("insert", Account(name=f"p{me}", balance=OPENING))
                out.ops += 1
            except Exception as e:
                out.note("error", f"round {r}: {e!r} (cause {e.__cause__!r})")
            finally:
                await handle("close")

    try:
        asyncio.run(run())
    except BaseException as e:  # e.g. a broken barrier: reported, so the parent never waits in vain
        out.note("error", f"opener crashed: {e!r}")
    finally:
        results.put(out)


@pytest.mark.parametrize("rounds", short_and_soak(100, 1000))
def test_processes_opening_a_fresh_file_together(
    rounds: int, tmp_path: Path, process_context: WorkerContext, figure: Callable[[str, Any], None]
) -> None:
    processes_n = WRITERS + READERS
    start = process_context.Barrier(processes_n)
    results: Queue[Any] = process_context.Queue()
    pattern = str(tmp_path / "fresh-{}.sqlite3")
    processes = [
        process_context.Process(target=open_together, args=(pattern, k, rounds, start, results), daemon=True)
        for k in range(processes_n)
    ]
    for p in processes:
        p.start()
    try:
        outcomes = [results.get(timeout=JOIN_TIMEOUT) for _ in processes]
    finally:
        for p in processes:
            p.join(10)
            if p.is_alive():
                p.kill()
    errors = sum(o.errors for o in outcomes)
    figure("cold_opens", rounds * processes_n)
    figure("errors", errors)
    assert errors == 0, [s for o in outcomes for s in o.samples]
    for r in range(rounds):
        with LocalODMBackend(Account, pattern.format(r)) as accounts:
            assert sorted(a.name for a in accounts.all_sync()) == sorted(f"p{k}" for k in range(processes_n))
