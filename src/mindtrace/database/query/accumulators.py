"""Accumulators for ``$group`` (and ``$bucket``): $sum $avg $min $max $first $last $push $addToSet…

An accumulator spec ``{"$sum": <expression>}`` compiles into an :class:`AccumulatorSpec`: the
expression evaluated per input document, and a factory creating one fresh state per group.
States take values in input order (:meth:`Accumulator.add`) and report the MongoDB result
(:meth:`Accumulator.result`). The same states back the array forms of ``$sum``/``$avg``/``$min``/
``$max``/``$stdDevPop``/``$stdDevSamp`` in expressions, so both agree on types and null handling.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.compare import MISSING, SortKey, compare_values
from mindtrace.database.query.expr_arithmetic import Summation, numeric
from mindtrace.database.query.expr_operands import (
    Compiler,
    Constant,
    Evaluator,
    Variables,
    bson_type_name,
    integral_value,
    is_nullish,
    normalize_int,
)
from mindtrace.database.query.hash_keys import hash_key
from mindtrace.database.query.sort import sort_key

__all__ = [
    "ACCUMULATORS",
    "Accumulator",
    "AccumulatorSpec",
    "compile_accumulator",
]


class Accumulator(Protocol):
    """The running state of one accumulator in one group."""

    def add(self, value: Any) -> None:
        """Take the accumulator's input value for the next document (MISSING when absent)."""
        ...

    def result(self) -> Any:
        """The group's value for this accumulator (MISSING to omit the field)."""
        ...


class SumAccumulator:
    """``$sum``: numbers only, others ignored; 0 for no numbers; int/double/decimal typed."""

    __slots__ = ("_sum",)

    def __init__(self) -> None:
        self._sum = Summation()

    def add(self, value: Any) -> None:
        self._sum.add(value)

    def result(self) -> Any:
        return self._sum.total()


class ConstantSumAccumulator:
    """``$sum`` of a constant integer (``{$sum: 1}`` counts): the constant times the documents."""

    __slots__ = ("_count", "_value")

    def __init__(self, value: int) -> None:
        self._value = value
        self._count = 0

    def add(self, value: Any) -> None:
        self._count += 1

    def result(self) -> Any:
        return normalize_int(self._value * self._count)


class AvgAccumulator:
    """``$avg``: mean of the numbers (a double, or a decimal), null when there were none."""

    __slots__ = ("_sum",)

    def __init__(self) -> None:
        self._sum = Summation()

    def add(self, value: Any) -> None:
        self._sum.add(value)

    def result(self) -> Any:
        return self._sum.mean()


class ExtremumAccumulator:
    """``$min``/``$max`` in BSON order, ignoring null and missing; null when nothing remains."""

    __slots__ = ("_best", "_sign")

    def __init__(self, sign: int) -> None:
        self._sign = sign
        self._best: Any = MISSING

    def add(self, value: Any) -> None:
        if is_nullish(value):
            return
        if self._best is MISSING or compare_values(value, self._best) * self._sign > 0:
            self._best = value

    def result(self) -> Any:
        return None if self._best is MISSING else self._best


class FirstAccumulator:
    """``$first``: the first document's value; missing counts as null (documented since 5.0)."""

    __slots__ = ("_seen", "_value")

    def __init__(self) -> None:
        self._seen = False
        self._value: Any = None

    def add(self, value: Any) -> None:
        if not self._seen:
            self._seen = True
            self._value = None if value is MISSING else value

    def result(self) -> Any:
        return self._value


class LastAccumulator:
    """``$last``: the last document's value; missing counts as null."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value: Any = None

    def add(self, value: Any) -> None:
        self._value = None if value is MISSING else value

    def result(self) -> Any:
        return self._value


class PushAccumulator:
    """``$push``: every value in input order; missing values are skipped, nulls kept."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: list[Any] = []

    def add(self, value: Any) -> None:
        if value is not MISSING:
            self._values.append(value)

    def result(self) -> Any:
        return self._values


class AddToSetAccumulator:
    """``$addToSet``: distinct values by MongoDB equality, in first-seen order (MongoDB: unspecified)."""

    __slots__ = ("_keys", "_values")

    def __init__(self) -> None:
        self._keys: set[Hashable] = set()
        self._values: list[Any] = []

    def add(self, value: Any) -> None:
        if value is MISSING:
            return
        key = hash_key(value)
        if key not in self._keys:
            self._keys.add(key)
            self._values.append(value)

    def result(self) -> Any:
        return self._values


class StdDevAccumulator:
    """``$stdDevPop``/``$stdDevSamp`` over the numeric values (Welford); null when undefined."""

    __slots__ = ("_count", "_m2", "_mean", "_sample")

    def __init__(self, sample: bool) -> None:
        self._sample = sample
        self._count = 0
        self._mean = 0.0
        self._m2 = 0.0

    def add(self, value: Any) -> None:
        number = numeric(value)
        if number is None:
            return
        x = float(number)
        self._count += 1
        delta = x - self._mean
        self._mean += delta / self._count
        self._m2 += delta * (x - self._mean)

    def result(self) -> Any:
        n = self._count - 1 if self._sample else self._count
        if n <= 0:
            return None
        return math.sqrt(max(self._m2, 0.0) / n)


