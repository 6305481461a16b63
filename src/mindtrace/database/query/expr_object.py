"""Object expression operators: $mergeObjects, $objectToArray, $arrayToObject, $getField, $setField.

These build and take apart documents; they never modify the documents they read (every result is
a new dict), so pipelines can hand input documents to them safely.
"""

from __future__ import annotations

from typing import Any, Final

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.accumulators import MergeObjectsAccumulator
from mindtrace.database.query.compare import MISSING
from mindtrace.database.query.expr_operands import (
    Compiler,
    Constant,
    Evaluator,
    OperatorCompiler,
    Variables,
    bson_type_name,
    compile_operands,
    is_nullish,
)

__all__ = ["OPERATORS"]


def _compile_merge_objects(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    operands = compile_operands(name, arg, compiler, 0, None)

    def merge_objects(doc: Any, variables: Variables) -> Any:
        state = MergeObjectsAccumulator(name)
        for ev in operands:
            state.add(ev(doc, variables))
        return state.result()

    return merge_objects


def _compile_object_to_array(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    (operand,) = compile_operands(name, arg, compiler, 1)

    def object_to_array(doc: Any, variables: Variables) -> Any:
        value = operand(doc, variables)
        if is_nullish(value):
            return None
        if not isinstance(value, dict):
            raise QueryError(
                f"$objectToArray requires a document input, found: {bson_type_name(value)}", operator=name
            )
        return [{"k": k, "v": v} for k, v in value.items()]

    return object_to_array


def _compile_array_to_object(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    (operand,) = compile_operands(name, arg, compiler, 1)

    def array_to_object(doc: Any, variables: Variables) -> Any:
        value = operand(doc, variables)
        if is_nullish(value):
            return None
        if not isinstance(value, list):
            raise QueryError(
                f"$arrayToObject requires an array input, found: {bson_type_name(value)}", operator=name
            )
        out: dict[str, Any] = {}
        if not value:
            return out
        pairs_form = isinstance(value[0], list)
        for element in value:
            if pairs_form:
                if not isinstance(element, list) or len(element) != 2:
                    raise QueryError(
                        "$arrayToObject requires a consistent input format: every element must be a "
                        "[key, value] array of length 2 (or every element a {k, v} document)",
                        operator=name,
                    )
                key, item = element
            else:
                if not isinstance(element, dict) or set(element) != {"k", "v"}:
                    raise QueryError(
                        "$arrayToObject requires a consistent input format: every element must be a "
                        "document with exactly the fields 'k' and 'v' (or every element a [key, value] "
                        "array)",
                        operator=name,
                    )
                key, item = element["k"], element["v"]
            if not isinstance(key, str):
                raise QueryError(
                    f"$arrayToObject requires string keys, found a key of type {bson_type_name(key)}",
                    operator=name,
                )
            if "\x00" in key:
                raise QueryError(
                    "$arrayToObject: a key must not contain an embedded null byte", operator=name
                )
            out[key] = item
        return out

    return array_to_object


def _field_and_input(
    name: str, arg: Any, compiler: Compiler, extra: set[str]
) -> tuple[Evaluator, Evaluator, dict[str, Any]]:
    if isinstance(arg, dict) and "field" in arg:
        unknown = set(arg) - {"field", "input"} - extra
        if unknown:
            raise QueryError(f"{name}: unknown argument '{sorted(unknown)[0]}'", operator=name)
        field = compiler.compile(arg["field"])
        source = compiler.compile(arg["input"]) if "input" in arg else compiler.compile("$$CURRENT")
        return field, source, arg
    if extra:
        raise QueryError(
            f"{name} requires an object with 'field', 'input' and {sorted(extra)}", operator=name
        )
    # The shorthand {$getField: "name"} reads a field of $$CURRENT.
    return (
        compiler.compile(arg) if not isinstance(arg, str) else Constant(arg),
        compiler.compile("$$CURRENT"),
        {},
    )


def _field_name(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise QueryError(
            f"{name} requires 'field' to evaluate to type String, but got {bson_type_name(value)}",
            operator=name,
        )
    return value


def _compile_get_field(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    field_ev, source_ev, _ = _field_and_input(name, arg, compiler, set())

    def get_field(doc: Any, variables: Variables) -> Any:
        field = _field_name(name, field_ev(doc, variables))
        source = source_ev(doc, variables)
        if source is None:
            return None
        if not isinstance(source, dict):
            return MISSING
        return source.get(field, MISSING)

    return get_field


def _compile_set_field(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    if not isinstance(arg, dict) or "input" not in arg:
        raise QueryError(f"{name} requires an object with 'field' and 'input'", operator=name)
    extra = {"value"} if name == "$setField" else set()
    field_ev, source_ev, spec = _field_and_input(name, arg, compiler, extra)
    value_ev = compiler.compile(spec["value"]) if name == "$setField" else Constant(MISSING)

    def set_field(doc: Any, variables: Variables) -> Any:
        field = _field_name(name, field_ev(doc, variables))
        source = source_ev(doc, variables)
        if is_nullish(source):
            return None
        if not isinstance(source, dict):
            raise QueryError(
                f"{name} requires 'input' to evaluate to type Object, got {bson_type_name(source)}",
                operator=name,
            )
        out = dict(source)
        value = value_ev(doc, variables)
        if value is MISSING:
            out.pop(field, None)
        else:
            out[field] = value
        return out

    return set_field


OPERATORS: Final[dict[str, OperatorCompiler]] = {
    "$mergeObjects": _compile_merge_objects,
    "$objectToArray": _compile_object_to_array,
    "$arrayToObject": _compile_array_to_object,
    "$getField": _compile_get_field,
    "$setField": _compile_set_field,
    "$unsetField": _compile_set_field,
}
