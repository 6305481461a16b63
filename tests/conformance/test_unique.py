"""Unique constraints declared on models raise DuplicateInsertError naming the field, on every backend."""

from __future__ import annotations

import pytest

from mindtrace.database import DuplicateInsertError
from tests.conformance.conftest import Database
from tests.conformance.models import Account, BeanieAccount


def account(i: int, *, email: str | None = None, handle: str | None = None) -> Account:
    return Account(email=email or f"user{i}@x.io", handle=handle or f"user{i}", team="a" if i % 2 else "b")


@pytest.mark.parametrize(
    ("field", "clash"), [("email", {"email": "user1@x.io"}), ("handle", {"handle": "user1"})]
)
async def test_insert_duplicate_names_the_field(db: Database, field: str, clash: dict[str, str]) -> None:
    accounts = await db.open(Account)
    await accounts.insert_many([account(i) for i in range(3)])
    with pytest.raises(DuplicateInsertError) as info:
        await accounts.insert(account(9, **clash))
    assert info.value.field == field
    assert field in str(info.value)
    assert info.value.collection in (None, "accounts")
    assert await accounts.count() == 3
    assert await accounts.count({"handle": "user9"}) == 0


async def test_non_unique_index_allows_repeats(db: Database) -> None:
    accounts = await db.open(Account)
    await accounts.insert_many([account(i) for i in range(4)])
    assert await accounts.count({"team": "a"}) == 2


async def test_insert_many_with_a_duplicate_reports_what_was_stored(db: Database) -> None:
    accounts = await db.open(Account)
    first = await accounts.insert(account(0))
    batch = [account(1), account(2, email="user0@x.io"), account(3)]
    with pytest.raises(DuplicateInsertError) as info:
        await accounts.insert_many(batch)
    assert info.value.field == "email"
    stored = sorted(a.id for a in await accounts.all())
    assert stored == sorted([first.id, *info.value.inserted_ids])
    # Ordered, as MongoDB's default: the one before the duplicate is stored, it and all after not.
    assert len(info.value.inserted_ids) == 1
    assert info.value.failed == [1, 2]


async def test_duplicate_inside_one_batch(db: Database) -> None:
    accounts = await db.open(Account)
    with pytest.raises(DuplicateInsertError) as info:
        await accounts.insert_many([account(1), account(2, handle="user1")])
    assert info.value.field == "handle"
    assert await accounts.count({"handle": "user1"}) == 1


async def test_update_into_a_duplicate_is_refused(db: Database) -> None:
    accounts = await db.open(Account)
    a, b = await accounts.insert_many([account(1), account(2)])
    with pytest.raises(DuplicateInsertError) as info:
        await accounts.update(b.model_copy(update={"email": a.email}))
    assert info.value.field == "email"
    assert await accounts.get(b.id) == b
    with pytest.raises(DuplicateInsertError):
        await accounts.update_many({"_id": b.id}, {"$set": {"handle": a.handle}})
    assert await accounts.get(b.id) == b


async def test_value_is_free_again_after_delete(db: Database) -> None:
    accounts = await db.open(Account)
    a = await accounts.insert(account(1))
    await accounts.delete(a.id)
    again = await accounts.insert(account(1))
    assert again.id != a.id


async def test_updating_a_document_keeps_its_own_unique_values(db: Database) -> None:
    accounts = await db.open(Account)
    a = await accounts.insert(account(1))
    updated = await accounts.update(a.model_copy(update={"team": "z"}))
    assert (await accounts.get(a.id)).team == updated.team == "z"


async def test_beanie_indexed_on_a_plain_model(db: Database) -> None:
    db.require("beanie_indexed")
    accounts = await db.open(BeanieAccount)
    await accounts.insert(BeanieAccount(email="a@x.io"))
    with pytest.raises(DuplicateInsertError) as info:
        await accounts.insert(BeanieAccount(email="a@x.io"))
    assert info.value.field == "email"
    assert await accounts.count() == 1
