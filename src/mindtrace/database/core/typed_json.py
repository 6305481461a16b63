"""Exact-type JSON storage codec: engine documents to JSON text and back, without losing a type.

Common scalars (str, int, float, bool, None), lists and dicts are stored as plain JSON, so SQL JSON
functions (and Redis index code) see them as they are. Every other value an engine document may
hold is stored as a *tagged object* whose first key names the type:

==============================  ==========================================================
value                           stored as
==============================  ==========================================================
naive ``datetime``              ``{"$date": "2024-05-01T12:00:00.000000"}``
aware ``datetime``              ``{"$date": <UTC instant>, "$tz": 7200}`` (fixed offset, seconds)
                                or ``"$tz": "Europe/Paris"`` (``zoneinfo.ZoneInfo`` key)
``date``                        ``{"$date": "2024-05-01T00:00:00.000000", "$day": 1}``
``time`` / ``timedelta``        ``{"$time": "12:00:00+02:00"}`` / ``{"$timedelta": [d, s, us]}``
``Decimal`` / ``Decimal128``    ``{"$n:dec": "1.10"}`` / ``{"$n:d128": "1.10"}``
int beyond 64 bits              ``{"$n:int": "123456789012345678901234567890"}``
NaN, +-infinity                 ``{"$n:float": "nan"}`` (``"inf"``, ``"-inf"``)
``UUID``                        ``{"$uuid": "6f1c...-..."}``
``bytes`` / ``bson.Binary``     ``{"$bytes": <base64>}`` / ``{"$bin": [<base64>, subtype]}``
``ObjectId``                    ``{"$oid": "65f0c3..."}``
``str`` containing NUL          ``{"$str": "a\\u0000b"}`` (SQLite's JSON functions cut text at NUL)
==============================  ==========================================================

The ``$date`` instant is always UTC with a fixed width (year to microsecond), so the stored JSON
text of dates sorts chronologically and SQL can compare it; all tagged numbers share the prefix
``{"$n:`` so a query can find them with one range. A key of the user's data that starts with ``$``
is stored with one more ``$`` in front (``"$x"`` -> ``"$$x"``), so a tag can never be confused
with data; non-string dict keys are stored as strings (Pydantic turns them back for typed fields).

Costs: encoding walks the document in Python only when it holds something plain JSON cannot
carry (see :func:`needs_tagging`); decoding walks it only when the text contains ``"$``.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from bson import Binary, Decimal128, ObjectId

from mindtrace.database.core.exceptions import DocumentTooLargeError
from mindtrace.database.core.input_checks import MAX_NESTING, find_invalid_text, nesting_exceeds

__all__ = [
    "DATE_PREFIX",
    "NUMBER_TAG_PREFIX",
    "STRING_TAG_PREFIX",
    "date_key",
    "dumps",
    "dumps_text",
    "loads",
    "needs_tagging",
    "tag_value",
    "value_text",
]

DATE_PREFIX: Final = '{"$date":"'
"""Start of the stored JSON text of every datetime and date (the UTC instant follows)."""

NUMBER_TAG_PREFIX: Final = '{"$n:'
"""Start of the stored JSON text of every number plain JSON cannot hold exactly."""

STRING_TAG_PREFIX: Final = '{"$str":'
"""Start of the stored JSON text of every string containing NUL. SQLite's ``json_extract`` ends
text at a NUL, so such a string stored plainly would compare equal to its prefix in SQL (and
``"admin\\x00x"`` would match ``{"name": "admin"}``); tagged, SQL sees an object and leaves the
comparison to the query engine."""
_NUL_ESCAPE: Final = b"\\u0000"  # how orjson writes NUL inside a JSON string

_INT_MIN: Final = -(1 << 63)
_UINT_MAX: Final = (1 << 64) - 1  # orjson writes (and reads back exactly) up to this value
_UTC: Final = dt.UTC
_DATE_FMT: Final = "%04d-%02d-%02dT%02d:%02d:%02d.%06d"

# Plain JSON scalars that need nothing; checked with ``type(v) in`` (exact types only, so that a
# str-Enum or an int subclass such as bool is looked at properly).
_PLAIN: Final = frozenset({str, bool, type(None)})
# Types orjson hands to our ``default`` hook (datetimes because we ask it to), so a document
# holding them needs no separate pass before ``orjson.dumps``.
_HOOKED: Final = frozenset(
    {dt.datetime, dt.date, dt.time, dt.timedelta, Decimal, ObjectId, bytes, Decimal128, Binary}
)


# ----------------------------------------------------------------------------- encoding


def date_key(value: dt.date) -> str:
    """The fixed-width UTC instant stored under ``$date``: naive datetimes count as UTC and a
    plain date as midnight UTC, exactly as the query engine compares them."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            offset = value.utcoffset()
            if offset:
                value = value - offset
        return _DATE_FMT % (
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
        )
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T00:00:00.000000"


