"""Hostile ids, values, keys and names: stored exactly or refused cleanly, and confined to their document.

Every backend stores one document per hostile string (glob and key characters, NUL, newlines,
SQL and JSON fragments, 1 MB strings...) in a plain, an indexed and a unique field, non-UTF-8
bytes, and dict keys starting with ``$`` or holding dots; each must read back exactly and be the
*only* document its own equality finds, updates or deletes (``"admin\\x00evil"`` must never pass
for ``"admin"``). Hostile ids name nothing. Lone surrogates, which no store can encode, fail with
Pydantic's ``ValidationError`` (documents) or ``QueryError`` (queries) before anything is written.
On Redis every key outside the collection's hash tag is byte-for-byte unchanged (``SCAN`` +
``DUMP`` on the test's own server); on Local SQL injection through values, field names, paths
and collection names changes nothing but the intended rows.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pytest
import redis
from bson import Decimal128
from bson.errors import InvalidDocument
from pydantic import BaseModel, ValidationError

from mindtrace.database import (
    DocumentNotFoundError,
    DuplicateInsertError,
    Index,
    LocalODMBackend,
    MindtraceModel,
    QueryError,
    RedisODMBackend,
    eq_filter,
)
from mindtrace.database.query import compile_filter, matches, run_pipeline, sort_documents
from mindtrace.database.testing.redis_server import RedisServer, available_server_kinds
from tests.reliability.conftest import Store

MEGABYTE = 1024 * 1024

HOSTILE: list[str] = [
    "admin", "admin\x00", "admin\x00evil", "admin\x00evil2", "\x00", "\x00admin", "a\x00\x00b",
    ":", "a:b", "*", "?", "[", "]", "[a-z]", "{}", "{", "}", "{tag}", "}{", "{x}:d:*",
    "\n", "line\nbreak", "\r\n", "\t", "\x01", "\x7f", "\x1b[31m",
    "'", '"', "\\", "\\u0000", "\\\\u0000", "%", "_", "%_%", "--", "/*", "*/",
    "'; DROP TABLE docs; --", "\" OR \"1\"=\"1", "' OR '1'='1", "x') OR 1=1; --",
    "json_extract(doc,'$')", "'$.name'", "$ne", "$where", "$gt", "$$ROOT", "$", "$.", "a.b", "..",
    "", " ", "é", "日本", "😀", "\u202e", "\ufeff", "\U0010ffff",
    '{"$str":"admin\\u0000evil"}', '{"$oid":"65f0c3aa0000000000000001"}', "[1,2]", "null", "true",
    "admin" + "\x00" * 1000, "*" * 300 + "\x00",
]  # fmt: skip
LONG: list[str] = [
    "x" * MEGABYTE,
    "é" * (MEGABYTE // 2),
    "\x00" * (MEGABYTE // 8),
    "admin\x00" + "y" * MEGABYTE,
]

NOT_UTF8: list[bytes] = [
    b"\xff",
    b"\xfe\xff",
    b"\x80abc",
    b"\x00",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    bytes(range(256)),
]

HOSTILE_IDS: list[Any] = [
    "'; DROP TABLE docs; --", "*", "?", "[", "{x}", "a:b", "\x00", "6" * 24 + "\x00", "6" * 23 + "*",
    "6" * 24 + "\n", " " + "6" * 23, "g" * 24, "", "6" * 25, "$ne", "ÿ" * 24, 12, None, 1.5,
    {"$ne": None}, ["6" * 24],
]  # fmt: skip


class Doc(MindtraceModel):
    name: str
    tag: Annotated[str, Index()] = ""
    code: Annotated[str, Index(unique=True)]
    tags: list[str] = []
    data: bytes = b""
    meta: dict[str, Any] = {}

    class Settings:
        name = "docs"


def _snapshot(backend: Any) -> dict[str, Any]:
    """Every stored document, by id, as plain data."""
    return {d.id: d.model_dump() for d in backend.all_sync()}


def _label(value: str) -> str:
    return repr(value[:24]) + (f"...({len(value)})" if len(value) > 24 else "")


# ----------------------------------------------------------------------------- values


def _code(value: str) -> str:
    """The unique ``code`` of the document named ``value``. Known Local limitation (as for every
    typed value, see docs/local.md): a string spelling a type tag's JSON text exactly, e.g.
    ``'{"$str":"admin\\u0000evil"}'``, takes the same unique-index slot as the value it spells."""
    return "look-alike " + value if value.startswith('{"$') else value


@pytest.fixture
def stored(store: Store) -> tuple[Any, dict[str, Doc]]:
    docs = store.open(Doc)
    originals = [
        Doc(name=v, tag=v, code=_code(v), tags=[v, "*"], data=v.encode("utf-8")[:64] + b"\xff", meta={"v": v})
        for v in HOSTILE
    ]
    inserted = docs.insert_many_sync(originals)
    return docs, {d.id: d for d in inserted}


def test_hostile_values_round_trip_and_find_only_their_document(stored: tuple[Any, dict[str, Doc]]) -> None:
    docs, by_id = stored
    assert len(by_id) == len(HOSTILE)
    for id, original in by_id.items():
        assert docs.get_sync(id) == original, _label(original.name)
        for field, value in (("name", original.name), ("tag", original.tag), ("code", original.code)):
            found = [d.id for d in docs.find_sync({field: value})]
            assert found == [id], (field, _label(value))
            assert docs.count_sync({field: value}) == 1
        assert [d.id for d in docs.find_sync(eq_filter({"meta.v": original.name}))] == [id]
        assert id in {d.id for d in docs.find_sync({"tags": original.name})}
        assert [d.id for d in docs.find_sync({"data": original.data})] == [id]
    assert docs.count_sync({"tags": "*"}) == len(HOSTILE)


def test_megabyte_values_round_trip_and_find_only_their_document(store: Store) -> None:
    docs = store.open(Doc)
    docs.insert_many_sync([Doc(name=v, code=v) for v in ["admin", "x", "é", "\x00", "admin\x00"]])
    stored = docs.insert_many_sync([Doc(name=v, tag=v, code=v, tags=[v]) for v in LONG])
    for original in stored:
        assert docs.get_sync(original.id) == original
        for field in ("name", "tag", "code"):
            assert [d.id for d in docs.find_sync({field: original.name})] == [original.id]
    found = docs.find_sync({"tags": {"$in": LONG}}, projection={"_id": 1})
    assert sorted(d["_id"] for d in found) == sorted(d.id for d in stored)
    assert docs.count_sync({"name": {"$gt": "x"}}) == 3  # "x" * 1 MB, and the two "é" strings


def test_ranges_and_sets_over_hostile_values_equal_the_engine(stored: tuple[Any, dict[str, Doc]]) -> None:
    """Range, $in, $ne and sorts over values with NUL and SQL/JSON look-alikes: the backend's
    answer equals the engine's on the same documents (pushdown must not cut strings at NUL)."""
    docs, by_id = stored
    engine_docs = [{"_id": id, **d.model_dump(exclude={"id"})} for id, d in by_id.items()]
    filters: list[dict[str, Any]] = [
        {"name": {"$gte": "admin", "$lt": "admin\x01"}},
        {"tag": {"$gt": "admin"}},
        {"tag": {"$lte": "admin\x00evil"}},
        {"code": {"$gt": "\x00", "$lt": "\x01"}},
        {"name": {"$in": ["admin", "admin\x00evil", "*", "{}"]}},
        {"tag": {"$nin": ["admin", "admin\x00"]}},
        {"name": {"$ne": "admin"}},
        {"code": {"$ne": "admin\x00evil"}},
        {"$or": [{"tag": "admin\x00evil2"}, {"code": {"$lt": "!"}}]},
        {"tags": {"$all": ["admin\x00", "*"]}},
        {"name": {"$regex": "^admin"}},
    ]
    for f in filters:
        matches = compile_filter(f)
        expected = sorted(d["_id"] for d in engine_docs if matches(d))
        assert sorted(d.id for d in docs.find_sync(f)) == expected, f
        assert docs.count_sync(f) == len(expected), f
    by_name = sorted(by_id.values(), key=lambda d: d.name.encode("utf-8"))
    for field in ("name", "tag"):
        assert [d.id for d in docs.find_sync({}, sort=field)] == [d.id for d in by_name]
        assert [d.id for d in docs.find_sync({}, sort=[(field, -1)], limit=5)] == [
            d.id for d in reversed(by_name[-5:])
        ]


