"""The upsert rules every backend follows: which ``_id`` an upserted document may get.

MongoDB takes an upserted document's ``_id`` from the filter's equality on ``_id`` or from the
update (``$set``/``$setOnInsert``), and accepts any value there. Here ids are ObjectIds on every
store (24-hex strings in Python), so an upsert that would create a document with another id
(``None``, an integer, a malformed string) is refused with ``QueryError`` before anything is
written, on every backend alike, rather than stored on one store and refused on another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId

from mindtrace.database.core.document import is_valid_id
from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.upsert import upsert_seed

__all__ = ["check_upsert", "upsert_id"]


def upsert_id(value: Any, collection: str) -> str:
    """``value`` as the id of an upserted document (an ObjectId or a 24-hex string), in the
    engine's form (a string); raises ``QueryError`` for anything else."""
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, str) and is_valid_id(value):
        return value
    raise QueryError(
        f"the upsert into collection {collection!r} would create a document with _id {value!r}; "
        "ids are ObjectIds (24-hex strings) on every store: leave _id out of the filter and the "
        "update to get a new one, or give an ObjectId",
        operator="upsert",
    )


def check_upsert(filter: Mapping[str, Any], update: Any, collection: str) -> None:
    """Refuse, before any I/O, an upsert whose filter or update names an ``_id`` that is not an
    ObjectId (the engine-backed stores check the document they build again; this check is what
    the MongoDB backend relies on)."""
    seed = upsert_seed(filter)
    if "_id" in seed:
        upsert_id(seed["_id"], collection)
    if isinstance(update, Mapping):
        for operator in ("$set", "$setOnInsert"):
            fields = update.get(operator)
            if isinstance(fields, Mapping) and "_id" in fields:
                upsert_id(fields["_id"], collection)
