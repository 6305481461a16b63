"""Shared vocabulary of aggregation-expression operators: compiled-expression types, arity, null rules.

Every operator module compiles its operator's argument into an :data:`Evaluator` — a function of
the current document and the variables in scope — using a :class:`Compiler` for sub-expressions.
The helpers here check arity and argument types and produce MongoDB-worded errors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final, Protocol

from bson import Decimal128, MinKey

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.compare import MISSING, compare_values
from mindtrace.database.query.type_codes import bson_type_name

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "INT64_MAX",
    "INT64_MIN",
    "Compiler",
    "Constant",
    "Evaluator",
    "OperatorCompiler",
    "Variables",
    "bson_type_name",
    "check_variable_name",
    "compile_operands",
    "expr_compare",
    "expr_equal",
    "get_path",
    "integral_value",
    "is_nullish",
    "normalize_int",
    "operand_list",
    "truthy",
]

Variables = Mapping[str, Any]
"""User and system variables in scope (``this``, ``value``, ``$let`` names, ``ROOT``, ``NOW``…)."""

Evaluator = Callable[[Any, Variables], Any]
"""A compiled expression: ``(current document, variables) -> value``; ``MISSING`` when absent."""

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


class Compiler(Protocol):
    """What an operator needs from the expression compiler to compile its operands."""

    def compile(self, expr: Any) -> Evaluator:
        """Compile a sub-expression in the current variable scope."""
        ...

    def with_variables(self, names: Iterable[str]) -> Compiler:
        """A compiler whose scope also defines ``names`` (for ``$let``, ``$map``, ``$filter``…)."""
        ...


OperatorCompiler = Callable[[str, Any, Compiler], Evaluator]
"""Compiles ``{name: argument}`` into an evaluator; raises QueryError for a malformed argument."""


class Constant:
    """An evaluator that always returns ``value``; operators check for it to precompute work."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, doc: Any, variables: Variables) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f"Constant({self.value!r})"


def is_nullish(value: Any) -> bool:
    """True for null and missing, the values most operators turn into a null result."""
    return value is None or value is MISSING


def operand_list(arg: Any) -> list[Any]:
    """An operator's arguments: an array is the list of arguments, anything else is one argument."""
    return arg if isinstance(arg, list) else [arg]


def compile_operands(
    name: str, arg: Any, compiler: Compiler, min_count: int, max_count: int | None = -1
) -> list[Evaluator]:
    """Compile an operator's positional operands, checking their count like MongoDB.

    ``max_count=-1`` means exactly ``min_count``; ``None`` means no upper bound.
    Raises QueryError "Expression $op takes exactly N arguments. M were passed in." otherwise.
    """
    operands = operand_list(arg)
    n = len(operands)
    upper = min_count if max_count == -1 else max_count
    if n < min_count or (upper is not None and n > upper):
        if upper == min_count:
            expected = f"exactly {min_count}"
        elif upper is None:
            expected = f"at least {min_count}"
        else:
            expected = f"between {min_count} and {upper}"
        raise QueryError(f"Expression {name} takes {expected} arguments. {n} were passed in.", operator=name)
    return [compiler.compile(operand) for operand in operands]


def truthy(value: Any) -> bool:
    """MongoDB's truthiness: false, null, missing and numeric zero are false; all else is true."""
    if value is None or value is MISSING or value is False:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float | Decimal):
        return bool(value) or (value != value)  # noqa: PLR0124 - NaN is truthy
    if isinstance(value, Decimal128):
        return not value.to_decimal().is_zero()
    return True


def expr_compare(a: Any, b: Any) -> int:
    """Three-way comparison for aggregation expressions: like BSON order, but missing < null.

    In queries a missing field matches null; in expressions it is a value of its own that sorts
    below null (``{$gt: ["$field", null]}`` is the documented test for "present and not null").
    """
    if a is MISSING or b is MISSING:
        if a is b:
            return 0
        if isinstance(a, MinKey) or isinstance(b, MinKey):
            return 1 if isinstance(b, MinKey) else -1
        return -1 if a is MISSING else 1
    return compare_values(a, b)


def expr_equal(a: Any, b: Any) -> bool:
    """Equality for aggregation expressions: BSON equality, ``1 == 1.0``, missing equals only missing."""
    return expr_compare(a, b) == 0


def normalize_int(value: int) -> int | float:
    """An integer result outside the 64-bit range becomes a double, as MongoDB's overflow does."""
    if INT64_MIN <= value <= INT64_MAX:
        return value
    return float(value)


def integral_value(name: str, value: Any, what: str, *, bits: int = 32) -> int:
    """``value`` as an int when it is a number with an integral value that fits ``bits`` bits.

    Raises QueryError naming the operator and ``what`` (e.g. "the index") otherwise.
    """
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    ok = not isinstance(value, bool) and (
        isinstance(value, int)
        or (isinstance(value, float) and math.isfinite(value) and value.is_integer())
        or (isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value())
    )
    result = int(value) if ok else 0
    limit = 2 ** (bits - 1)
    if not ok or not -limit <= result < limit:
        raise QueryError(
            f"{name}: {what} must be an integral number representable as a {bits}-bit integer, "
            f"got {value!r} ({bson_type_name(value)})",
            operator=name,
        )
    return result


_VARIABLE_NAME = re.compile(r"^(?:[a-z]|[^\x00-\x7f])(?:[A-Za-z0-9_]|[^\x00-\x7f])*$")


def check_variable_name(name: str, where: str) -> None:
    """Reject a user variable name MongoDB would reject (it must start with a lowercase letter).

    ``where`` names the operator or stage defining the variable, for the error message.
    """
    if not isinstance(name, str) or not name:
        raise QueryError(f"{where}: variable names must be non-empty strings, got {name!r}", operator=where)
    if not _VARIABLE_NAME.match(name):
        raise QueryError(
            f"{where}: '{name}' is not a valid user variable name: it must start with a lowercase "
            "letter or a non-ASCII character and contain only letters, digits and '_'",
            operator=where,
        )


def get_path(value: Any, parts: tuple[str, ...]) -> Any:
    """Resolve a dotted path the way aggregation field paths do.

    Through an array the remaining path is applied to each element that is a document and the
    results (missing ones dropped) form an array; numeric components are field names, never array
    indexes; scalars and nested arrays in the way yield nothing. Returns MISSING when absent.
    """
    for i, part in enumerate(parts):
        if isinstance(value, dict) or isinstance(value, Mapping):  # noqa: SIM101 - dict fast path
            value = value.get(part, MISSING)
        elif isinstance(value, list):
            return _array_path(value, parts[i:])
        else:
            return MISSING
    return value


def _array_path(array: list[Any], parts: tuple[str, ...]) -> list[Any]:
    out = []
    for element in array:
        if isinstance(element, Mapping):
            found = get_path(element, parts)
            if found is not MISSING:
                out.append(found)
    return out
