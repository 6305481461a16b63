"""Aggregation expressions: compiled once into closures, then evaluated per document.

An expression is MongoDB's aggregation expression language: ``"$field.path"`` references,
``"$$variable"`` references, ``{"$operator": arguments}`` calls, and document/array literals whose
members are expressions. :func:`compile_expression` parses it once (checking operators, arity and
variable names) into an :data:`Evaluator`; :func:`evaluate` is the one-shot convenience.

A path that does not exist evaluates to ``MISSING`` (from ``query.compare``), distinct from null:
document literals omit fields whose value is missing, array literals turn it into null, and
``$$REMOVE`` is missing on purpose. Results may share sub-objects with the input document and
with the expression's own literals (a constant is built once): copy a result before mutating it.
The pipeline copies its output, so its callers never alias their inputs.

The operators themselves live in ``expr_*`` modules named after what they do; this module owns
the grammar (paths, variables, literals, ``$literal``, ``$let``) and the operator table.
"""

from __future__ import annotations

import datetime as dt
import decimal
import random
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query import (
    expr_arithmetic,
    expr_array,
    expr_convert,
    expr_date,
    expr_logic,
    expr_object,
    expr_string,
)
from mindtrace.database.query.compare import MISSING
from mindtrace.database.query.entry_guard import guard_recursion, too_deep, unusable_decimal
from mindtrace.database.query.expr_operands import (
    Compiler,
    Constant,
    Evaluator,
    OperatorCompiler,
    Variables,
    check_variable_name,
    get_path,
)

__all__ = [
    "OPERATORS",
    "SYSTEM_VARIABLES",
    "Evaluator",
    "ExpressionCompiler",
    "compile_expression",
    "evaluate",
    "get_path",
    "is_operator_object",
]

SYSTEM_VARIABLES: Final = frozenset({"ROOT", "CURRENT", "REMOVE", "NOW"})
_UNSUPPORTED_VARIABLES: Final = frozenset(
    {"CLUSTER_TIME", "SEARCH_META", "USER_ROLES", "DESCEND", "PRUNE", "KEEP"}
)

_JAVASCRIPT: Final = frozenset({"$function", "$accumulator", "$where"})
_UNSUPPORTED: Final = frozenset(
    {"$meta", "$toHashedIndexKey", "$internalJsEmit", "$currentDate", "$encStrStartsWith", "$hash"}
)


def is_operator_object(expr: Any) -> bool:
    """True when ``expr`` is ``{"$op": …}`` (an operator call) rather than a document literal."""
    if not isinstance(expr, dict) or not expr:
        return False
    first = next(iter(expr))
    return isinstance(first, str) and first.startswith("$")


def _split_path(text: str, what: str) -> tuple[str, ...]:
    parts = tuple(text.split("."))
    for part in parts:
        if not part:
            raise QueryError(f"invalid {what} '{text}': field names in a path must not be empty")
        if part.startswith("$"):
            raise QueryError(f"invalid {what} '{text}': field names in a path must not start with '$'")
    return parts


def _field_path(text: str) -> Evaluator:
    if text == "$":
        raise QueryError("'$' by itself is not a valid field path; name a field, e.g. '$price'")
    parts = _split_path(text[1:], "field path")
    if len(parts) == 1:
        name = parts[0]

        def top_level(doc: Any, variables: Variables) -> Any:
            try:
                return doc.get(name, MISSING)
            except AttributeError:  # the current value is not a document (e.g. $let rebinding)
                return MISSING

        return top_level

    def nested(doc: Any, variables: Variables) -> Any:
        return get_path(doc, parts)

    return nested


