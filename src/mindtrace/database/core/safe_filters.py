"""Equality filters built from untrusted values, so user input can never become a query operator.

A filter such as ``{"name": request.args["name"]}`` is an injection hole: if the value comes from
parsed JSON it may be ``{"$ne": None}`` (matches every document), ``{"$gt": ""}``, or a regex.
:func:`eq_filter` and :func:`equals` put every value under an explicit ``$eq``, which MongoDB and
the query engine compare *literally* — a dict is matched as a whole embedded document, a regex
only against stored regexes, a list as an array — and check the field names, which an attacker
may control too (``{"$where": ...}``, ``"a.$ne"``, ``""``). See ``docs/security.md``::

    from mindtrace.database import eq_filter, equals

    users.find(eq_filter({"name": body["name"], "team": body["team"]}, model=User))
    users.find_one(equals(email=form_email))

Both return a ``FilterExpr`` (a ``dict``), so they combine like field expressions: ``a | b`` is
``$or``, ``a & b`` is ``$and``, ``~a`` is ``$nor`` (a plain dict's ``|`` would silently merge keys);
several positional filters of ``find`` are ANDed as usual.

With ``model=``, values are also *typed*: a query string gives ``{"age": "36"}``, which compared
literally matches no stored ``36``. Each value is converted to its field's type as Pydantic
would (lax mode: ``"36"`` -> 36, ``"true"`` -> True, an ISO string -> datetime, an Enum's value
-> that Enum, stored as its value), then put in the form the stores compare (an Enum by value, a
sub-model as its dict of stored names). A value that cannot be converted is a ``QueryError``;
so are operator documents like ``{"$ne": None}`` for typed fields, which were harmless but
pointless literals.
"""

from __future__ import annotations

import collections.abc
import functools
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Final, Union

from pydantic import BaseModel, PydanticSchemaGenerationError, PydanticUndefinedAnnotation, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from mindtrace.database.core.document import to_engine_value
from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.core.fields import FieldPath, FilterExpr, ModelFields
from mindtrace.database.core.input_checks import check_query, is_valid_text

__all__ = ["eq_filter", "equals"]


def eq_filter(
    values: Mapping[str, Any],
    *,
    model: type[BaseModel] | None = None,
    allowed: Iterable[str] | None = None,
) -> FilterExpr:
    """``{field: {"$eq": value}, ...}`` for every item of ``values``: an equality on each field,
    ANDed, with every value compared literally whatever it holds.

    Field names are checked: each must be a non-empty dotted path whose parts are non-empty and
    do not start with ``$``, without NUL. ``id`` means the document id (``_id``). With ``model``
    the first part must be one of its fields (by name; it is translated to the stored name,
    i.e. its alias) and further parts must exist in nested models (free-form ``dict``/``Any``
    fields accept any sub-path); with ``allowed`` the whole path must be one of those names.

    With ``model``, each value is converted to the type its field declares (Pydantic, lax mode;
    the field's constraints and validators are not applied, so a value outside them simply
    matches nothing). For an array field a single value is converted to the element type and
    matches documents whose array holds it, as in MongoDB; a list is converted to the array
    type. Values of free-form fields (``dict``, ``Any``) and of the id stay as given. Without
    ``model`` every value stays as given: ``{"$ne": None}`` is simply a document to compare.

    Raises ``QueryError`` (also a ``ValueError``) naming the field for an empty ``values``, a
    rejected field name, a value no store can hold (see ``core.input_checks``), or, with
    ``model``, a value that cannot be converted to its field's type (naming the value and the
    type; the Pydantic error is chained).
    """
    if not isinstance(values, Mapping):
        raise QueryError(f"eq_filter takes a mapping of field names to values, got {type(values).__name__}")
    if not values:
        # An empty filter matches every document: never the right answer for "these values".
        raise QueryError("eq_filter needs at least one field; an empty filter would match every document")
    whitelist = None if allowed is None else frozenset(allowed)
    out = FilterExpr()
    for name, value in values.items():
        path = _checked_path(name, model, whitelist)
        if path in out:
            raise QueryError(f"eq_filter got field {name!r} twice (as {path!r}); give each field once")
        if model is not None and path != "_id":  # ids are compared as given on every backend
            out[path] = {"$eq": _typed(model, name, value)}
        else:
            out[path] = {"$eq": value}
    check_query(out, "filter")
    return out


def equals(**fields: Any) -> FilterExpr:
    """``eq_filter(fields)`` with keyword arguments: ``equals(name=untrusted, team="a")``.

    For dotted paths, aliases or a whitelist, use :func:`eq_filter`.
    """
    return eq_filter(fields)


