"""The BSON side of engine documents: codec options, and string ids <-> ObjectIds at the boundary.

Engine documents (see ``core.document``) carry ``_id`` as a 24-hex string; in MongoDB the backend
stores a real ``ObjectId`` so the data is ordinary MongoDB data. Values BSON has no type for are
normalised by the codec options, in PyMongo's C encoder rather than by walking every document:

* ``Decimal`` <-> ``Decimal128`` (both ways; 34 significant digits at most);
* ``date`` -> ``datetime`` at midnight UTC (BSON has no date type; models get their ``date`` back,
  plain dict results show the datetime);
* UUIDs use the standard (subtype 4) representation;
* anything else Pydantic can serialise (URLs, timedeltas, paths...) is stored in its JSON form,
  which validates back into the model;
* datetimes are stored as UTC instants and come back naive, in UTC (``tz_aware=False``), so a
  naive datetime round-trips unchanged, as on the other backends; an aware one keeps its instant
  but not its offset. Where the model declares ``AwareDatetime`` (at any depth) the backend puts
  UTC back (``DatetimeShape``). Aggregation results, which no model describes, are read with
  ``AGGREGATE_CODEC_OPTIONS``: every datetime aware, in UTC. BSON keeps milliseconds; every store
  keeps milliseconds (see ``core.datetimes``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import ipaddress
import pathlib
import types
import typing
import uuid
from collections import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, DecimalException
from typing import Any, Final

from beanie import BackLink, Link
from bson import Decimal128, ObjectId
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions, TypeDecoder, TypeEncoder, TypeRegistry
from bson.errors import InvalidDocument
from pydantic import AwareDatetime, BaseModel, FutureDatetime, NaiveDatetime, PastDatetime
from pydantic_core import PydanticSerializationError, to_jsonable_python

from mindtrace.database.core.datetimes import to_milliseconds

__all__ = [
    "AGGREGATE_CODEC_OPTIONS",
    "CLIENT_OPTIONS",
    "CODEC_OPTIONS",
    "DatetimeShape",
    "filter_to_bson",
    "from_bson",
    "pipeline_to_bson",
    "to_bson",
]


class _DecimalCodec(TypeEncoder, TypeDecoder):
    python_type = Decimal
    bson_type = Decimal128

    def transform_python(self, value: Decimal) -> Decimal128:
        try:
            return Decimal128(value)
        except DecimalException as e:  # more digits (or a wider exponent) than decimal128 holds
            raise InvalidDocument(
                f"cannot store Decimal {value} in BSON: Decimal128 holds at most 34 significant "
                "digits; round it (e.g. with Decimal.quantize) first"
            ) from e

    def transform_bson(self, value: Decimal128) -> Decimal:
        return value.to_decimal()


class _DateEncoder(TypeEncoder):
    # Registered encoders match the exact type, so datetimes (a date subclass) are not affected.
    python_type = dt.date

    def transform_python(self, value: dt.date) -> dt.datetime:
        return dt.datetime(value.year, value.month, value.day)


def _fallback(value: Any) -> Any:
    try:
        return to_jsonable_python(value)
    except PydanticSerializationError:
        # Returning the value unchanged lets BSON raise its usual InvalidDocument naming the type.
        return value


CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=False,
    uuid_representation=UuidRepresentation.STANDARD,
    type_registry=TypeRegistry([_DecimalCodec(), _DateEncoder()], fallback_encoder=_fallback),
)
"""Codec options of every collection the backend reads and writes."""

AGGREGATE_CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CODEC_OPTIONS.with_options(
    tz_aware=True, tzinfo=dt.UTC
)
"""Codec options for aggregation results: no model says which datetimes are aware, so all are (in
UTC), as Local and Redis return the aware values they store."""

CLIENT_OPTIONS: dict[str, Any] = {"uuidRepresentation": "standard"}
"""Client-level options, so Beanie's own calls on the shared client read the backend's UUIDs."""


# ----------------------------------------------------------------------------- datetimes
# Annotations whose values never are, nor contain, a datetime.
_NO_DATETIME: Final = (
    str, int, float, bool, bytes, Decimal, uuid.UUID, ObjectId, dt.time, dt.timedelta, enum.Enum,
    type(None), pathlib.PurePath, ipaddress.IPv4Address, ipaddress.IPv6Address,
    ipaddress.IPv4Network, ipaddress.IPv6Network, ipaddress.IPv4Interface, ipaddress.IPv6Interface,
)  # fmt: skip
_DATETIME_MARKERS: Final = (NaiveDatetime, PastDatetime, FutureDatetime)
_ARRAYS: Final = (list, tuple, set, frozenset, abc.Sequence, abc.MutableSequence, abc.Set, abc.MutableSet,
                  abc.Collection, abc.Iterable)  # fmt: skip
_MAPPINGS: Final = (dict, abc.Mapping, abc.MutableMapping)


@dataclass(eq=False)
class _Node:
    """Where, below one place of a stored document, the model declares ``AwareDatetime``."""

    aware: bool = False  # a datetime right here is declared aware
    fields: dict[str, _Node] = field(default_factory=dict)  # the declared keys of a sub-document
    items: _Node | None = None  # every element of an array
    values: _Node | None = None  # every value of a mapping with free keys (dict[str, X])
    live: bool = False  # this node or one below it is aware (set once the analysis is done)

    def children(self) -> list[_Node]:
        out = list(self.fields.values())
        if self.items is not None:
            out.append(self.items)
        if self.values is not None:
            out.append(self.values)
        return out


class _Analysis:
    """One walk over a model's annotations (nested models, lists, dicts, unions, ``Annotated``)."""

    def __init__(self) -> None:
        self.models: dict[type, _Node] = {}
        self.nodes: list[_Node] = []
        self.may_hold_datetimes = False
        self._merged: dict[tuple[int, int], _Node] = {}

    def node(self) -> _Node:
        made = _Node()
        self.nodes.append(made)
        return made

    def annotation(self, annotation: Any) -> _Node | None:
        if annotation is AwareDatetime:
            self.may_hold_datetimes = True
            made = self.node()
            made.aware = True
            return made
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            return self.annotation(typing.get_args(annotation)[0])
        if origin is typing.Union or origin is types.UnionType:
            found: _Node | None = None
            for arg in typing.get_args(annotation):
                found = self.merge(found, self.annotation(arg))
            return found
        if origin is typing.Literal:
            return None
        if origin is not None:
            args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
            if origin in _MAPPINGS:
                if len(args) != 2:
                    self.may_hold_datetimes = True
                    return None
                values = self.annotation(args[1])
                if values is None:
                    return None
                made = self.node()
                made.values = values
                return made
            if origin in _ARRAYS:
                if not args:
                    self.may_hold_datetimes = True
                    return None
                items: _Node | None = None
                for arg in args:
                    items = self.merge(items, self.annotation(arg))
                if items is None:
                    return None
                made = self.node()
                made.items = items
                return made
            if origin in (Link, BackLink):  # stored as a DBRef; a fetched link is the target's document
                return self.annotation(args[0]) if args else None
            self.may_hold_datetimes = True  # a generic we do not know
            return None
        if not isinstance(annotation, type):
            self.may_hold_datetimes = True  # Any, a TypeVar, a forward reference...
            return None
        if issubclass(annotation, dt.datetime) or issubclass(annotation, _DATETIME_MARKERS):
            self.may_hold_datetimes = True
            return None
        if issubclass(annotation, BaseModel):
            return self.model(annotation)
        if dataclasses.is_dataclass(annotation) or typing.is_typeddict(annotation):
            return self.fields(annotation, _hints(annotation))
        if issubclass(annotation, _NO_DATETIME) or annotation is dt.date:
            return None
        if annotation.__module__.startswith("pydantic"):  # URLs, secrets, colours... (strings)
            return None
        self.may_hold_datetimes = True  # a class of the user's: its dump may hold anything
        return None

    def model(self, model_cls: type[BaseModel]) -> _Node:
        known = self.models.get(model_cls)
        if known is not None:
            return known
        made = self.models[model_cls] = self.node()
        if model_cls.model_config.get("extra") == "allow":
            self.may_hold_datetimes = True
        hints = {(info.alias or name): info.annotation for name, info in model_cls.model_fields.items()}
        self.fields(model_cls, hints, made)
        return made

    def fields(self, owner: type, hints: dict[str, Any] | None, made: _Node | None = None) -> _Node:
        made = made if made is not None else self.node()
        if hints is None:
            self.may_hold_datetimes = True
            return made
        for key, annotation in hints.items():
            child = self.annotation(annotation)
            if child is not None:
                made.fields[key] = child
        return made

    def merge(self, a: _Node | None, b: _Node | None) -> _Node | None:
        """The node of a union: aware where either alternative is."""
        if a is None or a is b:
            return b
        if b is None:
            return a
        key = (id(a), id(b))
        known = self._merged.get(key)
        if known is not None:
            return known
        made = self._merged[key] = self.node()
        made.aware = a.aware or b.aware
        for name in {**a.fields, **b.fields}:
            merged = self.merge(a.fields.get(name), b.fields.get(name))
            if merged is not None:
                made.fields[name] = merged
        made.items = self.merge(a.items, b.items)
        made.values = self.merge(a.values, b.values)
        return made

    def settle(self) -> None:
        """Mark the nodes that lead to an aware declaration (cycles through recursive models)."""
        changed = True
        while changed:
            changed = False
            for node in self.nodes:
                if not node.live and (node.aware or any(c.live for c in node.children())):
                    node.live = changed = True