class MergeObjectsAccumulator:
    """``$mergeObjects``: later documents' fields win; null and missing are ignored."""

    __slots__ = ("_merged", "_name")

    def __init__(self, name: str = "$mergeObjects") -> None:
        self._name = name
        self._merged: dict[str, Any] = {}

    def add(self, value: Any) -> None:
        if is_nullish(value):
            return
        if not isinstance(value, dict):
            raise QueryError(
                f"$mergeObjects requires object inputs, but input {value!r} is of type "
                f"{bson_type_name(value)}",
                operator=self._name,
            )
        for key, item in value.items():
            if item is not MISSING:
                self._merged[key] = item

    def result(self) -> Any:
        return self._merged


class CountAccumulator:
    """``$count: {}``: the number of documents in the group."""

    __slots__ = ("_count",)

    def __init__(self) -> None:
        self._count = 0

    def add(self, value: Any) -> None:
        self._count += 1

    def result(self) -> Any:
        return self._count


class FirstNAccumulator:
    """``$firstN``/``$lastN``: the first/last ``n`` values (missing counts as null)."""

    __slots__ = ("_last", "_n", "_values")

    def __init__(self, n: int, last: bool) -> None:
        self._n = n
        self._last = last
        self._values: list[Any] = []

    def add(self, value: Any) -> None:
        value = None if value is MISSING else value
        if self._last:
            self._values.append(value)
            if len(self._values) > self._n:
                del self._values[0]
        elif len(self._values) < self._n:
            self._values.append(value)

    def result(self) -> Any:
        return self._values


class ExtremaNAccumulator:
    """``$maxN``/``$minN``: the ``n`` largest/smallest values, best first; nulls ignored."""

    __slots__ = ("_n", "_sign", "_values")

    def __init__(self, n: int, sign: int) -> None:
        self._n = n
        self._sign = sign
        self._values: list[Any] = []

    def add(self, value: Any) -> None:
        if not is_nullish(value):
            self._values.append(value)

    def result(self) -> Any:
        ordered = sorted(self._values, key=SortKey, reverse=self._sign > 0)
        return ordered[: self._n]


class TopNAccumulator:
    """``$top``/``$bottom``/``$topN``/``$bottomN``: outputs of the best documents by ``sortBy``.

    Inputs are ``(sort key, output)`` pairs with keys from ``query.sort.sort_key``; ties keep
    input order, as a stable sort does.
    """

    __slots__ = ("_bottom", "_items", "_n", "_single")

    def __init__(self, n: int, bottom: bool, single: bool) -> None:
        self._n = n
        self._bottom = bottom
        self._single = single
        self._items: list[tuple[Any, Any]] = []

    def add(self, value: Any) -> None:
        key, output = value
        self._items.append((key, None if output is MISSING else output))

    def result(self) -> Any:
        ordered = sorted(self._items, key=_item_key)  # stable: ties keep input order
        chosen = ordered[-self._n :] if self._bottom else ordered[: self._n]
        outputs = [output for _, output in chosen]
        if self._single:
            return outputs[0] if outputs else None
        return outputs


def _item_key(item: tuple[Any, Any]) -> Any:
    return item[0]


@dataclass(frozen=True)
class AccumulatorSpec:
    """A compiled accumulator: evaluate ``input`` per document, feed it to a state from ``create``."""

    name: str
    input: Evaluator
    create: Callable[[], Accumulator]


def _simple(factory: Callable[[], Accumulator]) -> Callable[[str, Any, Compiler], AccumulatorSpec]:
    def compile_simple(name: str, arg: Any, compiler: Compiler) -> AccumulatorSpec:
        if isinstance(arg, list):
            raise QueryError(
                f"the {name} accumulator is a unary operator; give it one expression, not an array",
                operator=name,
            )
        return AccumulatorSpec(name, compiler.compile(arg), factory)

    return compile_simple


def _compile_sum(name: str, arg: Any, compiler: Compiler) -> AccumulatorSpec:
    spec = _simple(SumAccumulator)(name, arg, compiler)
    value = spec.input.value if isinstance(spec.input, Constant) else None
    if value.__class__ is int:
        constant = int(value)  # the common {$sum: 1}: no per-document arithmetic
        return AccumulatorSpec(name, spec.input, lambda: ConstantSumAccumulator(constant))
    return spec


def _compile_count(name: str, arg: Any, compiler: Compiler) -> AccumulatorSpec:
    if arg != {}:
        raise QueryError("the $count accumulator takes no arguments: write {$count: {}}", operator=name)
    return AccumulatorSpec(name, Constant(1), CountAccumulator)


