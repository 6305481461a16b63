"""No id, value, prefix or collection name can reach a key outside its collection's tag."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from pydantic import BaseModel

from mindtrace.database import DocumentNotFoundError, QueryError
from mindtrace.database.backends.index_keys import MAX_PAYLOAD
from tests.backends.redis.conftest import tag_keys
from tests.backends.redis.models import Person

NASTY = [
    "a:b", "*", "?", "[a-z]", "{tag}", "}{", "line\nbreak", "nul\x00byte", "\x00", "",
    "\\", "%3A", "{mindtrace:people}:d:x", "x" * 100_000, "é{ü}", "-", "+", "(a", "[a",
]  # fmt: skip


def _snapshot(raw: redis.Redis) -> dict[bytes, bytes]:
    return {k: raw.dump(k) or b"" for k in raw.keys("*")}


def test_hostile_ids_name_no_document_and_touch_nothing(make_backend: Any, raw: redis.Redis) -> None:
    people = make_backend(Person)
    people.insert_sync(Person(name="victim", email="v@x"))
    before = _snapshot(raw)
    for id in [*NASTY, "0" * 23 + "*", "g" * 24, people.keys.ids, "6" * 24 + "\n"]:
        with pytest.raises(DocumentNotFoundError):
            people.get_sync(id)
        with pytest.raises(DocumentNotFoundError):
            people.delete_sync(id)
        assert people.find_sync({"_id": id}) == []
    assert _snapshot(raw) == before


def test_hostile_values_are_stored_found_and_confined(
    make_backend: Any, raw: redis.Redis, prefix: str
) -> None:
    people = make_backend(Person)
    stored = people.insert_many_sync(
        [Person(name=v, email=f"{i}:{v}", tags=[v, "*"], age=i) for i, v in enumerate(NASTY)]
    )
    for person in stored:
        assert [p.id for p in people.find_sync({"name": person.name})] == [person.id]
        assert [p.id for p in people.find_sync({"email": person.email})] == [person.id]
        assert person.id in {p.id for p in people.find_sync({"tags": person.name})}
    assert len(people.find_sync({"tags": "*"})) == len(NASTY)
    keys = tag_keys(raw, people.keys.tag)
    assert {k for k in raw.keys("*") if prefix.encode() in k} == keys
    assert len(keys) == 3 + len(NASTY) + 3 + 1  # ids, entries, meta; documents; 3 sorted sets; 1 hash
    # Index members stay small whatever the value: long values are cut (the engine re-checks).
    for index in people._collection.indexes:
        if index.key is None:
            continue
        longest = max(len(m) for m in raw.zrange(index.key, 0, -1))
        assert longest <= 2 * (MAX_PAYLOAD + 16) * len(index.fields) + 24


def test_prefixes_and_collection_names_cannot_collide(
    make_backend: Any, raw: redis.Redis, prefix: str
) -> None:
    class Weird(BaseModel):
        n: int

        class Settings:
            name = "c}:{x*"

    class Plain(BaseModel):
        n: int

        class Settings:
            name = "c"

    weird = make_backend(Weird, key_prefix=prefix + "}:{")
    plain = make_backend(Plain, key_prefix=prefix)
    weird.insert_sync(Weird(n=1))
    plain.insert_many_sync([Plain(n=2), Plain(n=3)])
    assert [w.n for w in weird.all_sync()] == [1]
    assert sorted(p.n for p in plain.all_sync()) == [2, 3]
    for key in tag_keys(raw, weird.keys.tag):
        assert key.count(b"{") == 1 and key.count(b"}") == 1
    assert weird.keys.tag != plain.keys.tag
    assert plain.delete_many_sync() == 2
    assert weird.count_sync() == 1


def test_upserted_ids_must_be_object_ids(make_backend: Any, raw: redis.Redis) -> None:
    people = make_backend(Person)
    people.initialize_sync()
    before = _snapshot(raw)
    for bad in ["a:b*", "{x}", 5, "0" * 23]:
        with pytest.raises(QueryError, match="_id"):
            people.update_many_sync({"_id": bad}, {"$set": {"email": "e@x", "name": "n"}}, upsert=True)
    assert _snapshot(raw) == before
    good = "65f0c3aa0000000000000001"
    result = people.update_many_sync({"_id": good}, {"$set": {"email": "e@x", "name": "n"}}, upsert=True)
    assert result.upserted_id == good and people.get_sync(good).name == "n"
