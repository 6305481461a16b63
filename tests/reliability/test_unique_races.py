"""Unique races on every backend: 8 processes x many async tasks insert overlapping unique values at
once; for each value exactly one insert wins and every other gets ``DuplicateInsertError``.

Every process tries every value of a round (in its own shuffled order, spread over its tasks), so
each value has one contender per process. Half the processes insert one document per call, the
other half in ``insert_many`` batches, so ordered bulk inserts race with single inserts. The
processes start each round together (a barrier) and report every outcome; the parent then checks,
per value: one winner, the losers' errors naming the unique field and the value, nothing else
raised, the stored document being the winner's, the count equal to the number of values, and on
Redis every index entry matching the stored documents exactly.

Children come from the ``process_context`` fork server (a clean process), so no database client or
driver thread of the test process is ever copied into them.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Annotated, Any

import pytest
import redis
from pydantic import BaseModel

from mindtrace.database import DuplicateInsertError, Index
from mindtrace.database.backends.redis_odm_backend import RedisODMBackend
from mindtrace.database.core.backend import MindtraceODMBackend
from tests.backends.redis.conftest import tag_keys
from tests.backends.redis.test_indexes import assert_consistent
from tests.conformance.backends import BACKENDS
from tests.reliability.conftest import short_and_soak

PROCESSES = 8

# Every backend that keeps one database for several processes (an in-memory SQLite does not).
KINDS = [name for name, factory in BACKENDS.items() if factory.caps.shared_database]


class Claim(BaseModel):
    """One claimed unique key and who claimed it."""

    id: str | None = None
    key: Annotated[str, Index(unique=True)]
    owner: str

    class Settings:
        name = "claims"


@dataclass(frozen=True)
class RaceShape:
    """How big a race is: ``rounds`` x ``values`` distinct keys, each tried by every process."""

    rounds: int
    values: int
    tasks: int  # async tasks per process
    batch_processes: int  # processes inserting with insert_many; the others insert one by one
    batch_size: int


SHORT = RaceShape(rounds=4, values=50, tasks=25, batch_processes=4, batch_size=5)
SOAK = RaceShape(rounds=30, values=200, tasks=50, batch_processes=4, batch_size=8)

# One outcome per attempted key: (round, key, kind, detail). kind is "won" (detail: owner, id),
# "lost" (detail: the error's field and value), "skipped" (in a batch after its first duplicate),
# or "other" (detail: the unexpected exception, which fails the test).
Outcome = tuple[int, str, str, Any]


def key_of(round: int, value: int) -> str:
    """The unique key of one value in one round (fresh keys every round)."""
    return f"r{round}-k{value:04d}"


def id_of(key: str) -> str:
    """The document id contenders for ``key`` give their documents in the rounds that race on ids."""
    return hashlib.sha1(key.encode()).hexdigest()[:24]


def claim_for(round: int, key: str, owner: str) -> Claim:
    """A contender's document: even rounds race on the unique field, odd rounds on the id alone
    (every contender's own ``key`` then differs, so only the id can collide)."""
    if round % 2:
        return Claim(id=id_of(key), key=f"{key}/{owner}", owner=owner)
    return Claim(key=key, owner=owner)


def expected_loss(round: int, key: str) -> tuple[str, str]:
    """(field, value) a loser's ``DuplicateInsertError`` must name."""
    return ("_id", id_of(key)) if round % 2 else ("key", key)


# ----------------------------------------------------------------------------- the contenders


async def _insert_singly(
    backend: MindtraceODMBackend[Any], round: int, keys: list[str], owner: str
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for key in keys:
        try:
            stored = await backend.insert(claim_for(round, key, owner))
            outcomes.append((round, key, "won", (owner, stored.id)))
        except DuplicateInsertError as e:
            outcomes.append((round, key, "lost", (e.field, e.value)))
        except Exception as e:  # the test's subject: anything else is reported, then fails the test
            outcomes.append((round, key, "other", repr(e)))
    return outcomes


async def _insert_batches(
    backend: MindtraceODMBackend[Any], round: int, batches: list[list[str]], owner: str
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for keys in batches:
        try:
            stored = await backend.insert_many([claim_for(round, key, owner) for key in keys])
            outcomes += [(round, key, "won", (owner, doc.id)) for key, doc in zip(keys, stored, strict=True)]
        except DuplicateInsertError as e:
            # An ordered insert: the documents before the first duplicate are stored, none after.
            first = e.failed[0] if e.failed else -1
            if e.failed != list(range(first, len(keys))) or len(e.inserted_ids) != first:
                outcomes.append(
                    (round, keys[0], "other", f"inconsistent batch error {e.failed=} {e.inserted_ids=}")
                )
                continue
            outcomes += [
                (round, key, "won", (owner, id)) for key, id in zip(keys, e.inserted_ids, strict=False)
            ]
            outcomes.append((round, keys[first], "lost", (e.field, e.value)))
            outcomes += [(round, key, "skipped", None) for key in keys[first + 1 :]]
        except Exception as e:  # the test's subject: anything else is reported, then fails the test
            outcomes += [(round, key, "other", repr(e)) for key in keys]
    return outcomes


async def _contend(
    backend: MindtraceODMBackend[Any], shape: RaceShape, process: int, barrier: Any
) -> list[Outcome]:
    await backend.initialize()
    batching = process < shape.batch_processes
    outcomes: list[Outcome] = []
    for round in range(shape.rounds):
        keys = [key_of(round, v) for v in range(shape.values)]
        random.Random(f"{process}/{round}").shuffle(keys)
        # Every process starts the round at the same moment; waiting blocks this loop, on purpose:
        # no task of this process may start early.
        barrier.wait()
        if batching:
            batches = [keys[i : i + shape.batch_size] for i in range(0, len(keys), shape.batch_size)]
            work = [
                _insert_batches(backend, round, batches[t :: shape.tasks], f"p{process}t{t}")
                for t in range(min(shape.tasks, len(batches)))
            ]
        else:
            work = [
                _insert_singly(backend, round, keys[t :: shape.tasks], f"p{process}t{t}")
                for t in range(shape.tasks)
            ]
        for part in await asyncio.gather(*work):
            outcomes += part
    await backend.close()
    return outcomes


def _contender(kind: str, location: Any, shape: RaceShape, process: int, barrier: Any, results: Any) -> None:
    try:
        backend = BACKENDS[kind].open(location, Claim)
        outcomes = asyncio.run(_contend(backend, shape, process, barrier))
        results.put(("done", process, outcomes))
    except BaseException:  # the parent needs the child's traceback to explain a failure
        barrier.abort()
        results.put(("crash", process, traceback.format_exc()))


def run_race(context: Any, kind: str, location: Any, shape: RaceShape) -> list[Outcome]:
    """Run the race in PROCESSES child processes of ``context`` (a multiprocessing context);
    returns every outcome they reported."""
    barrier = context.Barrier(PROCESSES, timeout=120)
    results = context.Queue()
    children = [
        context.Process(target=_contender, args=(kind, location, shape, p, barrier, results), daemon=True)
        for p in range(PROCESSES)
    ]
    for child in children:
        child.start()
    outcomes: list[Outcome] = []
    crashes: list[str] = []
    try:
        for _ in children:
            status, process, payload = results.get(timeout=240)
            if status == "crash":
                crashes.append(f"process {process}:\n{payload}")
            else:
                outcomes += payload
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
    assert not crashes, "\n".join(crashes)
    assert all(child.exitcode == 0 for child in children), [child.exitcode for child in children]
    return outcomes


# ----------------------------------------------------------------------------- the checks


def check_outcomes(outcomes: list[Outcome], shape: RaceShape) -> dict[str, tuple[str, str]]:
    """Assert one winner per key and clean losses; returns key -> (owner, id) of the winners."""
    others = [o for o in outcomes if o[2] == "other"]
    assert not others, others[:10]
    by_key: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_key[outcome[1]].append(outcome)
    expected = {key_of(r, v) for r in range(shape.rounds) for v in range(shape.values)}
    assert set(by_key) == expected
    winners: dict[str, tuple[str, str]] = {}
    for key, seen in by_key.items():
        kinds = Counter(o[2] for o in seen)
        # Every single-insert process tries every key, so each key has that many real contenders.
        assert kinds["won"] + kinds["lost"] >= PROCESSES - shape.batch_processes, (key, seen)
        assert kinds["won"] == 1, (key, seen)
        assert {o[3] for o in seen if o[2] == "lost"} <= {expected_loss(seen[0][0], key)}, seen
        (winner,) = (o[3] for o in seen if o[2] == "won")
        winners[key] = winner
    return winners


def check_stored(backend: MindtraceODMBackend[Any], winners: dict[str, tuple[str, str]]) -> None:
    """The stored documents are exactly the winners' (same id, same owner), nothing more."""
    stored = backend.all_sync()
    assert backend.count_sync() == len(stored) == len(winners)
    assert {doc.key.split("/")[0]: (doc.owner, doc.id) for doc in stored} == winners


def check_redis_entries(backend: RedisODMBackend[Any]) -> None:
    """Index entries equal what the documents imply, and no key exists for an unlisted document."""
    raw = redis.Redis.from_url(backend.redis_url)
    try:
        assert_consistent(backend, raw)
        ids = {i.decode() for i in raw.zrange(backend.keys.ids, 0, -1) if isinstance(i, bytes)}
        tag = backend.keys.doc_prefix
        documents = {key.decode()[len(tag) :] for key in tag_keys(raw, tag) if isinstance(key, bytes)}
        assert documents == ids
    finally:
        raw.close()


@pytest.fixture(params=KINDS)
def race_location(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    """(backend kind, a throwaway database of that kind) for one race."""
    with BACKENDS[request.param].database(request) as location:
        yield request.param, location


@pytest.mark.parametrize("shape", short_and_soak(SHORT, SOAK))
def test_unique_race(
    race_location: tuple[str, Any],
    shape: RaceShape,
    process_context: BaseContext,
    figure: Callable[[str, Any], None],
) -> None:
    kind, location = race_location
    outcomes = run_race(process_context, kind, location, shape)
    winners = check_outcomes(outcomes, shape)
    backend = BACKENDS[kind].open(location, Claim)
    try:
        check_stored(backend, winners)
        if isinstance(backend, RedisODMBackend):
            check_redis_entries(backend)
    finally:
        backend.close_sync()
    kinds = Counter(o[2] for o in outcomes)
    figure("values", len(winners))
    figure("contenders_per_value", PROCESSES)
    figure("attempts", kinds["won"] + kinds["lost"])
    figure("duplicates_rejected", kinds["lost"])
