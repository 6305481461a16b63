"""Crash durability of the Local backend: a writer process is ``kill -9``-ed at random moments,
again and again, and after every kill the file must hold exactly what was acknowledged.

The writer (a worker process) runs random operations as fast as it can — ``insert``,
``insert_many`` batches, ``update_many`` with ``$inc`` over a group of documents, ``update(obj)``
(sometimes renaming the unique key), ``delete``, ``delete_many``, and writes that must fail on
the unique index (``insert_many`` stopping at a duplicate, ``update_many`` and ``update`` creating
one). Before each call it appends the operation to a journal file; after the call returns it
appends an acknowledgement. Each line is one ``write(2)``, so a kill never loses a line that was
written (the page cache outlives the process) and leaves at most a partial last line.

The parent replays the journal on its copy of the data: every acknowledged operation, in order,
gives the *acknowledged state*; the one operation in flight when the process died (if any) may
have committed or not, but only completely. After each kill, on a fresh ``LocalODMBackend``:

* ``PRAGMA integrity_check`` is ``ok`` (table and indexes agree, no torn page);
* every row decodes and validates against the model, and its digest matches its content (no
  half-written document);
* no two documents share the unique key (checked by scanning, and every key finds its document
  through the unique index);
* the stored documents equal the acknowledged state exactly, or that state with the in-flight
  operation applied in full (never a part of an ``insert_many`` or ``update_many``).

Rounds alternate ``synchronous=FULL`` and ``NORMAL`` (both promise to survive a process kill)
and the sync and async APIs. The next writer continues on the same file, so damage would
accumulate and show.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from mindtrace.database import DuplicateInsertError, Index
from mindtrace.database.backends.local_odm_backend import LocalODMBackend
from mindtrace.database.core import typed_json
from mindtrace.database.core.document import new_id
from tests.reliability.conftest import WorkerContext, short_and_soak

COLLECTION = "crash_ledger"
GROUPS = 16
READY_TIMEOUT = 60.0  # a guard against a hung worker, not a measurement

# (key, group, version, payload) of one document; the state is id -> Row.
Row = tuple[str, int, int, str]
State = dict[str, Row]


class Ledger(BaseModel):
    """What the writer stores: a unique key, a group for multi-document updates, a version the
    updates increment, a payload of varying size (up to several pages) and a digest over it."""

    id: str | None = None
    key: Annotated[str, Index(unique=True)]
    group: Annotated[int, Index()]
    version: int = 0
    payload: str
    digest: str

    class Settings:
        name = COLLECTION


def digest(key: str, group: int, payload: str) -> str:
    """Checksum of a document's content: a row torn between two writes would not match it."""
    return hashlib.sha256(f"{key}|{group}|{payload}".encode()).hexdigest()[:16]


def make_doc(id: str, row: Row) -> Ledger:
    key, group, version, payload = row
    return Ledger(
        id=id, key=key, group=group, version=version, payload=payload, digest=digest(key, group, payload)
    )


# ============================================================================ the state machine
def apply(state: State, op: dict[str, Any]) -> None:
    """Apply one journalled operation to ``state`` in place, as the database must have done.

    Operations that must fail on the unique index (``*_dup``) change nothing, except that an
    ordered ``insert_many`` stores the documents before the duplicate.
    """
    kind = op["op"]
    if kind == "insert":
        for id, key, group, payload in op["docs"]:
            state[id] = (key, group, 0, payload)
    elif kind == "insert_dup":
        for id, key, group, payload in op["docs"][: op["stop"]]:
            state[id] = (key, group, 0, payload)
    elif kind == "inc":
        for id, (key, group, version, payload) in list(state.items()):
            if group == op["group"]:
                state[id] = (key, group, version + 1, payload)
    elif kind == "replace":
        key, group, version, payload = op["doc"]
        state[op["id"]] = (key, group, version, payload)
    elif kind == "delete":
        del state[op["id"]]
    elif kind == "delete_group":
        for id in [id for id, row in state.items() if row[1] == op["group"]]:
            del state[id]
    elif kind not in ("set_dup", "replace_dup"):
        raise AssertionError(f"unknown journalled operation {op!r}")


