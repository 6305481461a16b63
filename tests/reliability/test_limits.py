"""Size and shape limits: 16 MiB documents, 100 levels of nesting, huge arrays — clean errors, nothing stored.

Documents over 16 MiB encoded fail with ``DocumentTooLargeError`` on every backend and store
nothing from the oversized document on (``insert_many`` is ordered), whether they arrive by
``insert``, ``insert_many``, ``update(obj)`` or an ``update_many`` that grows a stored document.
Nesting is limited to MongoDB's 100 levels everywhere (documents: ``DocumentTooLargeError``;
queries: ``QueryError``); 1,000 levels never escape as ``RecursionError``, on the engine either.
Arrays of a million elements work.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from pydantic import BaseModel

from mindtrace.database import DocumentTooLargeError, MindtraceModel, QueryError
from mindtrace.database.core.input_checks import MAX_NESTING
from mindtrace.database.query import (
    apply_update,
    compile_expression,
    compile_filter,
    compile_pipeline,
    compile_projection,
    evaluate,
    matches,
    project,
    run_pipeline,
    sort_documents,
    upsert_seed,
)
from tests.reliability.conftest import Store, short_and_soak

MIB = 1024 * 1024
TOO_BIG = "x" * (17 * MIB)  # over the limit in every encoding (JSON and BSON)
BIG_HALF = "y" * (9 * MIB)  # two of these in one document are over the limit


class Blob(MindtraceModel):
    name: str
    data: str = ""
    extra: str = ""
    meta: dict[str, Any] = {}
    nums: list[int] = []

    class Settings:
        name = "blobs"


def _names(backend: Any) -> list[str]:
    return [d["name"] for d in backend.find_sync({}, sort="_id", projection={"name": 1, "_id": 0})]


# ----------------------------------------------------------------------------- 16 MiB


def test_an_oversized_insert_fails_cleanly_and_stores_nothing(store: Store) -> None:
    blobs = store.open(Blob)
    with pytest.raises(DocumentTooLargeError):
        blobs.insert_sync(Blob(name="big", data=TOO_BIG))
    with pytest.raises(DocumentTooLargeError):
        blobs.insert_sync(Blob(name="two halves", data=BIG_HALF, extra=BIG_HALF))
    assert blobs.count_sync() == 0


async def test_an_oversized_insert_fails_cleanly_through_the_async_api(store: Store) -> None:
    blobs = store.open(Blob)
    with pytest.raises(DocumentTooLargeError):
        await blobs.insert(Blob(name="big", data=TOO_BIG))
    with pytest.raises(DocumentTooLargeError):
        await blobs.insert_many([Blob(name="ok"), Blob(name="big", data=TOO_BIG)])
    assert await blobs.count({"name": "big"}) == 0


def test_just_under_the_limit_round_trips(store: Store) -> None:
    blobs = store.open(Blob)
    stored = blobs.insert_sync(Blob(name="almost", data="z" * (15 * MIB)))
    assert blobs.get_sync(stored.id).data == stored.data


def test_insert_many_stores_nothing_from_the_oversized_document_on(store: Store) -> None:
    """Ordered semantics: nothing from the oversized document on is stored. Local and Redis
    encode the whole batch before writing and store none of it; MongoDB has already sent the
    documents before it (PyMongo splits the batch there) and keeps them."""
    blobs = store.open(Blob)
    batch = [Blob(name="ok1"), Blob(name="ok2"), Blob(name="big", data=TOO_BIG), Blob(name="after")]
    with pytest.raises(DocumentTooLargeError):
        blobs.insert_many_sync(batch)
    stored = _names(blobs)
    assert "big" not in stored and "after" not in stored
    assert stored == (["ok1", "ok2"] if store.kind == "mongo" else [])


def test_update_that_grows_a_document_past_the_limit_changes_nothing(store: Store) -> None:
    blobs = store.open(Blob)
    small = blobs.insert_sync(Blob(name="small"))
    grown = blobs.insert_sync(Blob(name="grown", data=BIG_HALF))
    before = blobs.get_sync(grown.id)
    with pytest.raises(DocumentTooLargeError):
        blobs.update_sync(before.model_copy(update={"extra": BIG_HALF}))
    with pytest.raises(DocumentTooLargeError):
        blobs.update_sync(small.model_copy(update={"data": TOO_BIG}))
    assert blobs.get_sync(grown.id) == before
    assert blobs.get_sync(small.id) == small


@pytest.mark.parametrize(
    "update",
    [
        [{"$set": {"extra": "$data"}}],  # the pipeline itself is small
        [{"$set": {"data": {"$concat": ["$data", "$data"]}}}],
        {"$set": {"extra": TOO_BIG}},  # a big update document
    ],
    ids=["copy field", "$concat", "big $set"],
)
def test_update_many_that_grows_a_document_past_the_limit_changes_nothing(store: Store, update: Any) -> None:
    """Local (one transaction) and Redis (every new version encoded before any write) change
    nothing. MongoDB is atomic per document: the oversized document is unchanged, documents
    updated before it may keep their change (documented in docs/security.md)."""
    blobs = store.open(Blob)
    blobs.insert_sync(Blob(name="tiny"))
    grown = blobs.insert_sync(Blob(name="grown", data=BIG_HALF, nums=list(range(1000))))
    before = {d.id: d for d in blobs.all_sync()}
    with pytest.raises(DocumentTooLargeError):
        blobs.update_many_sync({}, update)
    after = {d.id: d for d in blobs.all_sync()}
    assert after[grown.id] == before[grown.id]
    if store.engine_based:
        assert after == before


# ----------------------------------------------------------------------------- nesting


def nested(levels: int, leaf: Any = 1, key: str = "x") -> Any:
    """``levels`` levels of documents (``{key: ...}``), innermost holding ``leaf``."""
    value = leaf
    for _ in range(levels):
        value = {key: value}
    return value


def listed(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def test_nesting_up_to_the_limit_round_trips_and_one_more_level_is_refused(store: Store) -> None:
    """The document is level 1 and ``meta`` level 2, so ``nested(MAX_NESTING - 1)`` in ``meta``
    is exactly MongoDB's 100 levels."""
    blobs = store.open(Blob)
    deepest = blobs.insert_sync(Blob(name="deepest", meta=nested(MAX_NESTING - 1)))
    assert blobs.get_sync(deepest.id).meta == nested(MAX_NESTING - 1)
    assert blobs.count_sync({"meta": nested(MAX_NESTING - 1)}) == 1
    for meta in (nested(MAX_NESTING), {"l": listed(MAX_NESTING - 1)}, nested(1000), {"l": listed(1000)}):
        with pytest.raises(DocumentTooLargeError, match="nested"):
            blobs.insert_sync(Blob(name="too deep", meta=meta))
        with pytest.raises(DocumentTooLargeError, match="nested"):
            blobs.insert_many_sync([Blob(name="fine"), Blob(name="too deep", meta=meta)])
        with pytest.raises(DocumentTooLargeError, match="nested"):
            blobs.update_sync(deepest.model_copy(update={"meta": meta}))
    assert _names(blobs) == ["deepest"]


