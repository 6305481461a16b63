"""Differential test: generated documents and queries give the same results on every backend.

The backends are those of the conformance registry (``tests/conformance/backends.py:BACKENDS``:
Local in memory and in a file, MongoDB, Redis and Valkey where installed), so a backend added
there is compared here too.

Hypothesis generates a small collection (missing fields, nulls, mixed BSON types, arrays, a
nested document) and then a filter, a sort, an update or a pipeline; every backend stores the
same documents and must answer the same way. Results are compared with BSON types kept apart
(``1``, ``1.0`` and ``True`` are different), documents by their fields regardless of order (field
order is checked by the engine's case tables), and backends' different ids left out.

Generated queries stay inside what every backend and the test server implement as MongoDB
documents them; the servers' known deviations are covered case by case in the Mongo backend's
table replay instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from mindtrace.database.core.backend import MindtraceODMBackend
from tests.conformance.backends import BACKENDS
from tests.query.test_pipeline import canonical


class Item(BaseModel):
    """Schemaless documents: every generated field is an extra field, so it may be missing."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None

    class Settings:
        name = "items"


# ----------------------------------------------------------------------------- generators

SCALARS = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0.5, -1.5, 2.0]),
    st.sampled_from(["x", "y", "z", ""]),
    st.booleans(),
    st.none(),
)
NUMBERS = st.one_of(st.integers(-5, 5), st.sampled_from([0.5, 2.5]))


@st.composite
def documents(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Up to 8 documents; ``k`` numbers them (a unique, always present tie-breaker)."""
    out = []
    for k in range(draw(st.integers(0, 8))):
        doc: dict[str, Any] = {"k": k}
        if draw(st.booleans()):
            doc["a"] = draw(SCALARS)
        if draw(st.booleans()):
            doc["n"] = draw(NUMBERS)
        if draw(st.booleans()):
            doc["c"] = draw(st.lists(st.integers(0, 4), max_size=4))
        if draw(st.booleans()):
            doc["d"] = {"x": draw(SCALARS)} if draw(st.booleans()) else draw(SCALARS)
        if draw(st.booleans()):
            doc["s"] = draw(st.sampled_from(["x", "y", "z"]))
        out.append(doc)
    return out


PATHS = ["a", "n", "c", "d", "d.x", "s", "k"]
COMPARISONS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    path = draw(st.sampled_from(PATHS))
    kind = draw(st.sampled_from(["eq", "cmp", "in", "nin", "exists", "not", "size", "all", "elem"]))
    if kind == "eq":
        return {path: draw(SCALARS)}
    if kind == "cmp":
        return {path: {draw(st.sampled_from(COMPARISONS)): draw(SCALARS)}}
    if kind in ("in", "nin"):
        return {path: {f"${kind}": draw(st.lists(SCALARS, max_size=3))}}
    if kind == "exists":
        return {path: {"$exists": draw(st.booleans())}}
    if kind == "not":
        return {path: {"$not": {draw(st.sampled_from(COMPARISONS)): draw(SCALARS)}}}
    if kind == "size":
        return {"c": {"$size": draw(st.integers(0, 3))}}
    if kind == "all":
        return {"c": {"$all": draw(st.lists(st.integers(0, 4), min_size=1, max_size=2))}}
    op = draw(st.sampled_from(COMPARISONS))
    return {"c": {"$elemMatch": {op: draw(st.integers(0, 4))}}}


filters = st.recursive(
    conditions(),
    lambda inner: st.builds(
        lambda op, parts: {op: parts},
        st.sampled_from(["$and", "$or", "$nor"]),
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=4,
)


@st.composite
def updates(draw: st.DrawFn) -> dict[str, Any]:
    """One or two operators on distinct fields; none can fail on the generated documents."""
    choices = {
        "$set": lambda: {draw(st.sampled_from(["a", "d.x", "s", "new"])): draw(SCALARS)},
        "$unset": lambda: {draw(st.sampled_from(PATHS[:-1])): ""},
        "$inc": lambda: {"n": draw(st.integers(-2, 2))},
        "$mul": lambda: {"n": draw(st.sampled_from([0, 2, -1]))},
        "$min": lambda: {"n": draw(NUMBERS)},
        "$max": lambda: {"n": draw(NUMBERS)},
        "$push": lambda: {"c": draw(st.integers(0, 4))},
        "$addToSet": lambda: {"c": draw(st.integers(0, 4))},
        "$pull": lambda: {"c": draw(st.integers(0, 4))},
        "$pop": lambda: {"c": draw(st.sampled_from([1, -1]))},
    }
    picked = draw(st.lists(st.sampled_from(sorted(choices)), min_size=1, max_size=2, unique=True))
    update: dict[str, Any] = {}
    used: set[str] = set()
    for op in picked:
        body = choices[op]()
        if not used.isdisjoint(p.split(".")[0] for p in body):
            continue  # MongoDB refuses two operators on the same path
        used.update(p.split(".")[0] for p in body)
        update[op] = body
    return update


@st.composite
def sorts(draw: st.DrawFn) -> list[tuple[str, int]]:
    keys = draw(st.lists(st.sampled_from(["a", "n", "c", "d", "d.x", "s"]), max_size=2, unique=True))
    return [(key, draw(st.sampled_from([1, -1]))) for key in keys] + [("k", 1)]


@st.composite
def pipelines(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A pipeline whose result is the same set of documents on every backend (ties broken by k)."""
    stages: list[dict[str, Any]] = [{"$unset": "_id"}]  # ids differ between backends
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["match", "window", "project", "unwind", "addFields"]))
        if kind == "match":
            stages.append({"$match": draw(filters)})
        elif kind == "window":
            stages.append({"$sort": dict(draw(sorts()))})
            stages.append({draw(st.sampled_from(["$limit", "$skip"])): draw(st.integers(1, 4))})
        elif kind == "project":
            keep = draw(st.lists(st.sampled_from(["a", "n", "c", "d", "s"]), min_size=1, unique=True))
            stages.append({"$project": {"k": 1, **dict.fromkeys(keep, 1)}})
        elif kind == "unwind":
            stages.append({"$unwind": "$c"})
        else:
            stages.append({"$addFields": {"twice": {"$multiply": [{"$ifNull": ["$n", 0]}, 2]}}})
    if draw(st.booleans()):
        key = draw(st.sampled_from(["$a", "$s", "$n", None]))
        stages.append(
            {
                "$group": {
                    "_id": key,
                    "count": {"$sum": 1},
                    "total": {"$sum": "$n"},
                    "top": {"$max": "$k"},
                    "keys": {"$addToSet": "$k"},
                }
            }
        )
        stages.append({"$set": {"keys": {"$sortArray": {"input": "$keys", "sortBy": 1}}}})
    return stages


