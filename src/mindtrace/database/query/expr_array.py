"""Array expression operators: element access, slicing, $filter/$map/$reduce, search, sets, statistics.

Null or missing arrays give null for most operators; a non-array where an array is required is a
QueryError naming the operator and the type found. The set operators deduplicate with MongoDB
equality and return their elements in BSON order (MongoDB documents the order as unspecified).
``$sum``/``$avg``/``$min``/``$max``/``$stdDevPop``/``$stdDevSamp`` reuse the ``$group``
accumulators: with one array argument they aggregate its elements, otherwise their arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Final

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.accumulators import (
    Accumulator,
    AvgAccumulator,
    ExtremumAccumulator,
    StdDevAccumulator,
    SumAccumulator,
)
from mindtrace.database.query.compare import MISSING, SortKey
from mindtrace.database.query.expr_operands import (
    Compiler,
    Constant,
    Evaluator,
    OperatorCompiler,
    Variables,
    bson_type_name,
    check_variable_name,
    compile_operands,
    expr_equal,
    integral_value,
    is_nullish,
    truthy,
)
from mindtrace.database.query.hash_keys import hash_key
from mindtrace.database.query.sort import sort_key

__all__ = ["OPERATORS"]


def _require_array(name: str, value: Any, what: str = "argument") -> list[Any]:
    if not isinstance(value, list):
        raise QueryError(f"{name}'s {what} must be an array, but is {bson_type_name(value)}", operator=name)
    return value


def _named(name: str, arg: Any, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(arg, dict):
        raise QueryError(f"{name} only supports an object as its argument", operator=name)
    unknown = set(arg) - required - optional
    if unknown:
        raise QueryError(f"{name}: unrecognized parameter '{sorted(unknown)[0]}'", operator=name)
    for key in sorted(required):
        if key not in arg:
            raise QueryError(f"{name}: missing '{key}' parameter", operator=name)
    return arg


def _compile_size(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    (operand,) = compile_operands(name, arg, compiler, 1)

    def size(doc: Any, variables: Variables) -> Any:
        value = operand(doc, variables)
        if not isinstance(value, list):
            raise QueryError(
                f"the argument to $size must be an array, but was of type: {bson_type_name(value)}",
                operator=name,
            )
        return len(value)

    return size


def _element_at(name: str, array: list[Any], index: int) -> Any:
    if index < 0:
        index += len(array)
        if index < 0:
            return MISSING
    return array[index] if index < len(array) else MISSING


def _compile_array_elem_at(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    array_ev, index_ev = compile_operands(name, arg, compiler, 2)

    def array_elem_at(doc: Any, variables: Variables) -> Any:
        array, index = array_ev(doc, variables), index_ev(doc, variables)
        if is_nullish(array) or is_nullish(index):
            return None
        _require_array(name, array, "first argument")
        return _element_at(name, array, integral_value(name, index, "the second argument"))

    return array_elem_at


def _compile_first_last(index: int) -> OperatorCompiler:
    def compile_first_last(name: str, arg: Any, compiler: Compiler) -> Evaluator:
        (operand,) = compile_operands(name, arg, compiler, 1)

        def first_last(doc: Any, variables: Variables) -> Any:
            array = operand(doc, variables)
            if is_nullish(array):
                return None
            return _element_at(name, _require_array(name, array), index)

        return first_last

    return compile_first_last


def _compile_slice(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    operands = compile_operands(name, arg, compiler, 2, 3)

    def slice_(doc: Any, variables: Variables) -> Any:
        values = [ev(doc, variables) for ev in operands]
        if any(is_nullish(v) for v in values):
            return None
        array = values[0]
        if not isinstance(array, list):
            raise QueryError(
                f"first argument to $slice must be an array, but is of type: {bson_type_name(array)}",
                operator=name,
            )
        first = integral_value(name, values[1], "the second argument")
        length = len(array)
        if len(values) == 2:
            if first < 0:
                return array[max(0, length + first) :]
            return array[: min(length, first)]
        count = integral_value(name, values[2], "the third argument")
        if count <= 0:
            raise QueryError(f"third argument to $slice must be positive: {count}", operator=name)
        start = max(0, length + first) if first < 0 else min(length, first)
        return array[start : min(start + count, length)]

    return slice_


def _compile_concat_arrays(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    operands = compile_operands(name, arg, compiler, 0, None)

    def concat_arrays(doc: Any, variables: Variables) -> Any:
        out: list[Any] = []
        for ev in operands:
            value = ev(doc, variables)
            if is_nullish(value):
                return None  # left to right, like MongoDB: later operands are not type-checked
            if not isinstance(value, list):
                raise QueryError(
                    f"$concatArrays only supports arrays, not {bson_type_name(value)}", operator=name
                )
            out.extend(value)
        return out

    return concat_arrays


def _bound_name(name: str, spec: dict[str, Any], default: str) -> str:
    var = spec.get("as", default)
    check_variable_name(var, name)
    return str(var)


def _compile_filter(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    spec = _named(name, arg, {"input", "cond"}, {"as", "limit"})
    var = _bound_name(name, spec, "this")
    input_ev = compiler.compile(spec["input"])
    cond = compiler.with_variables([var]).compile(spec["cond"])
    limit_ev = compiler.compile(spec["limit"]) if "limit" in spec else Constant(None)

    def filter_(doc: Any, variables: Variables) -> Any:
        array = input_ev(doc, variables)
        limit_value = limit_ev(doc, variables)
        limit = None
        if not is_nullish(limit_value):
            limit = integral_value(name, limit_value, "limit")
            if limit < 1:
                raise QueryError(f"$filter: limit must be greater than 0: {limit}", operator=name)
        if is_nullish(array):
            return None
        if not isinstance(array, list):
            raise QueryError(f"input to $filter must be an array not {bson_type_name(array)}", operator=name)
        scope = dict(variables)
        out = []
        for element in array:
            scope[var] = element
            if truthy(cond(doc, scope)):
                out.append(element)
                if limit is not None and len(out) >= limit:
                    break
        return out

    return filter_


def _compile_map(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    spec = _named(name, arg, {"input", "in"}, {"as"})
    var = _bound_name(name, spec, "this")
    input_ev = compiler.compile(spec["input"])
    body = compiler.with_variables([var]).compile(spec["in"])

    def map_(doc: Any, variables: Variables) -> Any:
        array = input_ev(doc, variables)
        if is_nullish(array):
            return None
        if not isinstance(array, list):
            raise QueryError(f"input to $map must be an array not {bson_type_name(array)}", operator=name)
        scope = dict(variables)
        out = []
        for element in array:
            scope[var] = element
            value = body(doc, scope)
            out.append(None if value is MISSING else value)
        return out

    return map_


def _compile_reduce(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    spec = _named(name, arg, {"input", "initialValue", "in"}, set())
    input_ev = compiler.compile(spec["input"])
    initial = compiler.compile(spec["initialValue"])
    body = compiler.with_variables(["this", "value"]).compile(spec["in"])

    def reduce_(doc: Any, variables: Variables) -> Any:
        array = input_ev(doc, variables)
        if is_nullish(array):
            return None
        if not isinstance(array, list):
            raise QueryError(
                f"$reduce requires that 'input' be an array, found: {bson_type_name(array)}", operator=name
            )
        scope = dict(variables)
        accumulated = initial(doc, variables)
        for element in array:
            scope["this"] = element
            scope["value"] = accumulated
            accumulated = body(doc, scope)
        return accumulated

    return reduce_


def _compile_in(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    value_ev, array_ev = compile_operands(name, arg, compiler, 2)

    def in_(doc: Any, variables: Variables) -> Any:
        value, array = value_ev(doc, variables), array_ev(doc, variables)
        if not isinstance(array, list):
            raise QueryError(
                f"$in requires an array as a second argument, found: {bson_type_name(array)}", operator=name
            )
        return any(expr_equal(value, element) for element in array)

    return in_


def _compile_index_of_array(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    operands = compile_operands(name, arg, compiler, 2, 4)

    def index_of_array(doc: Any, variables: Variables) -> Any:
        array = operands[0](doc, variables)
        if is_nullish(array):
            return None
        if not isinstance(array, list):
            raise QueryError(
                f"$indexOfArray requires an array as a first argument, found: {bson_type_name(array)}",
                operator=name,
            )
        search = operands[1](doc, variables)
        start, end = 0, len(array)
        if len(operands) > 2:
            start = _nonnegative(name, operands[2](doc, variables), "starting index")
        if len(operands) > 3:
            end = min(end, _nonnegative(name, operands[3](doc, variables), "ending index"))
        for i in range(start, end):
            if expr_equal(array[i], search):
                return i
        return -1

    return index_of_array


def _nonnegative(name: str, value: Any, what: str) -> int:
    index = integral_value(name, value, f"the {what}")
    if index < 0:
        raise QueryError(f"{name} requires a nonnegative {what}, found: {index}", operator=name)
    return index


def _compile_is_array(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    (operand,) = compile_operands(name, arg, compiler, 1)

    def is_array(doc: Any, variables: Variables) -> Any:
        return isinstance(operand(doc, variables), list)

    return is_array


def _compile_reverse_array(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    (operand,) = compile_operands(name, arg, compiler, 1)

    def reverse_array(doc: Any, variables: Variables) -> Any:
        array = operand(doc, variables)
        if is_nullish(array):
            return None
        if not isinstance(array, list):
            raise QueryError(
                f"the argument to $reverseArray must be an array, but was of type: {bson_type_name(array)}",
                operator=name,
            )
        return array[::-1]

    return reverse_array


def _compile_range(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    operands = compile_operands(name, arg, compiler, 2, 3)

    def range_(doc: Any, variables: Variables) -> Any:
        start = integral_value(name, operands[0](doc, variables), "the starting value")
        end = integral_value(name, operands[1](doc, variables), "the ending value")
        step = integral_value(name, operands[2](doc, variables), "the step value") if len(operands) > 2 else 1
        if step == 0:
            raise QueryError("$range requires a non-zero step value", operator=name)
        return list(range(start, end, step))

    return range_


def _compile_zip(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    spec = _named(name, arg, {"inputs"}, {"useLongestLength", "defaults"})
    if not isinstance(spec["inputs"], list):
        raise QueryError("$zip: 'inputs' must be an array of expressions", operator=name)
    inputs = [compiler.compile(e) for e in spec["inputs"]]
    longest = spec.get("useLongestLength", False)
    if not isinstance(longest, bool):
        raise QueryError("$zip: 'useLongestLength' must be a boolean", operator=name)
    defaults_spec = spec.get("defaults")
    if defaults_spec is not None and not longest:
        raise QueryError("$zip: cannot specify defaults unless useLongestLength is true", operator=name)
    if defaults_spec is not None and (
        not isinstance(defaults_spec, list) or len(defaults_spec) != len(inputs)
    ):
        raise QueryError("$zip: defaults and inputs must be arrays of the same length", operator=name)
    defaults = [compiler.compile(e) for e in defaults_spec] if defaults_spec is not None else None

    def zip_(doc: Any, variables: Variables) -> Any:
        arrays = []
        for ev in inputs:
            value = ev(doc, variables)
            if is_nullish(value):
                return None
            if not isinstance(value, list):
                raise QueryError(
                    f"$zip found a non-array expression in input: {value!r} ({bson_type_name(value)})",
                    operator=name,
                )
            arrays.append(value)
        if not arrays:
            return []
        fill = [d(doc, variables) for d in defaults] if defaults is not None else [None] * len(arrays)
        fill = [None if v is MISSING else v for v in fill]
        length = max(map(len, arrays)) if longest else min(map(len, arrays))
        return [[a[i] if i < len(a) else fill[j] for j, a in enumerate(arrays)] for i in range(length)]

    return zip_


def _compile_sort_array(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    spec = _named(name, arg, {"input", "sortBy"}, set())
    input_ev = compiler.compile(spec["input"])
    sort_by = spec["sortBy"]
    key: Callable[[Any], Any]
    if sort_by in (1, -1) and not isinstance(sort_by, bool):
        reverse = sort_by == -1
        key = SortKey
    else:
        if not isinstance(sort_by, dict) or not sort_by:
            raise QueryError(
                "$sortArray: 'sortBy' must be 1, -1 or a non-empty object such as {'a': 1}", operator=name
            )
        reverse = False
        document_key = sort_key(sort_by)
        empty: dict[str, Any] = {}

        def key(element: Any) -> Any:
            # Elements that are not documents have none of the sort fields.
            return document_key(element if isinstance(element, dict) else empty)

    def sort_array(doc: Any, variables: Variables) -> Any:
        array = input_ev(doc, variables)
        if is_nullish(array):
            return None
        if not isinstance(array, list):
            raise QueryError(
                "the 'input' argument to $sortArray must be an array, but was of type: "
                f"{bson_type_name(array)}",
                operator=name,
            )
        return sorted(array, key=key, reverse=reverse)

    return sort_array


def _compile_n_elements(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    spec = _named(name, arg, {"input", "n"}, set())
    input_ev, n_ev = compiler.compile(spec["input"]), compiler.compile(spec["n"])

    def n_elements(doc: Any, variables: Variables) -> Any:
        n = integral_value(name, n_ev(doc, variables), "'n'", bits=64)
        if n <= 0:
            raise QueryError(f"{name}: 'n' must be greater than 0, found {n}", operator=name)
        array = input_ev(doc, variables)
        if is_nullish(array):
            return None
        if not isinstance(array, list):
            raise QueryError(
                f"{name} requires 'input' to be an array, found {bson_type_name(array)}", operator=name
            )
        if name == "$firstN":
            return array[:n]
        if name == "$lastN":
            return array[-n:]
        present = [v for v in array if not is_nullish(v)]
        return sorted(present, key=SortKey, reverse=name == "$maxN")[:n]

    return n_elements


def _accumulate(factory: Callable[[], Accumulator]) -> OperatorCompiler:
    def compile_accumulate(name: str, arg: Any, compiler: Compiler) -> Evaluator:
        operands = compile_operands(name, arg, compiler, 1, None)
        if len(operands) == 1:
            (operand,) = operands

            def over_array(doc: Any, variables: Variables) -> Any:
                value = operand(doc, variables)
                state = factory()
                for element in value if isinstance(value, list) else [value]:
                    state.add(element)
                return state.result()

            return over_array

        def over_arguments(doc: Any, variables: Variables) -> Any:
            state = factory()
            for ev in operands:
                state.add(ev(doc, variables))
            return state.result()

        return over_arguments

    return compile_accumulate


def _set_operands(name: str, values: list[Any], *, null_propagates: bool) -> list[list[Any]] | None:
    arrays = []
    for value in values:
        if null_propagates and is_nullish(value):
            return None
        if not isinstance(value, list):
            raise QueryError(
                f"all operands of {name} must be arrays; one argument is of type: {bson_type_name(value)}",
                operator=name,
            )
        arrays.append(value)
    return arrays


def _distinct(values: list[Any]) -> dict[Hashable, Any]:
    out: dict[Hashable, Any] = {}
    for value in values:
        out.setdefault(hash_key(value), value)
    return out


def _ordered(values: dict[Hashable, Any]) -> list[Any]:
    return sorted(values.values(), key=SortKey)


def _compile_set_op(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    if name in {"$setDifference", "$setIsSubset"}:
        operands = compile_operands(name, arg, compiler, 2)
    elif name == "$setEquals":
        operands = compile_operands(name, arg, compiler, 2, None)
    else:
        operands = compile_operands(name, arg, compiler, 0, None)

    def set_op(doc: Any, variables: Variables) -> Any:
        values = [ev(doc, variables) for ev in operands]
        arrays = _set_operands(name, values, null_propagates=name not in ("$setEquals", "$setIsSubset"))
        if arrays is None:
            return None
        sets = [_distinct(a) for a in arrays]
        if name == "$setUnion":
            merged: dict[Hashable, Any] = {}
            for s in sets:
                for k, v in s.items():
                    merged.setdefault(k, v)
            return _ordered(merged)
        if name == "$setIntersection":
            if not sets:
                return []
            common = {k: v for k, v in sets[0].items() if all(k in s for s in sets[1:])}
            return _ordered(common)
        if name == "$setDifference":
            return _ordered({k: v for k, v in sets[0].items() if k not in sets[1]})
        if name == "$setEquals":
            first = sets[0].keys()
            return all(s.keys() == first for s in sets[1:])
        return sets[0].keys() <= sets[1].keys()  # $setIsSubset

    return set_op


def _compile_element_truth(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    (operand,) = compile_operands(name, arg, compiler, 1)
    quantifier = any if name == "$anyElementTrue" else all

    def element_truth(doc: Any, variables: Variables) -> Any:
        array = operand(doc, variables)
        if not isinstance(array, list):
            raise QueryError(
                f"{name}'s argument must be an array, but is {bson_type_name(array)}", operator=name
            )
        return quantifier(truthy(v) for v in array)

    return element_truth


OPERATORS: Final[dict[str, OperatorCompiler]] = {
    "$size": _compile_size,
    "$arrayElemAt": _compile_array_elem_at,
    "$first": _compile_first_last(0),
    "$last": _compile_first_last(-1),
    "$slice": _compile_slice,
    "$concatArrays": _compile_concat_arrays,
    "$filter": _compile_filter,
    "$map": _compile_map,
    "$reduce": _compile_reduce,
    "$in": _compile_in,
    "$indexOfArray": _compile_index_of_array,
    "$isArray": _compile_is_array,
    "$reverseArray": _compile_reverse_array,
    "$range": _compile_range,
    "$zip": _compile_zip,
    "$sortArray": _compile_sort_array,
    "$firstN": _compile_n_elements,
    "$lastN": _compile_n_elements,
    "$maxN": _compile_n_elements,
    "$minN": _compile_n_elements,
    "$sum": _accumulate(SumAccumulator),
    "$avg": _accumulate(AvgAccumulator),
    "$min": _accumulate(lambda: ExtremumAccumulator(-1)),
    "$max": _accumulate(lambda: ExtremumAccumulator(1)),
    "$stdDevPop": _accumulate(lambda: StdDevAccumulator(sample=False)),
    "$stdDevSamp": _accumulate(lambda: StdDevAccumulator(sample=True)),
    "$setUnion": _compile_set_op,
    "$setIntersection": _compile_set_op,
    "$setDifference": _compile_set_op,
    "$setEquals": _compile_set_op,
    "$setIsSubset": _compile_set_op,
    "$anyElementTrue": _compile_element_truth,
    "$allElementsTrue": _compile_element_truth,
}
