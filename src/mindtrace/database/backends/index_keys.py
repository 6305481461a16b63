"""Index keys shared by the engine-backed stores (Local, Redis): value encodings, and the keys a
document gets in a unique index, computed exactly as MongoDB computes them.

**Value encodings.** Each turns one value into bytes that start with a byte for its MongoDB type
rank (so values of different types never meet):

* ``sort_component`` is monotone in MongoDB's order for scalar values: if ``a < b`` then
  ``enc(a) <= enc(b)``, and equal values encode equally. It may be lossy (numbers go through
  float64, long strings and binaries are cut after ``MAX_PAYLOAD`` bytes); a store using it for
  ranges must re-check candidates (Redis sorted-set members, ``redis/index_encoding.py``).
* ``unique_component`` is exact: two values encode equally exactly when a MongoDB index calls
  them equal — ``1 == 1.0 == Decimal("1.00")``, ``-0.0 == 0``, ``NaN == NaN``, an aware datetime
  by its UTC instant whatever its offset (a naive one counts as UTC), ``True != 1``, strings by
  their bytes, sub-documents field by field in order, arrays element by element.

Escaping: a ``\\x00`` payload byte becomes ``\\x00\\xff`` and ``SEP`` is ``\\x00\\x01``, so every
separator sorts below any continuation of the value it ends, which keeps the order.

**Unique keys.** ``unique_keys(doc, paths, sparse=...)`` follows MongoDB's key generation for a
(compound) index: an array reached through a path is entered, each element giving its own key
(multikey: documents whose arrays share an element collide, one document may repeat an
element); an empty array gives the key *undefined* (two empty arrays collide, an empty array and
null do not); an array element that is itself an array is one value; a missing field, or a
sub-path missing in an array element, gives null; a sparse index skips a document that lacks
every field of the index (an explicit null is still indexed); a document with arrays at two
fields of one compound index is refused (MongoDB: "cannot index parallel arrays"); a path part
that is a number is read as that array position and as a field of that name (the keys of both
readings, as a query matches either). A unique index then holds each key once:
``unique_claims`` are the encoded keys (``SEP`` between the fields), the bytes both stores keep —
Redis in a claims hash, Local in a side table per index.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from bson import Binary, Decimal128, Int64

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.compare import (
    RANK_ARRAY,
    RANK_NULL,
    RANK_NUMBER,
    RANK_OBJECT,
    RANK_STRING,
    type_rank,
)

__all__ = [
    "KEYS_VERSION",
    "MAX_PAYLOAD",
    "SEP",
    "UNDEFINED",
    "encode_key",
    "rank_prefix",
    "sort_component",
    "sort_component_by_rank",
    "unique_claims",
    "unique_component",
    "unique_component_by_rank",
    "unique_keys",
]

KEYS_VERSION: Final = 2
"""The version of the unique-key encoding below; stores record it with every unique index and
rebuild the index's keys when it changes (2: one key per array element, missing as null, empty
array its own key, numbers by value across types, datetimes by instant)."""

SEP: Final = b"\x00\x01"
MAX_PAYLOAD: Final = 256
"""Bytes of a string or binary value kept in a sort-index member (longer values share a group)."""

_RANK_OFFSET: Final = 0x10
_RANK_BINARY: Final = 6
_RANK_OBJECTID: Final = 7
_RANK_BOOL: Final = 8
_RANK_DATE: Final = 9
_SCALAR_RANKS: Final = frozenset(
    {RANK_NULL, RANK_NUMBER, RANK_STRING, _RANK_BINARY, _RANK_OBJECTID, _RANK_BOOL, _RANK_DATE}
)
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _rank_byte(rank: int) -> bytes:
    return bytes((rank + _RANK_OFFSET,))


def rank_prefix(rank: int) -> bytes:
    """First byte of every member component whose value has this type rank."""
    return _rank_byte(rank)


def _escape(payload: bytes) -> bytes:
    return payload.replace(b"\x00", b"\x00\xff")


def _float_key(value: float) -> bytes:
    # IEEE-754 bits reordered so that byte order is numeric order; NaN sorts first, as in MongoDB.
    if math.isnan(value):
        return b"\x00" * 8
    if value == 0:
        value = 0.0  # -0.0 == 0.0
    (bits,) = struct.unpack(">Q", struct.pack(">d", value))
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return struct.pack(">Q", bits)


def _as_float(value: Any) -> float:
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    if isinstance(value, Decimal):
        if value.is_nan():
            return math.nan
        return float(value)
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _micros(value: dt.date) -> int:
    if isinstance(value, dt.datetime):
        aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    else:
        aware = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    delta = aware - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _binary_payload(value: Any, limit: int | None) -> bytes:
    if isinstance(value, uuid.UUID):
        subtype, data = 4, value.bytes
    else:
        subtype, data = (value.subtype if isinstance(value, Binary) else 0), bytes(value)
    head = struct.pack(">IB", len(data), subtype)
    return head + (data if limit is None else data[:limit])


def _scalar_payload(value: Any, rank: int, *, exact: bool) -> bytes:
    limit = None if exact else MAX_PAYLOAD
    if rank == RANK_NULL:
        return b""
    if rank == _RANK_BOOL:
        return b"\x01" if value else b"\x00"
    if rank == RANK_NUMBER:
        return _exact_number(value) if exact else _float_key(_as_float(value))
    if rank == RANK_STRING:
        data = str(value).encode("utf-8", "surrogatepass")
        return data if limit is None else data[:limit]
    if rank == _RANK_BINARY:
        return _binary_payload(value, limit)
    if rank == _RANK_OBJECTID:
        return bytes(value.binary)
    if rank == _RANK_DATE:
        return struct.pack(">Q", _micros(value) + (1 << 63))
    raise AssertionError(f"rank {rank} is not a scalar rank")  # pragma: no cover - guarded by callers


def _exact_number(value: Any) -> bytes:
    # A canonical decimal string: equal numbers of any Python type give the same bytes.
    if isinstance(value, Int64):
        value = int(value)
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        if math.isnan(value):
            return b"NaN"
        if math.isinf(value):
            return b"Infinity" if value > 0 else b"-Infinity"
        value = Decimal(value)  # exact
    if value.is_nan():
        return b"NaN"
    if value.is_infinite():
        return b"Infinity" if value > 0 else b"-Infinity"
    try:
        if value == value.to_integral_value():
            return str(int(value)).encode()
    except InvalidOperation:  # pragma: no cover - finite decimals always have an integral value
        pass
    return str(value.normalize()).encode()


def _str_sort(value: str) -> bytes:
    return _STRING_BYTE + value.encode("utf-8", "surrogatepass")[:MAX_PAYLOAD].replace(b"\x00", b"\x00\xff")


def _int_sort(value: int) -> bytes:
    return _NUMBER_BYTE + _escape(_float_key(_as_float(value)))


def _float_sort(value: float) -> bytes:
    return _NUMBER_BYTE + _escape(_float_key(value))


def _bool_sort(value: bool) -> bytes:
    return _BOOL_BYTE + (b"\x01" if value else b"\x00\xff")


def _none_sort(value: None) -> bytes:
    return _NULL_BYTE


def _str_exact(value: str) -> bytes:
    return _STRING_BYTE + value.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\xff")


def _int_exact(value: int) -> bytes:
    return _NUMBER_BYTE + str(value).encode()


_NULL_BYTE: Final = _rank_byte(RANK_NULL)
_NUMBER_BYTE: Final = _rank_byte(RANK_NUMBER)
_STRING_BYTE: Final = _rank_byte(RANK_STRING)
_BOOL_BYTE: Final = _rank_byte(_RANK_BOOL)
# Exact-type fast paths for the common scalars (bool before int matters: exact types only).
_FAST_SORT: Final[dict[type, Any]] = {
    str: _str_sort,
    int: _int_sort,
    float: _float_sort,
    bool: _bool_sort,
    type(None): _none_sort,
}
_FAST_EXACT: Final[dict[type, Any]] = {
    str: _str_exact,
    int: _int_exact,
    bool: _bool_sort,
    type(None): _none_sort,
}


def sort_component(value: Any) -> bytes | None:
    """Order-preserving (possibly lossy) member component for a scalar; None for non-scalars."""
    fast = _FAST_SORT.get(type(value))
    if fast is not None:
        return fast(value)  # type: ignore[no-any-return]
    return sort_component_by_rank(value)


def sort_component_by_rank(value: Any) -> bytes | None:
    """``sort_component`` without the shortcuts for common types (the reference they must match)."""
    rank = type_rank(value)
    if rank not in _SCALAR_RANKS:
        return None
    return _rank_byte(rank) + _escape(_scalar_payload(value, rank, exact=False))


def unique_component(value: Any) -> bytes:
    """Exact component for unique hashes; documents and arrays are encoded field by field, in order."""
    fast = _FAST_EXACT.get(type(value))
    if fast is not None:
        return fast(value)  # type: ignore[no-any-return]
    return unique_component_by_rank(value)


def unique_component_by_rank(value: Any) -> bytes:
    """``unique_component`` without the shortcuts for common types (the reference they must match)."""
    rank = type_rank(value)
    if rank in _SCALAR_RANKS:
        return _rank_byte(rank) + _escape(_scalar_payload(value, rank, exact=True))
    if rank == RANK_OBJECT:
        parts = [
            _escape(str(k).encode("utf-8", "surrogatepass")) + SEP + unique_component(v)
            for k, v in value.items()
        ]
        return _rank_byte(rank) + b"".join(p + SEP for p in parts)
    if rank == RANK_ARRAY:
        return _rank_byte(rank) + b"".join(unique_component(v) + SEP for v in value)
    # Other BSON types (regex, timestamp, min/max key) are rare in models: fall back to repr.
    return _rank_byte(rank) + _escape(repr(value).encode("utf-8", "surrogatepass"))


class _Undefined:
    """The key MongoDB gives an empty array in an index (BSON *undefined*): equal only to
    itself, so two empty arrays collide while an empty array and null do not."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()