def test_update_many_cannot_nest_documents_past_the_limit(store: Store) -> None:
    """A long dotted path (not nesting in the update itself) deepens the stored document."""
    blobs = store.open(Blob)
    blob = blobs.insert_sync(Blob(name="b", meta={"keep": 1}))
    path = "meta." + ".".join(["x"] * (MAX_NESTING + 20))
    if store.engine_based:
        with pytest.raises(DocumentTooLargeError, match="nested"):
            blobs.update_many_sync({}, {"$set": {path: 1}})
        # 1000 path components: too deep for the engine's update tree already (QueryError).
        with pytest.raises((DocumentTooLargeError, QueryError), match="nested"):
            blobs.update_many_sync({}, {"$set": {"meta." + ".".join(["x"] * 1000): 1}})
        assert blobs.get_sync(blob.id) == blob
    else:  # the server decides; either way nothing escapes but the package's errors
        try:
            blobs.update_many_sync({}, {"$set": {path: 1}})
        except (DocumentTooLargeError, QueryError):
            assert blobs.get_sync(blob.id) == blob


def _deep_filters(levels: int) -> list[dict[str, Any]]:
    and_chain: dict[str, Any] = {"name": "b"}
    nor_chain: dict[str, Any] = {"name": "b"}
    for _ in range(levels):
        and_chain = {"$and": [and_chain]}
        nor_chain = {"$nor": [nor_chain]}
    elem: Any = {"$gt": 1}
    expr: Any = 1
    for _ in range(levels):
        elem = {"$elemMatch": elem}
        expr = {"$add": [expr, 1]}
    return [
        and_chain,
        nor_chain,
        {"nums": elem},
        {"$expr": {"$eq": [expr, 0]}},
        {"meta": nested(levels)},
        {"meta": {"$in": [nested(levels)]}},
        {"name": {"$not": nested(levels, {"$gt": "a"}, "$not")}},
    ]