class Journal:
    """The writer's side of the journal: one ``write(2)`` per line, O_APPEND."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, record: dict[str, Any]) -> None:
        os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())


class Writer:
    """Chooses and runs random operations, keeping an exact copy of the stored state."""

    def __init__(
        self, backend: LocalODMBackend[Ledger], state: State, rng: random.Random, api: str, tag: str
    ):
        self.backend = backend
        self.state = state
        self.rng = rng
        self.api = api
        self.tag = tag
        self.serial = 0
        self.cap = 1500  # documents; past it deletes win, so verifying a round stays cheap

    async def call(self, name: str, *args: Any) -> Any:
        if self.api == "async":
            return await getattr(self.backend, name)(*args)
        return getattr(self.backend, name + "_sync")(*args)

    def fresh(self, group: int | None = None) -> list[Any]:
        self.serial += 1
        size = self.rng.choice([8, 40, 200, 1500, 5000])  # the larger ones span overflow pages
        payload = self.rng.randbytes(size // 2).hex()
        return [
            new_id(),
            f"{self.tag}-{self.serial}",
            self.rng.randrange(GROUPS) if group is None else group,
            payload,
        ]

    def members(self, group: int) -> list[str]:
        return [id for id, row in self.state.items() if row[1] == group]

    def choose(self) -> dict[str, Any]:
        rng, state = self.rng, self.state
        ids = list(state)
        roll = rng.random()
        if len(state) > self.cap or (roll < 0.05 and ids):
            return {"op": "delete_group", "group": state[rng.choice(ids)][1]}
        if roll < 0.25 or not ids:
            return {"op": "insert", "docs": [self.fresh()]}
        if roll < 0.45:
            return {"op": "insert", "docs": [self.fresh() for _ in range(rng.randint(2, 40))]}
        if roll < 0.65:
            return {"op": "inc", "group": rng.randrange(GROUPS)}
        if roll < 0.80:
            id = rng.choice(ids)
            key, group, version, _ = state[id]
            if rng.random() < 0.3:  # move the unique key (and the group): index entries change
                _, key, group, _ = self.fresh()
            payload = rng.randbytes(rng.choice([4, 100, 2500]) // 2).hex()
            return {"op": "replace", "id": id, "doc": [key, group, version + 1, payload]}
        if roll < 0.85:
            return {"op": "delete", "id": rng.choice(ids)}
        if roll < 0.90:
            docs = [self.fresh() for _ in range(rng.randint(1, 10))]
            stop = rng.randrange(len(docs))
            docs[stop][1] = state[rng.choice(ids)][0]  # a key that is taken
            return {"op": "insert_dup", "docs": docs, "stop": stop}
        if roll < 0.95:
            group = state[rng.choice(ids)][1]
            if len(self.members(group)) >= 2:
                return {"op": "set_dup", "group": group}
        if len(ids) >= 2:
            id, other = rng.sample(ids, 2)
            key, group, version, payload = state[id]
            return {"op": "replace_dup", "id": id, "doc": [state[other][0], group, version + 1, payload]}
        return {"op": "insert", "docs": [self.fresh()]}

    async def run(self, op: dict[str, Any]) -> None:
        """Run ``op`` and check its result; raises AssertionError if the backend misbehaved."""
        kind = op["op"]
        if kind == "insert" and len(op["docs"]) == 1:
            id, key, group, payload = op["docs"][0]
            stored = await self.call("insert", make_doc(id, (key, group, 0, payload)))
            assert stored.id == id
        elif kind == "insert":
            docs = [make_doc(id, (key, group, 0, payload)) for id, key, group, payload in op["docs"]]
            stored = await self.call("insert_many", docs)
            assert [d.id for d in stored] == [d[0] for d in op["docs"]]
        elif kind == "insert_dup":
            docs = [make_doc(id, (key, group, 0, payload)) for id, key, group, payload in op["docs"]]
            try:
                await self.call("insert_many", docs)
            except DuplicateInsertError as e:
                assert e.inserted_ids == [d[0] for d in op["docs"][: op["stop"]]], e
                assert e.failed == list(range(op["stop"], len(docs))), e
            else:
                raise AssertionError(f"insert_many with a taken key at {op['stop']} did not fail")
        elif kind == "inc":
            result = await self.call("update_many", {"group": op["group"]}, {"$inc": {"version": 1}})
            expected = len(self.members(op["group"]))
            assert (result.matched_count, result.modified_count) == (expected, expected), result
        elif kind == "set_dup":
            try:
                await self.call("update_many", {"group": op["group"]}, {"$set": {"key": f"{self.tag}-dup"}})
            except DuplicateInsertError:
                pass
            else:
                raise AssertionError("update_many giving two documents one unique key did not fail")
        elif kind in ("replace", "replace_dup"):
            try:
                await self.call("update", make_doc(op["id"], tuple(op["doc"])))
            except DuplicateInsertError:
                assert kind == "replace_dup", op
            else:
                assert kind == "replace", f"update() to a taken key did not fail: {op}"
        elif kind == "delete":
            await self.call("delete", op["id"])
        elif kind == "delete_group":
            deleted = await self.call("delete_many", {"group": op["group"]})
            assert deleted == len(self.members(op["group"])), deleted
        apply(self.state, op)


def crash_worker(path: str, journal_path: str, tag: str, seed: int, api: str, synchronous: str) -> None:
    """Worker process: write until killed. Exits with status 3 after journalling a ``fatal``
    record if the backend misbehaves (the parent then fails the test with that record)."""
    journal = Journal(journal_path)
    try:
        backend: LocalODMBackend[Ledger] = LocalODMBackend(Ledger, path, synchronous=synchronous)
        # Start from what is stored: the parent verified it against the journal of the last round.
        state: State = {d.id: (d.key, d.group, d.version, d.payload) for d in backend.all_sync() if d.id}
        writer = Writer(backend, state, random.Random(seed), api, tag)
        journal.write({"ready": len(state)})

        async def loop() -> None:
            seq = 0
            while True:
                op = writer.choose()
                op["seq"] = seq
                journal.write(op)
                await writer.run(op)
                journal.write({"ack": seq})
                seq += 1

        asyncio.run(loop())
    except BaseException as e:  # anything at all is a finding: report it, then die loudly
        journal.write({"fatal": repr(e)})
        os._exit(3)


# ============================================================================ the parent's checks
@dataclass
class Replay:
    """What one round's journal says: acknowledged operations, and the one in flight."""

    acked: list[dict[str, Any]] = field(default_factory=list)
    pending: dict[str, Any] | None = None
    ready: bool = False
    fatal: str | None = None


