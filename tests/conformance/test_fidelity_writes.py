"""Writes behave the same on every store where they used to diverge (issue 9, section 2 items 4-5):
upsert ids, ids that are not ObjectIds, ``$``-prefixed top-level fields, and the shape of
``DuplicateInsertError`` for single and compound unique indexes."""

from __future__ import annotations

from typing import Annotated

import pytest
from bson import ObjectId
from pydantic import BaseModel, ConfigDict

from mindtrace.database import DatabaseError, DuplicateInsertError, QueryError
from mindtrace.database.core.indexes import Index
from tests.conformance.conftest import Database
from tests.conformance.models import User


class Artifact(BaseModel):
    """A compound unique index (run_id, path) and a single one (digest)."""

    id: str | None = None
    run_id: str
    path: str
    digest: Annotated[str, Index(unique=True)]

    class Settings:
        name = "artifacts"
        indexes = [Index("run_id", "path", unique=True, name="run_path")]


class Loose(BaseModel):
    """A model that accepts undeclared fields."""

    model_config = ConfigDict(extra="allow")
    id: str | None = None
    name: str

    class Settings:
        name = "loose"


async def test_upsert_takes_an_objectid_from_set_on_insert(db: Database) -> None:
    users = await db.open(User)
    chosen = ObjectId()
    result = await users.update_many(
        {"name": "ada"}, {"$setOnInsert": {"_id": chosen}, "$set": {"age": 36}}, upsert=True
    )
    assert result.upserted_id == str(chosen)
    stored = await users.get(str(chosen))
    assert (stored.name, stored.age) == ("ada", 36)


@pytest.mark.parametrize(
    ("filter", "update"),
    [
        ({"_id": None, "name": "x"}, {"$set": {"age": 1}}),
        ({"_id": 5, "name": "x"}, {"$set": {"age": 1}}),
        ({"_id": "not-an-id", "name": "x"}, {"$set": {"age": 1}}),
        ({"name": "x"}, {"$setOnInsert": {"_id": 7}, "$set": {"age": 1}}),
        ({"name": "x"}, {"$set": {"_id": None, "age": 1}}),
    ],
    ids=["null", "int", "malformed", "set-on-insert-int", "set-null"],
)
async def test_upsert_with_an_id_that_is_not_an_objectid_is_refused(
    db: Database, filter: dict[str, object], update: dict[str, object]
) -> None:
    users = await db.open(User)
    with pytest.raises(QueryError) as info:
        await users.update_many(filter, update, upsert=True)
    assert info.value.operator == "upsert"
    assert "ObjectId" in str(info.value)
    assert await users.count() == 0


async def test_insert_with_a_malformed_id_is_a_query_error(db: Database) -> None:
    users = await db.open(User)
    with pytest.raises(QueryError, match="24-character hex"):
        await users.insert(User(id="xyz", name="a", age=1))
    with pytest.raises(ValueError):  # QueryError stays a ValueError, as before
        await users.insert(User(id="5", name="a", age=1))
    assert await users.count() == 0


async def test_dollar_prefixed_top_level_fields_are_refused_everywhere(db: Database) -> None:
    loose = await db.open(Loose)
    with pytest.raises(QueryError, match=r"'\$bad'") as info:
        await loose.insert(Loose.model_validate({"name": "a", "$bad": 1}))
    assert isinstance(info.value, DatabaseError)
    stored = await loose.insert(Loose.model_validate({"name": "a", "fine": {"$nested": 1}}))
    with pytest.raises(QueryError, match=r"'\$set'"):
        await loose.update(Loose.model_validate({"id": stored.id, "name": "b", "$set": 1}))
    assert (await loose.get(stored.id)).name == "a"


async def test_duplicate_of_a_single_unique_field_has_one_shape(db: Database) -> None:
    artifacts = await db.open(Artifact)
    await artifacts.insert(Artifact(run_id="r1", path="a", digest="d1"))
    with pytest.raises(DuplicateInsertError) as info:
        await artifacts.insert(Artifact(run_id="r2", path="b", digest="d1"))
    error = info.value
    assert (error.field, error.value, error.key) == ("digest", "d1", {"digest": "d1"})
    assert "another document already has digest = 'd1'" in str(error)


async def test_duplicate_of_a_compound_unique_index_has_one_shape(db: Database) -> None:
    artifacts = await db.open(Artifact)
    await artifacts.insert(Artifact(run_id="r1", path="a", digest="d1"))
    with pytest.raises(DuplicateInsertError) as info:
        await artifacts.insert(Artifact(run_id="r1", path="a", digest="d2"))
    error = info.value
    assert error.key == {"run_id": "r1", "path": "a"}
    assert error.field == "run_id, path"
    assert error.value == ("r1", "a")
    assert error.index in (None, "run_path")
    assert "another document already has run_id = 'r1' and path = 'a'" in str(error)
    assert await artifacts.count() == 1


async def test_duplicate_id_has_one_shape(db: Database) -> None:
    artifacts = await db.open(Artifact)
    first = await artifacts.insert(Artifact(run_id="r1", path="a", digest="d1"))
    with pytest.raises(DuplicateInsertError) as info:
        await artifacts.insert(Artifact(id=first.id, run_id="r2", path="b", digest="d2"))
    error = info.value
    assert (error.field, error.value, error.key) == ("_id", first.id, {"_id": first.id})
    assert f"already has a document with _id {first.id!r}" in str(error)