"""The key value of an empty array (see ``unique_keys``)."""

_UNDEFINED_COMPONENT: Final = bytes((_RANK_OFFSET - 1,))  # below every type rank's byte
_MISSING: Final = object()


def encode_key(values: Sequence[Any]) -> bytes:
    """The claim of one unique-index key: the exact components of its values, ``SEP`` between."""
    return SEP.join(_UNDEFINED_COMPONENT if v is UNDEFINED else unique_component(v) for v in values)


def _follow(node: Any, parts: Sequence[str], start: int) -> tuple[Any, int]:
    # MongoDB's "element at path or array along path": walk sub-documents from parts[start] on;
    # stop at the end (the value) or at the first array met (it, and the index of the next part).
    i = start
    while i < len(parts):
        if not isinstance(node, Mapping) or parts[i] not in node:
            return _MISSING, i
        node = node[parts[i]]
        i += 1
        if isinstance(node, list):
            return node, i
    return node, i


_Positional = tuple[Any, int] | None  # (the array element a numeric path part names, next part)


class _KeyWalk:
    """One run of MongoDB's key generation (``BtreeKeyGenerator::getKeys``) over one document."""

    __slots__ = ("keys", "parts", "paths", "sparse")

    def __init__(self, paths: Sequence[str], sparse: bool) -> None:
        self.paths = paths
        self.parts = [p.split(".") for p in paths]
        self.sparse = sparse
        self.keys: dict[bytes, tuple[Any, ...]] = {}

    def walk(
        self,
        obj: Any,
        pos: list[int],
        fixed: list[Any],
        hints: Sequence[_Positional],
        forced: Mapping[int, tuple[Any, int]],
    ) -> None:
        """Add the keys of ``obj`` (a document, or ``{}`` for an array element that is none).

        ``pos[i]``: the next part of path ``i`` to follow in ``obj``, or -1 once ``fixed[i]``
        holds its value (both lists are this call's own). ``hints[i]``: the array element a
        numeric next part of path ``i`` names; ``forced``: the paths read that way here.
        """
        for i, hint in enumerate(hints):
            if hint is not None:
                # A numeric part reads two ways, as in a query: the field of that name (the
                # plain walk) and the array position (MongoDB's positional index paths).
                rest = list(hints)
                rest[i] = None
                self.walk(obj, list(pos), list(fixed), rest, forced)
                self.walk(obj, pos, fixed, rest, {**forced, i: hint})
                return
        parts = self.parts
        array: list[Any] | None = None
        on_array: list[int] = []
        not_found = 0
        for i, p in enumerate(pos):
            if p < 0:
                continue
            if i in forced:
                element, q = forced[i]
                if q == len(parts[i]) or isinstance(element, list):
                    value, nxt = element, q  # the value, or an array the rest of the path enters
                else:
                    value, nxt = _follow(element, parts[i], q)
            else:
                value, nxt = _follow(obj, parts[i], p)
            if value is _MISSING:
                fixed[i], pos[i] = None, -1
                not_found += 1
            elif isinstance(value, list):
                if array is None:
                    array = value
                elif value is not array:
                    first = self.paths[on_array[0]]
                    raise QueryError(
                        f"cannot index parallel arrays: the document holds arrays at both {first!r} "
                        f"and {self.paths[i]!r}, two fields of one compound unique index; MongoDB "
                        "refuses such a document, and so does every store. Keep at most one of "
                        "the index's fields an array",
                        operator="index",
                    )
                on_array.append(i)
                pos[i] = nxt
            else:
                fixed[i], pos[i] = value, -1
        if array is None:
            if self.sparse and not_found == len(pos):
                return  # a sparse index skips a document lacking every field
            key = tuple(fixed)
            self.keys.setdefault(encode_key(key), key)
            return
        sub_hints: list[_Positional] = [None] * len(pos)
        for i in on_array:
            part = parts[i][pos[i]] if pos[i] < len(parts[i]) else ""
            if part.isdigit() and int(part) < len(array):
                sub_hints[i] = (array[int(part)], pos[i] + 1)
        for element in array if array else [UNDEFINED]:
            sub_pos, sub_fixed = list(pos), list(fixed)
            for i in on_array:
                if pos[i] == len(parts[i]):  # the array is the field's value: each element a key
                    sub_fixed[i], sub_pos[i] = element, -1
            sub_obj = element if isinstance(element, Mapping) else {}
            self.walk(sub_obj, sub_pos, sub_fixed, sub_hints, {})


