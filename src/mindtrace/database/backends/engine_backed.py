"""What every engine-backed backend (Local, Redis) does around the query engine, written once.

Local and Redis store documents themselves and run MongoDB's semantics in ``query/``; they share
the policy around the engine, which lives here so that it cannot diverge between them:

* ``predicate`` — a filter compiled before any I/O (an invalid filter raises first);
* ``DocumentRules`` — what may be stored: the typed-JSON encoding with the size limit, and the
  check that an update's result still validates as the model;
* ``upsert_document`` — the document an upsert inserts (seed from the filter, update applied,
  id rules of ``core.upserts``);
* ``split_pipeline`` / ``foreign_collections`` — the part of a pipeline a store can run as a
  find, and the other collections ``$lookup``/``$unionWith`` read;
* ``ResultShaper`` — sort, window and projection applied by the engine, validated up front.

The backends keep only what is specific to their store: SQL and its pushdown (Local), keys, Lua
and the planner (Redis).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from mindtrace.database.core import typed_json
from mindtrace.database.core.backend import FindQuery
from mindtrace.database.core.document import ModelCodec, new_id
from mindtrace.database.core.exceptions import invalid_after_update, too_large
from mindtrace.database.core.input_checks import MAX_DOCUMENT_BYTES, invalid_text_error
from mindtrace.database.core.upserts import upsert_id
from mindtrace.database.query.filter import compile_filter
from mindtrace.database.query.projection import compile_projection
from mindtrace.database.query.sort import sort_documents
from mindtrace.database.query.update import CompiledUpdate
from mindtrace.database.query.upsert import upsert_seed

__all__ = [
    "DocumentRules",
    "Predicate",
    "ResultShaper",
    "foreign_collections",
    "predicate",
    "split_pipeline",
    "upsert_document",
    "value_at",
]

Predicate = Callable[[Mapping[str, Any]], bool]


def predicate(filter: dict[str, Any]) -> Predicate:
    """The engine's matcher for ``filter``; raises ``QueryError`` for an invalid one."""
    compiled: Any = compile_filter(filter)
    if callable(compiled):
        return compiled  # type: ignore[no-any-return]
    return compiled.matches  # type: ignore[no-any-return]


class DocumentRules:
    """What an engine-backed store may write for one model: encoded within the size limit, and
    (for an update's result) still valid for the model."""

    def __init__(self, codec: ModelCodec[Any]) -> None:
        self.codec = codec
        self.collection = codec.collection
        self._model_name = codec.model_cls.__name__

    def encode(self, doc: Mapping[str, Any]) -> bytes:
        """The typed JSON of an engine document (``_id`` included); raises
        ``DocumentTooLargeError`` past 16 MiB, Pydantic's ``ValidationError`` for a string that
        is not valid Unicode (lone surrogates), which no store can hold."""
        try:
            raw = typed_json.dumps(doc, assume_plain=self.codec.is_plain_json(doc))
        except UnicodeEncodeError as e:
            raise invalid_text_error(self._model_name, doc) from e
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise too_large(self.collection, doc.get("_id"), len(raw), MAX_DOCUMENT_BYTES)
        return raw

    def check_update(self, doc: dict[str, Any]) -> dict[str, Any]:
        """``doc`` (an update's result) unchanged, once the model has shown it can read it back.

        The document is stored as the update made it (an ``$unset`` field stays absent, as in
        MongoDB) but never one the model would reject: that would make it unreadable. Raises
        ``QueryError`` naming the document and the validation errors, ``DocumentTooLargeError``
        when the update nested it more than 100 levels deep.
        """
        self.codec.check_stored(doc)
        try:
            self.codec.from_document(doc)
        except ValidationError as e:
            errors = e.errors(include_url=False)
            raise invalid_after_update(self.collection, self._model_name, doc.get("_id"), errors) from e
        return doc


