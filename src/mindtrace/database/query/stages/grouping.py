"""Stages that aggregate documents into groups: $group, $count, $sortByCount, $bucket, $bucketAuto.

Groups are keyed by MongoDB equality (``1`` and ``1.0`` share a group; a missing ``_id``
expression groups with null) and emitted in the order their first document arrived — MongoDB
leaves that order unspecified, so callers who need one add a ``$sort``. Memory is one accumulator
state per group and output field.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.accumulators import Accumulator, AccumulatorSpec, compile_accumulator
from mindtrace.database.query.compare import MISSING, compare_values, type_rank
from mindtrace.database.query.expr_operands import Evaluator, Variables
from mindtrace.database.query.expressions import is_operator_object
from mindtrace.database.query.hash_keys import hash_key
from mindtrace.database.query.stages.context import Document, PipelineScope, RunContext, Stage
from mindtrace.database.query.stages.filtering import stage_integer

__all__ = ["STAGES"]


def _output_fields(
    stage: str, spec: Mapping[str, Any], scope: PipelineScope
) -> list[tuple[str, AccumulatorSpec]]:
    fields = []
    for field, accumulator in spec.items():
        if not isinstance(field, str) or not field:
            raise QueryError(f"{stage}: output field names must be non-empty strings", operator=stage)
        if field.startswith("$"):
            raise QueryError(f"{stage}: the field name '{field}' cannot be an operator name", operator=stage)
        if "." in field:
            raise QueryError(
                f"{stage}: the field name '{field}' cannot be used because {stage}'s field names "
                "cannot contain '.'",
                operator=stage,
            )
        fields.append((field, compile_accumulator(field, accumulator, scope.expressions, stage=stage)))
    return fields


class _Grouper:
    """Feeds documents into per-key accumulator states; keys compare with MongoDB equality."""

    def __init__(self, key: Evaluator, fields: list[tuple[str, AccumulatorSpec]]) -> None:
        self._key = key
        self._fields = fields

    def run(self, docs: Iterable[Document], variables: Variables) -> list[tuple[Any, list[Accumulator]]]:
        groups: dict[Hashable, tuple[Any, list[Accumulator]]] = {}
        key_of = self._key
        inputs = [(i, spec.input) for i, (_, spec) in enumerate(self._fields)]
        factories = [spec.create for _, spec in self._fields]
        for doc in docs:
            key = key_of(doc, variables)
            if key is MISSING:
                key = None
            hashed = hash_key(key)
            group = groups.get(hashed)
            if group is None:
                group = (key, [create() for create in factories])
                groups[hashed] = group
            states = group[1]
            for i, evaluate in inputs:
                states[i].add(evaluate(doc, variables))
        return list(groups.values())

    def documents(self, groups: list[tuple[Any, list[Accumulator]]]) -> Iterator[dict[str, Any]]:
        for key, states in groups:
            out: dict[str, Any] = {"_id": key}
            for (field, _), state in zip(self._fields, states, strict=True):
                value = state.result()
                if value is not MISSING:
                    out[field] = value
            yield out


def _compile_group(name: str, spec: Any, scope: PipelineScope) -> Stage:
    if not isinstance(spec, Mapping):
        raise QueryError("$group: the specification must be an object", operator=name)
    if "_id" not in spec:
        raise QueryError(
            "$group: a group specification must include an _id (use _id: null to group all)", operator=name
        )
    key = scope.expressions.compile(spec["_id"])
    grouper = _Grouper(key, _output_fields(name, {k: v for k, v in spec.items() if k != "_id"}, scope))

    def group(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        yield from grouper.documents(grouper.run(docs, ctx.variables))

    return group


def _compile_count(name: str, spec: Any, scope: PipelineScope) -> Stage:
    if not isinstance(spec, str) or not spec:
        raise QueryError("$count: the count field must be a non-empty string", operator=name)
    if spec.startswith("$"):
        raise QueryError("$count: the count field must not be a $-prefixed path", operator=name)
    if "." in spec:
        raise QueryError("$count: the count field must not contain '.'", operator=name)
    field = spec

    def count(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        n = sum(1 for _ in docs)
        if n:
            yield {field: n}

    return count


def _group_by_expression(stage: str, spec: Any, scope: PipelineScope, what: str) -> Evaluator:
    if not (
        isinstance(spec, str) and spec.startswith("$") and not spec.startswith("$$")
    ) and not is_operator_object(spec):
        raise QueryError(
            f"{stage}: {what} must be defined as a $-prefixed path or an expression object", operator=stage
        )
    return scope.expressions.compile(spec)


def _compile_sort_by_count(name: str, spec: Any, scope: PipelineScope) -> Stage:
    key = _group_by_expression(name, spec, scope, "the sortByCount field")
    grouper = _Grouper(key, [("count", compile_accumulator("count", {"$sum": 1}, scope.expressions))])

    def sort_by_count(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        out = list(grouper.documents(grouper.run(docs, ctx.variables)))
        out.sort(key=lambda d: d["count"], reverse=True)  # stable: ties keep first-seen order
        yield from out

    return sort_by_count


def _bucket_output(
    name: str, spec: Mapping[str, Any], scope: PipelineScope
) -> list[tuple[str, AccumulatorSpec]]:
    output = spec.get("output", {"count": {"$sum": 1}})
    if not isinstance(output, Mapping):
        raise QueryError(f"{name}: 'output' must be an object of accumulators", operator=name)
    return _output_fields(name, output, scope)


def _compile_bucket(name: str, spec: Any, scope: PipelineScope) -> Stage:
    if not isinstance(spec, Mapping):
        raise QueryError("$bucket: the specification must be an object", operator=name)
    unknown = set(spec) - {"groupBy", "boundaries", "default", "output"}
    if unknown:
        raise QueryError(f"$bucket: unrecognized option '{sorted(unknown)[0]}'", operator=name)
    for required in ("groupBy", "boundaries"):
        if required not in spec:
            raise QueryError(
                f"$bucket requires 'groupBy' and 'boundaries' to be specified ('{required}' is missing)",
                operator=name,
            )
    group_by = _group_by_expression(name, spec["groupBy"], scope, "'groupBy'")
    boundaries = spec["boundaries"]
    if not isinstance(boundaries, list) or len(boundaries) < 2:
        raise QueryError("$bucket: 'boundaries' must be an array of at least 2 values", operator=name)
    boundary_values = [scope.expressions.compile(b) for b in boundaries]
    constants = []
    for b, ev in zip(boundaries, boundary_values, strict=True):
        value = getattr(ev, "value", MISSING)
        if value is MISSING or (isinstance(b, str) and b.startswith("$")):
            raise QueryError("$bucket: all values in 'boundaries' must be constants", operator=name)
        constants.append(value)
    rank = type_rank(constants[0])
    if any(type_rank(v) != rank for v in constants):
        raise QueryError("$bucket: all values in 'boundaries' must have the same type", operator=name)
    if any(compare_values(a, b) >= 0 for a, b in itertools.pairwise(constants)):
        raise QueryError("$bucket: the 'boundaries' option must be sorted in ascending order", operator=name)
    has_default = "default" in spec
    default = spec.get("default")
    if (
        has_default
        and type_rank(default) == rank
        and (compare_values(constants[0], default) <= 0 < compare_values(constants[-1], default))
    ):
        raise QueryError(
            "$bucket: the 'default' value must be less than the lowest boundary or greater than or equal to "
            "the highest boundary",
            operator=name,
        )
    fields = _bucket_output(name, spec, scope)

    def bucket_id(doc: Document, variables: Variables) -> Any:
        value = group_by(doc, variables)
        in_range = (
            type_rank(value) == rank
            and value is not MISSING
            and compare_values(constants[0], value) <= 0 < compare_values(constants[-1], value)
        )
        if in_range:
            # Binary search would do; boundaries are few, so a linear scan stays simple.
            for lower, upper in itertools.pairwise(constants):
                if compare_values(value, upper) < 0:
                    return lower
        if not has_default:
            raise QueryError(
                "$bucket could not find a matching branch for an input, and no default was specified",
                operator=name,
            )
        return default

    grouper = _Grouper(bucket_id, fields)

    def bucket(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        out = list(grouper.documents(grouper.run(docs, ctx.variables)))
        out.sort(key=functools.cmp_to_key(lambda a, b: compare_values(a["_id"], b["_id"])))
        yield from out

    return bucket


def _compare_first(a: tuple[Any, Any], b: tuple[Any, Any]) -> int:
    return compare_values(a[0], b[0])


_first_item_key = functools.cmp_to_key(_compare_first)


def _compile_bucket_auto(name: str, spec: Any, scope: PipelineScope) -> Stage:
    if not isinstance(spec, Mapping):
        raise QueryError("$bucketAuto: the specification must be an object", operator=name)
    unknown = set(spec) - {"groupBy", "buckets", "output", "granularity"}
    if unknown:
        raise QueryError(f"$bucketAuto: unrecognized option '{sorted(unknown)[0]}'", operator=name)
    if "granularity" in spec:
        raise QueryError("$bucketAuto: 'granularity' is not supported on this backend", operator=name)
    for required in ("groupBy", "buckets"):
        if required not in spec:
            raise QueryError(f"$bucketAuto requires '{required}' to be specified", operator=name)
    group_by = _group_by_expression(name, spec["groupBy"], scope, "'groupBy'")
    buckets = stage_integer(name, spec["buckets"], "'buckets'")
    if buckets <= 0:
        raise QueryError(f"$bucketAuto: 'buckets' must be greater than 0, got {buckets}", operator=name)
    fields = _bucket_output(name, spec, scope)

    def bucket_auto(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        variables = ctx.variables
        keyed: list[tuple[Any, Document]] = []
        for doc in docs:
            value = group_by(doc, variables)
            keyed.append((None if value is MISSING else value, doc))
        if not keyed:
            return
        keyed.sort(key=_first_item_key)
        per_bucket = max(1, math.floor(len(keyed) / buckets + 0.5))  # C round(): halves go up
        groups: list[list[tuple[Any, Document]]] = []
        i = 0
        while i < len(keyed):
            end = min(i + per_bucket, len(keyed)) if len(groups) < buckets - 1 else len(keyed)
            # Equal values never straddle two buckets.
            while end < len(keyed) and compare_values(keyed[end][0], keyed[end - 1][0]) == 0:
                end += 1
            groups.append(keyed[i:end])
            i = end
        for n, members in enumerate(groups):
            upper = groups[n + 1][0][0] if n + 1 < len(groups) else members[-1][0]
            states = [spec_.create() for _, spec_ in fields]
            for _, doc in members:
                for (_, spec_), state in zip(fields, states, strict=True):
                    state.add(spec_.input(doc, variables))
            out: dict[str, Any] = {"_id": {"min": members[0][0], "max": upper}}
            for (field, _), state in zip(fields, states, strict=True):
                out[field] = state.result()
            yield out

    return bucket_auto


STAGES = {
    "$group": _compile_group,
    "$count": _compile_count,
    "$sortByCount": _compile_sort_by_count,
    "$bucket": _compile_bucket,
    "$bucketAuto": _compile_bucket_auto,
}
