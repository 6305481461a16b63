"""The contract every backend implements, written once: public async methods, their blocking
``_sync`` twins, argument normalisation and result shaping.

Backends supply a small set of *primitives* on engine documents (see ``core.document``), one async
and one sync version each, talking to their driver directly. Everything users call lives here, so
``find`` means the same thing with the same arguments, errors and result types on every backend.
A backend may override a public method when its driver can do better (e.g. Beanie-specific
options), but must keep the signature and meaning.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from bson import ObjectId
from pydantic import BaseModel

from mindtrace.database.core.document import ModelCodec, is_valid_id, new_id, to_engine_value
from mindtrace.database.core.exceptions import DocumentNotFoundError, QueryError
from mindtrace.database.core.gc_pause import gc_paused
from mindtrace.database.core.input_checks import check_collection_name, check_query

__all__ = [
    "FindQuery",
    "MindtraceODMBackend",
    "SortSpec",
    "UpdateResult",
    "combine_filters",
    "normalize_projection",
    "normalize_sort",
]

ModelT = TypeVar("ModelT", bound=BaseModel)

SortSpec = str | tuple[str, int] | Sequence[str | tuple[str, int]] | Mapping[str, int] | None
"""``"+age"``, ``"-age"``, ``"age"`` (ascending), ``("age", -1)``, a list of those, or ``{"age": -1}``."""

ProjectionSpec = Mapping[str, Any] | type[BaseModel] | None
"""A MongoDB projection dict (results are dicts) or a model class (results are that model)."""

DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True, slots=True)
class FindQuery:
    """A normalised find request, handed to a backend's ``_find_docs`` primitives.

    ``limit`` is None for "no limit". ``projection`` is already a MongoDB projection dict when the
    caller passed a model class; ``_id`` is always kept so results can be validated.
    """

    filter: dict[str, Any]
    sort: tuple[tuple[str, int], ...] = ()
    skip: int = 0
    limit: int | None = None
    projection: dict[str, Any] | None = None
    fetch_links: bool = False  # resolve Beanie links (MongoDB); other backends have none to resolve


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What ``update_many`` did: documents matched, documents changed, and an upserted id if any."""

    matched_count: int
    modified_count: int
    upserted_id: str | None = None


@dataclass(slots=True)
class _Shape:
    """How to turn the engine documents a find returned into what the caller asked for."""

    model: type[BaseModel] | None  # None: return plain dicts
    extra: dict[str, Any] = field(default_factory=dict)


def combine_filters(filters: Sequence[Any]) -> dict[str, Any]:
    """AND together the positional filters of ``find`` and friends into one MongoDB filter.

    Accepts dicts and field expressions (which are dicts). Values are normalised for the engine
    (Enums become their values). Raises ``QueryError`` for anything that is not a mapping, and
    for filters no store can run (see ``core.input_checks.check_query``).
    """
    parts: list[dict[str, Any]] = []
    for f in filters:
        if f is None:
            continue
        if not isinstance(f, Mapping):
            raise QueryError(
                f"a filter must be a dict such as {{'name': 'x'}} or a field expression such as "
                f"User.age >= 18, got {type(f).__name__}: {f!r}"
            )
        if len(f):  # not ``if f``: field expressions refuse bool() to catch ``a and b`` mistakes
            check_query(f, "filter")
            parts.append(_ids_as_strings(to_engine_value(dict(f))))
    if not parts:
        return {}
    if len(parts) == 1:
        return parts[0]
    return {"$and": parts}


_LOGICAL = frozenset({"$and", "$or", "$nor"})


def _id_as_string(value: Any) -> Any:
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, list):
        return [_id_as_string(v) for v in value]
    if isinstance(value, dict) and value and all(isinstance(k, str) and k.startswith("$") for k in value):
        return {k: _id_as_string(v) for k, v in value.items()}
    return value


