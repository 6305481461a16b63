"""Which dotted paths of a model can run through an array, read from its field annotations.

MongoDB resolves ``"a.b"`` through arrays (``{"a": [{"b": 1}]}`` has ``a.b == 1``), SQLite's
``json_extract(doc, '$.a.b')`` does not. The pushdown compiler therefore adds an "``a`` is an
array" branch to its candidate condition unless the model guarantees ``a`` never holds one. Every
document written through a backend is validated by its model (inserts, replacements and the
results of ``update_many``), so the guarantee holds for what this model stored; an annotation the
analysis cannot read (``Any``, ``object``, a bare ``dict``, extra fields) counts as "may be an array".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, Union

from pydantic import BaseModel

__all__ = ["ArrayPaths"]

# Annotations whose values are never arrays (nor contain a path below them).
_SCALARS: tuple[type, ...] = (
    str,
    int,
    float,
    bool,
    bytes,
    Decimal,
    uuid.UUID,
    dt.date,
    dt.time,
    dt.timedelta,
)


class ArrayPaths:
    """Answers "can this path prefix hold an array?" for one model class; results are cached."""

    def __init__(self, model_cls: type[BaseModel]) -> None:
        self._model_cls = model_cls
        self._cache: dict[str, bool] = {}

    def may_be_array(self, path: str) -> bool:
        """True unless every document of the model has a non-array (or no) value at ``path``.

        ``path`` is a dotted path of stored (alias) names, e.g. ``"address.city"``.
        """
        cached = self._cache.get(path)
        if cached is None:
            cached = self._cache[path] = _may_be_array(self._model_cls, path.split("."))
        return cached


def _strip(annotation: Any) -> list[Any]:
    # Flatten Annotated[...] and unions into the alternatives a value may take.
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _strip(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_strip(arg))
        return out
    return [annotation]


def _model_child(model_cls: type[BaseModel], key: str) -> tuple[bool, Any]:
    # (known, annotation) of the field stored under ``key`` (its alias, or its name). A key that
    # is no field is unknown: ``update_many`` may have stored anything there.
    for name, info in model_cls.model_fields.items():
        if (info.alias or name) == key:
            return True, info.annotation
    return False, None


def _is_array_type(annotation: Any) -> bool | None:
    """True/False for "values are arrays"; None when unknown."""
    if annotation is type(None):
        return False
    if annotation is Any or annotation is object:  # typing.Any is a class since Python 3.11
        return None
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return any(isinstance(v, list | tuple) for v in typing.get_args(annotation))
    if origin is not None:
        if isinstance(origin, type) and issubclass(origin, Mapping):
            return False
        if (
            isinstance(origin, type)
            and issubclass(origin, Sequence | set | frozenset)
            and origin not in (str, bytes)
        ):
            return True
        return None
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return any(isinstance(m.value, list | tuple) for m in annotation)
        if issubclass(annotation, _SCALARS) or issubclass(annotation, BaseModel):
            return False
        if issubclass(annotation, list | tuple | set | frozenset):
            return True
        if issubclass(annotation, dict) or dataclasses.is_dataclass(annotation):
            return False
        # bson.ObjectId and other opaque scalar classes: values are that class, never a list.
        if not issubclass(annotation, Sequence | Mapping) and annotation is not object:
            return False
    return None


def _child(annotation: Any, key: str) -> tuple[bool, Any]:
    """(known, annotation of ``key`` inside a value of ``annotation``)."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_child(annotation, key)
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        args = typing.get_args(annotation)
        return (len(args) == 2), (args[1] if len(args) == 2 else None)
    return False, None


def _may_be_array(model_cls: type[BaseModel], parts: list[str]) -> bool:
    # Walk the path; every alternative at every level must be a known non-array.
    found, annotation = _model_child(model_cls, parts[0])
    if not found:
        return True
    level = [annotation]
    for i in range(len(parts)):
        alternatives = [a for ann in level for a in _strip(ann)]
        for alt in alternatives:
            if _is_array_type(alt) is not False:
                return True
        if i == len(parts) - 1:
            return False
        nxt: list[Any] = []
        for alt in alternatives:
            if alt is type(None):
                continue
            known, child = _child(alt, parts[i + 1])
            if not known:
                # A scalar has no children (the path is simply missing); anything else is unknown.
                if isinstance(alt, type) and issubclass(alt, _SCALARS):
                    continue
                return True
            nxt.append(child)
        level = nxt
    return False
