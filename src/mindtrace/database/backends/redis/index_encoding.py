"""Index members for Redis sorted sets and unique hashes: order-preserving and exact value encodings.

An index is one sorted set whose members all have score 0, so Redis orders them byte-wise and
``ZRANGEBYLEX`` answers equality, ``$in`` and range queries. A member is the encoded value of
each indexed field followed by ``SEP``, then the document id::

    <rank byte><escaped payload> SEP [<rank byte><escaped payload> SEP ...] <24 hex id>

*Sort encoding* (``sort_component``) is monotone in MongoDB's order for scalar values: if
``a < b`` then ``enc(a) <= enc(b)``, and equal values encode equally. It may be lossy (numbers
go through float64, long strings and binaries are truncated) because the engine re-checks every
candidate: lossy only ever widens the candidate set. Ranges therefore always include the whole
group of their bound. Arrays index each element (multikey); documents and nested arrays get no
member and mark the document *complex* for that index, which disables sort pushdown on it.

*Unique encoding* (``unique_component``) is exact: two values collide exactly when MongoDB
calls them equal (``1 == 1.0 == Decimal("1")``), so unique constraints never misfire.

Escaping: a ``\\x00`` payload byte becomes ``\\x00\\xff``; ``SEP`` is ``\\x00\\x01``. Every
separator therefore sorts below any continuation of the value it ends, which keeps the order.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import struct
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from bson import Binary, Decimal128, Int64

from mindtrace.database.query.compare import (
    RANK_ARRAY,
    RANK_NULL,
    RANK_NUMBER,
    RANK_OBJECT,
    RANK_STRING,
    type_rank,
)

__all__ = [
    "MAX_PAYLOAD",
    "SEP",
    "IndexedValues",
    "indexed_values",
    "member_group",
    "member_id",
    "members_for",
    "sort_component",
    "sort_component_by_rank",
    "unique_component",
    "unique_component_by_rank",
    "unique_fields_for",
]

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
_ID_LEN: Final = 24
_MAX_COMBINATIONS: Final = 1000


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


class IndexedValues:
    """The values a document holds at one path, as an index sees them.

    ``values`` are the scalars and documents reachable through the path (arrays are entered, each
    element counts; a missing path counts as null, as in MongoDB's ``{field: null}``). ``complex``
    is True when anything but a single scalar was there, i.e. the index cannot order this
    document by one key.
    """

    __slots__ = ("complex", "values")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.complex = False


def _walk(node: Any, parts: Sequence[str], out: IndexedValues, in_array: bool) -> None:
    if not parts:
        if isinstance(node, list):
            out.complex = True
            if not node:
                return
            for element in node:
                # Elements of nested arrays are indexed too: a superset of what MongoDB matches,
                # which the engine trims.
                _walk(element, parts, out, True)
            return
        if isinstance(node, dict):
            out.complex = True
        out.values.append(node)
        return
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        if head in node:
            _walk(node[head], rest, out, in_array)
        else:
            out.values.append(None)
        return
    if isinstance(node, list):
        out.complex = True
        if head.isdigit() and int(head) < len(node):
            _walk(node[int(head)], rest, out, True)
        for element in node:
            if isinstance(element, dict | list):
                _walk(element, parts, out, True)
        if not node:
            out.values.append(None)
        return
    out.values.append(None)


def indexed_values(doc: dict[str, Any], path: str) -> IndexedValues:
    """Every value ``doc`` holds at the dotted ``path`` (see ``IndexedValues``)."""
    out = IndexedValues()
    _walk(doc, path.split("."), out, False)
    if len(out.values) > 1:
        out.complex = True
    return out


def _dedupe(items: Iterator[bytes]) -> list[bytes]:
    return list(dict.fromkeys(items))


def members_for(doc: dict[str, Any], fields: Sequence[str], id: str) -> tuple[list[bytes], bool]:
    """The sorted-set members of ``doc`` in an index over ``fields``, and whether it is complex.

    Raises ``ValueError`` when arrays at several fields would need more than 1000 members (MongoDB
    refuses to index such "parallel arrays" altogether).
    """
    if len(fields) == 1 and "." not in fields[0]:
        # Fast path: one top-level field holding a common scalar (or missing).
        value = doc.get(fields[0])
        fast = _FAST_SORT.get(type(value))
        if fast is not None:
            return [fast(value) + SEP + id.encode("ascii")], False
    per_field: list[list[bytes]] = []
    complex = False
    for path in fields:
        found = indexed_values(doc, path)
        complex = complex or found.complex
        components = _dedupe(c for c in map(sort_component, found.values) if c is not None)
        if not components:
            # Only documents/arrays here: no member can be ordered, but the document must still
            # be found by scans — it is reachable through the id set, and pushdown never uses a
            # member for a non-scalar query value.
            return [], True
        per_field.append(components)
    combinations = math.prod(len(c) for c in per_field)
    if combinations > _MAX_COMBINATIONS:
        raise ValueError(
            f"index on {list(fields)} would need {combinations} entries for document {id}: "
            "at most one indexed field may hold a large array"
        )
    suffix = id.encode("ascii")
    return [b"".join(c + SEP for c in combo) + suffix for combo in itertools.product(*per_field)], complex


def unique_fields_for(doc: dict[str, Any], fields: Sequence[str], *, skip_null: bool) -> list[bytes]:
    """The unique-hash fields ``doc`` claims in a unique index over ``fields``.

    With ``skip_null``, a document whose value is null or missing at every field claims nothing,
    so any number of documents may leave a unique field unset.
    """
    if len(fields) == 1 and "." not in fields[0]:
        value = doc.get(fields[0])
        fast = _FAST_EXACT.get(type(value))
        if fast is not None:
            return [] if (value is None and skip_null) else [fast(value)]
    per_field: list[list[bytes]] = []
    all_null = True
    for path in fields:
        found = indexed_values(doc, path)
        values = found.values or [None]
        if any(v is not None for v in values):
            all_null = False
        per_field.append(_dedupe(unique_component(v) for v in values))
    if skip_null and all_null:
        return []
    combinations = math.prod(len(c) for c in per_field)
    if combinations > _MAX_COMBINATIONS:
        raise ValueError(f"unique index on {list(fields)} would need {combinations} entries")
    return [SEP.join(combo) for combo in itertools.product(*per_field)]


def member_id(member: bytes) -> str:
    """The document id at the end of an index member."""
    return member[-_ID_LEN:].decode("ascii")


def member_group(member: bytes) -> bytes:
    """The first component of an index member (its leading field's encoded value)."""
    end = member.find(SEP)
    return member if end < 0 else member[:end]