def unique_keys(
    doc: Mapping[str, Any], paths: Sequence[str], *, sparse: bool
) -> dict[bytes, tuple[Any, ...]]:
    """The keys ``doc`` has in a unique index over ``paths`` (see the module docstring): encoded
    key -> its values in index order (``UNDEFINED`` for an empty array), each key once.

    Raises ``QueryError`` for arrays at two fields of a compound index (parallel arrays).

    A path with a numeric part (``a.1``) gets the keys of both readings — the array position,
    and the field of that name in each element — since a query ``{"a.1": v}`` matches either:
    a superset of MongoDB's keys for such rare paths, so a lookup by key never misses a match.
    """
    n = len(paths)
    run = _KeyWalk(paths, sparse)
    run.walk(doc, [0] * n, [None] * n, [None] * n, {})
    return run.keys


def unique_claims(doc: Mapping[str, Any], paths: Sequence[str], *, sparse: bool) -> list[bytes]:
    """The encoded keys of ``unique_keys`` (with a shortcut for one top-level field holding a
    common scalar: the usual unique email or name)."""
    if len(paths) == 1 and "." not in paths[0]:
        value = doc.get(paths[0], _MISSING)
        fast = _FAST_EXACT.get(type(value))
        if fast is not None:
            return [fast(value)]
        if value is _MISSING:
            return [] if sparse else [_NULL_BYTE]
    return list(unique_keys(doc, paths, sparse=sparse))
