"""Typed field expressions and MindtraceModel: the filter dicts they build, and that Pydantic still works."""

from __future__ import annotations

import copy
import enum
import pickle
import re
import warnings
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import pytest
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError
from pydantic.alias_generators import to_camel

from mindtrace.database import MindtraceModel, fields
from mindtrace.database.core.backend import combine_filters, normalize_sort
from mindtrace.database.core.fields import FieldPath, FilterExpr


class Address(BaseModel):
    city: str
    zip_code: str = Field(default="", alias="zip")


class Item(BaseModel):
    sku: str
    qty: int = 1


class Color(enum.Enum):
    RED = "red"


class User(MindtraceModel):
    name: str
    age: int = 0
    tags: list[str] = []
    address: Address | None = None
    items: list[Item] = []
    meta: dict[str, Any] = {}
    anything: Any = None
    email: str = Field(default="", alias="mail")
    color: Color = Color.RED
    kind: ClassVar[str] = "user"
    _secret: int = PrivateAttr(default=7)

    def greet(self) -> str:
        return f"hi {self.name}"


class Plain(BaseModel):
    id: str | None = None
    title: str
    address: Address


# ----------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (lambda: User.name == "x", {"name": "x"}),
        (lambda: User.age != 3, {"age": {"$ne": 3}}),
        (lambda: User.age < 3, {"age": {"$lt": 3}}),
        (lambda: User.age <= 3, {"age": {"$lte": 3}}),
        (lambda: User.age > 3, {"age": {"$gt": 3}}),
        (lambda: User.age >= 3, {"age": {"$gte": 3}}),
        (lambda: 3 < User.age, {"age": {"$gt": 3}}),  # noqa: SIM300  # reflected
        (lambda: User.tags.in_(("a", "b")), {"tags": {"$in": ["a", "b"]}}),
        (lambda: User.tags.nin({"a"}), {"tags": {"$nin": ["a"]}}),
        (lambda: User.address.exists(True), {"address": {"$exists": True}}),
        (lambda: User.address.exists(False), {"address": {"$exists": False}}),
        (lambda: User.address.city == "Paris", {"address.city": "Paris"}),
        (lambda: User.address.zip_code == "75001", {"address.zip": "75001"}),  # alias
        (lambda: User.email == "a@b", {"mail": "a@b"}),
        (lambda: User.items.sku == "A1", {"items.sku": "A1"}),  # through an array of models
        (lambda: User.meta.any.depth >= 2, {"meta.any.depth": {"$gte": 2}}),
        (lambda: User.anything.x == 1, {"anything.x": 1}),
        (lambda: User.tags[0] == "a", {"tags.0": "a"}),
        (lambda: User.id == "0123456789abcdef01234567", {"_id": "0123456789abcdef01234567"}),
        (lambda: User.meta == {"$gt": 1}, {"meta": {"$eq": {"$gt": 1}}}),  # a dict is a value
        (lambda: User.name == re.compile("x"), {"name": {"$eq": re.compile("x")}}),
        (lambda: User.color == Color.RED, {"color": Color.RED}),
        (lambda: fields(Plain).title == "t", {"title": "t"}),
        (lambda: fields(Plain).address.city > "M", {"address.city": {"$gt": "M"}}),
        (lambda: fields(Plain)["title"] == "t", {"title": "t"}),
    ],
)
def test_operator_builds_filter(expr: Any, expected: dict[str, Any]) -> None:
    built = expr()
    assert isinstance(built, FilterExpr)
    assert isinstance(built, dict)
    assert dict(built) == expected


def test_and_or_not_flatten_chains_only() -> None:
    a, b, c = User.age >= 18, User.age < 65, User.name == "x"
    assert a & b & c == {"$and": [a, b, c]}
    assert a | b | c == {"$or": [a, b, c]}
    assert (a & b) | c == {"$or": [{"$and": [a, b]}, c]}
    assert ~a == {"$nor": [a]}
    # A hand-written $and dict is kept as one operand, never merged into ours.
    raw = {"$and": [{"x": 1}]}
    assert a & raw == {"$and": [a, raw]}
    assert raw & a == {"$and": [raw, a]}
    assert raw | a == {"$or": [raw, a]}  # not dict's merge operator


def test_augmented_assignment_combines_instead_of_merging() -> None:
    a, b = User.age >= 18, User.name == "x"
    either = a
    either |= b
    both = a
    both &= b
    assert either == {"$or": [a, b]}
    assert both == {"$and": [a, b]}
    assert a == {"age": {"$gte": 18}}  # unchanged


def test_combine_with_non_dict_is_type_error() -> None:
    with pytest.raises(TypeError, match="both sides must be"):
        (User.age > 1) & 3  # type: ignore[operator]


def test_expressions_have_no_truth_value() -> None:
    with pytest.raises(TypeError, match=r"use & \| ~|combine filters with"):
        18 <= User.age < 65  # noqa: B015
    with pytest.raises(TypeError, match="no truth value"):
        bool(User.age)


def test_paths_are_not_iterable_or_containers() -> None:
    with pytest.raises(TypeError, match="not iterable"):
        list(User.tags)
    with pytest.raises(TypeError, match="in_"):
        "a" in User.tags  # noqa: B015


