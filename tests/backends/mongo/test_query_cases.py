"""The query engine's case tables, replayed against the MongoDB server the Mongo backend talks to.

Every filter, projection, sort, update and pipeline case of ``tests/query/cases`` runs here on a real server
(SecantusDB, or MongoDB with ``MONGODB_URI``), through the backend's codec options and error
translation. A case where the engine's expectation and the server disagree fails here. Where
SecantusDB itself deviates from documented MongoDB behaviour, the case is an expected failure with
the reason (``SECANTUS_DEVIATIONS`` below, or the case's own ``mongo_xfail``) — only on SecantusDB,
never skipped. ``ENGINE_ONLY`` lists the few cases that differ from every MongoDB server by design.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.synchronous.database import Database

from mindtrace.database.backends.mongo.bson_types import CLIENT_OPTIONS, CODEC_OPTIONS
from mindtrace.database.backends.mongo.errors import MongoErrorContext
from mindtrace.database.testing.mongo_server import MONGODB_URI_ENV, MongoTestTarget
from tests.query.cases import FilterCase, PipelineCase, ProjectionCase, SortCase, UpdateCase
from tests.query.cases.filter_cases import FILTER_CASES
from tests.query.cases.pipeline_cases import PIPELINE_CASES
from tests.query.cases.projection_cases import PROJECTION_CASES
from tests.query.cases.sort_cases import SORT_CASES
from tests.query.cases.update_cases import UPDATE_CASES, same_document
from tests.query.test_pipeline import assert_documents

ON_SECANTUS = not os.environ.get(MONGODB_URI_ENV)

_FIELD_ORDER = "SecantusDB appends new fields in update order; MongoDB >= 5.0 in lexicographic order"
_NO_ERROR = "SecantusDB accepts this; MongoDB refuses it"

# (table, case name) -> how SecantusDB differs from the MongoDB manual, for cases whose table does
# not record it in ``mongo_xfail``. Applied only when the suite runs on SecantusDB; every key must
# name an existing case (tested below).
SECANTUS_DEVIATIONS: dict[tuple[str, str], str] = {
    ("update", "set appends several new fields in lexicographic order"): _FIELD_ORDER,
    ("update", "set nested new fields are grouped and ordered"): _FIELD_ORDER,
    ("update", "upsert ignores ranges, regexes and multi-clause $or"): "SecantusDB seeds an upsert "
    "with a regex condition as if it were an equality",
    ("update", "upsert with a positional path is refused"): _NO_ERROR,
    ("update", "upsert with overlapping equalities is refused"): _NO_ERROR + " (path matched twice)",
    ("update", "upsert with $[] on a missing array is refused"): _NO_ERROR,
    ("update", "push sort by field puts non-documents first (as null)"): "SecantusDB sorts non-document "
    "elements last in $push $sort by field; MongoDB sorts them as null (first)",
    ("update", "push sort with an empty pattern is refused"): _NO_ERROR,
    ("update", "pop through a scalar is refused"): _NO_ERROR + " (cannot traverse the element)",
    ("update", "pull through a scalar is refused"): _NO_ERROR + " (cannot traverse the element)",
    ("update", "pullAll through an array by name is refused"): _NO_ERROR + " (cannot traverse the element)",
    ("update", "pullAll document equality is field-order sensitive"): "SecantusDB compares documents "
    "ignoring field order in $pullAll; MongoDB's equality is field-order sensitive",
    ("update", "positional and the same explicit index conflict"): _NO_ERROR + " (update conflict)",
    ("update", "positional as the first component is refused"): _NO_ERROR,
    ("update", "all-positional on a missing array is refused"): _NO_ERROR,
    ("update", "all-positional on a non-array is refused"): _NO_ERROR,
    ("update", "all-positional and an explicit index conflict"): _NO_ERROR + " (update conflict)",
    ("update", "all-positional field on scalar elements is refused"): _NO_ERROR,
    ("update", "array filters matching one element twice conflict"): _NO_ERROR + " (update conflict)",
    ("update", "dollar-prefixed path component is refused"): _NO_ERROR,
}

# (table, case name) -> why the engine's expectation differs from any MongoDB server, by design.
ENGINE_ONLY: dict[tuple[str, str], str] = {
    ("update", "empty update document is refused"): "PyMongo refuses an empty update client-side with "
    "ValueError; the backends' update_many raises QueryError before any driver call",
    ("update", "empty pipeline is refused"): "PyMongo refuses an empty update pipeline client-side with "
    "ValueError; the backends' update_many raises QueryError before any driver call",
}


def params(table: str, cases: list[Any]) -> list[Any]:
    """The cases as pytest params, marked as expected failures where the server cannot agree."""
    out = []
    for case in cases:
        reason = ENGINE_ONLY.get((table, case.name))
        if reason is None and ON_SECANTUS:
            reason = case.mongo_xfail or SECANTUS_DEVIATIONS.get((table, case.name))
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        out.append(pytest.param(case, id=case.name, marks=marks))
    return out


@pytest.fixture(scope="module")
def db(mongo_test_target: MongoTestTarget) -> Iterator[Database[dict[str, Any]]]:
    """One database for this module's cases; each case empties the collections it uses."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_test_target.url, **CLIENT_OPTIONS)
    try:
        yield client.get_database(mongo_test_target.new_database_name("cases"), codec_options=CODEC_OPTIONS)
    finally:
        client.close()


