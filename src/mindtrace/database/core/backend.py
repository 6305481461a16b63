"""The contract every backend implements, written once: public async methods, their blocking
``_sync`` twins, argument normalisation and result shaping.

Backends supply a small set of *primitives* on engine documents (see ``core.document``), one async
and one sync version each, talking to their driver directly. Everything users call lives here, so
``find`` means the same thing with the same arguments, errors and result types on every backend.

The primitives are the funnel: every public operation reaches the store through exactly one of
them, and per-call options travel inside their arguments (``WriteOptions`` for writes,
``FindQuery`` for reads). A backend may add keyword arguments to a public method (Redis ``ttl=``,
Mongo ``fetch_links=``) by overriding it with a thin method that only translates those arguments
and calls the shared path (``_insert_one``, ``_find``...); it never talks to its store from a
public method. A cross-cutting feature (versions, timestamps, hooks, a change feed) therefore
wraps the primitives once. See ``docs/architecture.md``.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from bson import ObjectId
from pydantic import BaseModel

from mindtrace.database.core.datetimes import utc_datetimes
from mindtrace.database.core.document import ModelCodec, is_valid_id, new_id, to_engine_value
from mindtrace.database.core.exceptions import DocumentNotFoundError, QueryError, not_found
from mindtrace.database.core.gc_pause import gc_paused
from mindtrace.database.core.input_checks import check_collection_name, check_query, is_valid_text
from mindtrace.database.core.schema import model_schema
from mindtrace.database.core.upserts import check_upsert

__all__ = [
    "FindQuery",
    "Found",
    "MindtraceODMBackend",
    "Shape",
    "SortSpec",
    "StoredJson",
    "UpdateResult",
    "WriteOptions",
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


@dataclass(slots=True)
class FindQuery:
    """A normalised find request, handed to a backend's ``_find_docs`` primitives; treat it as
    immutable (not frozen only because a frozen dataclass costs a call per field to build, and
    one is built per find).

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
class WriteOptions:
    """Per-call options of a write, handed to the write primitives.

    ``ttl_ms``: expiry in milliseconds (insert: None means the backend's default; replace: None
    keeps the current expiry, 0 removes it). ``fresh_ids``: every id of the batch was generated
    here, so none can be taken (a store may skip the check).
    """

    ttl_ms: int | None = None
    fresh_ids: bool = False


StoredJson = tuple[str, str]
"""A stored document handed over undecoded: ``(id, typed JSON without "_id")``.

Read primitives may return these instead of engine documents when no projection is asked for,
so the model is validated straight from the JSON (``ModelCodec.from_stored_json``, about twice
as fast as decoding first). A plain tuple, not a class: it is what ``sqlite3`` returns for
``SELECT id, doc``, so the hot path builds nothing.
"""

Found = dict[str, Any] | StoredJson
"""What a read primitive returns per document."""

