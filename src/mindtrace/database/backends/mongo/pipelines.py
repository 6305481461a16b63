"""Aggregation pipelines rewritten so that ids behave on MongoDB as on every other store.

Engine documents (Local, Redis) hold ``_id`` as a 24-hex string, and so does every field that
holds another document's id (``run.dataset_id = dataset.id``). MongoDB keeps ``_id`` as an
``ObjectId``. Two consequences, and what :func:`ids_as_strings` does about them:

* **Ids in results.** ``{"$first": "$_id"}``, ``{"$push": "$_id"}``, joined documents and unioned
  documents would carry ``ObjectId`` values where the other stores give strings (and JSON
  encoders choke). After the leading stages that may use the ``_id`` index (``$match``, ``$sort``,
  ``$skip``, ``$limit``, ``$sample`` and the stages that must come first), one ``$set`` turns
  ``_id`` into its 24-hex string; documents entering from other collections (``$lookup``,
  ``$unionWith``, ``$graphLookup``) get the same treatment. Later stages then see the same
  ``_id`` as the engine does: ``$type`` says ``"string"``, ``$sort`` orders alike (lower-case hex
  sorts as ObjectIds do). Values of fields typed ``ObjectId`` stay ObjectIds, as elsewhere.
* **Joins on ids.** A ``$lookup`` with ``localField``/``foreignField`` where either side is
  ``_id`` joins a string id with an ``ObjectId`` ``_id``, which MongoDB never finds equal. The
  local value is replaced by a temporary array holding it in both forms (string and ObjectId;
  each element of an array value likewise), so the join matches whichever form the other side
  stores and still uses the index on the foreign field; the temporary field is removed right
  after. Joins between two other fields are left alone.

Pipelines that write (``$out``, ``$merge``) keep their ids as ObjectIds (they store documents);
their joins on ids are still rewritten.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, Final

__all__ = ["ids_as_strings"]

# Stages that must come first in a pipeline (or a sub-pipeline).
_FIRST: Final = frozenset(
    {
        "$geoNear", "$search", "$searchMeta", "$vectorSearch", "$collStats", "$indexStats",
        "$planCacheStats", "$listSearchIndexes", "$changeStream", "$documents",
    }
)  # fmt: skip
# The conversion goes after these: stages that leave ``_id`` the stored document's id and may
# use its index, and the stages that must come first.
_LEADING: Final = _FIRST | {"$match", "$sort", "$skip", "$limit", "$sample"}
_WRITES: Final = frozenset({"$out", "$merge"})
_JOIN_KEY: Final = "__mindtrace_id_join"


def _id_string(expression: Any) -> dict[str, Any]:
    """An ObjectId as its 24-hex string; any other value (or a missing one) as it is."""
    return {"$cond": [{"$eq": [{"$type": expression}, "objectId"]}, {"$toString": expression}, expression]}


def _other_form(expression: Any) -> dict[str, Any]:
    """An ObjectId as its string, a 24-hex string as its ObjectId, anything else unchanged."""
    return {
        "$cond": [
            {"$eq": [{"$type": expression}, "objectId"]},
            {"$toString": expression},
            {
                "$convert": {
                    "input": expression,
                    "to": "objectId",
                    "onError": expression,
                    "onNull": expression,
                }
            },
        ]
    }


def _both_forms(path: str) -> dict[str, Any]:
    """The values at ``path`` (one, or each element of an array) in their string and ObjectId forms."""
    return {
        "$let": {
            "vars": {"v": f"${path}"},
            "in": {
                "$cond": [
                    {"$isArray": "$$v"},
                    {"$concatArrays": ["$$v", {"$map": {"input": "$$v", "in": _other_form("$$this")}}]},
                    ["$$v", _other_form("$$v")],
                ]
            },
        }
    }


_ID_AS_STRING: Final = {"$set": {"_id": _id_string("$_id")}}


def _joined_ids_as_strings(field: str) -> dict[str, Any]:
    # The ids of the documents a $lookup (without a sub-pipeline) or $graphLookup put in ``field``.
    return {
        "$set": {
            field: {
                "$map": {
                    "input": f"${field}",
                    "as": "joined",
                    "in": {"$mergeObjects": ["$$joined", {"_id": _id_string("$$joined._id")}]},
                }
            }
        }
    }


def ids_as_strings(pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``pipeline`` (already in BSON form, see ``bson_types.pipeline_to_bson``) rewritten as the
    module describes; the input is not modified."""
    convert = not any(name in _WRITES for stage in pipeline for name in stage)
    keys = (f"{_JOIN_KEY}{n}" for n in itertools.count())
    out: list[dict[str, Any]] = []
    leading = True
    for stage in pipeline:
        (name,) = stage
        if leading and name not in _LEADING:
            leading = False
            if convert:
                out.append(_ID_AS_STRING)
        out.extend(_stage(stage, convert, keys))
    return out


def _nested(pipeline: Any, convert: bool, keys: Iterator[str], *, foreign: bool) -> Any:
    # A sub-pipeline: over another collection's documents (``foreign``), whose ids are converted
    # first (before a ``$match`` too: its conditions on ``_id`` then compare strings, as in the
    # engine), or over the current ones ($facet), converted already.
    if not isinstance(pipeline, list):
        return pipeline  # the server reports the malformed stage
    out: list[dict[str, Any]] = []
    pending = foreign and convert
    for stage in pipeline:
        if not (isinstance(stage, dict) and len(stage) == 1):
            out.append(stage)
            continue
        if pending and next(iter(stage)) not in _FIRST:
            out.append(_ID_AS_STRING)
            pending = False
        out.extend(_stage(stage, convert, keys))
    if pending:
        out.append(_ID_AS_STRING)
    return out


def _stage(stage: dict[str, Any], convert: bool, keys: Iterator[str]) -> list[dict[str, Any]]:
    ((name, body),) = stage.items()
    if name == "$lookup" and isinstance(body, dict):
        return _lookup(body, convert, keys)
    if name == "$unionWith" and convert:
        if isinstance(body, str):
            return [{name: {"coll": body, "pipeline": [_ID_AS_STRING]}}]
        if isinstance(body, dict):
            return [
                {name: {**body, "pipeline": _nested(body.get("pipeline", []), convert, keys, foreign=True)}}
            ]
    if name == "$graphLookup" and convert and isinstance(body, dict) and isinstance(body.get("as"), str):
        return [stage, _joined_ids_as_strings(body["as"])]
    if name == "$facet" and isinstance(body, dict):
        return [{name: {k: _nested(v, convert, keys, foreign=False) for k, v in body.items()}}]
    return [stage]


def _lookup(body: dict[str, Any], convert: bool, keys: Iterator[str]) -> list[dict[str, Any]]:
    lookup = dict(body)
    after: list[dict[str, Any]] = []
    if "pipeline" in lookup:
        lookup["pipeline"] = _nested(lookup["pipeline"], convert, keys, foreign=True)
    elif convert and isinstance(lookup.get("as"), str):
        after.append(_joined_ids_as_strings(lookup["as"]))
    before: list[dict[str, Any]] = []
    local, foreign = lookup.get("localField"), lookup.get("foreignField")
    if isinstance(local, str) and isinstance(foreign, str) and "_id" in (local, foreign):
        key = next(keys)
        before.append({"$set": {key: _both_forms(local)}})
        lookup["localField"] = key
        after.insert(0, {"$unset": key})
    return [*before, {"$lookup": lookup}, *after]
