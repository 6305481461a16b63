"""Comparison, boolean and conditional expression operators ($eq … $cmp, $and/$or/$not, $cond…).

Comparisons use the full BSON order without type bracketing (``{$gt: ["a", 1]}`` is true because
strings sort after numbers) and treat missing as a value below null, as aggregation does.
``$and``/``$or`` short-circuit; ``$cond``/``$switch`` evaluate only the branch taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.expr_operands import (
    Compiler,
    Evaluator,
    OperatorCompiler,
    Variables,
    compile_operands,
    expr_compare,
    is_nullish,
    truthy,
)

__all__ = ["OPERATORS"]


def _comparison(test: Callable[[int], bool]) -> OperatorCompiler:
    def compile_comparison(name: str, arg: Any, compiler: Compiler) -> Evaluator:
        left, right = compile_operands(name, arg, compiler, 2)

        def compare(doc: Any, variables: Variables) -> Any:
            return test(expr_compare(left(doc, variables), right(doc, variables)))

        return compare

    return compile_comparison


def _compile_cmp(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    left, right = compile_operands(name, arg, compiler, 2)

    def cmp(doc: Any, variables: Variables) -> Any:
        c = expr_compare(left(doc, variables), right(doc, variables))
        return (c > 0) - (c < 0)

    return cmp


def _compile_and(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    operands = compile_operands(name, arg, compiler, 0, None)

    def and_(doc: Any, variables: Variables) -> Any:
        return all(truthy(ev(doc, variables)) for ev in operands)

    return and_


def _compile_or(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    operands = compile_operands(name, arg, compiler, 0, None)

    def or_(doc: Any, variables: Variables) -> Any:
        return any(truthy(ev(doc, variables)) for ev in operands)

    return or_


def _compile_not(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    (operand,) = compile_operands(name, arg, compiler, 1)

    def not_(doc: Any, variables: Variables) -> Any:
        return not truthy(operand(doc, variables))

    return not_


def _compile_cond(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    if isinstance(arg, dict):
        unknown = set(arg) - {"if", "then", "else"}
        if unknown:
            raise QueryError(f"$cond: unrecognized parameter '{sorted(unknown)[0]}'", operator=name)
        for key in ("if", "then", "else"):
            if key not in arg:
                raise QueryError(f"$cond: missing '{key}' parameter", operator=name)
        if_, then, else_ = (compiler.compile(arg[k]) for k in ("if", "then", "else"))
    else:
        if_, then, else_ = compile_operands(name, arg, compiler, 3)

    def cond(doc: Any, variables: Variables) -> Any:
        return then(doc, variables) if truthy(if_(doc, variables)) else else_(doc, variables)

    return cond


def _compile_if_null(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    operands = compile_operands(name, arg, compiler, 2, None)
    *candidates, fallback = operands

    def if_null(doc: Any, variables: Variables) -> Any:
        for ev in candidates:
            value = ev(doc, variables)
            if not is_nullish(value):
                return value
        return fallback(doc, variables)

    return if_null


def _compile_switch(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    if not isinstance(arg, dict):
        raise QueryError(
            "$switch requires an object: {branches: [...], default: <expression>}", operator=name
        )
    unknown = set(arg) - {"branches", "default"}
    if unknown:
        raise QueryError(f"$switch: unrecognized parameter '{sorted(unknown)[0]}'", operator=name)
    branches_spec = arg.get("branches")
    if not isinstance(branches_spec, list) or not branches_spec:
        raise QueryError("$switch requires at least one branch in 'branches'", operator=name)
    branches: list[tuple[Evaluator, Evaluator]] = []
    for branch in branches_spec:
        if not isinstance(branch, dict):
            raise QueryError("$switch: each branch must be an object {case: …, then: …}", operator=name)
        extra = set(branch) - {"case", "then"}
        if extra:
            raise QueryError(f"$switch: unknown argument to a branch: '{sorted(extra)[0]}'", operator=name)
        if "case" not in branch:
            raise QueryError("$switch: a branch is missing its 'case' expression", operator=name)
        if "then" not in branch:
            raise QueryError("$switch: a branch is missing its 'then' expression", operator=name)
        branches.append((compiler.compile(branch["case"]), compiler.compile(branch["then"])))
    default = compiler.compile(arg["default"]) if "default" in arg else None

    def switch(doc: Any, variables: Variables) -> Any:
        for case, then in branches:
            if truthy(case(doc, variables)):
                return then(doc, variables)
        if default is None:
            raise QueryError(
                "$switch could not find a matching branch for an input, and no default was specified",
                operator=name,
            )
        return default(doc, variables)

    return switch


OPERATORS: Final[dict[str, OperatorCompiler]] = {
    "$eq": _comparison(lambda c: c == 0),
    "$ne": _comparison(lambda c: c != 0),
    "$gt": _comparison(lambda c: c > 0),
    "$gte": _comparison(lambda c: c >= 0),
    "$lt": _comparison(lambda c: c < 0),
    "$lte": _comparison(lambda c: c <= 0),
    "$cmp": _compile_cmp,
    "$and": _compile_and,
    "$or": _compile_or,
    "$not": _compile_not,
    "$cond": _compile_cond,
    "$ifNull": _compile_if_null,
    "$switch": _compile_switch,
}
