"""Invalid or unsupported filters raise QueryError on every backend — never "match everything"."""

from __future__ import annotations

from typing import Any

import pytest

from mindtrace.database import QueryError
from tests.conformance.conftest import Database
from tests.conformance.models import User, people

INVALID_FILTERS: list[Any] = [
    {"age": {"$bogus": 1}},
    {"$bogus": [{"age": 1}]},
    {"age": {"$gt": 1, "$frobnicate": 2}},
    {"$and": {"age": 1}},  # $and takes a list
    {"$and": []},
    {"$or": "age"},
    {"age": {"$in": 5}},  # $in takes an array
    {"age": {"$nin": "abc"}},
    {"tags": {"$size": "two"}},
    {"tags": {"$all": "math"}},
    {"age": {"$mod": [0, 1]}},  # division by zero
    {"age": {"$mod": [2]}},
    {"name": {"$regex": "("}},  # invalid regular expression
    {"age": {"$type": "no-such-type"}},
    {"age": {"$not": 3}},
    {"age": {"$exists": True, "$elemMatch": 3}},
    {"$expr": {"$frobnicate": 1}},
    "age > 3",
    ["age", 3],
    42,
]


@pytest.mark.parametrize("bad", INVALID_FILTERS, ids=repr)
async def test_invalid_filter_raises_query_error_everywhere(db: Database, bad: Any) -> None:
    users = await db.open(User)
    stored = await users.insert_many(people())
    with pytest.raises(QueryError):
        await users.find(bad)
    with pytest.raises(QueryError):
        await users.find_one(bad)
    with pytest.raises(QueryError):
        await users.count(bad)
    with pytest.raises(QueryError):
        await users.collect(bad)
    with pytest.raises(QueryError):
        await users.delete_many(bad)
    assert await users.count() == len(stored)


async def test_unknown_operator_is_named_in_the_error(db: Database) -> None:
    users = await db.open(User)
    await users.insert_many(people())
    with pytest.raises(QueryError, match=r"\$bogus"):
        await users.find({"age": {"$bogus": 1}})


async def test_query_error_is_also_a_value_error(db: Database) -> None:
    users = await db.open(User)
    with pytest.raises(ValueError):  # noqa: PT011  # the documented base class for callers who don't import ours
        await users.find({"age": {"$bogus": 1}})


@pytest.mark.parametrize(
    "window",
    [{"limit": -1}, {"limit": 2.5}, {"limit": "3"}, {"skip": -1}, {"skip": 1.0}, {"limit": True}],
    ids=repr,
)
async def test_invalid_skip_or_limit_is_refused(db: Database, window: dict[str, Any]) -> None:
    """A negative or non-integer window is an error, even on the fast paths for simple filters."""
    users = await db.open(User)
    await users.insert_many(people())
    for filter in ({}, {"name": "Ada"}):
        with pytest.raises(QueryError, match="skip|limit"):
            await users.find(filter, **window)