def read_journal(path: Path) -> Replay:
    """Parse a journal; a partial last line (the kill hit the ``write``) is ignored."""
    replay = Replay()
    text = path.read_text() if path.exists() else ""
    lines = text.split("\n")[:-1]  # the piece after the last newline is incomplete or empty
    intents: dict[int, dict[str, Any]] = {}
    for line in lines:
        record = json.loads(line)
        if "ready" in record:
            replay.ready = True
        elif "fatal" in record:
            replay.fatal = record["fatal"]
        elif "ack" in record:
            op = intents.pop(record["ack"])
            assert not intents, f"operations {sorted(intents)} were never acknowledged but others were"
            replay.acked.append(op)
        else:
            assert not intents, f"operation {record['seq']} started before {sorted(intents)} returned"
            intents[record["seq"]] = record
    replay.pending = next(iter(intents.values()), None)
    return replay


@dataclass
class Tally:
    kills: int = 0
    acked_ops: int = 0
    docs_checked: int = 0
    in_flight_committed: int = 0
    in_flight_absent: int = 0
    rounds_by_mode: dict[str, int] = field(default_factory=dict)


def stored_state(path: Path) -> State:
    """Every row read with plain sqlite3 after an integrity check; each must decode, validate and
    match its digest, and no unique key may repeat. Then the same through a fresh backend."""
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        # WAL is the file's first write; a writer killed while opening a new file may leave it
        # empty (the switch rolled back), and an empty file reports the default mode.
        if raw.execute("PRAGMA page_count").fetchone()[0] > 0:
            assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        table = raw.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name=?", (COLLECTION,)
        ).fetchone()
        rows = raw.execute(f'SELECT id, doc FROM "{COLLECTION}"').fetchall() if table else []
    finally:
        raw.close()
    state: State = {}
    keys: dict[str, str] = {}
    for id, text in rows:
        doc = Ledger.model_validate({"id": id, **typed_json.loads(text)})
        assert doc.digest == digest(doc.key, doc.group, doc.payload), (
            f"document {id} is half-written: {text[:200]}"
        )
        assert doc.key not in keys, f"unique key {doc.key!r} is held by {keys[doc.key]} and {id}"
        keys[doc.key] = id
        state[id] = (doc.key, doc.group, doc.version, doc.payload)
    with LocalODMBackend(Ledger, path) as backend:
        backend.initialize_sync()
        through_backend = {d.id: (d.key, d.group, d.version, d.payload) for d in backend.all_sync()}
        assert through_backend == state
        for key, id in keys.items():  # the unique index finds every document by its key
            found = backend.find_sync({"key": key})
            assert [d.id for d in found] == [id], key
    return state


