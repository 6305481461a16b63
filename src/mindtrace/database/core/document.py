"""Ids, collection names, and the conversion between Pydantic models and engine documents.

An *engine document* is a plain ``dict`` of Python values that the query engine understands:
``"_id"`` holds the id as a 24-hex ObjectId string, Enums are replaced by their values, tuples and
sets by lists, nested models by dicts, and field names are the model's aliases (as Beanie stores
them). Datetimes, dates, Decimals, UUIDs, bytes and ObjectIds stay as they are; the storage codecs
of the Local and Redis backends round-trip them exactly.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from bson import ObjectId
from pydantic import BaseModel, create_model

__all__ = ["ModelCodec", "collection_name_for", "is_valid_id", "new_id", "to_engine_value"]

ModelT = TypeVar("ModelT", bound=BaseModel)

ID_FIELD = "id"


def new_id() -> str:
    """A fresh ObjectId as a 24-character hex string (sortable by creation time)."""
    return str(ObjectId())


def is_valid_id(value: object) -> bool:
    """True when ``value`` can name a stored document: a 24-hex string or an ObjectId."""
    if isinstance(value, ObjectId):
        return True
    return isinstance(value, str) and len(value) == 24 and ObjectId.is_valid(value)


def collection_name_for(model_cls: type[BaseModel]) -> str:
    """The collection a model is stored in: ``Settings.name`` when declared, else the class name."""
    settings = getattr(model_cls, "Settings", None)
    name = getattr(settings, "name", None)
    if isinstance(name, str) and name:
        return name
    return model_cls.__name__


def to_engine_value(value: Any) -> Any:
    """Replace the Python values the engine does not compare (Enum, tuple, set, models) recursively."""
    if isinstance(value, dict):
        return {k: to_engine_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_engine_value(v) for v in value]
    if isinstance(value, enum.Enum):
        return to_engine_value(value.value)
    if isinstance(value, BaseModel):
        return to_engine_value(value.model_dump(mode="python", by_alias=True))
    return value


_id_models: dict[type[BaseModel], type[BaseModel]] = {}


def _model_with_id(model_cls: type[BaseModel]) -> type[BaseModel]:
    # A model without an ``id`` field still needs to hand the caller the id it was stored under.
    # We return instances of a cached subclass that adds ``id``: isinstance() checks keep working
    # and the caller's class is never modified.
    cached = _id_models.get(model_cls)
    if cached is None:
        cached = create_model(
            model_cls.__name__,
            __base__=model_cls,
            __module__=model_cls.__module__,
            id=(str | None, None),
        )
        _id_models[model_cls] = cached
    return cached


class ModelCodec(Generic[ModelT]):
    """Converts between one model class and engine documents; one instance per backend."""

    def __init__(self, model_cls: type[ModelT]) -> None:
        self.model_cls = model_cls
        self.collection = collection_name_for(model_cls)
        self.has_id_field = ID_FIELD in model_cls.model_fields
        self.result_cls: type[ModelT] = (
            model_cls if self.has_id_field else _model_with_id(model_cls)  # type: ignore[assignment]
        )
        field = model_cls.model_fields.get(ID_FIELD)
        # Beanie documents alias ``id`` to ``_id``; the dump must leave it out either way.
        self._id_keys = {ID_FIELD} | ({field.alias} if field is not None and field.alias else set())

    def id_of(self, obj: BaseModel) -> str | None:
        """The id already set on ``obj`` (as a hex string), or None."""
        value = getattr(obj, ID_FIELD, None)
        return None if value is None else str(value)

    def to_document(self, obj: BaseModel, id: str) -> dict[str, Any]:
        """The engine document for ``obj`` stored under ``id``; ``obj`` is not modified."""
        data = obj.model_dump(mode="python", by_alias=True)
        for key in self._id_keys:
            data.pop(key, None)
        doc: dict[str, Any] = {"_id": id}
        doc.update(to_engine_value(data))
        return doc

    def from_document(self, doc: Mapping[str, Any]) -> ModelT:
        """Validate an engine document back into the model (``_id`` becomes ``id``)."""
        data = dict(doc)
        data[ID_FIELD] = str(data.pop("_id"))
        return self.result_cls.model_validate(data)