def _ids_as_strings(filter: dict[str, Any]) -> dict[str, Any]:
    """Write ObjectId values compared with ``_id`` as 24-hex strings, the engine's id form.

    Users coming from MongoDB write ``{"_id": ObjectId(...)}``; engine documents (Local, Redis)
    hold ids as strings, so without this such a filter would silently match nothing. The Mongo
    backend turns the strings back into ObjectIds for the server.
    """
    out: dict[str, Any] = {}
    for key, value in filter.items():
        if key == "_id":
            out[key] = _id_as_string(value)
        elif key in _LOGICAL and isinstance(value, list):
            out[key] = [_ids_as_strings(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def normalize_sort(sort: SortSpec) -> tuple[tuple[str, int], ...]:
    """Turn any accepted sort spelling into ``((field, 1 | -1), ...)``; raises ``QueryError``."""
    if sort is None:
        return ()
    if isinstance(sort, Mapping):
        items: list[Any] = list(sort.items())
    elif isinstance(sort, str) or (
        isinstance(sort, tuple)
        and len(sort) == 2
        and isinstance(sort[0], str)
        and not isinstance(sort[1], str)
    ):
        items = [sort]
    elif isinstance(sort, Sequence):
        items = list(sort)
    else:
        raise QueryError(
            f"cannot sort by {sort!r}: use '+field', '-field', (field, 1 | -1) or a list of those"
        )
    out: list[tuple[str, int]] = []
    for item in items:
        if isinstance(item, str):
            name, direction = (item[1:], -1) if item.startswith("-") else (item.lstrip("+"), 1)
        elif isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str):
            name, raw = item
            try:
                direction = int(raw)
            except (TypeError, ValueError, ArithmeticError) as e:  # inf, NaN and sNaN too
                raise QueryError(f"sort direction for {name!r} must be 1 or -1, got {raw!r}") from e
        else:
            raise QueryError(f"cannot sort by {item!r}: use '+field', '-field' or (field, 1 | -1)")
        if not name or direction not in (1, -1):
            raise QueryError(f"invalid sort key {item!r}: use '+field', '-field' or (field, 1 | -1)")
        check_query({name: direction}, "sort")
        out.append((name, direction))
    return tuple(out)


def normalize_projection(projection: ProjectionSpec) -> tuple[dict[str, Any] | None, _Shape | None]:
    """Split a projection argument into a MongoDB projection dict and how to shape the results.

    Returns ``(None, None)`` for no projection (results are the backend's model).
    """
    if projection is None:
        return None, None
    if isinstance(projection, type) and issubclass(projection, BaseModel):
        fields = {
            (info.alias or name): 1
            for name, info in projection.model_fields.items()
            if name not in ("id", "_id")
        }
        return fields, _Shape(model=projection)
    if isinstance(projection, Mapping):
        if not projection:
            return None, None
        check_query(projection, "projection")
        return dict(projection), _Shape(model=None)
    raise QueryError(
        f"projection must be a dict such as {{'name': 1}} or a Pydantic model class, got {projection!r}"
    )


_INT64_MAX = (1 << 63) - 1  # skip and limit are 64-bit integers in MongoDB and SQLite


def _check_window(skip: int, limit: int | None) -> None:
    if not isinstance(skip, int) or isinstance(skip, bool) or not 0 <= skip <= _INT64_MAX:
        raise QueryError(f"skip must be an integer from 0 to 2**63 - 1, got {skip!r}")
    if limit is not None and (
        not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= _INT64_MAX
    ):
        raise QueryError(f"limit must be an integer from 0 to 2**63 - 1 or None, got {limit!r}")


class MindtraceODMBackend(abc.ABC, Generic[ModelT]):
    """Stores one Pydantic model class in one collection of one database.

    Every operation exists as a coroutine (``await backend.find(...)``) and as a blocking twin with
    the ``_sync`` suffix (``backend.find_sync(...)``) with identical arguments, results and errors.
    The twins call the synchronous driver directly, so they work inside a running event loop.
    Use the backend as a context manager (``async with`` or ``with``) to close it.
    """

    def __init__(self, model_cls: type[ModelT]) -> None:
        if not (isinstance(model_cls, type) and issubclass(model_cls, BaseModel)):
            raise TypeError(f"model_cls must be a Pydantic model class, got {model_cls!r}")
        self.model_cls: type[ModelT] = model_cls
        self.codec: ModelCodec[ModelT] = ModelCodec(model_cls)
        check_collection_name(self.codec.collection)

    # ----------------------------------------------------------------- description
    @property
    def collection_name(self) -> str:
        """Name of the collection (table, key namespace) this backend stores documents in."""
        return self.codec.collection

    def get_raw_model(self) -> type[ModelT]:
        """The model class this backend stores (as passed to the constructor)."""
        return self.model_cls

    def is_async(self) -> bool:
        """True: the plain method names are coroutines; the ``_sync`` twins block."""
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_cls.__name__}, collection={self.collection_name!r})"

    # ----------------------------------------------------------------- helpers for subclasses
    def _not_found(self, id: object) -> DocumentNotFoundError:
        return DocumentNotFoundError(
            f"no document with id {id!r} in collection {self.collection_name!r}",
            collection=self.collection_name,
            id=id,
        )

    def _prepare_insert(self, obj: BaseModel) -> dict[str, Any]:
        if type(obj) is self.model_cls:
            pass  # the common case; isinstance on a pydantic class goes through ABCMeta
        elif not isinstance(obj, BaseModel):
            raise TypeError(f"insert() takes a {self.model_cls.__name__} instance, got {type(obj).__name__}")
        elif not isinstance(obj, self.model_cls):
            # Re-validate foreign models so that nothing the model would reject is ever stored.
            obj = self.model_cls.model_validate(obj.model_dump(by_alias=True))
        id = self.codec.id_of(obj)
        if id is None:
            id = new_id()
        elif not is_valid_id(id):
            raise ValueError(f"id {id!r} is not a 24-character hex ObjectId; leave it unset to get a new one")
        return self.codec.to_document(obj, id)

    def _prepare_batch(self, objs: Iterable[BaseModel]) -> tuple[list[dict[str, Any]], list[ModelT]]:
        """The engine documents of a batch to insert, and the models to return (each validated
        before anything is written)."""
        with gc_paused():  # see core.gc_pause: nothing built here is garbage
            docs = [self._prepare_insert(o) for o in objs]
            return docs, [self.codec.from_document(d) for d in docs]

    def _prepare_replace(self, obj: BaseModel) -> tuple[str, dict[str, Any]]:
        id = self.codec.id_of(obj)
        if id is None or not is_valid_id(id):
            raise self._not_found(id)
        return id, self._prepare_insert(obj)

    def _find_query(
        self, filters: Sequence[Any], sort: SortSpec, skip: int, limit: int | None, projection: ProjectionSpec
    ) -> tuple[FindQuery, _Shape | None]:
        _check_window(skip, limit)
        proj, shape = normalize_projection(projection)
        query = FindQuery(
            filter=combine_filters(filters),
            sort=normalize_sort(sort),
            skip=skip,
            limit=limit or None,  # MongoDB treats limit 0 as "no limit"
            projection=proj,
        )
        return query, shape

    def _shape(self, docs: Iterable[dict[str, Any]], shape: _Shape | None) -> list[Any]:
        if shape is None:
            from_document = self.codec.from_document
            return [from_document(d) for d in docs]
        if shape.model is None:
            return list(docs)
        model = shape.model
        out = []
        for d in docs:
            data = dict(d)
            if "_id" in data and ("id" in model.model_fields):
                data["id"] = str(data.pop("_id"))
            out.append(model.model_validate(data))
        return out

    # ----------------------------------------------------------------- primitives (async)
    @abc.abstractmethod
    async def _initialize(self) -> None:
        """Create the collection and its declared indexes if needed; idempotent."""

    @abc.abstractmethod
    async def _insert_docs(self, docs: list[dict[str, Any]]) -> None:
        """Store new documents atomically per document; raise DuplicateInsertError on conflicts."""

    @abc.abstractmethod
    async def _get_doc(self, id: str) -> dict[str, Any] | None:
        """The engine document with this id, or None."""

    @abc.abstractmethod
    async def _find_docs(self, query: FindQuery) -> list[dict[str, Any]]:
        """Documents matching ``query`` — filtered, sorted, windowed and projected."""

    @abc.abstractmethod
    def _iterate_docs(self, query: FindQuery, batch_size: int) -> AsyncIterator[dict[str, Any]]:
        """Stream matching documents without holding them all in memory."""

    @abc.abstractmethod
    async def _count(self, filter: dict[str, Any]) -> int:
        """Number of documents matching ``filter``."""

    @abc.abstractmethod
    async def _replace_doc(self, id: str, doc: dict[str, Any]) -> bool:
        """Replace the document with this id; False if there is none."""

    @abc.abstractmethod
    async def _update_many(self, filter: dict[str, Any], update: Any, upsert: bool) -> UpdateResult:
        """Apply MongoDB update operators (or a pipeline) to every matching document."""

    @abc.abstractmethod
    async def _delete(self, id: str) -> bool:
        """Delete the document with this id; False if there is none."""

    @abc.abstractmethod
    async def _delete_many(self, filter: dict[str, Any]) -> int:
        """Delete every matching document; returns how many were deleted."""

    @abc.abstractmethod
    async def _aggregate(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run an aggregation pipeline over the collection; results are plain dicts."""

    @abc.abstractmethod
    async def _close(self) -> None:
        """Release connections and file handles; idempotent."""

    # ----------------------------------------------------------------- primitives (sync)
    @abc.abstractmethod
    def _initialize_sync(self) -> None: ...
    @abc.abstractmethod
    def _insert_docs_sync(self, docs: list[dict[str, Any]]) -> None: ...
    @abc.abstractmethod
    def _get_doc_sync(self, id: str) -> dict[str, Any] | None: ...
    @abc.abstractmethod
    def _find_docs_sync(self, query: FindQuery) -> list[dict[str, Any]]: ...
    @abc.abstractmethod
    def _iterate_docs_sync(self, query: FindQuery, batch_size: int) -> Iterator[dict[str, Any]]: ...
    @abc.abstractmethod
    def _count_sync(self, filter: dict[str, Any]) -> int: ...
    @abc.abstractmethod
    def _replace_doc_sync(self, id: str, doc: dict[str, Any]) -> bool: ...
    @abc.abstractmethod
    def _update_many_sync(self, filter: dict[str, Any], update: Any, upsert: bool) -> UpdateResult: ...
    @abc.abstractmethod
    def _delete_sync(self, id: str) -> bool: ...
    @abc.abstractmethod
    def _delete_many_sync(self, filter: dict[str, Any]) -> int: ...
    @abc.abstractmethod
    def _aggregate_sync(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]: ...
    @abc.abstractmethod
    def _close_sync(self) -> None: ...

    # ----------------------------------------------------------------- public async API
    async def initialize(self) -> None:
        """Connect and create the collection and declared indexes. Called implicitly by every
        operation; call it at start-up to fail fast on a bad URL."""
        await self._initialize()

    async def insert(self, obj: BaseModel) -> ModelT:
        """Store a new document; returns a copy with ``id`` set (the caller's object is unchanged).

        Raises ``DuplicateInsertError`` when the id or a unique field is already taken, and
        Pydantic's ``ValidationError`` — before writing anything — when ``obj`` does not validate
        as the model (built with ``model_construct``, changed by attribute assignment, or an
        instance of another model class).
        """
        doc = self._prepare_insert(obj)
        stored = self.codec.from_document(doc)  # validated before anything is written
        await self._insert_docs([doc])
        return stored

    async def insert_many(self, objs: Iterable[BaseModel]) -> list[ModelT]:
        """Store several new documents in one batch; returns them with ids, in input order."""
        docs, stored = self._prepare_batch(objs)
        if docs:
            await self._insert_docs(docs)
        return stored

    async def get(self, id: str) -> ModelT:
        """The document with this id; raises ``DocumentNotFoundError`` if missing or malformed."""
        if not is_valid_id(id):
            raise self._not_found(id)
        doc = await self._get_doc(str(id))
        if doc is None:
            raise self._not_found(id)
        return self.codec.from_document(doc)

    async def find(
        self,
        *filters: Any,
        sort: SortSpec = None,
        skip: int = 0,
        limit: int | None = None,
        projection: ProjectionSpec = None,
    ) -> list[Any]:
        """Documents matching every filter (MongoDB filter dicts or field expressions).

        Results are model instances, or dicts with a projection dict, or instances of the
        projection model when ``projection`` is a model class. Raises ``QueryError`` for an
        invalid or unsupported filter, sort or projection.
        """
        query, shape = self._find_query(filters, sort, skip, limit, projection)
        return self._shape(await self._find_docs(query), shape)

    async def find_one(self, *filters: Any, sort: SortSpec = None, projection: ProjectionSpec = None) -> Any:
        """The first document matching the filters (in ``sort`` order), or None."""
        query, shape = self._find_query(filters, sort, 0, 1, projection)
        found = self._shape(await self._find_docs(query), shape)
        return found[0] if found else None

    async def count(self, *filters: Any) -> int:
        """Number of documents matching every filter (all documents with no filter)."""
        return await self._count(combine_filters(filters))

    async def all(self) -> list[ModelT]:
        """Every document of the collection. Prefer ``iterate`` for large collections."""
        return self._shape(await self._find_docs(FindQuery(filter={})), None)

    async def iterate(
        self, *filters: Any, sort: SortSpec = None, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> AsyncIterator[ModelT]:
        """Stream matching documents in batches; memory stays bounded by ``batch_size``."""
        query, _ = self._find_query(filters, sort, 0, None, None)
        from_document = self.codec.from_document
        async for doc in self._iterate_docs(query, batch_size):
            yield from_document(doc)

    async def update(self, obj: BaseModel) -> ModelT:
        """Replace the stored document that has ``obj.id`` with ``obj``; returns the stored copy.

        Raises ``DocumentNotFoundError`` if there is no such document, ``DuplicateInsertError``
        if the new values break a unique constraint, Pydantic's ``ValidationError`` (nothing
        written) when ``obj`` does not validate as the model.
        """
        id, doc = self._prepare_replace(obj)
        stored = self.codec.from_document(doc)  # validated before anything is written
        if not await self._replace_doc(id, doc):
            raise self._not_found(id)
        return stored

    async def update_many(
        self, filter: Mapping[str, Any], update: Any, *, upsert: bool = False
    ) -> UpdateResult:
        """Apply MongoDB update operators (``{"$set": ...}``) to every document matching ``filter``."""
        return await self._update_many(combine_filters([filter]), _check_update(update), upsert)

    async def delete(self, id: str) -> None:
        """Delete the document with this id; raises ``DocumentNotFoundError`` if there is none."""
        if not is_valid_id(id) or not await self._delete(str(id)):
            raise self._not_found(id)

    async def delete_many(self, *filters: Any) -> int:
        """Delete every document matching the filters; returns how many were deleted."""
        return await self._delete_many(combine_filters(filters))

    async def aggregate(self, pipeline: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Run a MongoDB aggregation pipeline; returns plain dicts. Raises ``QueryError``."""
        return await self._aggregate(_check_pipeline(pipeline))

    async def close(self) -> None:
        """Release connections and file handles. The backend must not be used afterwards."""
        await self._close()

    async def __aenter__(self) -> Self:
        await self.initialize()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ----------------------------------------------------------------- public sync API (twins)
    def initialize_sync(self) -> None:
        """Blocking twin of ``initialize``."""
        self._initialize_sync()

    def insert_sync(self, obj: BaseModel) -> ModelT:
        """Blocking twin of ``insert``."""
        doc = self._prepare_insert(obj)
        stored = self.codec.from_document(doc)  # validated before anything is written
        self._insert_docs_sync([doc])
        return stored

    def insert_many_sync(self, objs: Iterable[BaseModel]) -> list[ModelT]:
        """Blocking twin of ``insert_many``."""
        docs, stored = self._prepare_batch(objs)
        if docs:
            self._insert_docs_sync(docs)
        return stored

    def get_sync(self, id: str) -> ModelT:
        """Blocking twin of ``get``."""
        if not is_valid_id(id):
            raise self._not_found(id)
        doc = self._get_doc_sync(str(id))
        if doc is None:
            raise self._not_found(id)
        return self.codec.from_document(doc)

    def find_sync(
        self,
        *filters: Any,
        sort: SortSpec = None,
        skip: int = 0,
        limit: int | None = None,
        projection: ProjectionSpec = None,
    ) -> list[Any]:
        """Blocking twin of ``find``."""
        query, shape = self._find_query(filters, sort, skip, limit, projection)
        return self._shape(self._find_docs_sync(query), shape)

    def find_one_sync(self, *filters: Any, sort: SortSpec = None, projection: ProjectionSpec = None) -> Any:
        """Blocking twin of ``find_one``."""
        query, shape = self._find_query(filters, sort, 0, 1, projection)
        found = self._shape(self._find_docs_sync(query), shape)
        return found[0] if found else None

    def count_sync(self, *filters: Any) -> int:
        """Blocking twin of ``count``."""
        return self._count_sync(combine_filters(filters))

    def all_sync(self) -> list[ModelT]:
        """Blocking twin of ``all``."""
        return self._shape(self._find_docs_sync(FindQuery(filter={})), None)

    def iterate_sync(
        self, *filters: Any, sort: SortSpec = None, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[ModelT]:
        """Blocking twin of ``iterate``."""
        query, _ = self._find_query(filters, sort, 0, None, None)
        from_document = self.codec.from_document
        for doc in self._iterate_docs_sync(query, batch_size):
            yield from_document(doc)

    def update_sync(self, obj: BaseModel) -> ModelT:
        """Blocking twin of ``update``."""
        id, doc = self._prepare_replace(obj)
        stored = self.codec.from_document(doc)  # validated before anything is written
        if not self._replace_doc_sync(id, doc):
            raise self._not_found(id)
        return stored

    def update_many_sync(
        self, filter: Mapping[str, Any], update: Any, *, upsert: bool = False
    ) -> UpdateResult:
        """Blocking twin of ``update_many``."""
        return self._update_many_sync(combine_filters([filter]), _check_update(update), upsert)

    def delete_sync(self, id: str) -> None:
        """Blocking twin of ``delete``."""
        if not is_valid_id(id) or not self._delete_sync(str(id)):
            raise self._not_found(id)

    def delete_many_sync(self, *filters: Any) -> int:
        """Blocking twin of ``delete_many``."""
        return self._delete_many_sync(combine_filters(filters))

    def aggregate_sync(self, pipeline: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Blocking twin of ``aggregate``."""
        return self._aggregate_sync(_check_pipeline(pipeline))

    def close_sync(self) -> None:
        """Blocking twin of ``close``."""
        self._close_sync()

    def __enter__(self) -> Self:
        self.initialize_sync()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close_sync()


def _check_update(update: Any) -> Any:
    # An update is an operator document or an aggregation pipeline (list of stages). A plain
    # document without operators would replace the whole document in MongoDB's update_one; here
    # that is what ``update(obj)`` is for, so refuse it rather than guess.
    if isinstance(update, Mapping):
        if not update:
            raise QueryError("update_many needs update operators such as {'$set': {...}}, got {}")
        check_query(update, "update")
        bad = [k for k in update if not (isinstance(k, str) and k.startswith("$"))]
        if bad:
            raise QueryError(
                f"update_many takes update operators such as {{'$set': {{...}}}}; {bad[0]!r} is not one. "
                "To replace a whole document use update(obj)."
            )
        return to_engine_value(dict(update))
    if isinstance(update, list | tuple):
        if not update:
            raise QueryError("update_many needs update operators or a non-empty pipeline, got []")
        return _check_pipeline(update)
    raise QueryError(f"an update must be a dict of update operators or a pipeline list, got {update!r}")


def _check_pipeline(pipeline: Any) -> list[dict[str, Any]]:
    if not isinstance(pipeline, list | tuple):
        raise QueryError(f"a pipeline must be a list of stage dicts, got {type(pipeline).__name__}")
    check_query(pipeline, "pipeline")
    stages: list[dict[str, Any]] = []
    leading = True  # still in the stages that see stored documents, where _id is the document id
    for i, raw in enumerate(pipeline):
        if not isinstance(raw, Mapping) or len(raw) != 1:
            raise QueryError(f"pipeline stage {i} must be a dict with exactly one '$stage' key, got {raw!r}")
        stage = to_engine_value(dict(raw))
        name, spec = next(iter(stage.items()))
        leading = leading and name in _DOCUMENT_PRESERVING_STAGES
        if leading and name == "$match" and isinstance(spec, dict):
            stage = {name: _ids_as_strings(spec)}
        stages.append(stage)
    return stages


# Stages after which ``_id`` still holds the stored document's id (later, e.g. after $group,
# ``_id`` may be any value and an ObjectId there must stay an ObjectId).
_DOCUMENT_PRESERVING_STAGES = frozenset({"$match", "$sort", "$skip", "$limit"})