def upsert_document(filter: dict[str, Any], update: CompiledUpdate, rules: DocumentRules) -> dict[str, Any]:
    """The document an upsert that matched nothing inserts: the filter's equalities, the update
    applied as an insert, a new ObjectId unless one was named (``_id`` first), checked against
    the model. Raises ``QueryError`` for an id that is not an ObjectId or an invalid result."""
    doc = update.apply(upsert_seed(filter), is_upsert=True, filter=filter)
    id = doc.pop("_id", None)
    doc = {"_id": new_id() if id is None else upsert_id(id, rules.collection), **doc}
    return rules.check_update(doc)


def value_at(doc: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (array positions by number), or None when it is missing."""
    node: Any = doc
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


class ResultShaper:
    """The engine's sort, skip/limit and projection for a find, compiled before any I/O so an
    invalid sort or projection fails without touching the store."""

    def __init__(self, query: FindQuery, *, sort: bool = True, window: bool = True) -> None:
        self._sort = list(query.sort) if sort else []
        if self._sort:
            sort_documents([], self._sort)  # validates the sort spec
        self._skip = query.skip if window else 0
        self._end = None if (not window or query.limit is None) else self._skip + query.limit
        self._projection = (
            None if query.projection is None else compile_projection(query.projection, filter=query.filter)
        )

    @property
    def projects(self) -> bool:
        """Whether results are projected (then they are dicts, never stored JSON)."""
        return self._projection is not None

    def __call__(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self._sort:
            docs = sort_documents(docs, self._sort)
        if self._skip or self._end is not None:
            docs = docs[self._skip : self._end]
        if self._projection is not None:
            apply = self._projection.apply
            docs = [apply(d) for d in docs]
        return docs


def _count_arg(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    n = int(value)
    return n if n >= 0 else None


def split_pipeline(pipeline: list[dict[str, Any]]) -> tuple[FindQuery, list[dict[str, Any]]]:
    """Split off what a store can run as a find: leading ``$match`` stages, then one ``$sort``,
    then ``$skip``/``$limit`` stages. The rest runs in the engine over the find's results.

    A ``limit`` of 0 in the returned query means no document is needed at all.
    """
    filters: list[dict[str, Any]] = []
    i = 0
    while i < len(pipeline) and "$match" in pipeline[i] and isinstance(pipeline[i]["$match"], dict):
        filters.append(pipeline[i]["$match"])
        i += 1
    sort: tuple[tuple[str, int], ...] = ()
    if i < len(pipeline) and "$sort" in pipeline[i]:
        spec = pipeline[i]["$sort"]
        if (
            isinstance(spec, dict)
            and spec
            and all(isinstance(k, str) and v in (1, -1) and not isinstance(v, bool) for k, v in spec.items())
        ):
            sort = tuple(spec.items())
            i += 1
    skip, limit = 0, None
    while i < len(pipeline):
        stage = pipeline[i]
        n = _count_arg(stage.get("$skip", stage.get("$limit")))
        if n is None or ("$limit" in stage and n == 0):
            break  # not a plain window stage: the engine validates and runs it
        if "$skip" in stage:
            skip += n
            limit = None if limit is None else max(limit - n, 0)
        else:
            limit = n if limit is None else min(limit, n)
        i += 1
    filter = filters[0] if len(filters) == 1 else ({"$and": filters} if filters else {})
    return FindQuery(filter=filter, sort=sort, skip=skip, limit=limit), pipeline[i:]


def foreign_collections(value: Any) -> set[str]:
    """Names in ``from``/``coll`` of ``$lookup`` and ``$unionWith`` stages, at any depth."""
    names: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "$lookup" and isinstance(inner, dict):
                if isinstance(inner.get("from"), str):
                    names.add(inner["from"])
            elif key == "$unionWith":
                if isinstance(inner, str):
                    names.add(inner)
                elif isinstance(inner, dict) and isinstance(inner.get("coll"), str):
                    names.add(inner["coll"])
            names |= foreign_collections(inner)
    elif isinstance(value, list):
        for item in value:
            names |= foreign_collections(item)
    return names
