"""Key names of one collection in Redis: one hash tag per collection, every name escaped.

Every key of a collection starts with ``{<prefix>:<collection>}`` so that all of them hash to the
same Cluster slot and one Lua script may touch them together. Prefix, collection and index names
are percent-escaped to ``[A-Za-z0-9_.-]``, so no name can close the hash tag early, inject a ``:``
separator or bring a glob character into a key; document ids are validated 24-hex ObjectIds.
Index *values* never appear in key names at all: they live inside sorted-set members and hash
fields (see ``index_encoding``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["KeySpace", "escape_name"]

_UNSAFE = re.compile(rb"[^A-Za-z0-9_.\-]")


def escape_name(name: str) -> str:
    """Percent-escape every byte of ``name``'s UTF-8 outside ``[A-Za-z0-9_.-]`` (``"a:b"`` -> ``"a%3Ab"``).

    Injective, so two different names never share keys.
    """
    raw = name.encode("utf-8")
    return _UNSAFE.sub(lambda m: b"%%%02X" % m.group()[0], raw).decode("ascii")


@dataclass(frozen=True)
class KeySpace:
    """The key names of one collection under one prefix.

    ``doc_prefix + id`` is a document (a string holding the encoded document); ``ids`` a sorted
    set of every id (score 0, so it is ordered by id); ``entries`` a hash id -> the index members
    that document owns (so deletes and expiry can remove them without decoding the document);
    ``expiry`` a sorted set id -> expiry time in ms; ``index(name)`` a sorted set of encoded
    values; ``unique(name)`` a hash exact value -> owning id.
    """

    prefix: str
    collection: str
    tag: str = field(init=False)
    doc_prefix: str = field(init=False)
    ids: str = field(init=False)
    entries: str = field(init=False)
    expiry: str = field(init=False)
    meta: str = field(init=False)

    def __post_init__(self) -> None:
        tag = "{" + escape_name(self.prefix) + ":" + escape_name(self.collection) + "}"
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "doc_prefix", f"{tag}:d:")
        object.__setattr__(self, "ids", f"{tag}:ids")
        object.__setattr__(self, "entries", f"{tag}:entries")
        object.__setattr__(self, "expiry", f"{tag}:expiry")
        object.__setattr__(self, "meta", f"{tag}:meta")

    def doc(self, id: str) -> str:
        """Key of the document with this (already validated) id."""
        return self.doc_prefix + id

    def index(self, name: str) -> str:
        """Sorted set of the index ``name``: members ``encoded value \\0 id``, all with score 0."""
        return f"{self.tag}:i:{escape_name(name)}"

    def unique(self, name: str) -> str:
        """Hash of the unique index ``name``: exact encoded value -> id of the owning document."""
        return f"{self.tag}:u:{escape_name(name)}"

    def for_collection(self, collection: str) -> KeySpace:
        """The key space of another collection under the same prefix (for ``$lookup``)."""
        return KeySpace(self.prefix, collection)
