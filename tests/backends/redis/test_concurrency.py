"""Atomicity under concurrency: unique races across processes, and readers never see half a write."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import redis

from mindtrace.database import DuplicateInsertError
from mindtrace.database.backends.redis.index_encoding import members_for
from mindtrace.database.backends.redis_odm_backend import RedisODMBackend
from mindtrace.database.core import typed_json
from tests.backends.redis.models import Person

PROCESSES = 6
ATTEMPTS = 20


def _race(url: str, prefix: str, barrier: Any, results: Any, worker: int, cluster: bool) -> None:
    backend = RedisODMBackend(Person, url, key_prefix=prefix, cluster=cluster)
    backend.initialize_sync()
    for round in range(ATTEMPTS):
        barrier.wait()
        try:
            backend.insert_sync(Person(name=f"w{worker}", email=f"race{round}@x"))
            results.put((round, worker, "won", None, None))
        except DuplicateInsertError as e:
            results.put((round, worker, "lost", e.field, e.value))
    backend.close_sync()


def run_unique_race(url: str, prefix: str, *, cluster: bool = False) -> None:
    """PROCESSES processes insert the same unique email ATTEMPTS times; exactly one wins each time."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(target=_race, args=(url, prefix, barrier, results, i, cluster))
        for i in range(PROCESSES)
    ]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=60) for _ in range(PROCESSES * ATTEMPTS)]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    for round in range(ATTEMPTS):
        this = [o for o in outcomes if o[0] == round]
        assert [o[2] for o in this].count("won") == 1, this
        assert {(o[3], o[4]) for o in this if o[2] == "lost"} == {("email", f"race{round}@x")}
    check = RedisODMBackend(Person, url, key_prefix=prefix, cluster=cluster)
    assert check.count_sync() == ATTEMPTS
    check.close_sync()


def test_unique_race_across_processes(redis_server: Any, prefix: str) -> None:
    run_unique_race(redis_server.url, prefix)


def test_readers_never_see_a_half_written_document(make_backend: Any, raw: redis.Redis) -> None:
    people = make_backend(Person)
    person = people.insert_sync(Person(name="moving", email="m@x", age=0, tags=["t0"]))
    age_index = next(i for i in people._collection.indexes if i.fields == ("age",))
    stop = threading.Event()

    def writer() -> None:
        current = person
        for n in range(1, 300):
            current = people.update_sync(current.model_copy(update={"age": n, "tags": [f"t{n}"]}))
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reader = redis.Redis.from_url(people.redis_url)
    snapshots = 0
    while not stop.is_set():
        # MULTI/EXEC reads are one consistent snapshot; the writer's scripts are atomic, so every
        # snapshot must show the index and the document agreeing.
        pipe = reader.pipeline(transaction=True)
        pipe.zrange(age_index.key, 0, -1)
        pipe.get(people.keys.doc(person.id))
        members, value = pipe.execute()
        doc = typed_json.loads(value)
        assert members == members_for(doc, ("age",), person.id)[0]
        snapshots += 1
    thread.join()
    reader.close()
    assert snapshots > 0
    assert people.get_sync(person.id).age == 299


def test_concurrent_update_many_never_loses_an_increment(make_backend: Any) -> None:
    people = make_backend(Person)
    people.insert_many_sync([Person(name=str(i), email=f"{i}@x") for i in range(10)])

    def bump() -> None:
        for _ in range(10):
            people.update_many_sync({}, {"$inc": {"age": 1}})

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {p.age for p in people.all_sync()} == {40}