def test_comparing_two_fields_points_to_expr() -> None:
    with pytest.raises(TypeError, match=r"\$expr"):
        User.age == User.name  # noqa: B015


def test_in_rejects_a_string() -> None:
    with pytest.raises(TypeError, match="list of values"):
        User.tags.in_("abc")
    with pytest.raises(TypeError, match="True or False"):
        User.tags.exists(1)  # type: ignore[arg-type]


def test_sort_helpers_and_str() -> None:
    assert normalize_sort([-User.age, +User.name]) == (("age", -1), ("name", 1))
    assert normalize_sort(-User.address.city) == (("address.city", -1),)
    assert str(User.address.zip_code) == "address.zip"
    assert repr(User.age) == "FieldPath('age')"


def test_combine_filters_accepts_expressions() -> None:
    merged = combine_filters([User.age > 1, (User.name == "a") | (User.color == Color.RED)])
    assert merged == {"$and": [{"age": {"$gt": 1}}, {"$or": [{"name": "a"}, {"color": "red"}]}]}
    assert type(merged) is dict


def test_expressions_copy_and_pickle() -> None:
    expr = (User.age > 1) & (User.name == "a")
    assert copy.deepcopy(expr) == expr
    assert pickle.loads(pickle.dumps(expr)) == expr


# ----------------------------------------------------------------------------- typos


def test_fields_typo_names_model_and_lists_fields() -> None:
    with pytest.raises(AttributeError, match=r"Plain has no field 'titel'; valid fields: id, title, address"):
        fields(Plain).titel  # noqa: B018


def test_model_typo_lists_fields() -> None:
    with pytest.raises(AttributeError, match=r"'User' has no attribute 'nme'; its fields are: id, name"):
        User.nme  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(User, "nme")


def test_nested_typo_lists_nested_fields() -> None:
    expected = r"User.address has no field 'cty'; valid fields: city, zip_code"
    with pytest.raises(AttributeError, match=expected):
        User.address.cty  # noqa: B018
    with pytest.raises(AttributeError, match="scalar field"):
        User.age.years  # type: ignore[attr-defined]  # noqa: B018


def test_fields_rejects_non_models() -> None:
    with pytest.raises(TypeError, match="Pydantic model class"):
        fields(dict)  # type: ignore[arg-type]


def test_method_named_subfield_reachable_by_item() -> None:
    assert dict(User.meta["exists"] == 1) == {"meta.exists": 1}


# ----------------------------------------------------------------------------- Pydantic keeps working


def test_instances_and_class_members_unaffected() -> None:
    u = User(name="a", mail="x@y")
    assert (u.age, u.email, u.kind, u._secret, u.greet()) == (0, "x@y", "user", 7, "hi a")
    assert User.kind == "user"
    assert callable(User.greet)
    assert list(User.model_fields)[:3] == ["id", "name", "age"]
    assert "_secret" in User.__private_attributes__
    assert User.model_validate({"name": "q"}).name == "q"
    assert User.model_construct(name="c").name == "c"
    assert "name" in User.model_json_schema()["properties"]
    assert pickle.loads(pickle.dumps(u)) == u
    with pytest.raises(ValidationError):
        User(name=3)  # type: ignore[arg-type]


def test_subclass_redeclaring_a_field_keeps_its_default_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        class Admin(User):
            age: int = 40
            level: int = 1

        class Super(Admin):
            name: str = "root"

    assert Admin(name="b").age == 40
    assert Super().name == "root"
    assert Super().age == 40
    assert dict(Super.level >= 1) == {"level": {"$gte": 1}}
    assert Admin.model_fields["age"].default == 40


def test_field_named_like_a_basemodel_method_uses_fields() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        class Shadow(MindtraceModel):
            copy: int = 0  # type: ignore[assignment]

    assert callable(Shadow.copy)
    assert dict(fields(Shadow).copy == 1) == {"copy": 1}


T = TypeVar("T")


class Box(MindtraceModel, Generic[T]):
    value: T


def test_generic_models() -> None:
    assert Box[int](value=1).value == 1
    assert dict(Box[int].value == 1) == {"value": 1}
    assert dict(Box.value.anything == 1) == {"value.anything": 1}  # a TypeVar is free-form


def test_alias_generator_and_annotated() -> None:
    class Camel(MindtraceModel):
        model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
        first_name: Annotated[str, Field(min_length=1)]
        home: Annotated[Address | None, "meta"] = None

    assert dict(Camel.first_name == "a") == {"firstName": "a"}
    assert dict(Camel.home.city == "b") == {"home.city": "b"}
    assert Camel.model_validate({"firstName": "z"}).first_name == "z"


def test_forward_reference_model() -> None:
    class Node(MindtraceModel):
        label: str
        child: Node | None = None

    assert dict(Node.child.child.label == "x") == {"child.child.label": "x"}


def test_field_path_type() -> None:
    assert isinstance(User.age, FieldPath)
    assert isinstance(fields(Plain).title, FieldPath)
    with pytest.raises(TypeError):
        hash(User.age)