# ----------------------------------------------------------------------------- backends


class Trio:
    """The same collection on every backend kind."""

    def __init__(self, backends: dict[str, MindtraceODMBackend[Any]]) -> None:
        self.backends = backends

    def load(self, docs: list[dict[str, Any]]) -> None:
        for backend in self.backends.values():
            backend.delete_many_sync()
            if docs:
                backend.insert_many_sync([Item(**d) for d in docs])

    def each(self, call: Any) -> dict[str, Any]:
        """``call(backend)`` on every backend: its result, or the type of the error it raised."""
        out: dict[str, Any] = {}
        for name, backend in self.backends.items():
            try:
                out[name] = call(backend)
            except Exception as e:  # noqa: BLE001 - the error type is what is compared
                out[name] = f"raised {type(e).__name__}"
        return out


def stored(items: list[Any]) -> list[Any]:
    """Model results as canonical documents without ids, in the order given."""
    return [canonical({k: v for k, v in item.model_dump().items() if k != "id"}) for item in items]


def as_set(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(repr(_unordered(canonical(d))) for d in docs)


def _unordered(value: Any) -> Any:
    # Field order aside: sort the (field, value) pairs of every document.
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "document":
        return ("document", tuple(sorted((k, _unordered(v)) for k, v in value[1])))
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "array":
        return ("array", tuple(_unordered(v) for v in value[1]))
    return value


def unordered_docs(items: list[Any]) -> list[Any]:
    return [_unordered(doc) for doc in stored(items)]


@pytest.fixture
def trio(request: pytest.FixtureRequest) -> Iterator[Trio]:
    """The same collection on every backend kind of the conformance registry (``BACKENDS``).

    Function-scoped, so each kind gets its throwaway database the way the conformance suite makes
    it (a file in ``tmp_path``, a key prefix, a fresh MongoDB database); Hypothesis runs all of a
    test's examples on one set (``load`` empties the collection before each)."""
    with contextlib.ExitStack() as stack:
        backends: dict[str, MindtraceODMBackend[Any]] = {}
        for kind, factory in BACKENDS.items():
            location = stack.enter_context(factory.database(request))
            backend = factory.open(location, Item)
            stack.callback(backend.close_sync)
            backend.initialize_sync()
            backends[kind] = backend
        yield Trio(backends)


SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def agree(results: dict[str, Any]) -> None:
    first = next(iter(results.values()))
    assert all(result == first for result in results.values()), "\n".join(
        f"{name}: {result}" for name, result in results.items()
    )


@SETTINGS
@given(docs=documents(), filter=filters)
def test_find(trio: Trio, docs: list[dict[str, Any]], filter: dict[str, Any]) -> None:
    trio.load(docs)
    agree(trio.each(lambda b: unordered_docs(b.find_sync(filter, sort=[("k", 1)]))))
    agree(trio.each(lambda b: b.count_sync(filter)))


@SETTINGS
@given(docs=documents(), sort=sorts(), skip=st.integers(0, 3), limit=st.integers(0, 4))
def test_sort(
    trio: Trio, docs: list[dict[str, Any]], sort: list[tuple[str, int]], skip: int, limit: int
) -> None:
    trio.load(docs)
    agree(trio.each(lambda b: [item.k for item in b.find_sync(sort=sort, skip=skip, limit=limit)]))


@SETTINGS
@given(docs=documents(), filter=filters, update=updates())
def test_update_many(
    trio: Trio, docs: list[dict[str, Any]], filter: dict[str, Any], update: dict[str, Any]
) -> None:
    trio.load(docs)

    def run(backend: MindtraceODMBackend[Any]) -> Any:
        result = backend.update_many_sync(filter, update)
        return (result.matched_count, result.modified_count, unordered_docs(backend.find_sync(sort="k")))

    agree(trio.each(run))


@SETTINGS
@given(docs=documents(), pipeline=pipelines())
def test_aggregate(trio: Trio, docs: list[dict[str, Any]], pipeline: list[dict[str, Any]]) -> None:
    trio.load(docs)
    agree(trio.each(lambda b: as_set(b.aggregate_sync(pipeline))))
