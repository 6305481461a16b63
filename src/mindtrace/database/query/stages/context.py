"""What pipeline stages are made of: the run-time context, the stage type, the compile-time scope.

A stage is compiled once from its specification into a :data:`Stage`, a function from an iterator
of input documents (and the :class:`RunContext`) to an iterator of output documents. Stages never
mutate the documents they receive; they build new dicts when they change something.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mindtrace.database.query.expressions import ExpressionCompiler

__all__ = ["CompiledPipeline", "Document", "PipelineScope", "RunContext", "Stage", "StageCompiler"]

Document = Mapping[str, Any]


@dataclass(frozen=True)
class RunContext:
    """The environment of one pipeline run: other collections (for ``$lookup``) and variables.

    ``variables`` holds ``NOW`` (bound once per run, as MongoDB does) and, inside a ``$lookup``
    sub-pipeline, the names its ``let`` defines.
    """

    collections: Mapping[str, Sequence[Document]] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)

    def with_variables(self, extra: Mapping[str, Any]) -> RunContext:
        """A context that also binds ``extra`` (for a sub-pipeline with ``let``)."""
        return RunContext(self.collections, {**self.variables, **extra})


Stage = Callable[[Iterable[Document], RunContext], Iterator[Document]]
"""A compiled stage: input documents in, output documents out, lazily where the stage allows."""

CompiledPipeline = Callable[[Iterable[Document], RunContext], Iterator[Document]]
"""A compiled pipeline: its stages chained."""


class PipelineScope(Protocol):
    """What a stage compiler needs: expressions in scope and the ability to compile sub-pipelines."""

    @property
    def expressions(self) -> ExpressionCompiler:
        """The expression compiler for this pipeline's variable scope."""
        ...

    @property
    def inside_facet(self) -> bool:
        """True while compiling the sub-pipelines of a ``$facet``."""
        ...

    def compile_pipeline(
        self, pipeline: Any, *, where: str, variables: Iterable[str] = (), inside_facet: bool = False
    ) -> CompiledPipeline:
        """Compile a sub-pipeline (of ``$lookup``, ``$facet``, ``$unionWith``) named ``where`` in errors."""
        ...


StageCompiler = Callable[[str, Any, PipelineScope], Stage]
"""Compiles ``{name: specification}``; raises QueryError naming the stage when it is malformed."""
