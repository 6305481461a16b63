"""Python's ``RecursionError`` on hostile nesting, turned into ``QueryError`` at the engine's entry points.

The engine compiles and evaluates nested queries and documents recursively. The backends refuse
queries and documents nested more than 100 levels (MongoDB's limit, ``core.input_checks``) before
they reach the engine; used on its own, the engine may still be handed deeper input. Its public
functions and the callables they return are wrapped here, so such input raises ``QueryError``
(the engine's one error) instead of letting ``RecursionError`` escape. The wrapper costs one
function call; ``try`` itself is free in CPython 3.11.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from mindtrace.database.core.exceptions import QueryError

__all__ = ["guard_recursion", "too_deep"]

P = ParamSpec("P")
R = TypeVar("R")


def too_deep() -> QueryError:
    """The error for input nested beyond what the engine can follow."""
    return QueryError(
        "the query or document is nested too deeply for the query engine (Python's recursion "
        "limit was reached); MongoDB allows 100 levels of documents and arrays: flatten it"
    )


def guard_recursion(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with ``RecursionError`` raised as ``QueryError`` (chained)."""

    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except RecursionError as e:
            raise too_deep() from e

    return guarded
