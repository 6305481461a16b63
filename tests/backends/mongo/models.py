"""Models of the MongoDB backend's own tests (Beanie documents and plain Pydantic models)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Annotated

from beanie import Indexed, Link
from bson import ObjectId
from pydantic import BaseModel, ConfigDict

from mindtrace.database.backends.mongo_odm_backend import MindtraceDocument


class UserDoc(MindtraceDocument):
    """The spec's example test model."""

    name: str
    age: int
    email: Annotated[str, Indexed(unique=True)]

    class Settings:
        name = "users"
        use_cache = False


class MyDoc(MindtraceDocument):
    """The spec's Quick Start model."""

    name: str
    value: int

    class Settings:
        use_cache = False


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Inner(BaseModel):
    label: str
    weight: Decimal


class Typed(BaseModel):
    """A plain Pydantic model with every type that must survive a round trip through BSON."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str | None = None
    when: dt.datetime
    day: dt.date
    price: Decimal
    ref: uuid.UUID
    blob: bytes
    color: Color
    inner: Inner
    other: ObjectId | None = None
    tags: list[str] = []

    class Settings:
        name = "typed"


class Window(MindtraceDocument):
    width: int

    class Settings:
        name = "windows"


class House(MindtraceDocument):
    name: str
    window: Link[Window]
    extra: list[Link[Window]] = []

    class Settings:
        name = "houses"


class NameView(BaseModel):
    """A Beanie-style projection model with its own computed projection."""

    name: str
    double_age: int

    class Settings:
        projection = {"name": 1, "double_age": {"$multiply": ["$age", 2]}}


class Leaf(MindtraceDocument):
    v: int


class Branch(MindtraceDocument):
    """Only ever used through the sync API (its link metadata is never set up by Beanie)."""

    leaf: Link[Leaf]