@pytest.mark.parametrize(
    "value", ["admin", "admin\x00", "admin\x00evil", "*", "{x}:d:*", "'; DROP TABLE docs; --", ""], ids=_label
)
def test_writes_through_hostile_values_touch_only_their_document(
    stored: tuple[Any, dict[str, Doc]], value: str
) -> None:
    docs, by_id = stored
    target = next(id for id, d in by_id.items() if d.name == value)
    before = _snapshot(docs)

    def others_unchanged() -> None:
        now = _snapshot(docs)
        assert {k: v for k, v in now.items() if k != target} == {
            k: v for k, v in before.items() if k != target
        }

    changed = docs.update_sync(by_id[target].model_copy(update={"tag": value + "\x00!"}))
    assert docs.get_sync(target).tag == changed.tag == value + "\x00!"
    others_unchanged()
    result = docs.update_many_sync({"name": value}, {"$set": {"meta": {"touched": value}}})
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert docs.get_sync(target).meta == {"touched": value}
    others_unchanged()
    assert docs.delete_many_sync({"code": _code(value)}) == 1
    with pytest.raises(DocumentNotFoundError):
        docs.get_sync(target)
    others_unchanged()


def test_hostile_ids_name_nothing_and_change_nothing(stored: tuple[Any, dict[str, Doc]]) -> None:
    docs, by_id = stored
    before = _snapshot(docs)
    victim = next(iter(by_id.values()))
    for id in HOSTILE_IDS:
        with pytest.raises(DocumentNotFoundError):
            docs.get_sync(id)
        with pytest.raises(DocumentNotFoundError):
            docs.delete_sync(id)
        if isinstance(id, str | type(None)):
            with pytest.raises(DocumentNotFoundError):
                docs.update_sync(victim.model_copy(update={"id": id, "name": "overwritten"}))
        if isinstance(id, str | int | type(None)) and id is not None:
            assert docs.find_sync({"_id": id}) == []
            assert docs.delete_many_sync({"_id": id}) == 0
        if isinstance(id, str) and id:
            with pytest.raises(ValueError, match="24-character hex ObjectId"):
                docs.insert_sync(Doc(id=id, name="intruder", code=f"intruder{id}"))
    assert _snapshot(docs) == before


