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
  UTC back (``ModelSchema.attach_utc`` in ``core.schema``). Aggregation results, which no model
  describes, are read with ``AGGREGATE_CODEC_OPTIONS``: every datetime aware, in UTC. BSON keeps
  milliseconds; every store keeps milliseconds (see ``core.datetimes``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, DecimalException
from typing import Any

from bson import Decimal128, ObjectId
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions, TypeDecoder, TypeEncoder, TypeRegistry
from bson.errors import InvalidDocument
from pydantic_core import PydanticSerializationError, to_jsonable_python

__all__ = [
    "AGGREGATE_CODEC_OPTIONS",
    "CLIENT_OPTIONS",
    "CODEC_OPTIONS",
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
