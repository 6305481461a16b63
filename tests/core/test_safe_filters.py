"""``eq_filter(values, model=...)`` types untrusted values by the model: conversions and errors.

Only the filter that is built is checked here; ``tests/conformance/test_safe_filters.py`` runs
such filters on every backend, and ``tests/reliability/test_injection.py`` covers field names
and operator payloads without a model.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError

from mindtrace.database import QueryError, eq_filter, equals

UID = uuid.UUID("12345678-1234-5678-1234-567812345678")


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    city: str
    zip_code: str = Field(default="", alias="zip")
    since: dt.date | None = None


class Line(BaseModel):
    price: Decimal
    qty: int = 1


class Opaque:
    """A type Pydantic only checks with isinstance."""


class Profile(BaseModel):
    model_config = {"arbitrary_types_allowed": True}

    id: str | None = None
    age: int
    height: float = 0.0
    active: bool = False
    seen: dt.datetime | None = None
    color: Color = Color.RED
    level: Level = Level.LOW
    uid: uuid.UUID | None = None
    tags: list[str] = []
    scores: set[int] = set()
    pair: tuple[int, int] = (0, 0)
    address: Address | None = None
    lines: list[Line] = []
    meta: dict[str, Any] = {}
    anything: Any = None
    adult_age: Annotated[int, Field(ge=18)] = 18
    opaque: Opaque | None = None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"age": "36"}, {"age": 36}),
        ({"age": 36}, {"age": 36}),
        ({"height": "1.75"}, {"height": 1.75}),
        ({"height": "2"}, {"height": 2.0}),
        ({"active": "true"}, {"active": True}),
        ({"active": "0"}, {"active": False}),
        ({"seen": "2024-05-01T12:30:00"}, {"seen": dt.datetime(2024, 5, 1, 12, 30)}),
        ({"seen": "2024-05-01T12:30:00Z"}, {"seen": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)}),
        ({"color": "green"}, {"color": "green"}),  # stored by value, so compared by value
        ({"color": Color.GREEN}, {"color": "green"}),
        ({"level": "2"}, {"level": 2}),
        ({"uid": str(UID)}, {"uid": UID}),
        # Arrays: one value matches arrays holding it (converted to the element type), a list is
        # the whole array.
        ({"tags": "eng"}, {"tags": "eng"}),
        ({"tags": ["eng", "math"]}, {"tags": ["eng", "math"]}),
        ({"scores": "60"}, {"scores": 60}),
        ({"pair": "7"}, {"pair": 7}),
        ({"pair": ["1", "2"]}, {"pair": [1, 2]}),
        # Sub-models, by dotted path (stored names: the alias), and arrays of sub-models.
        ({"address.city": "Paris"}, {"address.city": "Paris"}),
        ({"address.zip_code": 75001}, None),  # a str field: an int is not a str, even lax
        ({"address.zip_code": "75001"}, {"address.zip": "75001"}),
        ({"address.since": "2024-01-02"}, {"address.since": dt.date(2024, 1, 2)}),
        ({"lines.price": "1.50"}, {"lines.price": Decimal("1.50")}),
        ({"lines.qty": "3"}, {"lines.qty": 3}),
        # A whole sub-model: validated, then compared as the stored embedded document.
        ({"address": {"city": "Oslo"}}, {"address": {"city": "Oslo", "zip": "", "since": None}}),
        # Free-form fields and the id keep the value as given.
        ({"meta.role": "5"}, {"meta.role": "5"}),
        ({"meta": {"$ne": None}}, {"meta": {"$ne": None}}),
        ({"anything": {"$gt": ""}}, {"anything": {"$gt": ""}}),
        ({"id": "65f0c3aa0000000000000001"}, {"_id": "65f0c3aa0000000000000001"}),
        # Constraints are not applied: a value outside them is a type match that finds nothing.
        ({"adult_age": "5"}, {"adult_age": 5}),
        # A type Pydantic can only check by isinstance: as given.
        ({"opaque": "x"}, {"opaque": "x"}),
    ],
    ids=repr,
)
def test_values_take_their_field_type(values: dict[str, Any], expected: dict[str, Any] | None) -> None:
    if expected is None:
        with pytest.raises(QueryError):
            eq_filter(values, model=Profile)
        return
    got = eq_filter(values, model=Profile)
    assert got == {path: {"$eq": value} for path, value in expected.items()}
    for path, value in expected.items():  # equal *and* of the same type (1 == 1.0 == True)
        assert type(got[path]["$eq"]) is type(value)


def test_several_fields_at_once_and_the_whitelist() -> None:
    got = eq_filter({"age": "36", "active": "yes"}, model=Profile, allowed=["age", "active"])
    assert got == {"age": {"$eq": 36}, "active": {"$eq": True}}
    with pytest.raises(QueryError, match="not one of the allowed fields"):
        eq_filter({"height": "2"}, model=Profile, allowed=["age"])


@pytest.mark.parametrize(
    ("field", "value", "type_name"),
    [
        ("age", "36.5", "int"),
        ("age", "thirty", "int"),
        ("age", None, "int"),
        ("active", "maybe", "bool"),
        ("seen", "yesterday", "datetime | None"),
        ("color", "blue", "Color"),
        ("level", "3", "Level"),
        ("tags", 5, "list[str]"),
        ("lines.price", "cheap", "Decimal"),
        ("address", {"zip": "N1"}, "Address | None"),  # city is required
    ],
)
def test_a_value_that_cannot_be_converted_is_a_query_error(field: str, value: Any, type_name: str) -> None:
    with pytest.raises(QueryError) as info:
        eq_filter({field: value}, model=Profile)
    message = str(info.value)
    assert f"field {field!r} of Profile holds {type_name}" in message
    assert repr(value)[:40] in message
    assert info.value.operator == "$eq"
    assert isinstance(info.value.__cause__, PydanticValidationError)
    assert isinstance(info.value, ValueError)  # QueryError is one: frameworks map it to a 400


@pytest.mark.parametrize("payload", [{"$ne": None}, {"$gt": ""}, {"$regex": ".*"}, ["a", "b"]], ids=repr)
def test_operator_documents_for_typed_fields_are_refused_not_compared(payload: Any) -> None:
    """Harmless as literals (``$eq``), but never a valid ``int``: refused with the field named."""
    with pytest.raises(QueryError, match="field 'age' of Profile holds int"):
        eq_filter({"age": payload}, model=Profile)


def test_long_values_are_cut_short_in_the_message() -> None:
    with pytest.raises(QueryError) as info:
        eq_filter({"age": "9" * 10_000 + "x"}, model=Profile)
    assert len(str(info.value)) < 400


def test_without_a_model_values_stay_as_given() -> None:
    assert eq_filter({"age": "36"}) == {"age": {"$eq": "36"}}
    assert equals(age="36", color=Color.RED) == {"age": {"$eq": "36"}, "color": {"$eq": Color.RED}}


def test_the_same_path_on_two_models_uses_each_model_s_type() -> None:
    class Other(BaseModel):
        age: str

    assert eq_filter({"age": "36"}, model=Profile) == {"age": {"$eq": 36}}
    assert eq_filter({"age": "36"}, model=Other) == {"age": {"$eq": "36"}}
