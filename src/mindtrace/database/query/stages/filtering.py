"""Stages that choose documents without reshaping them: $match, $skip, $limit, $sample.

``$match`` hands its filter to the filter engine; a top-level ``$expr`` is compiled here with the
pipeline's variables in scope, so ``$lookup``'s ``let`` variables work in sub-pipelines.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from bson import Decimal128

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.expr_operands import Evaluator, truthy
from mindtrace.database.query.filter import compile_filter
from mindtrace.database.query.stages.context import Document, PipelineScope, RunContext, Stage

__all__ = ["STAGES", "stage_integer"]


def stage_integer(stage: str, value: Any, what: str) -> int:
    """A stage argument that must be a whole number (int, integral double or decimal).

    Raises QueryError naming ``stage`` and ``what`` otherwise.
    """
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise QueryError(f"{stage}: {what} must be specified as a number, got {value!r}", operator=stage)
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise QueryError(f"{stage}: {what} must be a whole number, got {value!r}", operator=stage)
    if isinstance(value, Decimal) and not (value.is_finite() and value == value.to_integral_value()):
        raise QueryError(f"{stage}: {what} must be a whole number, got {value!r}", operator=stage)
    return int(value)


def _contains_expr(filter: Any) -> bool:
    if isinstance(filter, Mapping):
        return any(key == "$expr" or _contains_expr(value) for key, value in filter.items())
    if isinstance(filter, list):
        return any(_contains_expr(item) for item in filter)
    return False


def _bind_expr_variables(filter: Any, user_variables: Mapping[str, Any]) -> Any:
    """Rewrite every ``$expr`` so it binds ``user_variables`` as literals (the filter engine has none)."""
    if isinstance(filter, Mapping):
        out = {}
        for key, value in filter.items():
            if key == "$expr":
                bound = {name: {"$literal": v} for name, v in user_variables.items()}
                out[key] = {"$let": {"vars": bound, "in": value}}
            else:
                out[key] = _bind_expr_variables(value, user_variables)
        return out
    if isinstance(filter, list):
        return [_bind_expr_variables(item, user_variables) for item in filter]
    return filter


def _compile_match(name: str, spec: Any, scope: PipelineScope) -> Stage:
    if not isinstance(spec, Mapping):
        raise QueryError(
            "$match: the filter must be an object, e.g. {'$match': {'status': 'A'}}", operator=name
        )
    expressions: list[Evaluator] = []
    rest: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "$expr":
            expressions.append(scope.expressions.compile(value))
        else:
            rest[key] = value
    user_names = scope.expressions.scope
    late_bound = bool(user_names) and _contains_expr(rest)
    predicate = None if late_bound else compile_filter(rest)

    def match(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        variables = ctx.variables
        test = predicate
        if test is None:
            # A nested $expr in a sub-pipeline with let variables: bind their values, then compile.
            bound = {k: v for k, v in variables.items() if k in user_names}
            test = compile_filter(_bind_expr_variables(rest, bound))
        for doc in docs:
            if test(doc) and all(truthy(ev(doc, variables)) for ev in expressions):
                yield doc

    return match


def _compile_limit(name: str, spec: Any, scope: PipelineScope) -> Stage:
    limit = stage_integer(name, spec, "the limit")
    if limit <= 0:
        raise QueryError(f"$limit: the limit must be positive, got {limit}", operator=name)

    def limit_(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        return itertools.islice(docs, limit)

    return limit_


def _compile_skip(name: str, spec: Any, scope: PipelineScope) -> Stage:
    skip = stage_integer(name, spec, "the number of documents to skip")
    if skip < 0:
        raise QueryError(f"$skip: expected a non-negative number, got {skip}", operator=name)

    def skip_(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        return itertools.islice(docs, skip, None)

    return skip_


def _compile_sample(name: str, spec: Any, scope: PipelineScope) -> Stage:
    if not isinstance(spec, Mapping) or set(spec) != {"size"}:
        raise QueryError("$sample takes exactly one option, 'size': {'$sample': {'size': 3}}", operator=name)
    size = stage_integer(name, spec["size"], "size")
    if size < 0:
        raise QueryError(f"$sample: size must not be negative, got {size}", operator=name)

    def sample(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        population = list(docs)
        return iter(random.sample(population, min(size, len(population))))

    return sample


STAGES = {
    "$match": _compile_match,
    "$limit": _compile_limit,
    "$skip": _compile_skip,
    "$sample": _compile_sample,
}
