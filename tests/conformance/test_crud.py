"""CRUD on every backend: insert (with validation), get, update, delete, all, ids."""

from __future__ import annotations

import pytest
from bson import ObjectId
from pydantic import BaseModel, ValidationError

from mindtrace.database import DocumentNotFoundError, DuplicateInsertError
from tests.conformance.conftest import Database
from tests.conformance.models import PEOPLE, Note, PlainUser, User, names, people

MISSING_ID = "0123456789abcdef01234567"
MALFORMED_IDS = ["nope", "", "0123456789abcdef0123456", "0123456789abcdef0123456z", "x" * 24]


class LooseUser(BaseModel):
    """Another model with User's field names but looser types (for re-validation on insert)."""

    name: object
    age: object


async def test_insert_returns_copy_with_id_and_leaves_input_alone(db: Database) -> None:
    users = await db.open(User)
    original = User(name="Ada", age=36)
    stored = await users.insert(original)
    assert original.id is None
    assert stored is not original
    assert ObjectId.is_valid(stored.id) and len(stored.id) == 24
    assert stored.model_dump(exclude={"id"}) == original.model_dump(exclude={"id"})
    assert await users.get(stored.id) == stored


async def test_insert_keeps_a_caller_supplied_id(db: Database) -> None:
    users = await db.open(User)
    wanted = str(ObjectId())
    stored = await users.insert(User(id=wanted, name="Ada", age=36))
    assert stored.id == wanted
    assert (await users.get(wanted)).name == "Ada"


async def test_insert_of_an_existing_id_is_a_duplicate(db: Database) -> None:
    users = await db.open(User)
    stored = await users.insert(User(name="Ada", age=36))
    with pytest.raises(DuplicateInsertError):
        await users.insert(User(id=stored.id, name="Other", age=1))
    assert (await users.get(stored.id)).name == "Ada"
    assert await users.count() == 1


async def test_invalid_data_is_rejected_before_anything_is_written(db: Database) -> None:
    users = await db.open(User)
    with pytest.raises(ValidationError):
        User(name="Ada", age="not a number")  # type: ignore[arg-type]
    # A foreign model is re-validated against the backend's model before it is stored.
    with pytest.raises(ValidationError):
        await users.insert(LooseUser(name="Ada", age="old"))
    # One bad document in a batch: nothing of the batch is stored.
    with pytest.raises(ValidationError):
        await users.insert_many([User(name="ok", age=1), LooseUser(name="bad", age=[1])])
    assert await users.count() == 0
    assert await users.all() == []


async def test_insert_accepts_a_valid_foreign_model(db: Database) -> None:
    users = await db.open(User)
    stored = await users.insert(LooseUser(name="Ada", age="36"))
    assert isinstance(stored, User)
    assert (stored.name, stored.age) == ("Ada", 36)


async def test_insert_many_returns_ids_in_input_order(db: Database) -> None:
    users = await db.open(User)
    batch = people()
    stored = await users.insert_many(batch)
    assert names(stored) == [p["name"] for p in PEOPLE]
    assert len({u.id for u in stored}) == len(PEOPLE)
    assert all(u.id is None for u in batch)
    for u in stored:
        assert await users.get(u.id) == u
    assert await users.insert_many([]) == []


async def test_get_missing_id_names_collection_and_id(db: Database) -> None:
    users = await db.open(User)
    await users.insert(User(name="Ada", age=36))
    with pytest.raises(DocumentNotFoundError) as info:
        await users.get(MISSING_ID)
    assert info.value.collection == "users"
    assert info.value.id == MISSING_ID
    assert "users" in str(info.value) and MISSING_ID in str(info.value)


@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
async def test_get_malformed_id_is_not_found(db: Database, bad_id: str) -> None:
    users = await db.open(User)
    with pytest.raises(DocumentNotFoundError) as info:
        await users.get(bad_id)
    assert info.value.collection == "users"
    assert repr(bad_id) in str(info.value)