def difference(expected: State, stored: State) -> str:
    """A short account of how ``stored`` departs from ``expected`` (for failure messages)."""
    missing = [id for id in expected if id not in stored]
    extra = [id for id in stored if id not in expected]
    changed = {
        id: (expected[id][:3], stored[id][:3])
        for id in expected
        if id in stored and stored[id] != expected[id]
    }
    return (
        f"{len(missing)} missing {missing[:3]}, {len(extra)} unexpected {extra[:3]}, "
        f"{len(changed)} different (expected, stored) {dict(list(changed.items())[:3])}"
    )


def check_round(path: Path, before: State, replay: Replay, tally: Tally) -> State:
    """Verify the file after a kill against the journal; returns the state now stored."""
    acknowledged = dict(before)
    for op in replay.acked:
        apply(acknowledged, op)
    stored = stored_state(path)
    if stored == acknowledged:
        tally.in_flight_absent += replay.pending is not None
    else:
        assert replay.pending is not None, (
            f"the stored documents differ from the acknowledged writes: {difference(acknowledged, stored)}"
        )
        completed = dict(acknowledged)
        apply(completed, replay.pending)
        assert stored == completed, (
            f"stored state is neither the acknowledged one nor that plus the whole in-flight "
            f"operation {replay.pending['op']!r}; against the acknowledged state: "
            f"{difference(acknowledged, stored)}"
        )
        tally.in_flight_committed += 1
    tally.acked_ops += len(replay.acked)
    tally.docs_checked += len(stored)
    return stored


def run_kills(path: Path, workdir: Path, kills: int, context: WorkerContext, rng: random.Random) -> Tally:
    tally = Tally()
    state: State = {}
    for round_no in range(kills):
        api = rng.choice(["sync", "async"])
        synchronous = rng.choice(["FULL", "NORMAL"])
        mode = f"{api}/{synchronous}"
        tally.rounds_by_mode[mode] = tally.rounds_by_mode.get(mode, 0) + 1
        journal = workdir / f"journal-{round_no}.jsonl"
        worker = context.Process(
            target=crash_worker,
            args=(str(path), str(journal), f"r{round_no}", rng.randrange(2**32), api, synchronous),
            daemon=True,
        )
        worker.start()
        try:
            if rng.random() < 0.15:
                time.sleep(rng.uniform(0, 0.03))  # may land while it opens the file
            else:
                wait_until(partial(started, journal, worker))
                time.sleep(rng.uniform(0.01, 0.25))
            died_alone = worker.exitcode is not None
        finally:
            worker.kill()
            worker.join()
        replay = read_journal(journal)
        assert not died_alone and replay.fatal is None, (
            f"round {round_no} ({mode}): the writer failed by itself: {replay.fatal} (exit {worker.exitcode})"
        )
        state = check_round(path, state, replay, tally)
        tally.kills += 1
        journal.unlink(missing_ok=True)  # killed before it opened the journal
    return tally


