"""Index sorted sets and unique hashes hold exactly what the stored documents imply, always."""

from __future__ import annotations

import random
from typing import Annotated, Any

import pytest
import redis
from pydantic import BaseModel, ConfigDict

from mindtrace.database import DuplicateInsertError, QueryError
from mindtrace.database.backends.redis.index_encoding import members_for, unique_fields_for
from mindtrace.database.core import typed_json
from mindtrace.database.core.indexes import Index
from tests.backends.redis.models import Person


def expected_entries(
    backend: Any, raw: redis.Redis
) -> tuple[dict[str, set[bytes]], dict[str, dict[bytes, bytes]]]:
    ids = [i.decode() for i in raw.zrange(backend.keys.ids, 0, -1)]
    docs = [typed_json.loads(raw.get(backend.keys.doc(i))) for i in ids]
    members: dict[str, set[bytes]] = {}
    claims: dict[str, dict[bytes, bytes]] = {}
    for index in backend._collection.indexes:
        if index.key is not None:  # single-field unique indexes keep their claims hash only
            members[index.key] = {m for d in docs for m in members_for(d, index.fields, d["_id"])[0]}
        if index.unique:
            claims[str(index.unique_key)] = {
                f: d["_id"].encode() for d in docs for f in unique_fields_for(d, index.fields, sparse=False)
            }
    return members, claims


def assert_consistent(backend: Any, raw: redis.Redis) -> None:
    members, claims = expected_entries(backend, raw)
    for key, expected in members.items():
        assert set(raw.zrange(key, 0, -1)) == expected, key
    for key, expected in claims.items():
        assert raw.hgetall(key) == expected, key
    # Every document has an entries record, and nothing else does.
    ids = {i for i in raw.zrange(backend.keys.ids, 0, -1)}
    assert set(raw.hkeys(backend.keys.entries)) == ids


def test_index_keys_follow_every_write(make_backend: Any, raw: redis.Redis) -> None:
    people = make_backend(Person)
    rng = random.Random(7)
    stored = people.insert_many_sync(
        [
            Person(name=f"n{i % 4}", age=rng.randint(0, 9), email=f"{i}@x", tags=[f"t{rng.randint(0, 3)}"])
            for i in range(25)
        ]
    )
    assert_consistent(people, raw)
    first = stored[0]
    people.update_sync(first.model_copy(update={"age": 99, "tags": ["new", "tags"], "email": "changed@x"}))
    assert_consistent(people, raw)
    people.delete_sync(stored[1].id)
    assert_consistent(people, raw)
    people.update_many_sync({"age": {"$lt": 5}}, {"$inc": {"age": 100}, "$push": {"tags": "bumped"}})
    assert_consistent(people, raw)
    people.delete_many_sync({"tags": "t1"})
    assert_consistent(people, raw)
    people.update_many_sync({"name": "upserted"}, {"$set": {"email": "u@x", "age": 1}}, upsert=True)
    assert_consistent(people, raw)
    before = people.get_sync(stored[2].id)
    with pytest.raises(DuplicateInsertError):
        people.update_sync(before.model_copy(update={"email": "changed@x", "age": 1234}))
    assert people.get_sync(stored[2].id) == before
    assert_consistent(people, raw)
    people.delete_many_sync()
    assert_consistent(people, raw)
    assert raw.zcard(people.keys.ids) == 0
    for index in people._collection.indexes:
        assert raw.exists(*(k for k in (index.key, index.unique_key) if k)) == 0


def test_unique_violation_names_field_and_value(make_backend: Any) -> None:
    people = make_backend(Person)
    people.insert_sync(Person(name="a", email="same@x"))
    with pytest.raises(DuplicateInsertError) as caught:
        people.insert_sync(Person(name="b", email="same@x"))
    assert (caught.value.field, caught.value.value, caught.value.collection) == ("email", "same@x", "people")
    assert "email" in str(caught.value) and "same@x" in str(caught.value)


def test_insert_many_stops_at_first_duplicate(make_backend: Any) -> None:
    people = make_backend(Person)
    batch = [Person(name=str(i), email=f"{i % 3}@x") for i in range(5)]
    with pytest.raises(DuplicateInsertError) as caught:
        people.insert_many_sync(batch)
    error = caught.value
    assert error.failed == [3, 4] and len(error.inserted_ids) == 3
    assert sorted(p.id for p in people.all_sync()) == sorted(error.inserted_ids)


def test_sparse_unique_exempts_only_missing_fields(make_backend: Any) -> None:
    class Account(BaseModel):
        handle: Annotated[str | None, Index(unique=True, sparse=True)] = None

    class Loose(BaseModel):
        model_config = ConfigDict(extra="allow")

        class Settings:
            name = "Account"
            indexes = [Index("handle", unique=True, sparse=True)]

    class Strict(BaseModel):
        handle: Annotated[str | None, Index(unique=True)] = None

    # Documents lacking the field claim nothing (MongoDB's sparse); an explicit null is a value.
    loose = make_backend(Loose)
    loose.insert_many_sync([Loose(), Loose(), Loose(handle="x")])
    with pytest.raises(DuplicateInsertError):
        loose.insert_sync(Loose(handle="x"))
    accounts = make_backend(Account)
    accounts.insert_sync(Account())
    with pytest.raises(DuplicateInsertError):
        accounts.insert_sync(Account())  # Pydantic stores handle=None: a null, claimed
    strict = make_backend(Strict)
    strict.insert_sync(Strict())
    with pytest.raises(DuplicateInsertError) as caught:
        strict.insert_sync(Strict())
    assert caught.value.field == "handle" and caught.value.value is None


def test_new_index_is_built_for_existing_documents(make_backend: Any, raw: redis.Redis, prefix: str) -> None:
    class V1(BaseModel):
        sku: str
        qty: int

        class Settings:
            name = "items"

    class V2(V1):
        class Settings:
            name = "items"
            indexes = [Index("qty")]

    class V3(V1):
        class Settings:
            name = "items"
            indexes = [Index("sku", unique=True)]

    make_backend(V1).insert_many_sync([V1(sku=f"s{i}", qty=i % 2) for i in range(10)])
    v2 = make_backend(V2)
    assert len(v2.find_sync({"qty": 1})) == 5
    assert_consistent(v2, raw)
    make_backend(V1).insert_sync(V1(sku="s0", qty=3))
    with pytest.raises(DuplicateInsertError) as caught:
        make_backend(V3).initialize_sync()
    assert caught.value.field == "sku" and caught.value.value == "s0"


def test_update_many_refuses_documents_the_model_cannot_read(make_backend: Any, raw: redis.Redis) -> None:
    people = make_backend(Person)
    stored = people.insert_many_sync([Person(name=str(i), email=f"{i}@x", age=i) for i in range(3)])
    with pytest.raises(QueryError, match="invalid for Person"):
        people.update_many_sync({"age": {"$gte": 1}}, {"$set": {"age": "old"}})
    with pytest.raises(QueryError):
        people.update_many_sync({"name": "new"}, {"$set": {"age": "x"}}, upsert=True)
    assert sorted(people.all_sync(), key=lambda p: p.age) == stored
    assert_consistent(people, raw)
