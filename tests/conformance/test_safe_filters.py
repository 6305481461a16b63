"""``eq_filter(values, model=...)`` on every backend: untrusted text typed by the model finds the
documents it names.

Values arrive as a query string gives them (all text); with ``model=`` each is converted to its
field's type, so ``{"age": "36"}`` finds the user aged 36 instead of matching nothing.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import pytest

from mindtrace.database import MindtraceModel, QueryError, eq_filter
from tests.conformance.conftest import Database
from tests.conformance.models import PlainUser, User, names, people


class Stage(enum.Enum):
    DRAFT = "draft"
    LIVE = "live"


class Rank(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Release(MindtraceModel):
    """Typed fields a query string can only send as text."""

    title: str
    stage: Stage
    rank: Rank
    public: bool
    due: dt.datetime
    sizes: list[int] = []

    class Settings:
        name = "releases"


RELEASES = [
    Release(
        title="a", stage=Stage.DRAFT, rank=Rank.LOW, public=False, due=dt.datetime(2024, 5, 1, 12), sizes=[1]
    ),
    Release(
        title="b", stage=Stage.LIVE, rank=Rank.HIGH, public=True, due=dt.datetime(2024, 6, 1, 9), sizes=[2, 3]
    ),
]


async def test_a_number_from_a_query_string_finds_the_document(db: Database) -> None:
    users = await db.open(User)
    await users.insert_many(people(User))
    query = eq_filter({"age": "36"}, model=User, allowed=["age"])
    assert names(await users.find(query)) == ["Ada"]
    assert await users.count(eq_filter({"age": "25"}, model=User)) == 2
    assert (await users.find_one(eq_filter({"age": "41", "name": "Chen"}, model=User))).name == "Chen"
    # Without the model the text stays text, which no stored age equals.
    assert await users.find(eq_filter({"age": "36"})) == []


@pytest.mark.parametrize("model", [User, PlainUser], ids=["MindtraceModel", "BaseModel"])
async def test_arrays_and_sub_models_are_typed_too(db: Database, model: type[Any]) -> None:
    users = await db.open(model)
    await users.insert_many(people(model))
    assert sorted(names(await users.find(eq_filter({"scores": "60"}, model=model)))) == ["Brian"]
    assert sorted(names(await users.find(eq_filter({"scores": ["90", "70"]}, model=model)))) == ["Ada"]
    assert sorted(names(await users.find(eq_filter({"tags": "art"}, model=model)))) == ["Dana", "Eve"]
    found = await users.find(eq_filter({"address.city": "Paris", "address.zip_code": "75002"}, model=model))
    assert names(found) == ["Chen"]


async def test_enums_booleans_and_datetimes_from_text(db: Database) -> None:
    releases = await db.open(Release)
    await releases.insert_many(RELEASES)

    async def titles(values: dict[str, Any]) -> list[str]:
        return sorted(r.title for r in await releases.find(eq_filter(values, model=Release)))

    assert await titles({"stage": "live"}) == ["b"]
    assert await titles({"rank": "1"}) == ["a"]
    assert await titles({"public": "true"}) == ["b"]
    assert await titles({"public": "false", "stage": "draft"}) == ["a"]
    assert await titles({"due": "2024-06-01T09:00:00"}) == ["b"]
    assert await titles({"sizes": "3"}) == ["b"]
    assert (
        await releases.count(
            eq_filter({"stage": "live"}, model=Release) | eq_filter({"rank": "1"}, model=Release)
        )
        == 2
    )


async def test_text_that_is_not_of_the_field_s_type_is_refused_before_any_query(db: Database) -> None:
    users = await db.open(User)
    await users.insert_many(people(User))
    for values in ({"age": "thirty-six"}, {"age": {"$ne": None}}, {"scores": "many"}):
        with pytest.raises(QueryError, match="of User holds"):
            await users.find(eq_filter(values, model=User))
    assert await users.count() == len(people(User))