def test_non_utf8_bytes_round_trip_exactly(store: Store) -> None:
    docs = store.open(Doc)
    stored = docs.insert_many_sync([Doc(name=str(i), code=str(i), data=b) for i, b in enumerate(NOT_UTF8)])
    for doc, raw in zip(stored, NOT_UTF8, strict=True):
        assert docs.get_sync(doc.id).data == raw
        assert [d.id for d in docs.find_sync({"data": raw})] == [doc.id]
    assert docs.count_sync({"data": {"$in": NOT_UTF8[:3]}}) == 3


def test_dollar_and_dotted_keys_in_dict_fields_round_trip(store: Store) -> None:
    docs = store.open(Doc)
    meta = {
        "$ne": None,
        "$where": "sleep(1000)",
        "a.b": {"$gt": 1, "c.d": [{"$x": 1}, {"$$y": "$z"}]},
        "$$ROOT": 2,
        "$": 3,
        ".": 4,
        "": 5,
        "$date": "not a date",
        "$n:int": "7",
        "$str": "tag look-alike",
        "$oid": "65f0c3aa0000000000000001",
    }
    doc = docs.insert_sync(Doc(name="keys", code="keys", meta=meta))
    decoy = docs.insert_sync(Doc(name="decoy", code="decoy", meta={"$ne": None}))
    assert docs.get_sync(doc.id).meta == meta
    assert docs.get_sync(decoy.id).meta == {"$ne": None}
    assert [d.id for d in docs.find_sync(eq_filter({"meta": meta}))] == [doc.id]
    assert [d.id for d in docs.find_sync({"meta": {"$eq": {"$ne": None}}})] == [decoy.id]


