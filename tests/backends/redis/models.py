"""Models of the Redis-specific tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel

from mindtrace.database.core.indexes import Index


class Person(BaseModel):
    """Unique email, a range index on age, a multikey index on tags, a nested-path index."""

    id: str | None = None
    name: str
    age: int = 0
    email: Annotated[str, Index(unique=True)]
    tags: list[str] = []
    city: str | None = None

    class Settings:
        name = "people"
        indexes = [Index("age"), Index("tags"), Index("name", "age")]


class Anything(BaseModel):
    """An indexed field of any type, for pushdown-versus-engine comparisons."""

    id: str | None = None
    v: Annotated[Any, Index()] = None
    w: Any = None

    class Settings:
        name = "anything"


class Session(BaseModel):
    """A cache entry with a model-level default expiry."""

    id: str | None = None
    token: Annotated[str, Index(unique=True)]
    at: dt.datetime | None = None
    amount: Decimal = Decimal(0)

    class Settings:
        name = "sessions"
        ttl = 0.05


class UniqueAny(BaseModel):
    """A unique field of any type: equality goes through the claims hash."""

    id: str | None = None
    v: Annotated[Any, Index(unique=True)] = None

    class Settings:
        name = "unique_any"
