"""The $sort stage: MongoDB's sort order via the sort engine (stable; arrays sort by min/max element)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.sort import sort_documents
from mindtrace.database.query.stages.context import Document, PipelineScope, RunContext, Stage

__all__ = ["STAGES"]


def _compile_sort(name: str, spec: Any, scope: PipelineScope) -> Stage:
    if not isinstance(spec, Mapping) or not spec:
        raise QueryError(
            "$sort: the sort key specification must be a non-empty object, e.g. {'age': -1}", operator=name
        )
    order: dict[str, int] = {}
    for field, direction in spec.items():
        if isinstance(direction, Mapping):
            raise QueryError(
                "$sort: {'$meta': ...} sort keys (text score, search score) are not supported on this "
                f"backend (field '{field}')",
                operator=name,
            )
        if isinstance(direction, bool) or direction not in (1, -1):
            raise QueryError(
                f"$sort: key ordering for '{field}' must be 1 (for ascending) or -1 (for descending), "
                f"got {direction!r}",
                operator=name,
            )
        order[field] = int(direction)

    def sort(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        return iter(sort_documents(docs, order))

    return sort


STAGES = {"$sort": _compile_sort}