def _hints(cls: type) -> dict[str, Any] | None:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except Exception:  # an unresolvable forward reference: nothing is known about the fields
        return None


class DatetimeShape:
    """Where a model's stored documents hold datetimes that the model declares ``AwareDatetime``.

    BSON keeps a datetime as a UTC instant, without its offset or whether it had one; PyMongo
    reads it back naive (``tz_aware=False``, so naive values round-trip as on every store).
    Pydantic refuses a naive value where ``AwareDatetime`` is declared, so :meth:`attach_utc`
    puts UTC back on every such place: top-level fields, fields of nested models (also inside
    lists, dict values, unions, ``Optional``, dataclasses, fetched Beanie links).
    """

    def __init__(self, model_cls: type[BaseModel]) -> None:
        analysis = _Analysis()
        root = analysis.model(model_cls)
        analysis.settle()
        self._root: _Node | None = root if root.live else None
        self.may_hold_datetimes: bool = analysis.may_hold_datetimes
        """False when no document of the model can hold a datetime (nothing to convert)."""

    @property
    def has_aware(self) -> bool:
        """True when the model declares ``AwareDatetime`` somewhere."""
        return self._root is not None

    def attach_utc(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Give UTC to the naive datetimes of ``doc`` (as read from MongoDB) where the model
        declares ``AwareDatetime``; in place, and returns ``doc``."""
        if self._root is not None:
            _attach(doc, self._root)
        return doc

    def as_stored(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Turn the datetimes of ``doc`` (about to be written) into what reading it back gives:
        UTC, aware where the model declares ``AwareDatetime``, naive elsewhere. In place."""
        if self.may_hold_datetimes:
            _store(doc, self._root)
        return doc


def _attach(value: Any, node: _Node) -> Any:
    if type(value) is dt.datetime:
        return value.replace(tzinfo=dt.UTC) if node.aware and value.tzinfo is None else value
    if isinstance(value, dict):
        for key, sub in node.fields.items():
            if sub.live and key in value:
                value[key] = _attach(value[key], sub)
        values = node.values
        if values is not None and values.live:
            for key, item in value.items():
                value[key] = _attach(item, values)
    elif type(value) is list:
        items = node.items
        if items is not None and items.live:
            for i, item in enumerate(value):
                value[i] = _attach(item, items)
    return value


def _store(value: Any, node: _Node | None) -> Any:
    t = type(value)
    if t is dict:
        fields = node.fields if node is not None else None
        values = node.values if node is not None else None
        for key, item in value.items():
            sub = fields.get(key, values) if fields is not None else values
            value[key] = _store(item, sub)
        return value
    if t is list:
        items = node.items if node is not None else None
        for i, item in enumerate(value):
            value[i] = _store(item, items)
        return value
    if isinstance(value, dt.datetime):
        aware = node is not None and node.aware
        if value.utcoffset() is None:
            return value.replace(tzinfo=dt.UTC) if aware else value
        utc = to_milliseconds(value.astimezone(dt.UTC))
        return utc if aware else utc.replace(tzinfo=None)
    return value


def to_bson(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of an engine document with its ``_id`` as an ObjectId (other values as they are)."""
    out = dict(doc)
    id = out.get("_id")
    if isinstance(id, str) and ObjectId.is_valid(id):
        out["_id"] = ObjectId(id)
    return out


def from_bson(doc: dict[str, Any]) -> dict[str, Any]:
    """Turn a document read from MongoDB into an engine document, in place: ObjectId ``_id`` -> str."""
    id = doc.get("_id")
    if type(id) is ObjectId:
        doc["_id"] = str(id)
    return doc


def _id_value(value: Any) -> Any:
    if isinstance(value, str):
        return ObjectId(value) if len(value) == 24 and ObjectId.is_valid(value) else value
    if isinstance(value, list | tuple):
        return [_id_value(v) for v in value]
    if isinstance(value, Mapping) and value and all(isinstance(k, str) and k.startswith("$") for k in value):
        return {k: _id_condition(k, v) for k, v in value.items()}
    return value


def _id_condition(operator: str, operand: Any) -> Any:
    if operator in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$all", "$not"):
        return _id_value(operand)
    return operand


def filter_to_bson(filter: Mapping[str, Any]) -> dict[str, Any]:
    """A filter whose conditions on ``_id`` compare ObjectIds instead of 24-hex strings.

    Follows ``$and``/``$or``/``$nor``; other fields, and ``_id`` strings that are not 24-hex, are
    left alone. Linear in the size of the filter; returns the same dict when there is no ``_id``.
    """
    if not filter:
        return dict(filter)
    out: dict[str, Any] | None = None
    for key, value in filter.items():
        if key == "_id":
            new = _id_value(value)
        elif key in ("$and", "$or", "$nor") and isinstance(value, list | tuple):
            new = [filter_to_bson(f) if isinstance(f, Mapping) else f for f in value]
        else:
            continue
        if out is None:
            out = dict(filter)
        out[key] = new
    return out if out is not None else dict(filter)


# Stages that leave ``_id`` meaning "the stored document's id"; once any other stage ran, ``_id``
# may be a group key or a computed value and is left alone.
_ID_PRESERVING = frozenset({"$match", "$sort", "$skip", "$limit", "$sample"})


def pipeline_to_bson(pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert ``_id`` conditions in the leading ``$match`` stages (see ``filter_to_bson``)."""
    out: list[dict[str, Any]] = []
    converting = True
    for stage in pipeline:
        ((name, body),) = stage.items()
        if converting and name == "$match" and isinstance(body, Mapping):
            out.append({"$match": filter_to_bson(body)})
            continue
        if name not in _ID_PRESERVING:
            converting = False
        out.append(stage)
    return out