def _tz_tag(value: dt.datetime) -> Any:
    tz = value.tzinfo
    if isinstance(tz, ZoneInfo) and tz.key is not None:
        return tz.key
    offset = value.utcoffset()
    assert offset is not None  # aware datetimes only
    seconds = offset.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


def _tag_datetime(value: dt.datetime) -> dict[str, Any]:
    if value.tzinfo is None or value.utcoffset() is None:
        return {"$date": date_key(value)}
    tag: dict[str, Any] = {"$date": date_key(value), "$tz": _tz_tag(value)}
    if isinstance(value.tzinfo, ZoneInfo):
        # A wall time that does not exist (inside a DST gap) or carries an unusual fold does not
        # come back from its UTC instant; store the wall time as well so it round-trips exactly.
        back = _from_utc(tag["$date"], value.tzinfo)
        if back.replace(tzinfo=None) != value.replace(tzinfo=None) or back.fold != value.fold:
            tag["$wall"] = [date_key(value.replace(tzinfo=None)), value.fold]
    return tag


def tag_value(value: Any) -> Any:
    """The JSON-ready stand-in for one value plain JSON cannot hold (a tagged dict or a str key
    for dict keys); plain values are returned unchanged. Raises ``TypeError`` for a type this
    codec does not store, naming it."""
    t = type(value)
    if t is dt.datetime or (isinstance(value, dt.datetime)):
        return _tag_datetime(value)
    if t is dt.date or isinstance(value, dt.date):
        return {"$date": date_key(value), "$day": 1}
    if isinstance(value, Decimal):
        return {"$n:dec": str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"$n:float": "nan"}
        if math.isinf(value):
            return {"$n:float": "inf" if value > 0 else "-inf"}
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if _INT_MIN <= value <= _UINT_MAX:
            return value
        return {"$n:int": str(int(value))}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, ObjectId):
        return {"$oid": str(value)}
    if isinstance(value, Binary):
        return {"$bin": [base64.b64encode(value).decode("ascii"), value.subtype]}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Decimal128):
        return {"$n:d128": str(value)}
    if isinstance(value, dt.time):
        return {"$time": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$timedelta": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, str):
        return {"$str": str(value)} if "\x00" in value else value
    if isinstance(value, bool) or value is None:
        return value
    raise TypeError(
        f"cannot store a value of type {t.__module__}.{t.__qualname__} ({value!r}): supported are "
        "JSON types, datetime, date, time, timedelta, Decimal, UUID, bytes and ObjectId; convert "
        "it in the model (e.g. with a field serializer) first"
    )


def _orjson_default(value: Any) -> Any:
    # Called by orjson for types it does not serialize itself (and for datetimes, which we ask it
    # to pass through). Sets and tuples become lists; nested values of those are walked by orjson.
    if isinstance(value, set | frozenset):
        return [_prepare(v) for v in value]
    return tag_value(value)


def _key(key: Any) -> str:
    if type(key) is str:
        return "$" + key if key[:1] == "$" else key
    text = str(key) if isinstance(key, str) else tag_key_str(key)
    return "$" + text if text[:1] == "$" else text


def tag_key_str(key: Any) -> str:
    """How a non-string dict key is stored: ints, floats, bools and None as JSON would print
    them, Enums by value, anything else by ``str``."""
    value = getattr(key, "value", key)
    if isinstance(value, bool) or value is None:
        return orjson.dumps(value).decode()
    return str(value)


def needs_tagging(value: Any) -> bool:
    """True when ``value`` (a document or any part of it) holds something ``orjson`` would not
    store exactly even with this module's ``default`` hook: a UUID (orjson writes it as a plain
    string), NaN or infinity, an int beyond 64 bits, a ``$``-prefixed or non-string key, or a type
    the hook does not know. One pass over the document; False means one ``orjson.dumps`` suffices.
    """
    t = type(value)
    if t in _PLAIN or t in _HOOKED:
        return False
    if t is int:
        return not (_INT_MIN <= value <= _UINT_MAX)
    if t is float:
        return bool(value - value != 0.0)  # NaN and infinities
    if t is dict:
        for k, v in value.items():
            if type(k) is not str or k[:1] == "$":
                return True
            tv = type(v)
            if tv is str or tv is bool or v is None:
                continue
            if tv is int:
                if _INT_MIN <= v <= _UINT_MAX:
                    continue
                return True
            if tv is float:
                if v - v == 0.0:
                    continue
                return True
            if needs_tagging(v):
                return True
        return False
    if t is list or t is tuple:
        for v in value:
            tv = type(v)
            if tv is str or tv is bool or v is None:
                continue
            if tv is int:
                if _INT_MIN <= v <= _UINT_MAX:
                    continue
                return True
            if tv is float:
                if v - v == 0.0:
                    continue
                return True
            if needs_tagging(v):
                return True
        return False
    return True


def _prepare(value: Any) -> Any:
    # Copy of ``value`` with everything plain JSON cannot carry replaced by tags and keys escaped.
    t = type(value)
    if t is str:
        return {"$str": value} if "\x00" in value else value
    if t in _PLAIN:
        return value
    if t is dict or isinstance(value, Mapping):
        return {_key(k): _prepare(v) for k, v in value.items()}
    if t is list or t is tuple or isinstance(value, list | tuple | set | frozenset):
        return [_prepare(v) for v in value]
    return tag_value(value)


_DUMPS_OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATETIME


def dumps(doc: Any, *, assume_plain: bool = False) -> bytes:
    """Encode an engine document (or any value) as compact UTF-8 JSON with type tags.

    ``assume_plain=True`` skips the pass that looks for what orjson would store inexactly (UUIDs,
    NaN/infinity, ``$`` or non-string keys): the caller vouches for their absence, e.g. because
    the document is the dump of a model whose types exclude them. Ints beyond 64 bits are still
    caught (orjson refuses them and the full pass takes over), and so are strings containing NUL
    (found in orjson's output, then tagged by the full pass).
    Raises ``TypeError`` naming the type of a value that cannot be stored,
    ``UnicodeEncodeError`` for a string (or key) that is not valid Unicode (lone surrogates), and
    ``DocumentTooLargeError`` for a document nested too deeply for orjson (over 255 levels).
    """
    try:
        return _dumps_document(doc, assume_plain)
    except RecursionError as e:  # the tagging pass recurses; orjson stops at 255 levels itself
        raise _too_deep(doc) from e


def _too_deep(doc: Any) -> DocumentTooLargeError:
    return DocumentTooLargeError(
        f"document {doc.get('_id') if isinstance(doc, Mapping) else None!r} is nested more than "
        f"{MAX_NESTING} levels deep (documents and arrays), MongoDB's limit on every backend; "
        "flatten it or store the deep part as a string (e.g. JSON text)"
    )


def _dumps_document(doc: Any, assume_plain: bool) -> bytes:
    if assume_plain:
        try:
            out = orjson.dumps(doc, default=_orjson_default, option=_DUMPS_OPTIONS)
        except orjson.JSONEncodeError:
            pass  # a huge int (or an unsupported type): the full pass handles or names it
        else:
            return out if _NUL_ESCAPE not in out else _dumps_prepared(doc)
    if needs_tagging(doc):
        return _dumps_prepared(doc)
    out = _dumps(doc, doc)
    # A NUL inside a string (or a backslash followed by "u0000", which costs a second pass only).
    return out if _NUL_ESCAPE not in out else _dumps_prepared(doc)


def _dumps_prepared(doc: Any) -> bytes:
    return _dumps(_prepare(doc), doc)


def _dumps(value: Any, doc: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_orjson_default, option=_DUMPS_OPTIONS)
    except orjson.JSONEncodeError as e:
        # orjson reports unsupported types through our default (TypeError), invalid UTF-8 and
        # recursion limits.
        if isinstance(e.__cause__, TypeError):
            raise e.__cause__ from None
        found = find_invalid_text(doc)
        if found is not None:
            found[1].encode("utf-8")  # raises the UnicodeEncodeError naming the character
        if nesting_exceeds(doc):  # orjson stops at 255 levels; MongoDB's limit is 100
            raise _too_deep(doc) from e
        raise TypeError(f"cannot encode document as JSON: {e}") from e


def dumps_text(doc: Any) -> str:
    """:func:`dumps` as ``str`` (for stores that keep JSON as text)."""
    return dumps(doc).decode("utf-8")


def value_text(value: Any) -> str:
    """The exact JSON text :func:`dumps` writes for ``value`` where it appears inside a
    document, e.g. ``{"$uuid":"..."}`` for a UUID (what SQL's ``json_extract`` returns for it)."""
    return orjson.dumps(_prepare(value), default=_orjson_default, option=_DUMPS_OPTIONS).decode("utf-8")


# ----------------------------------------------------------------------------- decoding


def _from_utc(instant: str, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.fromisoformat(instant).replace(tzinfo=_UTC).astimezone(tz)


def _tzinfo(tag: Any) -> dt.tzinfo:
    if isinstance(tag, str):
        try:
            return ZoneInfo(tag)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"stored datetime names unknown time zone {tag!r}") from e
    if tag == 0:
        return _UTC
    return dt.timezone(dt.timedelta(seconds=tag))


def _untag(d: dict[str, Any]) -> Any:
    # ``d`` is a decoded JSON object whose first key starts with "$": a tag, or escaped user keys.
    first = next(iter(d))
    if first == "$date":
        instant = d["$date"]
        if "$day" in d:
            return dt.date.fromisoformat(instant[:10])
        tz = d.get("$tz")
        if tz is None:
            return dt.datetime.fromisoformat(instant)
        tzinfo = _tzinfo(tz)
        wall = d.get("$wall")
        if wall is not None:
            return dt.datetime.fromisoformat(wall[0]).replace(tzinfo=tzinfo, fold=wall[1])
        return _from_utc(instant, tzinfo)
    if first == "$n:dec":
        return Decimal(d[first])
    if first == "$n:int":
        return int(d[first])
    if first == "$n:float":
        return float(d[first])
    if first == "$uuid":
        return uuid.UUID(d[first])
    if first == "$oid":
        return ObjectId(d[first])
    if first == "$bytes":
        return base64.b64decode(d[first])
    if first == "$bin":
        data, subtype = d[first]
        return Binary(base64.b64decode(data), subtype)
    if first == "$n:d128":
        return Decimal128(d[first])
    if first == "$time":
        return dt.time.fromisoformat(d[first])
    if first == "$timedelta":
        days, seconds, micros = d[first]
        return dt.timedelta(days=days, seconds=seconds, microseconds=micros)
    if first == "$str":
        return d[first]
    return _restore_dict(d)


def _restore_dict(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in d.items():
        if key[:1] == "$":
            if key[:2] != "$$":
                raise ValueError(f"stored document holds unknown type tag {key!r}")
            out[key[1:]] = _restore(v)
        else:
            out[key] = _restore(v)
    return out


def _restore(value: Any) -> Any:
    # Decoded JSON with tags -> exact values. Works in place where no key needs unescaping.
    t = type(value)
    if t is dict:
        escaped = False
        for i, k in enumerate(value):
            if k[:1] == "$":
                if i == 0 and k[:2] != "$$":
                    return _untag(value)
                escaped = True
                break
        if escaped:
            return _restore_dict(value)
        for k, v in value.items():
            tv = type(v)
            if tv is dict or tv is list:
                value[k] = _restore(v)
        return value
    if t is list:
        for i, v in enumerate(value):
            tv = type(v)
            if tv is dict or tv is list:
                value[i] = _restore(v)
        return value
    return value


def loads(data: bytes | str) -> Any:
    """Decode what :func:`dumps` wrote, restoring every tagged value to its exact Python type.

    Raises ``ValueError`` for text that is not JSON or holds an unknown ``$`` tag.
    """
    value = orjson.loads(data)
    if (b'"$' in data) if isinstance(data, bytes) else ('"$' in data):
        return _restore(value)
    return value
