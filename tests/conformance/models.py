"""Models the conformance suite stores, and the small data set most query tests run on."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Annotated, Any

from beanie import Indexed
from bson import ObjectId
from pydantic import BaseModel, ConfigDict, Field

from mindtrace.database import MindtraceModel
from mindtrace.database.core.indexes import Index


class Address(BaseModel):
    city: str
    zip_code: str = Field(default="", alias="zip")


class User(MindtraceModel):
    """The workhorse: a MindtraceModel so field expressions work on it."""

    name: str
    age: int
    email: str = ""
    tags: list[str] = []
    address: Address | None = None
    scores: list[int] = []

    class Settings:
        name = "users"


class PlainUser(BaseModel):
    """The same shape on a plain Pydantic model (``fields(PlainUser)`` for expressions)."""

    id: str | None = None
    name: str
    age: int
    email: str = ""
    tags: list[str] = []
    address: Address | None = None
    scores: list[int] = []

    class Settings:
        name = "plain_users"


class Note(BaseModel):
    """A model without an ``id`` field: insert still hands back the id it was stored under."""

    text: str
    stars: int = 0


class UserName(BaseModel):
    """A projection model: selects ``name`` (and ``id``) from users."""

    id: str | None = None
    name: str


class NameOnly(BaseModel):
    """A projection model without ``id``."""

    name: str


class Order(MindtraceModel):
    """Second collection, joined to users in ``$lookup`` tests."""

    user_name: str
    total: int
    items: list[str] = []

    class Settings:
        name = "orders"


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Inner(BaseModel):
    label: str
    values: list[float] = []


class Everything(MindtraceModel):
    """One field of every type that must round-trip exactly."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    aware: dt.datetime
    naive: dt.datetime
    day: dt.date
    price: Decimal
    uid: uuid.UUID
    blob: bytes
    ref: ObjectId
    color: Color
    level: Level
    inner: Inner
    inners: list[Inner]
    mapping: dict[str, Any]
    numbers: list[int | float]
    maybe: str | None = None
    flag: bool = False
    big: int = 0

    class Settings:
        name = "everything"


PEOPLE: list[dict[str, Any]] = [
    {"name": "Ada", "age": 36, "email": "ada@x.io", "tags": ["math", "eng"], "scores": [90, 70],
     "address": {"city": "London", "zip": "N1"}},
    {"name": "Brian", "age": 25, "email": "brian@x.io", "tags": ["eng"], "scores": [60],
     "address": {"city": "Paris", "zip": "75001"}},
    {"name": "Chen", "age": 41, "email": "chen@x.io", "tags": [], "scores": [],
     "address": {"city": "Paris", "zip": "75002"}},
    {"name": "Dana", "age": 19, "email": "dana@x.io", "tags": ["art"], "scores": [99, 40, 75]},
    {"name": "Eve", "age": 25, "email": "eve@x.io", "tags": ["math", "art"], "scores": [85],
     "address": {"city": "Berlin", "zip": "10115"}},
    {"name": "Femi", "age": 58, "email": "femi@x.io", "tags": ["eng", "ops"], "scores": [55, 65]},
]  # fmt: skip


def people(model: type[BaseModel] = User) -> list[Any]:
    """The PEOPLE data set as instances of ``model``."""
    return [model.model_validate(p) for p in PEOPLE]


def names(docs: list[Any]) -> list[str]:
    """The ``name`` of each result (models or dicts), in result order."""
    return [d["name"] if isinstance(d, dict) else d.name for d in docs]


class Account(MindtraceModel):
    """Unique fields declared with the package's neutral ``Index``: on a field and in Settings."""

    email: Annotated[str, Index(unique=True)]
    handle: str
    team: str = ""

    class Settings:
        name = "accounts"
        indexes = [Index("handle", unique=True), Index("team")]


class BeanieAccount(BaseModel):
    """A plain Pydantic model with Beanie's ``Indexed(unique=True)`` annotation."""

    id: str | None = None
    email: Annotated[str, Indexed(unique=True)]

    class Settings:
        name = "beanie_accounts"
