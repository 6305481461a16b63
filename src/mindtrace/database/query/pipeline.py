"""Aggregation pipelines: compile the stages once, then stream documents through them.

:func:`run_pipeline` is what the Local and Redis backends call for ``aggregate``. Stages that can
stream ($match, $project, $unwind, $limit…) do so lazily; blocking stages ($group, $sort,
$facet…) collect their input. Every output document is a fresh deep copy, so callers can modify
results without touching the documents they passed in (or the ``collections`` used by ``$lookup``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from bson import ObjectId

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.entry_guard import guard_recursion
from mindtrace.database.query.expressions import ExpressionCompiler
from mindtrace.database.query.stages import STAGES
from mindtrace.database.query.stages.context import CompiledPipeline, Document, RunContext, Stage

__all__ = ["CompiledAggregation", "compile_pipeline", "run_pipeline"]

_NOT_SUPPORTED: Final[dict[str, str]] = {
    "$out": "write the results with the backend's insert methods instead",
    "$merge": "write the results with the backend's insert or update methods instead",
    "$geoNear": "geospatial queries need a geospatial index, which only the MongoDB backend has",
    "$search": "Atlas Search is only available on MongoDB Atlas",
    "$searchMeta": "Atlas Search is only available on MongoDB Atlas",
    "$vectorSearch": "vector search is only available on MongoDB Atlas",
    "$graphLookup": "use $lookup, or the MongoDB backend",
    "$setWindowFields": "use $group or $bucket, or the MongoDB backend",
    "$densify": "use the MongoDB backend",
    "$fill": "use $set with $ifNull, or the MongoDB backend",
    "$redact": "use $match and $project, or the MongoDB backend",
    "$documents": "only database-level aggregations accept $documents",
    "$collStats": "collection statistics are server metadata",
    "$indexStats": "index statistics are server metadata",
    "$planCacheStats": "the plan cache is server metadata",
    "$currentOp": "server operations are server metadata",
    "$listSessions": "sessions are server metadata",
    "$listLocalSessions": "sessions are server metadata",
    "$listSearchIndexes": "search indexes exist only on MongoDB Atlas",
    "$changeStream": "change streams need a MongoDB replica set",
    "$changeStreamSplitLargeEvent": "change streams need a MongoDB replica set",
    "$queryStats": "query statistics are server metadata",
}
_NOT_IN_SUBPIPELINE: Final = frozenset({"$out", "$merge"})
# Stages whose output documents share nothing with their input ($project copies what it keeps),
# and stages that pass documents through unchanged; used to skip the final defensive copy.
_FRESH_OUTPUT: Final = frozenset({"$project", "$count"})
_PASS_THROUGH: Final = frozenset({"$match", "$sort", "$skip", "$limit", "$sample"})


def _output_is_fresh(pipeline: Sequence[Mapping[str, Any]]) -> bool:
    fresh = False  # the input documents belong to the caller
    for stage in pipeline:
        name = next(iter(stage))
        if name in _FRESH_OUTPUT:
            fresh = True
        elif name not in _PASS_THROUGH:
            fresh = False
    return fresh


class _PipelineCompiler:
    """Compiles pipelines in a variable scope; implements ``stages.context.PipelineScope``."""

    def __init__(self, variables: frozenset[str] = frozenset(), inside_facet: bool = False) -> None:
        self._expressions = ExpressionCompiler(variables)
        self._inside_facet = inside_facet

    @property
    def expressions(self) -> ExpressionCompiler:
        return self._expressions

    @property
    def inside_facet(self) -> bool:
        return self._inside_facet

    def compile_pipeline(
        self, pipeline: Any, *, where: str, variables: Iterable[str] = (), inside_facet: bool = False
    ) -> CompiledPipeline:
        scope = _PipelineCompiler(
            self._expressions.scope | frozenset(variables), inside_facet or self._inside_facet
        )
        return scope.compile(pipeline, where)

    def compile(self, pipeline: Any, where: str) -> CompiledPipeline:
        if not isinstance(pipeline, list | tuple):
            raise QueryError(
                f"{where}: the pipeline must be an array of stage objects, got {type(pipeline).__name__}"
            )
        stages = [self._compile_stage(stage, where) for stage in pipeline]

        def run(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
            stream: Iterable[Document] = docs
            for stage in stages:
                stream = stage(stream, ctx)
            return iter(stream)

        return run

    def _compile_stage(self, stage: Any, where: str) -> Stage:
        if not isinstance(stage, Mapping) or len(stage) != 1:
            raise QueryError(
                f"{where}: a pipeline stage specification must be an object with exactly one field, the "
                "stage "
                f"name (e.g. {{'$match': {{...}}}}); got {stage!r}"
            )
        ((name, spec),) = stage.items()
        compile_stage = STAGES.get(name)
        if compile_stage is not None:
            return compile_stage(name, spec, self)
        if name in _NOT_SUPPORTED:
            if name in _NOT_IN_SUBPIPELINE and where != "pipeline":
                raise QueryError(f"{name} is not allowed in a {where} sub-pipeline", operator=name)
            raise QueryError(
                f"the {name} stage is not supported on this backend: {_NOT_SUPPORTED[name]}", operator=name
            )
        raise QueryError(f"unrecognized pipeline stage name: '{name}'", operator=name)


# Values of these exact types are immutable and are shared rather than copied.
_LEAVES: Final = frozenset(
    {str, int, float, bool, type(None), dt.datetime, dt.date, Decimal, ObjectId, uuid.UUID, bytes}
)


def _copy(value: Any) -> Any:
    cls = value.__class__
    if cls is dict:
        return {key: item if item.__class__ in _LEAVES else _copy(item) for key, item in value.items()}
    if cls is list:
        return [item if item.__class__ in _LEAVES else _copy(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    if isinstance(value, bytearray):
        return bytearray(value)
    return value  # every other engine value is immutable


class CompiledAggregation:
    """A pipeline parsed and validated once, runnable over many inputs.

    Raises QueryError at construction for a malformed pipeline or an unsupported stage; running
    raises QueryError for errors MongoDB reports at run time (e.g. ``$divide`` by zero).
    """

    __slots__ = ("_fresh", "_run")

    @guard_recursion
    def __init__(self, pipeline: Sequence[Mapping[str, Any]]) -> None:
        self._run = _PipelineCompiler().compile(pipeline, "pipeline")
        self._fresh = _output_is_fresh(pipeline)

    @guard_recursion
    def run(
        self,
        docs: Iterable[Mapping[str, Any]],
        *,
        collections: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    ) -> list[dict[str, Any]]:
        """Run over ``docs`` (in order); ``collections`` holds other collections for $lookup/$unionWith."""
        now = dt.datetime.now(dt.UTC)
        ctx = RunContext(collections or {}, {"NOW": now.replace(microsecond=now.microsecond // 1000 * 1000)})
        results = self._run(docs, ctx)
        if self._fresh:
            return [doc if isinstance(doc, dict) else dict(doc) for doc in results]
        return [_copy(doc) for doc in results]


def compile_pipeline(pipeline: Sequence[Mapping[str, Any]]) -> CompiledAggregation:
    """Parse and validate ``pipeline`` once; see :class:`CompiledAggregation`."""
    return CompiledAggregation(pipeline)


def run_pipeline(
    docs: Iterable[Mapping[str, Any]],
    pipeline: Sequence[Mapping[str, Any]],
    *,
    collections: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """Run an aggregation ``pipeline`` over ``docs`` with MongoDB's semantics; returns new documents.

    ``collections`` maps collection names to their documents for ``$lookup`` and ``$unionWith``
    (an unknown name is an empty collection). Raises QueryError for a malformed pipeline, an
    unsupported stage or operator, or a run-time error MongoDB would raise.
    """
    return CompiledAggregation(pipeline).run(docs, collections=collections)
