"""Index declarations read from models: Beanie's Indexed, Settings.indexes and Index."""

from __future__ import annotations

from typing import Annotated

import pytest
from beanie import Indexed
from pydantic import BaseModel, Field
from pymongo import DESCENDING, TEXT, IndexModel

from mindtrace.database.core.indexes import Index, IndexSpec, index_specs


def specs(model: type[BaseModel]) -> dict[tuple[tuple[str, int | str], ...], IndexSpec]:
    return {s.fields: s for s in index_specs(model)}


def test_beanie_indexed_both_spellings_and_optional() -> None:
    class M(BaseModel):
        a: Indexed(str, unique=True)  # type: ignore[valid-type]
        b: Annotated[str, Indexed(unique=True)]
        c: Annotated[int, Indexed()]
        d: Indexed(int, DESCENDING) | None = None  # type: ignore[valid-type]
        e: str = ""

    found = specs(M)
    assert set(found) == {(("a", 1),), (("b", 1),), (("c", 1),), (("d", -1),)}
    assert found[(("a", 1),)].unique and found[(("b", 1),)].unique
    assert not found[(("c", 1),)].unique
    assert found[(("d", -1),)].name == "d_-1"


def test_alias_is_the_stored_name() -> None:
    class M(BaseModel):
        email_address: Annotated[str, Indexed(unique=True)] = Field(alias="email")

    assert [s.fields for s in index_specs(M)] == [(("email", 1),)]


def test_settings_indexes_in_every_beanie_form() -> None:
    class M(BaseModel):
        x: int = 0

        class Settings:
            indexes = [
                "x",
                [("a", 1), ("b", -1)],
                IndexModel([("c", DESCENDING)], unique=True, name="c_desc"),
                IndexModel([("t", TEXT)]),
                ("single", -1),
            ]

    found = specs(M)
    assert found[(("x", 1),)].name == "x_1"
    assert found[(("a", 1), ("b", -1))].name == "a_1_b_-1"
    c = found[(("c", -1),)]
    assert (c.unique, c.name) == (True, "c_desc")
    assert not found[(("t", "text"),)].is_plain
    assert (("single", -1),) in found


def test_backend_neutral_index_on_fields_and_in_settings() -> None:
    class M(BaseModel):
        email: Annotated[str, Index(unique=True)]
        score: Annotated[float, Index(direction=-1, name="by_score")]
        last: str = ""
        first: str = ""

        class Settings:
            indexes = [Index("last", "-first", unique=True), Index(("address.city", 1))]

    found = specs(M)
    assert found[(("email", 1),)].unique
    assert found[(("score", -1),)].name == "by_score"
    assert found[(("last", 1), ("first", -1))].unique
    assert (("address.city", 1),) in found


def test_duplicates_merge_and_id_is_ignored() -> None:
    class M(BaseModel):
        id: Annotated[str | None, Index(unique=True)] = None
        email: Annotated[str, Index()] = ""

        class Settings:
            indexes = [IndexModel([("email", 1)], unique=True), "_id"]

    assert [(s.fields, s.unique) for s in index_specs(M)] == [((("email", 1),), True)]


@pytest.mark.parametrize("entry", [42, [("a", "x", 1)], [("a", True)]])
def test_unreadable_settings_entry_is_an_error(entry: object) -> None:
    class M(BaseModel):
        class Settings:
            indexes = [entry]

    with pytest.raises(ValueError, match="index"):
        index_specs(M)


def test_index_without_keys_in_settings_is_an_error() -> None:
    class M(BaseModel):
        class Settings:
            indexes = [Index(unique=True)]

    with pytest.raises(ValueError, match="at least one key"):
        index_specs(M)