@pytest.mark.parametrize("meta", [{"a\x00b": 1}, {"ok": {"x\x00": "y"}}, {"l": [{"\x00": 1}]}], ids=repr)
def test_nul_in_dict_keys_is_refused_everywhere(store: Store, meta: dict[str, Any]) -> None:
    """NUL inside a key: BSON cannot hold it, so no backend stores it (``InvalidDocument``,
    MongoDB's error, before anything is written) and no query may name it (``QueryError``)."""
    docs = store.open(Doc)
    kept = docs.insert_sync(Doc(name="kept", code="kept"))
    with pytest.raises(InvalidDocument, match="NUL"):
        docs.insert_sync(Doc(name="nul", code="nul", meta=meta))
    with pytest.raises(InvalidDocument, match="NUL"):
        docs.insert_many_sync([Doc(name="ok", code="ok"), Doc(name="nul", code="nul", meta=meta)])
    with pytest.raises(InvalidDocument, match="NUL"):
        docs.update_sync(kept.model_copy(update={"meta": meta}))
    for query in (
        lambda: docs.find_sync({"meta.a\x00b": 1}),
        lambda: docs.find_sync({"meta": {"$eq": meta}}),
        lambda: docs.update_many_sync({}, {"$set": {"meta.\x00": 1}}),
        lambda: docs.update_many_sync({}, {"$set": {"meta": meta}}),
        lambda: docs.update_many_sync({}, [{"$set": {"meta": {"$literal": meta}}}]),
    ):
        with pytest.raises(QueryError, match="NUL"):
            query()
    assert [d.model_dump() for d in docs.all_sync()] == [kept.model_dump()]


LONE_SURROGATES = ["\ud800", "a\udfffb", "\udcff" * 3]


@pytest.mark.parametrize("text", LONE_SURROGATES, ids=repr)
def test_lone_surrogates_fail_cleanly_and_store_nothing(store: Store, text: str) -> None:
    """Pydantic accepts lone surrogates in ``str`` (e.g. ``os.fsdecode`` of a non-UTF-8 file
    name); no store can encode them. Documents: Pydantic's ``ValidationError`` (string_unicode)
    before anything is written. Queries: ``QueryError``."""
    docs = store.open(Doc)
    kept = docs.insert_sync(Doc(name="kept", code="kept"))
    before = _snapshot(docs)
    for bad in (
        Doc(name=text, code="x"),
        Doc(name="x", code="x", meta={text: 1}),
        Doc(name="x", code="x", tags=["ok", text]),
    ):
        with pytest.raises(ValidationError) as caught:
            docs.insert_sync(bad)
        assert caught.value.errors()[0]["type"] == "string_unicode"
        with pytest.raises(ValidationError):
            docs.insert_many_sync([Doc(name="first", code="first"), bad])
        with pytest.raises(ValidationError):
            docs.update_sync(bad.model_copy(update={"id": kept.id}))
    for query in (
        lambda: docs.find_sync({"name": text}),
        lambda: docs.find_sync({"name": {"$in": ["a", text]}}),
        lambda: docs.find_sync({text: 1}),
        lambda: docs.count_sync({"meta." + text: 1}),
        lambda: docs.find_sync({}, sort=text),
        lambda: docs.find_sync({}, projection={text: 1}),
        lambda: docs.update_many_sync({}, {"$set": {"name": text}}),
        lambda: docs.update_many_sync({"name": "kept"}, [{"$set": {"name": text}}]),
        lambda: docs.delete_many_sync({"name": text}),
        lambda: docs.aggregate_sync([{"$match": {"name": text}}]),
    ):
        with pytest.raises(QueryError, match="Unicode"):
            query()
    assert _snapshot(docs) == before