@pytest.mark.parametrize("levels", [MAX_NESTING, 1000], ids=["101 levels", "1000 levels"])
def test_deeply_nested_queries_are_refused_everywhere(store: Store, levels: int) -> None:
    blobs = store.open(Blob)
    blobs.insert_sync(Blob(name="b", nums=[1, 2]))
    for deep in _deep_filters(levels):
        for call in (
            functools.partial(blobs.find_sync, deep),
            functools.partial(blobs.count_sync, deep),
            functools.partial(blobs.delete_many_sync, deep),
            functools.partial(blobs.update_many_sync, deep, {"$set": {"name": "x"}}),
            functools.partial(blobs.aggregate_sync, [{"$match": deep}]),
        ):
            with pytest.raises(QueryError, match="nested more than 100 levels"):
                call()
    expr: Any = "$name"
    for _ in range(levels):
        expr = {"$concat": [expr]}
    for call in (
        lambda: blobs.find_sync({}, projection={"v": expr}),
        lambda: blobs.update_many_sync({}, {"$set": {"meta": nested(levels)}}),
        lambda: blobs.update_many_sync({}, [{"$set": {"name": expr}}]),
        lambda: blobs.aggregate_sync([{"$group": {"_id": expr}}]),
        lambda: blobs.aggregate_sync([{"$facet": {"a": [{"$project": {"v": expr}}]}}]),
    ):
        with pytest.raises(QueryError, match="nested more than 100 levels"):
            call()
    assert _names(blobs) == ["b"]