def fresh(db: Database[dict[str, Any]], name: str, docs: list[dict[str, Any]]) -> Any:
    collection = db[name]
    collection.delete_many({})
    if docs:
        collection.insert_many([dict(d) for d in docs])
    return collection


ERRORS = MongoErrorContext("cases", "mongodb://test-server")


@pytest.mark.parametrize("case", params("filter", FILTER_CASES))
def test_filter_case(db: Database[dict[str, Any]], case: FilterCase) -> None:
    collection = fresh(db, "docs", case.docs)
    if isinstance(case.expected, type):
        with pytest.raises(case.expected), ERRORS.translate("find"):
            collection.find(case.filter).to_list()
        return
    position = {d["_id"]: i for i, d in enumerate(case.docs)}
    with ERRORS.translate("find"):
        found = [d["_id"] for d in collection.find(case.filter, {"_id": 1})]
    # MongoDB does not promise natural order; the table lists matches in insertion order.
    assert sorted(found, key=position.__getitem__) == case.expected


def ordered(value: Any) -> Any:
    """Documents as lists of pairs: field order is part of MongoDB's answer."""
    if isinstance(value, dict):
        return [(key, ordered(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [ordered(item) for item in value]
    return value


@pytest.mark.parametrize("case", params("projection", PROJECTION_CASES))
def test_projection_case(db: Database[dict[str, Any]], case: ProjectionCase) -> None:
    collection = fresh(db, "docs", [case.doc])
    if isinstance(case.expected, type):
        with pytest.raises(case.expected), ERRORS.translate("find"):
            collection.find(case.filter, case.projection).to_list()
        return
    with ERRORS.translate("find"):
        found = collection.find(case.filter, case.projection).to_list()
    assert [ordered(d) for d in found] == [ordered(case.expected)]


@pytest.mark.parametrize("case", params("sort", SORT_CASES))
def test_sort_case(db: Database[dict[str, Any]], case: SortCase) -> None:
    collection = fresh(db, "docs", case.docs)
    if isinstance(case.expected, type):
        with pytest.raises(case.expected), ERRORS.translate("find"):
            collection.find({}, sort=case.sort).to_list()
        return
    with ERRORS.translate("find"):
        assert [d["_id"] for d in collection.find({}, {"_id": 1}, sort=case.sort)] == case.expected


@pytest.mark.parametrize("case", params("update", UPDATE_CASES))
def test_update_case(db: Database[dict[str, Any]], case: UpdateCase) -> None:
    collection = fresh(db, "docs", [case.doc] if case.doc is not None else [])
    options: dict[str, Any] = {"upsert": case.upsert}
    array_filters = getattr(case, "array_filters", None)
    if array_filters:
        options["array_filters"] = array_filters
    if isinstance(case.expected, type):
        with pytest.raises(case.expected), ERRORS.translate("update"):
            collection.update_one(case.filter, case.update, **options)
        after = collection.find().to_list()
        assert same_document(after, [case.doc] if case.doc is not None else [], started=_T0, finished=_T0)
        return
    started = dt.datetime.now(dt.UTC)
    with ERRORS.translate("update"):
        outcome = collection.update_one(case.filter, case.update, **options)
    finished = dt.datetime.now(dt.UTC)
    stored = collection.find().to_list()
    assert len(stored) == 1, stored
    result = stored[0]
    if case.doc is None and "_id" not in case.expected:
        result = {k: v for k, v in result.items() if k != "_id"}
    assert same_document(result, case.expected, started=started, finished=finished), (
        f"got {result!r}, expected {case.expected!r}"
    )
    if case.modified is not None:
        assert outcome.modified_count == int(case.modified), outcome.raw_result


_T0 = dt.datetime.now(dt.UTC)


@pytest.mark.parametrize("case", params("pipeline", PIPELINE_CASES))
def test_pipeline_case(db: Database[dict[str, Any]], case: PipelineCase) -> None:
    collection = fresh(db, "docs", case.docs)
    for name, docs in case.collections.items():
        fresh(db, name, docs)
    if isinstance(case.expected, type):
        with pytest.raises(case.expected), ERRORS.translate("aggregate"):
            collection.aggregate(case.pipeline).to_list()
        return
    with ERRORS.translate("aggregate"):
        result = collection.aggregate(case.pipeline).to_list()
    assert_documents(result, case.expected, ordered=case.ordered)


def test_deviation_lists_name_existing_cases() -> None:
    names = {
        (table, case.name)
        for table, cases in (
            ("filter", FILTER_CASES),
            ("projection", PROJECTION_CASES),
            ("sort", SORT_CASES),
            ("update", UPDATE_CASES),
            ("pipeline", PIPELINE_CASES),
        )
        for case in cases
    }
    stale = (set(SECANTUS_DEVIATIONS) | set(ENGINE_ONLY)) - names
    assert not stale, f"no such cases any more: {sorted(stale)}"