def _now(variables: Variables) -> Any:
    now = variables.get("NOW", MISSING)
    if now is MISSING:
        # Outside a pipeline run (which binds NOW once) the current time is taken per evaluation.
        now = dt.datetime.now(dt.UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    return now


class ExpressionCompiler:
    """Compiles expressions in a scope of defined user variables.

    Using an undefined variable is a compile-time QueryError, as in MongoDB. The compiler is
    immutable; :meth:`with_variables` returns a new one for a nested scope.
    """

    __slots__ = ("_scope",)

    def __init__(self, variables: Iterable[str] = ()) -> None:
        self._scope = frozenset(variables)

    @property
    def scope(self) -> frozenset[str]:
        """The user variable names defined in this scope."""
        return self._scope

    def with_variables(self, names: Iterable[str]) -> ExpressionCompiler:
        """A compiler for a nested scope that also defines ``names``."""
        return ExpressionCompiler(self._scope | frozenset(names))

    def compile(self, expr: Any) -> Evaluator:
        """Compile ``expr``; raises QueryError for unknown operators, bad arity or undefined variables."""
        if isinstance(expr, str):
            if expr.startswith("$$"):
                return self._variable(expr)
            if expr.startswith("$"):
                return _field_path(expr)
            return Constant(expr)
        if isinstance(expr, dict):
            if is_operator_object(expr):
                return self._operator(expr)
            return self._document(expr)
        if isinstance(expr, list | tuple):
            return self._array(list(expr))
        return Constant(expr)

    def _variable(self, text: str) -> Evaluator:
        name, _, rest = text[2:].partition(".")
        parts = _split_path(rest, "variable path") if rest else ()
        if name in _UNSUPPORTED_VARIABLES:
            raise QueryError(f"the system variable $${name} is not supported on this backend")
        if name not in SYSTEM_VARIABLES and name not in self._scope:
            raise QueryError(
                f"use of undefined variable: {name}; define it with $let (or $lookup's let) first"
            )
        if name == "REMOVE":
            return Constant(MISSING)
        base: Evaluator
        if name == "CURRENT":
            base = _current
        elif name == "ROOT":
            base = _root
        elif name == "NOW":

            def base(doc: Any, variables: Variables) -> Any:
                return _now(variables)

        else:

            def base(doc: Any, variables: Variables) -> Any:
                return variables.get(name, MISSING)

        if not parts:
            return base

        def with_path(doc: Any, variables: Variables) -> Any:
            return get_path(base(doc, variables), parts)

        return with_path

    def _document(self, expr: dict[str, Any]) -> Evaluator:
        fields: list[tuple[str, Evaluator]] = []
        for key, value in expr.items():
            if not isinstance(key, str) or not key:
                raise QueryError(f"field names in an expression object must be non-empty strings: {expr!r}")
            if key.startswith("$"):
                raise QueryError(
                    f"field name '{key}' in an expression object must not start with '$'; an operator "
                    f"object must have exactly one field, the operator name: {expr!r}"
                )
            if "." in key:
                raise QueryError(f"field name '{key}' in an expression object must not contain '.'")
            fields.append((key, self.compile(value)))
        if all(isinstance(ev, Constant) for _, ev in fields):
            constant = {k: ev.value for k, ev in fields if ev.value is not MISSING}  # type: ignore[attr-defined]
            return Constant(constant)

        def document(doc: Any, variables: Variables) -> Any:
            out = {}
            for key, ev in fields:
                value = ev(doc, variables)
                if value is not MISSING:
                    out[key] = value
            return out

        return document

    def _array(self, expr: list[Any]) -> Evaluator:
        items = [self.compile(item) for item in expr]

        def array(doc: Any, variables: Variables) -> Any:
            out = []
            for ev in items:
                value = ev(doc, variables)
                out.append(None if value is MISSING else value)
            return out

        return array

    def _operator(self, expr: dict[str, Any]) -> Evaluator:
        if len(expr) != 1:
            raise QueryError(
                "an expression object with an operator must have exactly one field, the operator "
                f"name; found {len(expr)} fields in {expr!r}"
            )
        ((name, arg),) = expr.items()
        compile_op = OPERATORS.get(name)
        if compile_op is None:
            if name in _JAVASCRIPT:
                raise QueryError(
                    f"{name} runs server-side JavaScript, which is not supported on this backend; "
                    "express the logic with aggregation operators instead",
                    operator=name,
                )
            if name in _UNSUPPORTED:
                raise QueryError(
                    f"expression operator {name} is not supported on this backend", operator=name
                )
            raise QueryError(f"unrecognized expression operator '{name}'", operator=name)
        return compile_op(name, arg, self)


def _current(doc: Any, variables: Variables) -> Any:
    return doc


def _root(doc: Any, variables: Variables) -> Any:
    return variables.get("ROOT", doc)


def _compile_literal(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    return Constant(arg)


def _compile_let(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    if not isinstance(arg, dict) or set(arg) - {"vars", "in"} or "in" not in arg or "vars" not in arg:
        raise QueryError("$let takes {vars: {<name>: <expression>, …}, in: <expression>}", operator=name)
    definitions = arg["vars"]
    if not isinstance(definitions, dict):
        raise QueryError("$let: 'vars' must be an object of variable definitions", operator=name)
    rebinds_current = "CURRENT" in definitions
    bound: list[tuple[str, Evaluator]] = []
    for var, value in definitions.items():
        if var != "CURRENT":
            check_variable_name(var, "$let")
        bound.append((var, compiler.compile(value)))
    body = compiler.with_variables(v for v in definitions if v != "CURRENT").compile(arg["in"])

    def let(doc: Any, variables: Variables) -> Any:
        scope = dict(variables)
        for var, ev in bound:
            scope[var] = ev(doc, variables)
        if rebinds_current:
            scope.setdefault("ROOT", doc)
            return body(scope.pop("CURRENT"), scope)
        return body(doc, scope)

    return let


def _compile_rand(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    if arg != {}:
        raise QueryError("$rand takes no arguments: write {$rand: {}}", operator=name)

    def rand(doc: Any, variables: Variables) -> Any:
        return random.random()

    return rand


def _core_operators() -> dict[str, OperatorCompiler]:
    return {"$literal": _compile_literal, "$let": _compile_let, "$rand": _compile_rand}


def _operator_table() -> Mapping[str, OperatorCompiler]:
    table: dict[str, OperatorCompiler] = {}
    for part in (
        _core_operators(),
        expr_arithmetic.OPERATORS,
        expr_logic.OPERATORS,
        expr_string.OPERATORS,
        expr_array.OPERATORS,
        expr_object.OPERATORS,
        expr_date.OPERATORS,
        expr_convert.OPERATORS,
    ):
        duplicates = table.keys() & part.keys()
        if duplicates:  # a programming error in the operator modules, caught at import
            raise RuntimeError(f"expression operators defined twice: {sorted(duplicates)}")
        table.update(part)
    return MappingProxyType(table)


OPERATORS: Final[Mapping[str, OperatorCompiler]] = _operator_table()
"""Every supported expression operator, by name (read-only)."""


def compile_expression(expr: Any, variables: Iterable[str] = ()) -> Evaluator:
    """Parse ``expr`` once into an evaluator ``(doc, variables) -> value`` for repeated use.

    ``variables`` names the user variables the caller will bind at evaluation time (e.g. a
    ``$lookup``'s ``let``). Raises QueryError for unknown operators, bad arity and undefined
    variables; evaluation raises QueryError for errors MongoDB raises at run time.
    """
    try:
        evaluator = ExpressionCompiler(variables).compile(expr)
    except RecursionError as e:
        raise too_deep() from e
    except decimal.InvalidOperation as e:
        raise unusable_decimal() from e
    return guard_recursion(evaluator)


def evaluate(expr: Any, doc: Mapping[str, Any], variables: Mapping[str, Any] | None = None) -> Any:
    """Evaluate ``expr`` against ``doc`` with optional user ``variables``; MISSING when absent.

    Compiles on every call; use :func:`compile_expression` to evaluate one expression many times.
    """
    bound = variables if variables is not None else {}
    return compile_expression(expr, bound.keys())(doc, bound)