def test_queries_nested_to_the_limit_still_work(store: Store) -> None:
    blobs = store.open(Blob)
    blobs.insert_sync(Blob(name="b", meta=nested(MAX_NESTING - 1)))
    chain: dict[str, Any] = {"name": "b"}
    for _ in range(MAX_NESTING // 2 - 1):  # each $and level is a document and an array
        chain = {"$and": [chain]}
    assert _names(blobs) == ["b"]
    assert len(blobs.find_sync(chain)) == 1
    assert blobs.count_sync({"meta": {"$eq": nested(MAX_NESTING - 2)}}) == 0


# Engine on its own: no backend limit in front, so Python's recursion limit is what stops it.
ENGINE_DEPTH = 1500


def _engine_calls() -> list[tuple[str, Any]]:
    deep_doc = {"_id": 1, "a": nested(ENGINE_DEPTH)}
    other = {"_id": 2, "a": nested(ENGINE_DEPTH, 2)}
    and_chain: dict[str, Any] = {"a": 1}
    expr: Any = 1
    for _ in range(ENGINE_DEPTH):
        and_chain = {"$and": [and_chain]}
        expr = {"$add": [expr, 1]}
    return [
        ("compile_filter", lambda: compile_filter(and_chain)),
        ("matches deep filter", lambda: matches(and_chain, {"a": 1})),
        ("matches deep documents", lambda: matches({"$expr": {"$eq": ["$$ROOT", "$$ROOT"]}}, deep_doc)),
        ("matches deep operand", lambda: matches({"a": nested(ENGINE_DEPTH)}, deep_doc)),
        ("compiled predicate", lambda: compile_filter({"a": {"$eq": nested(ENGINE_DEPTH)}})(deep_doc)),
        ("apply_update", lambda: apply_update(deep_doc, {"$set": {"b": "$a"}, "$max": {"a": other["a"]}})),
        ("apply_update deep value", lambda: apply_update({"_id": 1}, {"$set": {"a": nested(ENGINE_DEPTH)}})),
        ("upsert_seed", lambda: upsert_seed({"a": nested(ENGINE_DEPTH)})),
        ("project", lambda: project(deep_doc, {"v": expr})),
        ("compile_projection", lambda: compile_projection({"v": expr})),
        ("sort_documents", lambda: sort_documents([deep_doc, other], [("a", 1)])),
        ("run_pipeline $group", lambda: run_pipeline([deep_doc, other], [{"$group": {"_id": "$a"}}])),
        ("run_pipeline $sort", lambda: run_pipeline([deep_doc, other], [{"$sort": {"a": -1}}])),
        ("compile_pipeline", lambda: compile_pipeline([{"$project": {"v": expr}}])),
        ("compile_expression", lambda: compile_expression(expr)),
        ("evaluate", lambda: evaluate({"$eq": ["$a", "$a"]}, deep_doc)),
    ]


@pytest.mark.parametrize("name,call", _engine_calls(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_engine_turns_runaway_nesting_into_query_error(name: str, call: Any) -> None:
    """Works, or raises QueryError — never RecursionError (or a crash)."""
    try:
        call()
    except QueryError as e:
        assert "nested too deeply" in str(e)
        assert isinstance(e.__cause__, RecursionError)


# ----------------------------------------------------------------------------- huge arrays


@pytest.mark.parametrize("size", short_and_soak(200_000, 1_000_000))
def test_a_huge_array_works(store: Store, size: int, figure: Any) -> None:
    """``make test`` stores 200,000 elements, ``make soak`` a million (about 7 MB of JSON)."""
    figure("array_elements", size)
    blobs = store.open(Blob)
    big = blobs.insert_sync(Blob(name="big", nums=list(range(size))))
    blobs.insert_sync(Blob(name="small", nums=[1, 2]))
    assert blobs.get_sync(big.id).nums == list(range(size))
    assert [b.name for b in blobs.find_sync({"nums": size - 1})] == ["big"]
    assert blobs.count_sync({"nums": {"$size": size}}) == 1
    result = blobs.update_many_sync({"name": "big"}, {"$push": {"nums": -1}})
    assert result.modified_count == 1
    sizes = [{"$match": {"name": "big"}}, {"$project": {"_id": 0, "n": {"$size": "$nums"}}}]
    assert blobs.aggregate_sync(sizes) == [{"n": size + 1}]
    assert blobs.delete_many_sync({"nums": -1}) == 1
    assert _names(blobs) == ["small"]


def test_a_filter_with_fifty_thousand_values_works(store: Store) -> None:
    blobs = store.open(Blob)
    blobs.insert_many_sync([Blob(name=str(i)) for i in range(20)])
    values = [str(i) for i in range(0, 100_000, 2)]
    assert sorted(int(b.name) for b in blobs.find_sync({"name": {"$in": values}})) == list(range(0, 20, 2))
    assert blobs.count_sync({"name": {"$nin": values}}) == 10


class _Unbounded(BaseModel):
    """A model whose documents are walked before storing (free-form field)."""

    id: str | None = None
    anything: Any = None


def test_a_wide_document_works(store: Store) -> None:
    """100,000 fields in one free-form dict: walked for the checks, stored, read back."""
    wide = store.open(_Unbounded)
    value = {f"k{i}": i for i in range(100_000)}
    stored = wide.insert_sync(_Unbounded(anything=value))
    assert wide.get_sync(stored.id).anything == value
    assert wide.count_sync({"anything.k99999": 99_999}) == 1
