"""What the Redis backend stores, under which keys, and which commands it sends."""

from __future__ import annotations

from typing import Any

import redis

from mindtrace.database.backends.redis.keys import KeySpace, escape_name
from mindtrace.database.core import typed_json
from tests.backends.redis.conftest import tag_keys
from tests.backends.redis.models import Person


def _people(n: int) -> list[Person]:
    return [Person(name=f"p{i}", age=i, email=f"p{i}@x.io", tags=["a", f"t{i % 3}"]) for i in range(n)]


def test_every_key_shares_the_collection_hash_tag(make_backend: Any, raw: redis.Redis, prefix: str) -> None:
    people = make_backend(Person)
    stored = people.insert_many_sync(_people(5))
    keys = {k.decode() for k in tag_keys(raw, people.keys.tag)}
    space = KeySpace(prefix, "people")
    expected = {space.ids, space.entries, space.meta, *(space.doc(p.id) for p in stored)}
    # The unique email index is a claims hash only; the others are sorted sets.
    expected |= {space.index(n) for n in ("age_1", "tags_1", "name_1_age_1")}
    expected.add(space.unique("email_1"))
    assert keys == expected
    assert all(k.startswith("{" + prefix + ":people}:") for k in keys)
    # Nothing outside the tag was written.
    assert {k.decode() for k in raw.keys("*") if prefix.encode() in k} == keys


def test_id_set_orders_by_insertion_and_counts(make_backend: Any, raw: redis.Redis) -> None:
    people = make_backend(Person)
    stored = people.insert_many_sync(_people(4))
    assert [m.decode() for m in raw.zrange(people.keys.ids, 0, -1)] == [p.id for p in stored]
    assert people.count_sync() == raw.zcard(people.keys.ids) == 4


def test_reads_never_use_keys_or_scan(make_backend: Any, raw: redis.Redis) -> None:
    people = make_backend(Person)
    people.insert_many_sync(_people(30))
    raw.config_resetstat()
    people.all_sync()
    people.count_sync()
    people.count_sync({"age": {"$gt": 3}})
    people.find_sync({"tags": "t1"}, sort="-age", limit=2)
    people.find_sync({"name": {"$regex": "^p1"}})
    people.update_many_sync({"age": {"$lt": 5}}, {"$inc": {"age": 1}})
    people.delete_many_sync({"tags": "t2"})
    people.aggregate_sync([{"$match": {"age": {"$gt": 2}}}, {"$group": {"_id": None, "n": {"$sum": 1}}}])
    people.aggregate_sync([{"$lookup": {"from": "other", "localField": "a", "foreignField": "b", "as": "c"}}])
    list(people.iterate_sync(batch_size=7))
    stats = raw.info("commandstats")
    used = {name.removeprefix("cmdstat_") for name in stats}
    assert not used & {"keys", "scan", "sscan", "hscan", "zscan"}, used
    assert "evalsha" in used


def test_stored_value_is_the_exact_type_codec(make_backend: Any, raw: redis.Redis) -> None:
    people = make_backend(Person)
    ada = people.insert_sync(Person(name="Ada", age=36, email="ada@x.io"))
    doc = typed_json.loads(raw.get(people.keys.doc(ada.id)))
    assert doc == {"_id": ada.id, "name": "Ada", "age": 36, "email": "ada@x.io", "tags": [], "city": None}


def test_names_are_escaped_into_the_tag() -> None:
    space = KeySpace("a}b{c", "x:y*z?[w]\n")
    assert space.tag == "{" + escape_name("a}b{c") + ":" + escape_name("x:y*z?[w]\n") + "}"
    assert space.tag.count("{") == 1 and space.tag.count("}") == 1
    for key in (space.ids, space.doc("0" * 24), space.index("weird name:*"), space.unique("{x}")):
        assert key.startswith(space.tag + ":")
        assert not set(key[len(space.tag) :]) & set("{}*?[]\n ")
    assert escape_name("a:b") != escape_name("a%3Ab")
