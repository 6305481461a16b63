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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

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

    Raises ``QueryError`` (also a ``ValueError``) naming the field for an empty ``values``, a
    rejected field name, or a value no store can hold (see ``core.input_checks``). Values are
    never rejected for their type or shape: ``{"$ne": None}`` is simply a document to compare.
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