async def test_get_accepts_an_object_id(db: Database) -> None:
    users = await db.open(User)
    stored = await users.insert(User(name="Ada", age=36))
    assert (await users.get(ObjectId(stored.id))).id == stored.id  # type: ignore[arg-type]


async def test_delete_removes_only_that_document(db: Database) -> None:
    users = await db.open(User)
    a, b = await users.insert_many([User(name="A", age=1), User(name="B", age=2)])
    assert await users.delete(a.id) is None
    with pytest.raises(DocumentNotFoundError):
        await users.get(a.id)
    assert [u.id for u in await users.all()] == [b.id]


@pytest.mark.parametrize("bad_id", [MISSING_ID, "nope"])
async def test_delete_missing_names_collection_and_id(db: Database, bad_id: str) -> None:
    users = await db.open(User)
    await users.insert(User(name="A", age=1))
    with pytest.raises(DocumentNotFoundError) as info:
        await users.delete(bad_id)
    assert info.value.collection == "users" and info.value.id == bad_id
    assert "users" in str(info.value) and bad_id in str(info.value)
    assert await users.count() == 1


async def test_delete_twice_is_not_found(db: Database) -> None:
    users = await db.open(User)
    a = await users.insert(User(name="A", age=1))
    await users.delete(a.id)
    with pytest.raises(DocumentNotFoundError):
        await users.delete(a.id)


async def test_all_returns_every_document_as_models(db: Database) -> None:
    users = await db.open(User)
    assert await users.all() == []
    stored = await users.insert_many(people())
    everything = await users.all()
    assert all(isinstance(u, User) for u in everything)
    assert sorted(everything, key=lambda u: u.id or "") == sorted(stored, key=lambda u: u.id or "")


async def test_update_replaces_by_id(db: Database) -> None:
    users = await db.open(User)
    stored = await users.insert(User(name="Ada", age=36, tags=["math"], email="a@x"))
    changed = stored.model_copy(update={"age": 37, "tags": []})
    result = await users.update(changed)
    assert result == changed
    again = await users.get(stored.id)
    assert (again.age, again.tags, again.email) == (37, [], "a@x")
    assert await users.count() == 1


async def test_update_missing_document_is_not_found(db: Database) -> None:
    users = await db.open(User)
    with pytest.raises(DocumentNotFoundError) as info:
        await users.update(User(id=MISSING_ID, name="x", age=1))
    assert info.value.collection == "users" and MISSING_ID in str(info.value)
    with pytest.raises(DocumentNotFoundError):
        await users.update(User(name="no id", age=1))
    assert await users.count() == 0


async def test_model_without_id_field(db: Database) -> None:
    notes = await db.open(Note)
    original = Note(text="hello", stars=3)
    stored = await notes.insert(original)
    assert isinstance(stored, Note)
    assert not hasattr(original, "id") or "id" not in original.model_fields_set
    assert ObjectId.is_valid(stored.id)  # type: ignore[attr-defined]
    fetched = await notes.get(stored.id)  # type: ignore[attr-defined]
    assert (fetched.text, fetched.stars, fetched.id) == ("hello", 3, stored.id)  # type: ignore[attr-defined]
    [found] = await notes.find({"text": "hello"})
    assert isinstance(found, Note) and found.id == stored.id  # type: ignore[attr-defined]
    stored.stars = 5
    await notes.update(stored)
    assert (await notes.get(stored.id)).stars == 5  # type: ignore[attr-defined]
    await notes.delete(stored.id)  # type: ignore[attr-defined]
    assert await notes.count() == 0


async def test_plain_pydantic_model_with_id(db: Database) -> None:
    plain = await db.open(PlainUser)
    stored = await plain.insert(PlainUser(name="Ada", age=36))
    assert isinstance(stored, PlainUser) and ObjectId.is_valid(stored.id)
    assert await plain.get(stored.id) == stored


async def test_description_methods(db: Database) -> None:
    users = await db.open(User)
    assert users.raw.get_raw_model() is User
    assert users.raw.is_async() is True
    assert users.raw.collection_name == "users"
