"""Redis sorted-set members of an index, and the unique claims of a document.

An index is one sorted set whose members all have score 0, so Redis orders them byte-wise and
``ZRANGEBYLEX`` answers equality, ``$in`` and range queries. A member is the order-preserving
encoding (``backends/index_keys.sort_component``) of each indexed field followed by ``SEP``, then
the document id::

    <rank byte><escaped payload> SEP [<rank byte><escaped payload> SEP ...] <24 hex id>

The encoding may be lossy because the engine re-checks every candidate: lossy only ever widens
the candidate set. Ranges therefore always include the whole group of their bound. Arrays index
each element (multikey); documents and nested arrays get no member and mark the document
*complex* for that index, which disables sort pushdown on it.

A unique index keeps a claims hash instead of (single field) or besides (compound) a sorted set:
its fields are the exact keys MongoDB would give the document (``index_keys.unique_claims``,
shared with Local), so a unique constraint collides exactly when MongoDB's would.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any, Final

from mindtrace.database.backends.index_keys import SEP, sort_component, unique_claims

__all__ = [
    "IndexedValues",
    "indexed_values",
    "member_group",
    "member_id",
    "members_for",
    "unique_fields_for",
]

_ID_LEN: Final = 24
_MAX_COMBINATIONS: Final = 1000
_SCALAR_TYPES: Final = (str, int, float, bool, type(None))  # sort_component's shortcuts


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
        if type(value) in _SCALAR_TYPES:
            return [sort_component(value) + SEP + id.encode("ascii")], False  # type: ignore[operator]
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


def unique_fields_for(doc: dict[str, Any], fields: Sequence[str], *, sparse: bool) -> list[bytes]:
    """The claims-hash fields ``doc`` claims in a unique index over ``fields``: MongoDB's keys
    (``index_keys.unique_claims``). ``sparse`` is the index's flag: a document
    lacking every field claims nothing (an explicit null is still claimed, as in MongoDB).

    Raises ``QueryError`` for arrays at two fields of a compound index (parallel arrays).
    """
    return unique_claims(doc, fields, sparse=sparse)


def member_id(member: bytes) -> str:
    """The document id at the end of an index member."""
    return member[-_ID_LEN:].decode("ascii")


def member_group(member: bytes) -> bytes:
    """The first component of an index member (its leading field's encoded value)."""
    end = member.find(SEP)
    return member if end < 0 else member[:end]
