"""Ids, collection names, and the conversion between Pydantic models and engine documents.

An *engine document* is a plain ``dict`` of Python values that the query engine understands:
``"_id"`` holds the id as a 24-hex ObjectId string, Enums are replaced by their values, tuples and
sets by lists, nested models by dicts, URLs and paths by strings, and field names are the model's
aliases (as Beanie stores them). Datetimes, dates, Decimals, UUIDs, bytes and ObjectIds stay as
they are; the storage codecs of the Local and Redis backends round-trip them exactly.
"""

from __future__ import annotations

import datetime as dt
import enum
import typing
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, Generic, TypeVar

from bson import ObjectId
from pydantic import BaseModel, create_model

from mindtrace.database.core import typed_json
from mindtrace.database.core.datetimes import to_milliseconds
from mindtrace.database.core.input_checks import MAX_NESTING, check_document
from mindtrace.database.core.schema import STRING_FORM, model_schema

__all__ = ["ModelCodec", "PlainDocument", "collection_name_for", "is_valid_id", "new_id", "to_engine_value"]

ModelT = TypeVar("ModelT", bound=BaseModel)

ID_FIELD = "id"

_HEX: Final = frozenset("0123456789abcdefABCDEF")


def new_id() -> str:
    """A fresh ObjectId as a 24-character hex string (sortable by creation time)."""
    return str(ObjectId())


def is_valid_id(value: object) -> bool:
    """True when ``value`` can name a stored document: a 24-hex string or an ObjectId."""
    if type(value) is str:
        return len(value) == 24 and _HEX.issuperset(value)
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


# Values the engine takes as they are (exact types: subclasses such as str-Enums are converted).
_ENGINE_LEAVES: Final = frozenset(
    {str, int, float, bool, type(None), dt.datetime, dt.date, Decimal, uuid.UUID, bytes, ObjectId}
)
_AS_STRING: Final = STRING_FORM  # stored as their string form (see core.schema)


def to_engine_value(value: Any) -> Any:
    """Replace the Python values the engine does not compare (Enum, tuple, set, models, URLs,
    paths) recursively. Returns ``value`` itself when nothing needed replacing at the top."""
    t = type(value)
    if t is dt.datetime:
        return to_milliseconds(value)  # one precision on every store: see core.datetimes
    if t in _ENGINE_LEAVES:
        return value
    if t is dict:
        return {k: to_engine_value(v) for k, v in value.items()}
    if t is list:
        return [to_engine_value(v) for v in value]
    if isinstance(value, enum.Enum):
        return to_engine_value(value.value)
    if isinstance(value, BaseModel):
        return to_engine_value(value.model_dump(mode="python", by_alias=True))
    if isinstance(value, Mapping):
        return {k: to_engine_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_engine_value(v) for v in value]
    if isinstance(value, _AS_STRING):
        return str(value)
    return value


