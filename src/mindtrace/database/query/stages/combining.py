"""Stages that combine collections or pipelines: $lookup, $facet, $unionWith.

Other collections come from the run context (``collections`` given to ``run_pipeline``); an
unknown collection name is an empty collection, as in MongoDB. ``$lookup``'s equality form
indexes the foreign collection once per run (hash keys of every value reached at
``foreignField``), so a join costs O(local + foreign) rather than O(local * foreign).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.expr_operands import Evaluator, check_variable_name
from mindtrace.database.query.hash_keys import hash_key
from mindtrace.database.query.stages.context import (
    CompiledPipeline,
    Document,
    PipelineScope,
    RunContext,
    Stage,
)
from mindtrace.database.query.stages.reshaping import set_nested, split_field_path

__all__ = ["STAGES"]

_NULL_KEY = hash_key(None)


def _query_values(value: Any, parts: tuple[str, ...], out: list[Any]) -> bool:
    """Collect the values a query path reaches (arrays add themselves and their elements).

    Returns False when some branch of the path is missing (which matches null, as in queries).
    """
    if not parts:
        out.append(value)
        if isinstance(value, list):
            out.extend(value)
        return True
    head, rest = parts[0], parts[1:]
    if isinstance(value, Mapping):
        if head not in value:
            return False
        return _query_values(value[head], rest, out)
    if isinstance(value, list):
        complete = True
        if head.isdigit() and int(head) < len(value):
            complete = _query_values(value[int(head)], rest, out) and complete
        for element in value:
            if isinstance(element, Mapping):
                complete = _query_values(element, parts, out) and complete
        return complete
    return False


def _foreign_keys(doc: Document, parts: tuple[str, ...]) -> set[Hashable]:
    values: list[Any] = []
    complete = _query_values(doc, parts, values)
    keys = {hash_key(v) for v in values}
    if not complete or not values:
        keys.add(_NULL_KEY)
    return keys


def _local_values(value: Any, parts: tuple[str, ...], out: list[Any]) -> None:
    """Every value at a path the way $lookup collects local values: arrays on the way are
    traversed (numeric components index them), and a final array contributes its elements."""
    head, rest = parts[0], parts[1:]
    if not isinstance(value, Mapping) or head not in value:
        return
    value = value[head]
    while rest and isinstance(value, list) and rest[0].isdigit():
        index = int(rest[0])
        if index >= len(value):
            return
        value, rest = value[index], rest[1:]
    if not rest:
        out.extend(value if isinstance(value, list) else [value])
    elif isinstance(value, list):
        for element in value:
            _local_values(element, rest, out)
    else:
        _local_values(value, rest, out)


def _local_keys(doc: Document, parts: tuple[str, ...]) -> set[Hashable]:
    values: list[Any] = []
    _local_values(doc, parts, values)
    if not values:
        return {_NULL_KEY}  # missing (or an empty array) joins like null, as in MongoDB
    return {hash_key(v) for v in values}


class _ForeignIndex:
    """Foreign documents by the hash keys of their ``foreignField`` values, in collection order."""

    def __init__(self, docs: Sequence[Document], parts: tuple[str, ...]) -> None:
        self._index: dict[Hashable, list[int]] = {}
        self._docs = docs
        for position, doc in enumerate(docs):
            for key in _foreign_keys(doc, parts):
                self._index.setdefault(key, []).append(position)

    def matching(self, keys: set[Hashable]) -> list[Document]:
        positions: set[int] = set()
        for key in keys:
            positions.update(self._index.get(key, ()))
        return [self._docs[p] for p in sorted(positions)]


def _compile_lookup(name: str, spec: Any, scope: PipelineScope) -> Stage:
    if not isinstance(spec, Mapping):
        raise QueryError("$lookup: the specification must be an object", operator=name)
    unknown = set(spec) - {"from", "localField", "foreignField", "let", "pipeline", "as"}
    if unknown:
        raise QueryError(f"$lookup: unknown argument '{sorted(unknown)[0]}'", operator=name)
    if "as" not in spec:
        raise QueryError("$lookup: missing 'as' option", operator=name)
    as_parts = split_field_path(name, spec["as"], "'as' field")
    source = spec.get("from")
    if not isinstance(source, str) or not source:
        raise QueryError("$lookup: 'from' must name a collection (a non-empty string)", operator=name)
    has_local, has_foreign = "localField" in spec, "foreignField" in spec
    if has_local != has_foreign:
        raise QueryError("$lookup: 'localField' and 'foreignField' must be given together", operator=name)
    if not has_local and "pipeline" not in spec:
        raise QueryError("$lookup requires either 'localField'/'foreignField' or 'pipeline'", operator=name)
    if "let" in spec and "pipeline" not in spec:
        raise QueryError("$lookup: 'let' requires a 'pipeline'", operator=name)
    local_parts = split_field_path(name, spec["localField"], "localField") if has_local else None
    foreign_parts = split_field_path(name, spec["foreignField"], "foreignField") if has_foreign else None

    let_spec = spec.get("let", {})
    if not isinstance(let_spec, Mapping):
        raise QueryError("$lookup: 'let' must be an object of variable definitions", operator=name)
    let: list[tuple[str, Evaluator]] = []
    for var, expr in let_spec.items():
        check_variable_name(var, "$lookup let")
        let.append((var, scope.expressions.compile(expr)))
    sub: CompiledPipeline | None = None
    if "pipeline" in spec:
        sub = scope.compile_pipeline(spec["pipeline"], where="$lookup", variables=[v for v, _ in let])
    # Without variables the sub-pipeline gives the same result for every local document.
    uncorrelated = sub is not None and not let and not scope.expressions.scope and local_parts is None

    def lookup(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        foreign = ctx.collections.get(source, ())
        index = _ForeignIndex(foreign, foreign_parts) if foreign_parts is not None else None
        cached: list[Document] | None = None
        for doc in docs:
            candidates: Sequence[Document] = foreign
            if index is not None and local_parts is not None:
                candidates = index.matching(_local_keys(doc, local_parts))
            if sub is None:
                joined = list(candidates)
            elif uncorrelated and cached is not None:
                joined = cached
            else:
                inner = ctx
                if let:
                    inner = ctx.with_variables({var: ev(doc, ctx.variables) for var, ev in let})
                joined = list(sub(candidates, inner))
                if uncorrelated:
                    cached = joined
            yield set_nested(doc, as_parts, list(joined))

    return lookup


def _compile_facet(name: str, spec: Any, scope: PipelineScope) -> Stage:
    if scope.inside_facet:
        raise QueryError("$facet is not allowed to be used within a $facet stage", operator=name)
    if not isinstance(spec, Mapping) or not spec:
        raise QueryError(
            "$facet: the specification must be a non-empty object of named pipelines", operator=name
        )
    facets: list[tuple[str, CompiledPipeline]] = []
    for facet, pipeline in spec.items():
        if not isinstance(facet, str) or not facet or facet.startswith("$") or "." in facet:
            raise QueryError(
                f"$facet: '{facet}' is not a valid facet name: it must be non-empty, not start with '$' "
                "and not contain '.'",
                operator=name,
            )
        if not isinstance(pipeline, list) or not pipeline:
            raise QueryError(
                f"$facet: the '{facet}' facet must be a non-empty array of stages", operator=name
            )
        facets.append((facet, scope.compile_pipeline(pipeline, where=f"$facet '{facet}'", inside_facet=True)))

    def facet_(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        inputs = list(docs)
        yield {facet: list(pipeline(inputs, ctx)) for facet, pipeline in facets}

    return facet_


def _compile_union_with(name: str, spec: Any, scope: PipelineScope) -> Stage:
    if isinstance(spec, str):
        spec = {"coll": spec}
    if not isinstance(spec, Mapping):
        raise QueryError(
            "$unionWith: the specification must be a collection name or an object", operator=name
        )
    unknown = set(spec) - {"coll", "pipeline"}
    if unknown:
        raise QueryError(f"$unionWith: unknown argument '{sorted(unknown)[0]}'", operator=name)
    source = spec.get("coll")
    if not isinstance(source, str) or not source:
        raise QueryError("$unionWith: 'coll' must name a collection", operator=name)
    sub = scope.compile_pipeline(spec.get("pipeline", []), where="$unionWith")

    def union_with(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        yield from docs
        yield from sub(ctx.collections.get(source, ()), ctx)

    return union_with


STAGES = {
    "$lookup": _compile_lookup,
    "$facet": _compile_facet,
    "$unionWith": _compile_union_with,
}