_NO_OPTIONS = WriteOptions()


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What ``update_many`` did: documents matched, documents changed, and an upserted id if any."""

    matched_count: int
    modified_count: int
    upserted_id: str | None = None


@dataclass(slots=True)
class Shape:
    """How to turn the engine documents a find returned into what the caller asked for."""

    model: type[BaseModel] | None  # None: return plain dicts
    extra: dict[str, Any] = field(default_factory=dict)


def combine_filters(filters: Sequence[Any]) -> dict[str, Any]:
    """AND together the positional filters of ``find`` and friends into one MongoDB filter.

    Accepts dicts and field expressions (which are dicts). Values are normalised for the engine
    (Enums become their values). Raises ``QueryError`` for anything that is not a mapping, and
    for filters no store can run (see ``core.input_checks.check_query``).
    """
    if len(filters) == 1:
        point = _point_filter(filters[0])
        if point is not None:
            return point
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
_POINT_TYPES = frozenset({int, float})


def _point_filter(f: Any) -> dict[str, Any] | None:
    """The filter itself when it is the most common query — ``{"field": plain value}`` with a
    str, int or float — which needs none of the normalisation (a copy is returned); else None.

    For a point lookup the general path costs as much as the lookup itself.
    """
    if type(f) is not dict or len(f) != 1:
        return None
    for key, value in f.items():
        if type(key) is not str or not key or key[0] == "$" or "\x00" in key:
            return None
        if not key.isascii() and not is_valid_text(key):
            return None
        t = type(value)
        if t in _POINT_TYPES or (t is str and (value.isascii() or is_valid_text(value))):
            return {key: value}
    return None


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


def normalize_projection(projection: ProjectionSpec) -> tuple[dict[str, Any] | None, Shape | None]:
    """Split a projection argument into a MongoDB projection dict and how to shape the results.

    Returns ``(None, None)`` for no projection (results are the backend's model).
    """
    if projection is None:
        return None, None
    if isinstance(projection, type) and issubclass(projection, BaseModel):
        schema = model_schema(projection)
        fields = {field.stored_name: 1 for name, field in schema.fields.items() if name not in ("id", "_id")}
        return fields, Shape(model=projection)
    if isinstance(projection, Mapping):
        if not projection:
            return None, None
        check_query(projection, "projection")
        return dict(projection), Shape(model=None)
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
        # Models that accept undeclared fields may carry top-level keys MongoDB would read as
        # update operators; only their documents need the check in _prepare_insert.
        self._free_keys = model_cls.model_config.get("extra") == "allow"

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

    # ----------------------------------------------------------------- request building
    def _not_found(self, id: object) -> DocumentNotFoundError:
        return not_found(self.collection_name, id)

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
            raise QueryError(
                f"id {id!r} of a {self.model_cls.__name__} is not a 24-character hex ObjectId; "
                "leave it unset to get a new one",
                operator="_id",
            )
        doc = self.codec.to_document(obj, id)
        if self._free_keys:
            _check_top_level_keys(doc, self.collection_name)
        return doc

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
    ) -> tuple[FindQuery, Shape | None]:
        if sort is None and projection is None and skip == 0 and len(filters) == 1:
            point = _point_filter(filters[0])
            if point is not None and (limit is None or (type(limit) is int and 0 <= limit <= _INT64_MAX)):
                return FindQuery(filter=point, limit=limit or None), None
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

    def _update_args(
        self, filter: Mapping[str, Any], update: Any, upsert: bool
    ) -> tuple[dict[str, Any], Any, bool]:
        combined, checked = combine_filters([filter]), _check_update(update)
        if upsert:
            check_upsert(combined, checked, self.collection_name)
        return combined, checked, upsert

    # ----------------------------------------------------------------- result shaping
    def _model(self, found: Found) -> ModelT:
        if type(found) is tuple:
            return self.codec.from_stored_json(*found)
        return self.codec.from_document(found)  # type: ignore[arg-type]

    def _shape(self, found: Sequence[Found], shape: Shape | None) -> list[Any]:
        if shape is None:
            from_document, from_json = self.codec.from_document, self.codec.from_stored_json
            return [from_json(*d) if type(d) is tuple else from_document(d) for d in found]  # type: ignore[arg-type]
        decode = self.codec.decode_stored
        docs: list[dict[str, Any]] = [decode(*d) if type(d) is tuple else d for d in found]  # type: ignore[misc]
        if shape.model is None:
            return docs
        model = shape.model
        out = []
        for d in docs:
            data = dict(d)
            if "_id" in data and ("id" in model.model_fields):
                data["id"] = str(data.pop("_id"))
            out.append(model.model_validate(data))
        return out

    async def _shape_async(self, found: Sequence[Found], shape: Shape | None) -> list[Any]:
        """``_shape`` in batches, letting other tasks run between them: validating a large
        result must not hold the event loop."""
        if len(found) <= DEFAULT_BATCH_SIZE:
            return self._shape(found, shape)
        out: list[Any] = []
        for start in range(0, len(found), DEFAULT_BATCH_SIZE):
            out.extend(self._shape(found[start : start + DEFAULT_BATCH_SIZE], shape))
            await asyncio.sleep(0)
        return out

    # ----------------------------------------------------------------- primitives (async)
    @abc.abstractmethod
    async def _initialize(self) -> None:
        """Create the collection and its declared indexes if needed; idempotent."""

    @abc.abstractmethod
    async def _insert_docs(self, docs: list[dict[str, Any]], options: WriteOptions) -> None:
        """Store new documents in input order, each atomically; stop at the first conflict and
        raise DuplicateInsertError (``inserted_ids``: stored before it, ``failed``: the rest)."""

    @abc.abstractmethod
    async def _get_doc(self, id: str) -> Found | None:
        """The document with this (valid) id, or None."""

    @abc.abstractmethod
    async def _find_docs(self, query: FindQuery) -> list[Found]:
        """Documents matching ``query`` — filtered, sorted, windowed and projected (with a
        projection every item is an engine document dict)."""

    @abc.abstractmethod
    def _iterate_docs(self, query: FindQuery, batch_size: int) -> AsyncIterator[dict[str, Any]]:
        """Stream matching documents without holding them all in memory."""

    @abc.abstractmethod
    async def _count(self, filter: dict[str, Any]) -> int:
        """Number of documents matching ``filter``."""

    @abc.abstractmethod
    async def _replace_doc(self, id: str, doc: dict[str, Any], options: WriteOptions) -> bool:
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
    def _insert_docs_sync(self, docs: list[dict[str, Any]], options: WriteOptions) -> None: ...
    @abc.abstractmethod
    def _get_doc_sync(self, id: str) -> Found | None: ...
    @abc.abstractmethod
    def _find_docs_sync(self, query: FindQuery) -> list[Found]: ...
    @abc.abstractmethod
    def _iterate_docs_sync(self, query: FindQuery, batch_size: int) -> Iterator[dict[str, Any]]: ...
    @abc.abstractmethod
    def _count_sync(self, filter: dict[str, Any]) -> int: ...
    @abc.abstractmethod
    def _replace_doc_sync(self, id: str, doc: dict[str, Any], options: WriteOptions) -> bool: ...
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

    # ----------------------------------------------------------------- shared paths (async)
    # Public methods, and the thin overrides that add backend options, end here.
    async def _insert_one(self, obj: BaseModel, options: WriteOptions) -> ModelT:
        doc = self._prepare_insert(obj)
        stored = self.codec.from_document(doc)  # validated before anything is written
        await self._insert_docs([doc], options)
        return stored

    async def _insert_batch(self, objs: Iterable[BaseModel], options: WriteOptions) -> list[ModelT]:
        docs, stored = self._prepare_batch(objs)
        if docs:
            await self._insert_docs(docs, options)
        return stored

    async def _replace(self, obj: BaseModel, options: WriteOptions) -> ModelT:
        id, doc = self._prepare_replace(obj)
        stored = self.codec.from_document(doc)  # validated before anything is written
        if not await self._replace_doc(id, doc, options):
            raise self._not_found(id)
        return stored

    async def _find(self, query: FindQuery, shape: Shape | None) -> list[Any]:
        return await self._shape_async(await self._find_docs(query), shape)

    # ----------------------------------------------------------------- shared paths (sync)
    def _insert_one_sync(self, obj: BaseModel, options: WriteOptions) -> ModelT:
        doc = self._prepare_insert(obj)
        stored = self.codec.from_document(doc)  # validated before anything is written
        self._insert_docs_sync([doc], options)
        return stored

    def _insert_batch_sync(self, objs: Iterable[BaseModel], options: WriteOptions) -> list[ModelT]:
        docs, stored = self._prepare_batch(objs)
        if docs:
            self._insert_docs_sync(docs, options)
        return stored

    def _replace_sync(self, obj: BaseModel, options: WriteOptions) -> ModelT:
        id, doc = self._prepare_replace(obj)
        stored = self.codec.from_document(doc)  # validated before anything is written
        if not self._replace_doc_sync(id, doc, options):
            raise self._not_found(id)
        return stored

    def _find_sync(self, query: FindQuery, shape: Shape | None) -> list[Any]:
        return self._shape(self._find_docs_sync(query), shape)

    # ----------------------------------------------------------------- public async API
    async def initialize(self) -> None:
        """Connect and create the collection and declared indexes. Called implicitly by every
        operation; call it at start-up to fail fast on a bad URL."""
        await self._initialize()

    async def insert(self, obj: BaseModel) -> ModelT:
        """Store a new document; returns a copy with ``id`` set (the caller's object is unchanged).

        Raises ``DuplicateInsertError`` when the id or a unique field is already taken,
        ``QueryError`` when the id set on ``obj`` is not a 24-hex ObjectId, and Pydantic's
        ``ValidationError`` — before writing anything — when ``obj`` does not validate as the
        model (built with ``model_construct``, changed by attribute assignment, or an instance of
        another model class).
        """
        return await self._insert_one(obj, _fresh_if_unset(self.codec.id_of(obj)))

    async def insert_many(self, objs: Iterable[BaseModel]) -> list[ModelT]:
        """Store several new documents in one batch; returns them with ids, in input order.

        Ordered, like MongoDB's default: at the first duplicate the documents before it stay
        stored and ``DuplicateInsertError`` lists them in ``inserted_ids``.
        """
        return await self._insert_batch(objs, _NO_OPTIONS)

    async def get(self, id: str) -> ModelT:
        """The document with this id; raises ``DocumentNotFoundError`` if missing or malformed."""
        if not is_valid_id(id):
            raise self._not_found(id)
        found = await self._get_doc(str(id))
        if found is None:
            raise self._not_found(id)
        return self._model(found)

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
        return await self._find(*self._find_query(filters, sort, skip, limit, projection))

    async def find_one(self, *filters: Any, sort: SortSpec = None, projection: ProjectionSpec = None) -> Any:
        """The first document matching the filters (in ``sort`` order), or None."""
        found = await self._find(*self._find_query(filters, sort, 0, 1, projection))
        return found[0] if found else None

    async def count(self, *filters: Any) -> int:
        """Number of documents matching every filter (all documents with no filter)."""
        return await self._count(combine_filters(filters))

    async def all(self) -> list[ModelT]:
        """Every document of the collection. Prefer ``iterate`` for large collections."""
        return await self._find(FindQuery(filter={}), None)

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
        return await self._replace(obj, _NO_OPTIONS)

    async def update_many(
        self, filter: Mapping[str, Any], update: Any, *, upsert: bool = False
    ) -> UpdateResult:
        """Apply MongoDB update operators (``{"$set": ...}``) to every document matching ``filter``.

        With ``upsert=True`` and no match, one document is inserted, built from the filter's
        equalities and the update (its ``_id``, if named, must be an ObjectId). Raises
        ``QueryError`` — nothing written — for an invalid update, or when a resulting document
        would not validate as the model.
        """
        return await self._update_many(*self._update_args(filter, update, upsert))

    async def delete(self, id: str) -> None:
        """Delete the document with this id; raises ``DocumentNotFoundError`` if there is none."""
        if not is_valid_id(id) or not await self._delete(str(id)):
            raise self._not_found(id)

    async def delete_many(self, *filters: Any) -> int:
        """Delete every document matching the filters; returns how many were deleted."""
        return await self._delete_many(combine_filters(filters))

    async def aggregate(self, pipeline: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Run a MongoDB aggregation pipeline; returns plain dicts. Raises ``QueryError``.

        Results follow no model, so their types are the same on every store by rule: ids are
        24-hex strings and every datetime is aware, in UTC.
        """
        return utc_datetimes(await self._aggregate(_check_pipeline(pipeline)))  # type: ignore[no-any-return]

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
        return self._insert_one_sync(obj, _fresh_if_unset(self.codec.id_of(obj)))

    def insert_many_sync(self, objs: Iterable[BaseModel]) -> list[ModelT]:
        """Blocking twin of ``insert_many``."""
        return self._insert_batch_sync(objs, _NO_OPTIONS)

    def get_sync(self, id: str) -> ModelT:
        """Blocking twin of ``get``."""
        if not is_valid_id(id):
            raise self._not_found(id)
        found = self._get_doc_sync(str(id))
        if found is None:
            raise self._not_found(id)
        return self._model(found)

    def find_sync(
        self,
        *filters: Any,
        sort: SortSpec = None,
        skip: int = 0,
        limit: int | None = None,
        projection: ProjectionSpec = None,
    ) -> list[Any]:
        """Blocking twin of ``find``."""
        return self._find_sync(*self._find_query(filters, sort, skip, limit, projection))

    def find_one_sync(self, *filters: Any, sort: SortSpec = None, projection: ProjectionSpec = None) -> Any:
        """Blocking twin of ``find_one``."""
        found = self._find_sync(*self._find_query(filters, sort, 0, 1, projection))
        return found[0] if found else None

    def count_sync(self, *filters: Any) -> int:
        """Blocking twin of ``count``."""
        return self._count_sync(combine_filters(filters))

    def all_sync(self) -> list[ModelT]:
        """Blocking twin of ``all``."""
        return self._find_sync(FindQuery(filter={}), None)

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
        return self._replace_sync(obj, _NO_OPTIONS)

    def update_many_sync(
        self, filter: Mapping[str, Any], update: Any, *, upsert: bool = False
    ) -> UpdateResult:
        """Blocking twin of ``update_many``."""
        return self._update_many_sync(*self._update_args(filter, update, upsert))

    def delete_sync(self, id: str) -> None:
        """Blocking twin of ``delete``."""
        if not is_valid_id(id) or not self._delete_sync(str(id)):
            raise self._not_found(id)

    def delete_many_sync(self, *filters: Any) -> int:
        """Blocking twin of ``delete_many``."""
        return self._delete_many_sync(combine_filters(filters))

    def aggregate_sync(self, pipeline: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Blocking twin of ``aggregate``."""
        return utc_datetimes(self._aggregate_sync(_check_pipeline(pipeline)))  # type: ignore[no-any-return]

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


_FRESH = WriteOptions(fresh_ids=True)


def _check_top_level_keys(doc: Mapping[str, Any], collection: str) -> None:
    # MongoDB refuses a replacement with a top-level "$key" (it reads it as an update operator);
    # refusing it on insert and replace everywhere keeps the stores alike.
    for key in doc:
        if isinstance(key, str) and key.startswith("$"):
            raise QueryError(
                f"document {doc.get('_id')!r} of collection {collection!r} has a top-level field "
                f"{key!r}: field names starting with '$' cannot be stored at the top level on every "
                "store (MongoDB reads them as operators); rename the field",
                operator=key,
            )


def _fresh_if_unset(id: str | None) -> WriteOptions:
    # An id generated here cannot be taken: stores may skip that check.
    return _FRESH if id is None else _NO_OPTIONS


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
