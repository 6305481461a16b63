"""Local's unique side tables: the layout-1 migration, writers that maintain tables they did not
declare, deletes through plain SQL, and unique paths SQLite cannot address.

The MongoDB semantics themselves (array elements, missing/null, numbers, instants...) are checked
on every backend by ``tests/conformance/test_fidelity_unique.py``.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pytest
from bson import ObjectId
from pydantic import BaseModel

from mindtrace.database import DatabaseError, DuplicateInsertError, Index, QueryError
from mindtrace.database.backends.local.collection import LocalCollection
from mindtrace.database.backends.local.sqlite_schema import FORMAT_VERSION, side_tables
from mindtrace.database.backends.local_odm_backend import LocalODMBackend
from mindtrace.database.core import typed_json
from tests.backends.local.conftest import MakeBackend


class Member(BaseModel):
    id: str | None = None
    email: Annotated[str | None, Index(unique=True)] = None
    tags: Annotated[list[str], Index(unique=True)] = []
    meta: dict[str, Any] = {}

    class Settings:
        name = "members"
        indexes = [Index("meta.amount", unique=True, sparse=True)]


def layout_1_file(path: Path, docs: list[dict[str, Any]]) -> list[str]:
    """A database file exactly as layout 1 (``FORMAT_VERSION`` 1) left it for ``Member``: UNIQUE
    expression indexes, the partial ``__null`` index of each non-sparse one, the documents in
    typed JSON. Returns the ids."""
    ids = [str(ObjectId()) for _ in docs]
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute('CREATE TABLE IF NOT EXISTS "members" (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL)')
        for field in ("email", "tags", "meta.amount"):
            expr = f"json_extract(doc,'$.{field}')"
            db.execute(f'CREATE UNIQUE INDEX "members__{field}_1" ON "members" ({expr})')
            if field != "meta.amount":  # a sparse index had no null guard
                db.execute(
                    f'CREATE UNIQUE INDEX "members__{field}_1__null" ON "members" ((1)) WHERE {expr} IS NULL'
                )
        db.executemany(
            'INSERT INTO "members" (id, doc) VALUES (?, ?)',
            [(i, typed_json.dumps_text(d)) for i, d in zip(ids, docs, strict=True)],
        )
        db.execute("PRAGMA user_version = 1")
    finally:
        db.close()
    return ids


def schema(path: Path) -> tuple[int, dict[str, str]]:
    """``user_version`` and ``name -> sql`` of every index, table and trigger in the file."""
    db = sqlite3.connect(path)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        rows = db.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
        return version, dict(rows)
    finally:
        db.close()


def test_a_layout_1_file_is_migrated_on_open(db_path: Path) -> None:
    ids = layout_1_file(
        db_path,
        [
            {"email": "a@x", "tags": ["a", "b"], "meta": {"amount": Decimal("1.5")}},
            {"email": "b@x", "tags": ["c"], "meta": {}},
            {"email": None, "tags": [], "meta": {"amount": 2}},
        ],
    )
    with LocalODMBackend(Member, db_path) as members:
        assert [m.email for m in members.all_sync()] == ["a@x", "b@x", None]
        assert members.get_sync(ids[0]).meta == {"amount": Decimal("1.5")}
        # The new rules hold for the stored documents: elements, null, numbers by value.
        for clash in [
            Member(email="c@x", tags=["b"]),
            Member(email=None, tags=["d"]),
            Member(email="d@x", tags=["e"], meta={"amount": Decimal("1.50")}),
            Member(email="e@x", tags=[]),
        ]:
            with pytest.raises(DuplicateInsertError):
                members.insert_sync(clash)
        members.insert_sync(Member(email="f@x", tags=["a2"]))
        assert members.count_sync() == 4
    version, objects = schema(db_path)
    assert version == FORMAT_VERSION == 2
    assert not any(name.endswith("__null") for name in objects)
    assert objects["members__email_1"].startswith("CREATE INDEX")  # kept for queries, not unique
    assert {"members__ux_email_1", "members__ux_tags_1", "members__ux_meta.amount_1"} <= set(objects)


def test_a_migration_refuses_stored_documents_that_break_the_new_rule(db_path: Path) -> None:
    # Layout 1 compared whole arrays: ["a", "b"] and ["b", "c"] were different values.
    docs = [{"email": "a@x", "tags": ["a", "b"]}, {"email": "b@x", "tags": ["b", "c"]}]
    ids = layout_1_file(db_path, docs)
    before = schema(db_path)
    with pytest.raises(DuplicateInsertError) as info:
        LocalODMBackend(Member, db_path).initialize_sync()
    error = info.value
    assert (error.field, error.value, error.index) == ("tags", "b", "tags_1")
    assert ids[0] in str(error) and ids[1] in str(error) and "tags = 'b'" in str(error)
    assert schema(db_path) == before  # nothing changed: still layout 1, still readable by it


def test_a_migration_compares_numbers_by_value(db_path: Path) -> None:
    layout_1_file(
        db_path,
        [
            {"email": "a@x", "tags": ["a"], "meta": {"amount": Decimal("1.0")}},
            {"email": "b@x", "tags": ["b"], "meta": {"amount": Decimal("1.00")}},
        ],
    )
    with pytest.raises(DuplicateInsertError, match="amount"):
        LocalODMBackend(Member, db_path).initialize_sync()
    assert schema(db_path)[0] == 1


def test_a_newer_layout_is_refused(db_path: Path) -> None:
    with LocalODMBackend(Member, db_path) as members:
        members.insert_sync(Member(email="a@x"))
    db = sqlite3.connect(db_path)
    db.execute(f"PRAGMA user_version = {FORMAT_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(Exception, match="newer mindtrace-database"):
        LocalODMBackend(Member, db_path).initialize_sync()


class Loose(BaseModel):
    """The same collection seen by a model that declares no index at all."""

    id: str | None = None
    email: str | None = None
    tags: list[str] = []

    class Settings:
        name = "members"


def test_every_writer_maintains_the_side_tables_in_the_file(make: MakeBackend) -> None:
    loose = make(Loose)  # opened first: the side tables do not exist yet
    loose.insert_sync(Loose(email="a@x", tags=["a"]))
    members = make(Member)  # builds them from the stored document
    with pytest.raises(DuplicateInsertError) as info:
        loose.insert_sync(Loose(email="b@x", tags=["z", "a"]))  # found on the next write
    assert (info.value.field, info.value.value, info.value.index) == ("tags", "a", "tags_1")
    stored = loose.insert_sync(Loose(email="b@x", tags=["b"]))
    with pytest.raises(DuplicateInsertError):
        members.insert_sync(Member(email="c@x", tags=["b"]))
    with pytest.raises(DuplicateInsertError):
        loose.update_sync(stored.model_copy(update={"email": "a@x"}))
    loose.update_many_sync({"_id": stored.id}, {"$set": {"tags": ["c"]}})
    members.insert_sync(Member(email="d@x", tags=["b"]))  # "b" was freed by the update


def test_rows_deleted_with_plain_sql_free_their_keys(make: MakeBackend, db_path: Path) -> None:
    members = make(Member)
    members.insert_many_sync([Member(email="a@x", tags=["a", "b"]), Member(email="b@x", tags=["c"])])
    db = sqlite3.connect(db_path)  # another SQLite tool: no Python function involved
    db.execute("""DELETE FROM "members" WHERE json_extract(doc, '$.email') = 'a@x'""")
    db.commit()
    db.close()
    members.insert_sync(Member(email="a@x", tags=["b"]))
    members.delete_many_sync({"email": "b@x"})
    members.insert_sync(Member(email="b@x", tags=["c"]))
    assert members.count_sync() == 2


def test_a_refused_batch_leaves_none_of_its_keys_behind(make: MakeBackend) -> None:
    members = make(Member)
    members.insert_sync(Member(email="a@x", tags=["a"]))
    # The third document clashes on tags after its email, and the second's, were claimed.
    batch = [
        Member(email="b@x", tags=["b"]),
        Member(email="c@x", tags=["c"]),
        Member(email="d@x", tags=["a"]),
    ]
    with pytest.raises(DuplicateInsertError) as info:
        members.insert_many_sync(batch)
    assert info.value.failed == [2] and info.value.field == "tags"
    members.insert_sync(Member(email="d@x", tags=["d"]))  # d@x is free
    with pytest.raises(DuplicateInsertError) as info:
        members.insert_many_sync([Member(email="e@x", tags=["e"]), Member(email="b@x", tags=["f"])])
    assert info.value.failed == [1] and info.value.field == "email"
    members.insert_sync(Member(email="f@x", tags=["f"]))
    assert sorted(m.email or "" for m in members.all_sync()) == ["a@x", "b@x", "c@x", "d@x", "e@x", "f@x"]


def test_a_unique_path_sqlite_cannot_address_is_still_enforced(make: MakeBackend) -> None:
    class Odd(BaseModel):
        id: str | None = None
        data: dict[str, Any] = {}

        class Settings:
            name = "odd"
            indexes = [Index('data.say "hi"', unique=True, name="quoted"), Index("data.0", unique=True)]

    odd = make(Odd)
    odd.insert_sync(Odd(data={'say "hi"': 1, "0": "x"}))
    with pytest.raises(DuplicateInsertError, match="quoted"):
        odd.insert_sync(Odd(data={'say "hi"': 1.0, "0": "y"}))
    with pytest.raises(DuplicateInsertError) as info:
        odd.insert_sync(Odd(data={'say "hi"': 2, "0": "x"}))
    assert info.value.field == "data.0"


def test_parallel_arrays_in_stored_documents_stop_the_index_build(make: MakeBackend) -> None:
    class Pair(BaseModel):
        id: str | None = None
        a: list[int] = []
        b: list[int] = []

        class Settings:
            name = "pairs"

    class UniquePair(Pair):
        class Settings:
            name = "pairs"
            indexes = [Index("a", "b", unique=True)]

    make(Pair).insert_sync(Pair(a=[1], b=[2]))
    with pytest.raises(QueryError, match="parallel arrays"):
        make(UniquePair)


def test_side_tables_are_not_collections(make: MakeBackend, db_path: Path) -> None:
    make(Member)
    db = sqlite3.connect(db_path)
    try:
        assert LocalCollection.table_names(db) == ["members"]
        assert sorted(u.index for u in side_tables(db, "members")) == ["email_1", "meta.amount_1", "tags_1"]
    finally:
        db.close()


def test_a_collection_in_the_way_of_a_side_table_is_never_dropped(make: MakeBackend) -> None:
    class Squatter(BaseModel):
        id: str | None = None
        note: str

        class Settings:
            name = "members__ux_email_1"

    squatter = make(Squatter)
    squatter.insert_sync(Squatter(note="keep me"))
    with pytest.raises(DatabaseError, match="taken by another table"):
        make(Member)
    assert [s.note for s in squatter.all_sync()] == ["keep me"]