def started(journal: Path, worker: BaseProcess) -> bool:
    """The worker journalled that it is ready, or died before that."""
    return read_journal(journal).ready or worker.exitcode is not None


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"worker not ready after {READY_TIMEOUT}s"
        time.sleep(0.002)


@pytest.mark.parametrize("kills", short_and_soak(30, 300))
def test_acknowledged_writes_survive_kill_9(
    kills: int,
    tmp_path: Path,
    process_context: WorkerContext,
    rng: random.Random,
    figure: Callable[[str, Any], None],
) -> None:
    tally = run_kills(tmp_path / "crash.sqlite3", tmp_path, kills, process_context, rng)
    figure("kills_survived", tally.kills)
    figure("acknowledged_ops_verified", tally.acked_ops)
    figure("documents_checked", tally.docs_checked)
    figure("in_flight_committed", tally.in_flight_committed)
    figure("in_flight_absent", tally.in_flight_absent)
    figure("rounds_by_mode", json.dumps(tally.rounds_by_mode, sort_keys=True))
    assert tally.kills == kills
    assert tally.acked_ops > kills  # the writers did get work done between kills


def test_replay_rejects_a_lost_acknowledged_write(tmp_path: Path) -> None:
    """The checker itself can fail: a file missing an acknowledged insert is caught."""
    path = tmp_path / "lost.sqlite3"
    with LocalODMBackend(Ledger, path) as backend:
        kept: list[Any] = ["a" * 24, "k1", 1, "x"]
        backend.insert_sync(make_doc(kept[0], ("k1", 1, 0, "x")))
    replay = Replay(
        acked=[{"op": "insert", "docs": [kept]}, {"op": "insert", "docs": [["b" * 24, "k2", 1, "y"]]}],
        ready=True,
    )
    with pytest.raises(AssertionError, match="differ from the acknowledged"):
        check_round(path, {}, replay, Tally())
    # ... and a partially applied in-flight operation is not taken for a complete one.
    replay = Replay(
        acked=[{"op": "insert", "docs": [kept]}],
        pending={"op": "insert", "docs": [["b" * 24, "k2", 1, "y"], ["c" * 24, "k3", 1, "z"]]},
    )
    with LocalODMBackend(Ledger, path) as backend:
        backend.insert_sync(make_doc("b" * 24, ("k2", 1, 0, "y")))
    with pytest.raises(AssertionError, match="neither the acknowledged"):
        check_round(path, {}, replay, Tally())


@pytest.mark.parametrize("api", ["sync", "async"])
async def test_writer_expectations_hold_without_kills(api: str, tmp_path: Path) -> None:
    """Without kills the writer's own checks all pass and the file equals its state, so a
    ``fatal`` record in the crash test is a finding, not noise in the test."""
    path = tmp_path / "calm.sqlite3"
    backend: LocalODMBackend[Ledger] = LocalODMBackend(Ledger, path)
    writer = Writer(backend, {}, random.Random(7), api, "calm")
    writer.cap = 80
    kinds: Counter[str] = Counter()
    for _ in range(600):
        op = writer.choose()
        await writer.run(op)
        kinds[op["op"]] += 1
    # A one-document insert_many stopped by a duplicate reports input 0 as not stored.
    taken = next(iter(writer.state.values()))[0]
    await writer.run({"op": "insert_dup", "docs": [[new_id(), taken, 0, "p"]], "stop": 0})
    backend.close_sync()
    assert set(kinds) == {
        "insert",
        "insert_dup",
        "inc",
        "set_dup",
        "replace",
        "replace_dup",
        "delete",
        "delete_group",
    }
    assert stored_state(path) == writer.state