def _checked_path(name: Any, model: type[BaseModel] | None, whitelist: frozenset[str] | None) -> str:
    if not isinstance(name, str) or not name or "\x00" in name or not is_valid_text(name):
        raise QueryError(
            f"field name {name!r} is not a usable field name: use a non-empty str without NUL",
            operator="$eq",
        )
    parts = name.split(".")
    bad = next((p for p in parts if not p or p.startswith("$")), None)
    if bad is not None:
        raise QueryError(
            f"field name {name!r} is refused: path parts may not be empty or start with '$' "
            f"(got {bad!r}); operators cannot be given as field names here",
            operator="$eq",
        )
    if whitelist is not None and name not in whitelist:
        raise QueryError(
            f"field {name!r} is not one of the allowed fields ({', '.join(sorted(whitelist))})",
            operator="$eq",
        )
    if model is not None:
        return _model_path(model, parts, name)
    return "_id" if name == "id" else name


def _model_path(model: type[BaseModel], parts: list[str], name: str) -> str:
    # The model's field navigation checks each part and gives the stored names (aliases).
    try:
        path: FieldPath = ModelFields(model)[parts[0]]
        for part in parts[1:]:
            # Called directly: plain attribute access would find FieldPath's own methods
            # (``in_``, ``exists``...) for sub-fields with those names.
            path = FieldPath.__getattr__(path, part)
    except AttributeError as e:
        raise QueryError(f"field {name!r} is not a field of {model.__name__}: {e}", operator="$eq") from e
    return str(path)


# ----------------------------------------------------------------------------- typed values
_ARRAYS: Final = (
    list,
    set,
    frozenset,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Set,
    collections.abc.MutableSet,
)


def _typed(model: type[BaseModel], name: str, value: Any) -> Any:
    """``value`` converted to the type of ``model``'s field ``name`` (a dotted path of Python
    field names, already checked), in the form the stores compare; as given for free-form
    fields. Raises QueryError when it cannot be converted."""
    found = _adapter(model, name)
    if found is None:
        return value
    adapter, type_name = found
    try:
        converted = adapter.validate_python(value, strict=False)
    except PydanticValidationError as e:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        reason = e.errors(include_url=False)[0]["msg"] if e.error_count() else str(e)
        raise QueryError(
            f"eq_filter: field {name!r} of {model.__name__} holds {type_name}, and the value "
            f"{shown} cannot be read as one ({reason}); send a value of that type",
            operator="$eq",
        ) from e
    return to_engine_value(converted)


@functools.lru_cache(maxsize=1024)
def _adapter(model: type[BaseModel], name: str) -> tuple[TypeAdapter[Any], str] | None:
    """A TypeAdapter for the values of field ``name`` (see :func:`_typed`) and the declared type's
    name for messages, or None for a free-form field. Building an adapter costs far more than
    using it, hence the cache."""
    annotation: Any = _annotation(model, name.split("."))
    if annotation is None:
        return None
    type_name = _type_name(annotation)
    element = _element_type(annotation)
    if element is not None:
        # A single value matches arrays holding it (MongoDB): either form is accepted, and the
        # union's smart mode keeps a list a list and a scalar a scalar.
        annotation = Union[annotation, element]  # noqa: UP007 - built at run time from values
    try:
        return TypeAdapter(annotation), type_name
    except (PydanticSchemaGenerationError, PydanticUndefinedAnnotation):
        return None  # a type Pydantic can only check by isinstance (arbitrary types): as given


def _annotation(model: type[BaseModel], parts: list[str]) -> Any | None:
    """The declared type of the field at ``parts`` (Python names, already checked), or None
    where the path runs through a free-form value. The field navigation of ``core.fields``
    knows which models each step's value may be; the field is looked up in those."""
    path: FieldPath = ModelFields(model)[parts[0]]
    info = model.model_fields[parts[0]]
    for part in parts[1:]:
        owners = path._models  # None: free-form (dict, Any), so no declared type below
        if not owners:
            return None
        path = FieldPath.__getattr__(path, part)
        info = next(m.model_fields[part] for m in owners if part in m.model_fields)
    annotation = info.annotation
    if annotation is None or annotation is Any or annotation is object:
        return None
    return annotation


def _element_type(annotation: Any) -> Any | None:
    """The element type when ``annotation`` is (or, through Optional and unions, may be) an
    array: ``list[T]``, ``set[T]``, ``tuple[T, ...]``, ``Sequence[T]``...; else None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _element_type(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        found = [e for e in map(_element_type, typing.get_args(annotation)) if e is not None]
        if not found:
            return None
        return found[0] if len(found) == 1 else Union[tuple(found)]  # noqa: UP007
    args = typing.get_args(annotation)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return args[0]
        return Union[args] if args else None  # noqa: UP007 - a fixed-length tuple: any of its types
    if origin in _ARRAYS or annotation in _ARRAYS:
        return args[0] if args else Any
    return None


def _type_name(annotation: Any) -> str:
    """``annotation`` as written in a model, for messages: ``list[str]``, ``Address | None``."""
    if annotation is type(None):
        return "None"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is Union or origin is types.UnionType:
        return " | ".join(map(_type_name, args))
    if origin is not None and args:
        inner = ", ".join("..." if a is Ellipsis else _type_name(a) for a in args)
        return f"{getattr(origin, '__name__', repr(origin))}[{inner}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return repr(annotation).replace("typing.", "")
