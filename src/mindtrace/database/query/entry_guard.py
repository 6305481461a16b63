"""Errors hostile input raises deep inside the engine, turned into ``QueryError`` at its entry points.

The engine compiles and evaluates nested queries and documents recursively, and compares
decimals with Python's ``decimal`` module. The backends refuse queries and documents nested more
than 100 levels and signalling-NaN decimals (``core.input_checks``) before they reach the engine;
used on its own, the engine may still be handed such input. Its public functions and the
callables they return are wrapped here, so it raises ``QueryError`` (the engine's one error)
instead of ``RecursionError`` or ``decimal.InvalidOperation``. The wrapper costs one function
call; ``try`` itself is free in CPython 3.11.
"""

from __future__ import annotations

import decimal
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from mindtrace.database.core.exceptions import QueryError

__all__ = ["guard_recursion", "too_deep", "unusable_decimal"]

P = ParamSpec("P")
R = TypeVar("R")


def too_deep() -> QueryError:
    """The error for input nested beyond what the engine can follow."""
    return QueryError(
        "the query or document is nested too deeply for the query engine (Python's recursion "
        "limit was reached); MongoDB allows 100 levels of documents and arrays: flatten it"
    )


def unusable_decimal() -> QueryError:
    """The error for a decimal Python refuses to compare: a signalling NaN (``Decimal('sNaN')``)."""
    return QueryError(
        "a signalling NaN decimal (Decimal('sNaN')) cannot be compared or used in arithmetic; "
        "use Decimal('NaN') instead"
    )


def guard_recursion(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with ``RecursionError`` and ``decimal.InvalidOperation`` raised as ``QueryError`` (chained)."""

    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except RecursionError as e:
            raise too_deep() from e
        except decimal.InvalidOperation as e:
            raise unusable_decimal() from e

    return guarded