# ----------------------------------------------------------------------------- Redis key confinement


@pytest.fixture(scope="module", params=available_server_kinds())
def own_redis(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A server of this module's own: the snapshot may then cover every key on it."""
    with RedisServer(request.param) as server:
        yield server


def _all_keys(raw: redis.Redis) -> dict[bytes, bytes]:
    return {key: raw.dump(key) or b"" for key in raw.scan_iter(count=1000)}


class Bystander(BaseModel):
    id: str | None = None
    name: str

    class Settings:
        name = "bystanders"


def test_redis_hostile_workload_touches_no_key_outside_its_collection(own_redis: RedisServer) -> None:
    raw = redis.Redis.from_url(own_redis.url)
    prefix = f"p{uuid.uuid4().hex[:8]}"
    victim = RedisODMBackend(Bystander, own_redis.url, key_prefix=prefix)
    other_prefix = RedisODMBackend(Doc, own_redis.url, key_prefix=prefix + "x")
    docs = RedisODMBackend(Doc, own_redis.url, key_prefix=prefix)
    try:
        victim.insert_many_sync([Bystander(name=v) for v in HOSTILE[:20]])
        other_prefix.insert_sync(Doc(name="admin", code="admin"))
        raw.set("unrelated:key", b"keep me")
        raw.set(f"{{{prefix}:docs}}", b"tag look-alike without the separator")
        docs.initialize_sync()
        tag = docs.keys.tag
        before = _all_keys(raw)
        outside_before = {k: v for k, v in before.items() if not k.startswith(tag.encode() + b":")}

        stored = docs.insert_many_sync([Doc(name=v, tag=v, code=v, tags=[v]) for v in HOSTILE])
        docs.insert_sync(Doc(name="ttl", tag="*", code="ttl:*"), ttl=3600)
        with pytest.raises(DuplicateInsertError):
            docs.insert_sync(Doc(name="dup", code="admin\x00evil"))
        for doc in stored[:20]:
            docs.find_sync({"name": doc.name})
            docs.update_many_sync({"tag": doc.tag}, {"$set": {"meta": {"v": doc.name, "c": doc.code}}})
            docs.update_sync(doc.model_copy(update={"tag": doc.tag + "{x}:*"}))
        for id in HOSTILE_IDS:
            for call in (docs.get_sync, docs.delete_sync):
                with pytest.raises(DocumentNotFoundError):
                    call(id)
        docs.aggregate_sync(
            [
                {
                    "$lookup": {
                        "from": "bystanders}:{x",
                        "localField": "name",
                        "foreignField": "name",
                        "as": "j",
                    }
                },
                {"$unionWith": "*"},
                {"$unionWith": "{" + prefix + ":bystanders}"},
            ]
        )
        docs.delete_many_sync({"name": {"$in": HOSTILE[:10]}})

        after = _all_keys(raw)
        outside_after = {k: v for k, v in after.items() if not k.startswith(tag.encode() + b":")}
        assert outside_after == outside_before
        assert [b.name for b in victim.all_sync()] == HOSTILE[:20]
        assert [d.name for d in other_prefix.all_sync()] == ["admin"]
        assert docs.count_sync() == len(HOSTILE) + 1 - 10
    finally:
        for backend in (docs, victim, other_prefix):
            backend.delete_many_sync()
            backend.close_sync()
        raw.delete("unrelated:key", f"{{{prefix}:docs}}")
        raw.close()


# ----------------------------------------------------------------------------- Local SQL injection

SQL_FIELDS = [
    "name'); DROP TABLE docs; --",
    'name"); DROP TABLE docs; --',
    "a'b",
    'a"b',
    "a\\b",
    "a]b",
    "a[0]",
    "a[#-1]",
    "a b",
    "a--b",
    "a/*b",
    "*",
    "'$.name'",
    "name' OR '1'='1",
    "x'); ATTACH DATABASE 'evil.db' AS evil; --",
    "meta.x'); DELETE FROM docs; --",
    'meta."); DELETE FROM docs; --',
    "json_extract(doc,'$.name')",
]


def _schema(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall())


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.parametrize("field", SQL_FIELDS, ids=repr)
def test_local_field_names_cannot_break_sql(tmp_path: Path, field: str) -> None:
    path = tmp_path / "local.sqlite3"
    docs = LocalODMBackend(Doc, path=path)
    try:
        docs.insert_many_sync([Doc(name=v, code=v, meta={"x": v}) for v in ["a", "b", "c"]])
        schema, content = _schema(path), _snapshot(docs)
        assert docs.find_sync({field: "a"}) == []
        assert docs.find_sync({field: {"$gt": ""}}) == []
        assert docs.find_sync({field: {"$in": ["a", 1]}}) == []
        assert docs.count_sync({field: {"$exists": True}}) == 0
        assert len(docs.find_sync({field: {"$exists": False}}, sort=[(field, -1)])) == 3
        assert len(docs.find_sync({}, projection={field: 1})) == 3
        assert len(docs.find_sync({}, sort=field, limit=2)) == 2
        assert docs.delete_many_sync({field: "a"}) == 0
        docs.aggregate_sync([{"$match": {field: {"$ne": None}}}, {"$sort": {field: 1}}, {"$limit": 1}])
        assert docs.explain({field: "a"}, sort=field)
        assert _schema(path) == schema and _snapshot(docs) == content
        result = docs.update_many_sync({"name": "a"}, {"$set": {f"meta.{field}": 1}})
        assert result.modified_count == 1
        assert docs.count_sync({f"meta.{field}": 1}) == 1
        assert _schema(path) == schema and _integrity(path) == "ok"
        assert not (tmp_path / "evil.db").exists() and not Path("evil.db").exists()
    finally:
        docs.close_sync()


def _named(name: str) -> type[BaseModel]:
    class Weird(BaseModel):
        id: str | None = None
        v: Annotated[str, Index(unique=True)]

        class Settings:
            pass

    Weird.Settings.name = name  # type: ignore[attr-defined]
    return Weird


WEIRD_NAMES = [
    'docs"; DROP TABLE docs; --',
    "docs'; DROP TABLE docs; --",
    "a]b[c",
    "x y",
    "docs__v_1",
    '"',
    "'",
    "`",
    "docs; ATTACH DATABASE 'evil.db' AS e",
    "é日本😀",
    "{x}:*?",
]


@pytest.mark.parametrize("name", WEIRD_NAMES, ids=repr)
def test_local_collection_names_with_quotes_work_safely(tmp_path: Path, name: str) -> None:
    path = tmp_path / "local.sqlite3"
    plain = LocalODMBackend(Doc, path=path)
    weird = LocalODMBackend(_named(name), path=path)
    try:
        plain.insert_sync(Doc(name="plain", code="plain"))
        model = weird.model_cls
        stored = weird.insert_many_sync([model(v="a"), model(v="b")])
        with pytest.raises(DuplicateInsertError):
            weird.insert_sync(model(v="a"))
        assert [w.v for w in weird.find_sync({"v": {"$gte": "a"}}, sort="-v")] == ["b", "a"]
        weird.update_sync(stored[0].model_copy(update={"v": "c"}))
        assert weird.update_many_sync({"v": "b"}, {"$set": {"v": "d"}}).modified_count == 1
        joined = plain.aggregate_sync(
            [{"$lookup": {"from": name, "pipeline": [{"$sort": {"v": 1}}], "as": "j"}}, {"$unionWith": name}]
        )
        assert [x["v"] for x in joined[0]["j"]] == ["c", "d"] and len(joined) == 3
        assert weird.delete_many_sync({"v": "c"}) == 1
        assert [d.name for d in plain.all_sync()] == ["plain"] and weird.count_sync() == 1
        assert _integrity(path) == "ok"
        assert not (tmp_path / "evil.db").exists()
    finally:
        weird.close_sync()
        plain.close_sync()


@pytest.mark.parametrize("name", ["sqlite_master", "SQLITE_x", "a\x00b", "\ud800"], ids=repr)
def test_local_unusable_collection_names_are_refused_at_construction(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="collection name"):
        LocalODMBackend(_named(name), path=tmp_path / "local.sqlite3")
    assert not (tmp_path / "local.sqlite3").exists()


@pytest.mark.parametrize("name", ["a\x00b", "\udc80x"], ids=repr)
def test_every_backend_refuses_collection_names_no_store_can_hold(store: Store, name: str) -> None:
    with pytest.raises(ValueError, match="collection name"):
        store.open(_named(name))


class Numbers(BaseModel):
    id: str | None = None
    value: Any = None


@pytest.mark.parametrize(
    "value",
    [2**70, -(2**64), Decimal("1." + "1" * 40), Decimal("1E+7000")],
    ids=["2**70", "-2**64", "41 digits", "1E+7000"],
)
def test_numbers_bson_cannot_hold(store: Store, value: Any) -> None:
    """Local and Redis store them exactly (tagged); MongoDB refuses them with ``InvalidDocument``
    (as for every value BSON cannot encode) — in documents and in filters — storing nothing."""
    numbers = store.open(Numbers)
    if store.kind == "mongo":
        with pytest.raises(InvalidDocument):
            numbers.insert_sync(Numbers(value=value))
        with pytest.raises(InvalidDocument):
            numbers.find_sync({"value": value})
        assert numbers.count_sync() == 0
        return
    stored = numbers.insert_sync(Numbers(value=value))
    assert numbers.get_sync(stored.id).value == value
    assert [n.id for n in numbers.find_sync({"value": value})] == [stored.id]


SNAN_QUERIES: list[Any] = [
    {"value": Decimal("sNaN")},
    {"value": {"$in": [1, Decimal("-sNaN")]}},
    {"$expr": {"$eq": ["$value", Decimal128("sNaN")]}},
]


def test_signalling_nan_decimals_fail_cleanly(store: Store) -> None:
    """Python refuses to compare ``Decimal('sNaN')``: in a query it is refused with
    ``QueryError`` everywhere; the engine, handed one directly, raises ``QueryError`` too."""
    numbers = store.open(Numbers)
    numbers.insert_sync(Numbers(value=1))
    for query in SNAN_QUERIES:
        with pytest.raises(QueryError, match="signalling NaN"):
            numbers.find_sync(query)
        with pytest.raises(QueryError, match="signalling NaN"):
            numbers.update_many_sync(query, {"$set": {"value": 2}})
    with pytest.raises(QueryError, match="signalling NaN"):
        numbers.update_many_sync({}, {"$set": {"value": Decimal("sNaN")}})
    for call in (
        lambda: matches({"value": Decimal("sNaN")}, {"value": 1}),
        lambda: matches({"value": 1}, {"value": Decimal("sNaN")}),
        lambda: sort_documents([{"v": Decimal("sNaN")}, {"v": 1}], [("v", 1)]),
        lambda: run_pipeline([{"v": Decimal("sNaN")}], [{"$group": {"_id": "$v"}}]),
    ):
        with pytest.raises(QueryError, match="signalling NaN"):
            call()
    assert [n.value for n in numbers.all_sync()] == [1]