def _constant_n(name: str, arg: dict[str, Any], compiler: Compiler) -> int:
    ev = compiler.compile(arg["n"])
    if not isinstance(ev, Constant):
        raise QueryError(f"{name}: 'n' must be a constant expression on this backend", operator=name)
    n = integral_value(name, ev.value, "'n'", bits=64)
    if n <= 0:
        raise QueryError(f"{name}: 'n' must be greater than 0, found {n}", operator=name)
    return n


def _check_keys(name: str, arg: Any, required: set[str]) -> dict[str, Any]:
    if not isinstance(arg, dict):
        raise QueryError(f"{name} requires an object with fields {sorted(required)}", operator=name)
    unknown = set(arg) - required
    if unknown:
        raise QueryError(f"{name}: unknown argument '{sorted(unknown)[0]}'", operator=name)
    for key in sorted(required):
        if key not in arg:
            raise QueryError(f"{name} requires '{key}'", operator=name)
    return arg


def _compile_n_values(name: str, arg: Any, compiler: Compiler) -> AccumulatorSpec:
    spec = _check_keys(name, arg, {"input", "n"})
    n = _constant_n(name, spec, compiler)
    factory: Callable[[], Accumulator]
    if name in ("$firstN", "$lastN"):
        last = name == "$lastN"

        def factory() -> Accumulator:
            return FirstNAccumulator(n, last)
    else:
        sign = 1 if name == "$maxN" else -1

        def factory() -> Accumulator:
            return ExtremaNAccumulator(n, sign)

    return AccumulatorSpec(name, compiler.compile(spec["input"]), factory)


def _compile_top(name: str, arg: Any, compiler: Compiler) -> AccumulatorSpec:
    single = name in ("$top", "$bottom")
    spec = _check_keys(name, arg, {"sortBy", "output"} if single else {"sortBy", "output", "n"})
    n = 1 if single else _constant_n(name, spec, compiler)
    if not isinstance(spec["sortBy"], dict) or not spec["sortBy"]:
        raise QueryError(
            f"{name}: 'sortBy' must be a non-empty object such as {{'score': -1}}", operator=name
        )
    key = sort_key(spec["sortBy"])
    output = compiler.compile(spec["output"])
    bottom = name.startswith("$bottom")

    def pair(doc: Any, variables: Variables) -> Any:
        return (key(doc), output(doc, variables))

    def factory() -> Accumulator:
        return TopNAccumulator(n, bottom, single)

    return AccumulatorSpec(name, pair, factory)


ACCUMULATORS: Final[dict[str, Callable[[str, Any, Compiler], AccumulatorSpec]]] = {
    "$sum": _compile_sum,
    "$avg": _simple(AvgAccumulator),
    "$min": _simple(lambda: ExtremumAccumulator(-1)),
    "$max": _simple(lambda: ExtremumAccumulator(1)),
    "$first": _simple(FirstAccumulator),
    "$last": _simple(LastAccumulator),
    "$push": _simple(PushAccumulator),
    "$addToSet": _simple(AddToSetAccumulator),
    "$stdDevPop": _simple(lambda: StdDevAccumulator(sample=False)),
    "$stdDevSamp": _simple(lambda: StdDevAccumulator(sample=True)),
    "$mergeObjects": _simple(MergeObjectsAccumulator),
    "$count": _compile_count,
    "$firstN": _compile_n_values,
    "$lastN": _compile_n_values,
    "$maxN": _compile_n_values,
    "$minN": _compile_n_values,
    "$top": _compile_top,
    "$bottom": _compile_top,
    "$topN": _compile_top,
    "$bottomN": _compile_top,
}
"""Every supported ``$group`` accumulator by name."""


def compile_accumulator(
    field: str, spec: Any, compiler: Compiler, *, stage: str = "$group"
) -> AccumulatorSpec:
    """Compile ``{"$op": argument}`` for output field ``field`` of ``stage``.

    Raises QueryError when the spec is not a one-operator object, the operator is unknown
    (``$accumulator`` is refused as server-side JavaScript), or the argument is malformed.
    """
    if not isinstance(spec, dict) or len(spec) != 1:
        raise QueryError(
            f"{stage}: the field '{field}' must be an accumulator object with exactly one "
            f"accumulator, e.g. {{'{field}': {{'$sum': 1}}}}",
            operator=stage,
        )
    ((name, arg),) = spec.items()
    if name == "$accumulator":
        raise QueryError(
            "$accumulator runs server-side JavaScript, which is not supported on this backend; "
            "use the built-in accumulators instead",
            operator=name,
        )
    compile_op = ACCUMULATORS.get(name)
    if compile_op is None:
        raise QueryError(f"{stage}: unknown group operator '{name}' for field '{field}'", operator=name)
    return compile_op(name, arg, compiler)