class PlainDocument(dict[str, Any]):
    """An engine document made by :meth:`ModelCodec.to_document` from an instance of exactly the
    codec's model, whose field types keep every value plain JSON except possibly NaN/infinity in
    the float fields named by ``ModelCodec.plain_json_floats``. Storage codecs may then skip
    their type-tagging pass (``typed_json.dumps(assume_plain=True)``). Otherwise a plain dict."""

    __slots__ = ()


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
        schema = model_schema(model_cls)
        # Whether model_dump() output needs no to_engine_value pass (see ModelSchema.native).
        self._native = schema.native
        # Float fields to check before a dump of this model may skip the typed-JSON pass (see
        # typed_json.dumps(assume_plain=True)); None: every dump needs the pass.
        self.plain_json_floats: tuple[str, ...] | None = schema.plain_json_floats
        # How from_stored_json puts the id into a model validated from stored JSON: assigned
        # directly when the id field is a plain optional string nothing else validates
        # (the common case: no string splicing), else spliced into the JSON under its key.
        result_field = self.result_cls.model_fields[ID_FIELD]
        decorators = self.result_cls.__pydantic_decorators__
        validated_fields = {f for d in decorators.field_validators.values() for f in d.info.fields}
        self._assign_id = (
            result_field.annotation in (str, str | None, typing.Optional[str])  # noqa: UP045 - both spellings
            and not result_field.metadata
            and not decorators.model_validators
            and not validated_fields & {ID_FIELD, "*"}
        )
        key = result_field.validation_alias if isinstance(result_field.validation_alias, str) else None
        key = key or result_field.alias or ID_FIELD
        self._json_id_prefix: str | None = '{"' + key + '":"' if '"' not in key and "\\" not in key else None
        self._validate_json = self.result_cls.__pydantic_validator__.validate_json
        self._validate_python = self.result_cls.__pydantic_validator__.validate_python
        # Whether a dump of the model can be nested deeper than MongoDB's limit (or hold keys
        # of the user's choosing); only then is every document walked before it is stored.
        depth = schema.depth
        self._depth_bounded = depth is not None and depth <= MAX_NESTING

    def id_of(self, obj: BaseModel) -> str | None:
        """The id already set on ``obj`` (as a hex string), or None."""
        value = getattr(obj, ID_FIELD, None)
        return None if value is None else str(value)

    def to_document(self, obj: BaseModel, id: str) -> dict[str, Any]:
        """The engine document for ``obj`` stored under ``id`` (``_id`` first); ``obj`` is not
        modified. Raises ``DocumentTooLargeError`` when it is nested more than ``MAX_NESTING``
        levels deep, ``InvalidDocument`` when a key contains NUL (MongoDB's rules, applied on
        every backend; only models with free-form fields are walked to check)."""
        data = obj.model_dump(mode="python", by_alias=True)
        for key in self._id_keys:
            data.pop(key, None)
        cls = type(obj)
        if not (self._depth_bounded and (cls is self.model_cls or cls is self.result_cls)):
            check_document({"_id": id, **data}, self.collection)
        # A subclass instance may carry fields of any type: only the codec's own classes vouch.
        plain = self.plain_json_floats is not None and (cls is self.model_cls or cls is self.result_cls)
        doc: dict[str, Any] = PlainDocument(_id=id) if plain else {"_id": id}
        doc.update(data if self._native else to_engine_value(data))
        return doc

    def check_stored(self, doc: Mapping[str, Any]) -> None:
        """Refuse ``doc`` (e.g. an update's result, which may add fields the model does not
        declare) as :meth:`to_document` would: too deep, or a key with NUL."""
        check_document(doc, self.collection)

    def is_plain_json(self, doc: Mapping[str, Any]) -> bool:
        """True when ``doc`` (made by :meth:`to_document`) may be stored with
        ``typed_json.dumps(doc, assume_plain=True)``, skipping the type-tagging pass: it is a
        :class:`PlainDocument` and none of its float fields holds NaN or an infinity."""
        floats = self.plain_json_floats
        if type(doc) is not PlainDocument or floats is None:
            return False
        for name in floats:
            value = doc.get(name)
            if type(value) is float and value - value != 0.0:  # NaN, infinity: they need tags
                return False
        return True

    def from_document(self, doc: Mapping[str, Any]) -> ModelT:
        """Validate an engine document back into the model (``_id`` becomes ``id``).

        Validation is lax even for strict models: stored values are in their engine form (an
        Enum's value, a list for a tuple) and must come back as the model's types.
        Raises ``pydantic.ValidationError`` when the document does not fit the model.
        """
        data = dict(doc)
        data[ID_FIELD] = str(data.pop("_id"))
        return self._validate_python(data, strict=False)  # type: ignore[no-any-return]

    def from_stored_json(self, id: str, text: str | bytes) -> ModelT:
        """Validate a document stored by a backend as typed JSON (see ``core.typed_json``,
        without ``_id``) into the model, with ``id`` set.

        When the JSON holds no type tags, Pydantic parses it directly (``model_validate_json``,
        about twice as fast as decoding first); otherwise it is decoded exactly and validated.
        Raises ``pydantic.ValidationError`` when the document does not fit the model.
        """
        raw = text if isinstance(text, str) else text.decode("utf-8")
        if '"$' not in raw:
            if self._assign_id:
                obj = self._validate_json(raw, strict=False)
                obj.__dict__["id"] = id
                obj.__pydantic_fields_set__.add("id")
                return obj  # type: ignore[no-any-return]
            prefix = self._json_id_prefix
            if prefix is not None:
                spliced = prefix + id + ('",' + raw[1:] if len(raw) > 2 else '"}')
                return self._validate_json(spliced, strict=False)  # type: ignore[no-any-return]
        return self.from_document(self.decode_stored(id, raw))

    @staticmethod
    def decode_stored(id: str, text: str | bytes) -> dict[str, Any]:
        """The engine document stored as typed JSON ``text`` (without ``_id``) under ``id``."""
        doc: dict[str, Any] = {"_id": id}
        doc.update(typed_json.loads(text))
        return doc
