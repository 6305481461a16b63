"""Bad model data is refused before anything is written, on every backend.

Instances that do not validate as the backend's model — built with ``model_construct``, changed
by attribute assignment, missing required fields, holding wrong types, or instances of another
model class — raise Pydantic's ``ValidationError`` from ``insert``, ``insert_many`` and
``update(obj)``, and the collection is left exactly as it was (checked by reading everything
back, and on Redis by the keys themselves). ``update_many`` results the model would reject:
``QueryError`` and nothing written on Local and Redis; on MongoDB the server applies the update
and reading the document back raises ``ValidationError`` (docs/decisions.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mindtrace.database import LocalODMBackend, MindtraceModel, QueryError
from tests.reliability.conftest import Store


class Person(MindtraceModel):
    name: str
    age: int = 0
    email: str = Field(default="", alias="mail")
    tags: list[str] = []

    class Settings:
        name = "people"


class Strict(MindtraceModel):
    model_config = ConfigDict(extra="forbid")

    name: str

    class Settings:
        name = "strict"


class Open(MindtraceModel):
    model_config = ConfigDict(extra="allow")

    name: str

    class Settings:
        name = "open"


class LooksLikePerson(BaseModel):
    """Another model class with compatible fields (and one the Person model does not declare)."""

    name: str
    age: int
    nickname: str = "nick"


class NotAPerson(BaseModel):
    name: int
    colour: str = "red"


@pytest.fixture(autouse=True)
def _quiet_serializer() -> Iterator[None]:
    # Dumping an invalid instance makes Pydantic warn about the unexpected value first.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning)
        yield


def _state(backend: Any) -> list[dict[str, Any]]:
    """Everything stored, read raw (so an unreadable document would show up, not raise)."""
    return backend.find_sync({}, sort="_id", projection={"unused": 0})


def invalid_people() -> list[tuple[str, Any]]:
    wrong_type = Person(name="x")
    wrong_type.age = "not a number"  # no validate_assignment: the instance is now invalid
    wrong_list = Person(name="x")
    wrong_list.tags = [1, {"a": 2}]  # type: ignore[list-item]
    return [
        ("constructed with a wrong type", Person.model_construct(name=5)),
        ("constructed without a required field", Person.model_construct(age=3)),
        ("assigned a wrong type", wrong_type),
        ("assigned a wrong list", wrong_list),
        ("another model with incompatible fields", NotAPerson(name=7)),
    ]


INVALID = invalid_people()


@pytest.mark.parametrize("label,bad", INVALID, ids=[label for label, _ in INVALID])
def test_invalid_instances_are_refused_before_anything_is_written(store: Store, label: str, bad: Any) -> None:
    people = store.open(Person)
    kept = people.insert_sync(Person(name="kept", age=1, mail="k@x", tags=["a"]))
    before = _state(people)
    with pytest.raises(ValidationError):
        people.insert_sync(bad)
    with pytest.raises(ValidationError):
        people.insert_many_sync([Person(name="first"), bad, Person(name="last")])
    replacement = bad.model_copy() if isinstance(bad, Person) else None
    if replacement is not None:
        object.__setattr__(replacement, "id", kept.id)
        with pytest.raises(ValidationError):
            people.update_sync(replacement)
    assert _state(people) == before
    assert people.all_sync() == [kept]  # every stored document still reads back


async def test_invalid_instances_are_refused_by_the_async_api(store: Store) -> None:
    people = store.open(Person)
    kept = await people.insert(Person(name="kept"))
    bad = Person.model_construct(name=5, id=kept.id)
    with pytest.raises(ValidationError):
        await people.insert(Person.model_construct(name=5))
    with pytest.raises(ValidationError):
        await people.insert_many([Person(name="ok"), Person.model_construct()])
    with pytest.raises(ValidationError):
        await people.update(bad)
    assert await people.all() == [kept]


def test_a_compatible_instance_of_another_model_is_revalidated(store: Store) -> None:
    """Another class's instance is validated as the backend's model: compatible values are
    stored as that model, undeclared fields dropped (the model ignores extras)."""
    people = store.open(Person)
    stored = people.insert_sync(LooksLikePerson(name="twin", age=3))
    assert isinstance(stored, Person)
    assert people.get_sync(stored.id) == stored
    assert _state(people) == [{"_id": stored.id, "name": "twin", "age": 3, "mail": "", "tags": []}]


def test_extra_fields_follow_the_model_configuration(store: Store) -> None:
    strict = store.open(Strict)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        strict.insert_sync(LooksLikePerson(name="twin", age=3))
    with pytest.raises(ValidationError):
        strict.insert_sync(Strict.model_construct())
    assert strict.count_sync() == 0
    opened = store.open(Open)
    kept = opened.insert_sync(Open(name="o", extra_field={"nested": [1]}))
    assert opened.get_sync(kept.id).model_dump() == {
        "id": kept.id,
        "name": "o",
        "extra_field": {"nested": [1]},
    }


def test_a_coercible_value_reads_back_as_the_model_reads_it(store: Store) -> None:
    """An assigned value the model coerces in lax mode ("42" for an int) is accepted: the copy
    returned and every read give the model's value. (It is stored as dumped, "42": a filter on
    the int 42 does not find it — assign valid values, or use validate_assignment.)"""
    people = store.open(Person)
    loose = Person(name="loose")
    loose.age = "42"  # type: ignore[assignment]
    stored = people.insert_sync(loose)
    assert stored.age == 42 and people.get_sync(stored.id).age == 42
    assert [p.age for p in people.find_sync({"name": "loose"})] == [42]


@pytest.mark.parametrize("not_a_model", [{"name": "dict"}, "name", None, 42, Person], ids=repr)
def test_non_models_are_refused_with_type_error(store: Store, not_a_model: Any) -> None:
    people = store.open(Person)
    with pytest.raises(TypeError, match="instance"):
        people.insert_sync(not_a_model)
    with pytest.raises(TypeError, match="instance"):
        people.insert_many_sync([Person(name="first"), not_a_model])
    assert people.count_sync() == 0


@pytest.mark.parametrize("not_a_class", [dict, Person(name="x"), "Person", None], ids=repr)
def test_a_backend_needs_a_model_class(tmp_path: Any, not_a_class: Any) -> None:
    with pytest.raises(TypeError, match="Pydantic model class"):
        LocalODMBackend(not_a_class, path=tmp_path / "x.sqlite3")


INVALIDATING_UPDATES: list[Any] = [
    {"$unset": {"name": ""}},
    {"$set": {"age": "old"}},
    {"$set": {"name": None}},
    {"$set": {"tags": "not a list"}},
    {"$push": {"tags": {"nested": "doc"}}},
    {"$rename": {"name": "full_name"}},
    [{"$set": {"age": {"$concat": ["$name", "!"]}}}],
    [{"$unset": "name"}],
]


@pytest.mark.parametrize("update", INVALIDATING_UPDATES, ids=repr)
def test_update_many_that_would_invalidate_documents(store: Store, update: Any) -> None:
    """Every store: ``QueryError`` naming the model, nothing written — even when only the last
    matching document would become invalid (MongoDB included: docs/decisions.md)."""
    people = store.open(Person)
    people.insert_many_sync([Person(name="a", age=1, tags=["t"]), Person(name="b", age=2, tags=["t"])])
    before = _state(people)
    with pytest.raises(QueryError, match="invalid for Person"):
        people.update_many_sync({}, update)
    with pytest.raises(QueryError, match="invalid for Person"):
        people.update_many_sync({"name": "zzz"}, update, upsert=True)
    assert _state(people) == before
    assert len(people.all_sync()) == 2


def test_update_many_mixing_valid_and_invalid_results_writes_nothing(store: Store) -> None:
    people = store.open(Person)
    people.insert_many_sync([Person(name=str(i), age=i) for i in range(50)])
    before = _state(people)
    # Documents 0-48 get a valid age, document 49 an invalid one.
    update = [{"$set": {"age": {"$cond": [{"$eq": ["$name", "49"]}, "forty-nine", {"$add": ["$age", 100]}]}}}]
    with pytest.raises(QueryError, match="invalid for Person"):
        people.update_many_sync({}, update)
    assert _state(people) == before
