"""Typed field expressions: ``User.age >= 18`` and ``fields(User).age >= 18`` build MongoDB filters.

A :class:`FieldPath` names a stored field (by its alias, with ``id`` stored as ``_id``). Comparing
it produces a :class:`FilterExpr`, which is an ordinary MongoDB filter ``dict`` — every backend's
``find``, ``count``, ``update_many``, ``delete_many`` and ``$match`` stage accepts it as is.

Operators (``f`` a field path, ``e`` a filter expression)::

    f == v    {path: v}              ({path: {"$eq": v}} when v is a dict or a regex)
    f != v    {path: {"$ne": v}}
    f < v     {path: {"$lt": v}}      also <=, >, >=  ($lte, $gt, $gte)
    f.in_(vs) {path: {"$in": [...]}}  f.nin(vs)  {path: {"$nin": [...]}}
    f.exists(flag=True)               {path: {"$exists": flag}}
    e1 & e2   {"$and": [e1, e2]}      e1 | e2    {"$or": [e1, e2]}     ~e   {"$nor": [e]}
    -f, +f    ("path", -1), ("path", 1) for ``sort=``;  str(f) is the dotted path

Filter expressions refuse ``bool()``: ``18 <= User.age < 65`` and ``a and b`` would otherwise
silently keep only one side; write ``(User.age >= 18) & (User.age < 65)`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from bson import Regex
from pydantic import BaseModel

from mindtrace.database.core.schema import model_schema

__all__ = ["FieldPath", "FilterExpr", "ModelFields", "fields", "stored_name"]

_ID_FIELD = "id"


class FilterExpr(dict[str, Any]):
    """A MongoDB filter built from field expressions; a plain ``dict`` everywhere else.

    ``&``, ``|`` and ``~`` combine filters into ``$and``, ``$or`` and ``$nor``; nested ``&`` (or
    ``|``) chains are flattened into one list. Plain dicts can take part on either side.
    """

    __slots__ = ()

    def __and__(self, other: Mapping[str, Any]) -> FilterExpr:
        return _combine("$and", self, _as_filter(other, "&"))

    def __rand__(self, other: Mapping[str, Any]) -> FilterExpr:
        return _combine("$and", _as_filter(other, "&"), self)

    def __or__(self, other: Mapping[str, Any]) -> FilterExpr:  # type: ignore[override]
        return _combine("$or", self, _as_filter(other, "|"))

    def __ror__(self, other: Mapping[str, Any]) -> FilterExpr:  # type: ignore[override]
        return _combine("$or", _as_filter(other, "|"), self)

    def __ior__(self, other: Mapping[str, Any]) -> FilterExpr:  # type: ignore[override]
        # dict's |= would merge keys in place; ``f |= g`` must mean ``f = f | g`` ($or) instead.
        return _combine("$or", self, _as_filter(other, "|="))

    def __invert__(self) -> FilterExpr:
        return FilterExpr({"$nor": [self]})

    def __bool__(self) -> NoReturn:
        # A filter has no truth value; refusing one catches chained comparisons such as
        # ``18 <= User.age < 65`` and ``a and b``, which Python would silently reduce to one side.
        raise TypeError(
            f"a filter expression has no truth value ({dict(self)!r}); combine filters with "
            "& | ~ (e.g. (User.age >= 18) & (User.age < 65)) instead of and/or/not or chained "
            "comparisons, and test emptiness with len()"
        )

    def __repr__(self) -> str:
        return f"FilterExpr({dict(self)!r})"


def _as_filter(value: object, op: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(
            f"cannot combine a filter with {type(value).__name__} using {op!r}; both sides must be "
            "filter dicts or field expressions such as User.age >= 18"
        )
    return value


def _combine(operator: str, left: Mapping[str, Any], right: Mapping[str, Any]) -> FilterExpr:
    parts: list[Any] = []
    for side in (left, right):
        # Flatten only chains we built ourselves, so a user's hand-written {"$and": ...} stays as is.
        if isinstance(side, FilterExpr) and len(side) == 1 and operator in side:
            parts.extend(side[operator])
        else:
            parts.append(side)
    return FilterExpr({operator: parts})


class FieldPath:
    """A stored field, possibly nested (``User.address.city``), used to build filters and sorts.

    Attribute access goes one level deeper: into a nested model it is checked against that
    model's fields (``AttributeError`` lists the valid ones), into a ``dict`` or ``Any`` field it
    is free. ``path[key]`` always goes one level deeper without checks (``User.tags[0]``,
    ``User.meta["exists"]``) — use it for sub-fields named like a method here (``in_``,
    ``nin``, ``exists``). Field paths are not iterable and have no truth value.
    """

    __slots__ = ("_models", "_owner", "_path")

    def __init__(self, path: str, owner: str, models: tuple[type[BaseModel], ...] | None) -> None:
        # ``models``: the model classes the value may be (their fields are checked); ``None``
        # means the value is free-form (dict, Any) so any sub-path is accepted; ``()`` means a
        # scalar, which has no sub-fields.
        self._path = path
        self._owner = owner
        self._models = models

    # ----------------------------------------------------------------- navigation
    def __getattr__(self, name: str) -> FieldPath:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._models is None:
            return FieldPath(f"{self._path}.{name}", f"{self._owner}.{name}", None)
        if not self._models:
            raise AttributeError(
                f"{self._owner} is a scalar field and has no sub-field {name!r}; "
                f"use {self._owner}[{name!r}] to build the path {self._path}.{name} anyway"
            )
        for model in self._models:
            field = model_schema(model).fields.get(name)
            if field is not None:
                return FieldPath(
                    f"{self._path}.{field.stored_name}", f"{self._owner}.{name}", field.value_models
                )
        valid = list(dict.fromkeys(n for m in self._models for n in m.model_fields))
        raise AttributeError(
            f"{self._owner} has no field {name!r}; valid fields: {', '.join(valid) or '(none)'}"
        )

    def __getitem__(self, key: str | int) -> FieldPath:
        if not isinstance(key, str | int) or isinstance(key, bool):
            raise TypeError(f"a path component must be a str or an int, got {key!r}")
        return FieldPath(f"{self._path}.{key}", f"{self._owner}[{key!r}]", None)

    def __iter__(self) -> NoReturn:
        # Without this, ``__getitem__`` would make ``list(User.tags)`` loop forever.
        raise TypeError(f"field path {self._path!r} is not iterable; use .in_([...]) for membership")

    def __contains__(self, item: object) -> NoReturn:
        raise TypeError(f"use {self._owner}.in_([...]) to match any of several values, not 'in'")

    def __bool__(self) -> NoReturn:
        raise TypeError(f"field path {self._path!r} has no truth value; compare it, e.g. {self._owner} == 1")

    def __str__(self) -> str:
        return self._path

    def __repr__(self) -> str:
        return f"FieldPath({self._path!r})"

    # ----------------------------------------------------------------- filters
    def _op(self, operator: str, value: object) -> FilterExpr:
        if isinstance(value, FieldPath):
            raise TypeError(
                f"comparing two fields ({self._path} and {value._path}) needs $expr, e.g. "
                f"{{'$expr': {{'{operator}': ['${self._path}', '${value._path}']}}}}"
            )
        return FilterExpr({self._path: {operator: value}})

    def __eq__(self, value: object) -> FilterExpr:  # type: ignore[override]
        if isinstance(value, Mapping | re.Pattern | Regex | FieldPath):
            # {path: {...}} would read the dict's keys as operators, {path: re} (or a BSON regex,
            # e.g. from bson.json_util.loads of untrusted input) as a pattern match.
            return self._op("$eq", value)
        return FilterExpr({self._path: value})

    def __ne__(self, value: object) -> FilterExpr:  # type: ignore[override]
        return self._op("$ne", value)

    def __lt__(self, value: object) -> FilterExpr:
        return self._op("$lt", value)

    def __le__(self, value: object) -> FilterExpr:
        return self._op("$lte", value)

    def __gt__(self, value: object) -> FilterExpr:
        return self._op("$gt", value)

    def __ge__(self, value: object) -> FilterExpr:
        return self._op("$gte", value)

    __hash__ = None  # type: ignore[assignment]  # == builds a filter, so paths cannot be dict keys

    def in_(self, values: Iterable[Any]) -> FilterExpr:
        """Match documents whose value (or any element of an array value) is one of ``values``."""
        return self._op("$in", _value_list(values, "in_"))

    def nin(self, values: Iterable[Any]) -> FilterExpr:
        """Match documents whose value is none of ``values`` (missing fields match too)."""
        return self._op("$nin", _value_list(values, "nin"))

    def exists(self, flag: bool = True) -> FilterExpr:
        """Match documents that have (``flag=True``) or lack this field; ``null`` counts as present."""
        if not isinstance(flag, bool):
            raise TypeError(f"exists() takes True or False, got {flag!r}")
        return self._op("$exists", flag)

    # ----------------------------------------------------------------- sorts
    def __neg__(self) -> tuple[str, int]:
        return (self._path, -1)

    def __pos__(self) -> tuple[str, int]:
        return (self._path, 1)


def _value_list(values: Iterable[Any], method: str) -> list[Any]:
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise TypeError(f"{method}() takes a list of values, got {values!r}")
    return list(values)


def stored_name(model_cls: type[BaseModel], name: str, *, top_level: bool = True) -> str:
    """The key a field is stored under: its serialisation alias, or its name; a top-level ``id``
    field is stored as ``_id``. Raises ``KeyError`` for an unknown field name."""
    field = model_schema(model_cls).fields[name]
    if top_level and name == _ID_FIELD:
        return "_id"
    return field.stored_name


class ModelFields:
    """The field paths of one model class: ``fields(User).age``; see :func:`fields`."""

    __slots__ = ("_model",)

    def __init__(self, model_cls: type[BaseModel]) -> None:
        self._model = model_cls

    def __getattr__(self, name: str) -> FieldPath:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> FieldPath:
        model = self._model
        field = model_schema(model).fields.get(name)
        if field is None:
            raise AttributeError(
                f"{model.__name__} has no field {name!r}; valid fields: "
                f"{', '.join(model.model_fields) or '(none)'}"
            )
        return FieldPath(stored_name(model, name), f"{model.__name__}.{name}", field.value_models)

    def __dir__(self) -> list[str]:
        return list(self._model.model_fields)

    def __repr__(self) -> str:
        return f"fields({self._model.__name__})"


def fields(model_cls: type[BaseModel]) -> ModelFields:
    """Field paths for any Pydantic model class, for building filters without a special base class.

    ``fields(User).age >= 18`` equals ``{"age": {"$gte": 18}}``; ``fields(User).address.city``
    reaches into nested models. An unknown name raises ``AttributeError`` naming the model and
    listing its fields. This spelling also type-checks (``User.age`` is an ``int`` to mypy).
    """
    if not (isinstance(model_cls, type) and issubclass(model_cls, BaseModel)):
        raise TypeError(f"fields() takes a Pydantic model class, got {model_cls!r}")
    return ModelFields(model_cls)
