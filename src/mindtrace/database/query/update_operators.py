"""The update operators ($set, $inc, $push, ...) as leaf modifiers of the update tree.

Each modifier validates its argument once when the update is compiled, then maps a field's
current value (``MISSING`` when absent) to its new value for every document. Messages follow
MongoDB's wording and name the operator, the field and the document ``_id``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final

from bson import Regex, Timestamp

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.bson_arithmetic import (
    add_numbers,
    bitwise,
    is_integral,
    multiply_numbers,
    same_number,
)
from mindtrace.database.query.bson_text import render_element, render_value
from mindtrace.database.query.compare import (
    MISSING,
    compare_values,
    is_number,
    to_number,
    values_equal,
)
from mindtrace.database.query.type_codes import bson_type_name
from mindtrace.database.query.update_tree import (
    CODE_BAD_VALUE,
    CODE_PATH_NOT_VIABLE,
    CODE_TYPE_MISMATCH,
    NO_CHANGE,
    REMOVE,
    ApplyContext,
    Modifier,
    array_index,
    clone_value,
    dotted,
)

__all__ = ["MODIFIERS", "make_modifier"]

# Operators whose presence as the first key of a $pull condition make it a condition on the
# element itself ({$gte: 6}) rather than a query on subdocument fields ({score: {$gte: 6}}).
_ELEMENT_OPERATORS: Final = frozenset(
    {
        "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$type", "$regex",
        "$options", "$mod", "$all", "$elemMatch", "$size", "$not", "$bitsAllSet", "$bitsAnySet",
        "$bitsAllClear", "$bitsAnyClear", "$geoWithin", "$geoIntersects", "$near", "$nearSphere",
        "$within",
    }
)  # fmt: skip


def _bad(message: str, operator: str, code: int = CODE_BAD_VALUE) -> QueryError:
    return QueryError(message, operator=operator, code=code)


def _integer_argument(value: Any) -> int | None:
    # MongoDB accepts any number with an integral value here ($slice: 2.0 is 2).
    if isinstance(value, bool) or not is_number(value):
        return None
    number = to_number(value)
    if isinstance(number, int):
        return number
    if isinstance(number, float):
        return int(number) if number.is_integer() else None
    if number.is_finite() and number == number.to_integral_value():
        return int(number)
    return None


def _is_unit(value: Any) -> bool:
    """True for the numbers 1 and -1 of any numeric type (what $pop and $sort accept)."""
    return is_number(value) and not isinstance(value, bool) and to_number(value) in (1, -1)


class SetModifier(Modifier):
    __slots__ = ("value",)
    operator = "$set"

    def __init__(self, field: str, value: Any) -> None:
        self.value = value

    def update(self, existing: Any, ctx: ApplyContext, path: list[str]) -> Any:
        return clone_value(self.value)


class SetOnInsertModifier(SetModifier):
    """``$set`` that only acts when the update inserts a document (an upsert that matched nothing)."""

    __slots__ = ()
    operator = "$setOnInsert"

    def update(self, existing: Any, ctx: ApplyContext, path: list[str]) -> Any:
        return clone_value(self.value) if ctx.is_upsert else NO_CHANGE

    def requires_viable_path(self, ctx: ApplyContext) -> bool:
        return ctx.is_upsert


class UnsetModifier(Modifier):
    __slots__ = ()
    operator = "$unset"
    creates = False

    def __init__(self, field: str, value: Any) -> None:
        pass  # the value is ignored, as in MongoDB ({$unset: {a: ""}})

    def update(self, existing: Any, ctx: ApplyContext, path: list[str]) -> Any:
        return NO_CHANGE if existing is MISSING else REMOVE

    def requires_viable_path(self, ctx: ApplyContext) -> bool:
        return False  # $unset of an impossible path is a no-op (MongoDB's only such modifier)


class _ArithmeticModifier(Modifier):
    __slots__ = ("value",)
    verb: ClassVar[str] = ""

    def __init__(self, field: str, value: Any) -> None:
        if not is_number(value):
            raise _bad(
                f"Cannot {self.verb} with non-numeric argument: {render_element(field, value)} "
                f"({self.operator} needs a number)",
                self.operator,
                CODE_TYPE_MISMATCH,
            )
        self.value = value

    def compute(self, existing: Any) -> Any:
        raise NotImplementedError

    def update(self, existing: Any, ctx: ApplyContext, path: list[str]) -> Any:
        if existing is MISSING:
            return self.missing_value()
        if not is_number(existing):
            raise _bad(
                f"Cannot apply {self.operator} to a value of non-numeric type. {{{ctx.id_text()}}} "
                f"has the field '{path[-1]}' of non-numeric type {bson_type_name(existing)}",
                self.operator,
                CODE_TYPE_MISMATCH,
            )
        result = self.compute(existing)
        if result is None:
            raise _bad(
                f"Failed to apply {self.operator} operations to current value "
                f"({render_value(existing)}) for document {{{ctx.id_text()}}}: the result does not "
                "fit in a 64-bit integer; store the field as a double or decimal instead",
                self.operator,
            )
        if same_number(result, existing):
            # MongoDB leaves the stored value alone (and the document unmodified) when the result
            # is "identical": so $inc 0 keeps a -0.0, and $inc of a decimal 0.00 keeps 1.5.
            return NO_CHANGE
        return result

    def missing_value(self) -> Any:
        raise NotImplementedError


class IncModifier(_ArithmeticModifier):
    __slots__ = ()
    operator = "$inc"
    verb = "increment"

    def compute(self, existing: Any) -> Any:
        return add_numbers(existing, self.value)

    def missing_value(self) -> Any:
        return self.value


class MulModifier(_ArithmeticModifier):
    __slots__ = ()
    operator = "$mul"
    verb = "multiply"

    def compute(self, existing: Any) -> Any:
        return multiply_numbers(existing, self.value)

    def missing_value(self) -> Any:
        # A missing field becomes zero of the multiplier's type (what MongoDB computes: value * 0).
        return multiply_numbers(self.value, 0)


class _CompareModifier(Modifier):
    __slots__ = ("value",)
    keep_sign: ClassVar[int] = 0  # replace when compare(new, existing) has this sign

    def __init__(self, field: str, value: Any) -> None:
        self.value = value

    def update(self, existing: Any, ctx: ApplyContext, path: list[str]) -> Any:
        if existing is MISSING:
            return clone_value(self.value)
        c = compare_values(self.value, existing)
        if (c < 0 and self.keep_sign < 0) or (c > 0 and self.keep_sign > 0):
            return clone_value(self.value)
        return NO_CHANGE


class MinModifier(_CompareModifier):
    __slots__ = ()
    operator = "$min"
    keep_sign = -1


class MaxModifier(_CompareModifier):
    __slots__ = ()
    operator = "$max"
    keep_sign = 1


class CurrentDateModifier(Modifier):
    __slots__ = ("timestamp",)
    operator = "$currentDate"

    def __init__(self, field: str, value: Any) -> None:
        if isinstance(value, bool):
            # MongoDB treats both true and false as "set the current date".
            self.timestamp = False
        elif isinstance(value, Mapping):
            kind = value.get("$type")
            if len(value) != 1 or kind not in ("date", "timestamp"):
                raise _bad(
                    f"$currentDate for '{field}' takes true, {{$type: 'date'}} or "
                    f"{{$type: 'timestamp'}}, not {render_value(value)}",
                    self.operator,
                )
            self.timestamp = kind == "timestamp"
        else:
            raise _bad(
                f"$currentDate for '{field}' takes a boolean or {{$type: 'date'|'timestamp'}}, "
                f"not a {bson_type_name(value)}",
                self.operator,
            )

    def update(self, existing: Any, ctx: ApplyContext, path: list[str]) -> Any:
        now = ctx.now()
        if self.timestamp:
            # Increment 1: the engine has no oplog clock to hand out distinct increments.
            return Timestamp(int(now.timestamp()), 1)
        return now


def _not_an_array(ctx: ApplyContext, path: list[str], existing: Any, operator: str) -> QueryError:
    return _bad(
        f"The field '{dotted(path)}' must be an array but is of type {bson_type_name(existing)} "
        f"in document {{{ctx.id_text()}}} ({operator} works on arrays only)",
        operator,
    )


def _sort_key_value(element: Any, parts: list[str]) -> Any:
    # Field values for a $push $sort pattern; a non-document element or a missing field sorts as
    # null (MongoDB extracts the pattern's fields from {"": element} for non-documents).
    current = element
    for part in parts:
        if isinstance(current, dict):
            current = current.get(part, None)
        elif isinstance(current, list) and (index := array_index(part)) is not None:
            current = current[index] if index < len(current) else None
        else:
            return None
    return current


class PushModifier(Modifier):
    __slots__ = ("position", "slice", "sort_key", "values")
    operator = "$push"

    def __init__(self, field: str, value: Any) -> None:
        self.position: int | None = None
        self.slice: int | None = None
        self.sort_key: Callable[[Any], Any] | None = None
        if not (isinstance(value, Mapping) and "$each" in value):
            if isinstance(value, Mapping) and any(str(k).startswith("$") for k in value):
                raise _bad(
                    f"$push of {render_value(value)} to '{field}': the modifiers $slice, $sort and "
                    "$position need $each (e.g. {$each: [x], $slice: 3}); a pushed document may "
                    "not have '$'-prefixed fields",
                    self.operator,
                )
            self.values = [value]
            return
        for clause in value:
            if clause not in ("$each", "$slice", "$sort", "$position"):
                raise _bad(
                    f"Unrecognized clause in $push: {clause} (allowed with $each: $slice, $sort, $position)",
                    self.operator,
                )
        each = value["$each"]
        if not isinstance(each, list | tuple):
            raise _bad(
                f"The argument to $each in $push must be an array but it was of type: {bson_type_name(each)}",
                self.operator,
            )
        self.values = list(each)
        if "$slice" in value:
            self.slice = _integer_argument(value["$slice"])
            if self.slice is None:
                raise _bad(
                    "The value for $slice must be an integer value but was given type: "
                    f"{bson_type_name(value['$slice'])}",
                    self.operator,
                )
        if "$position" in value:
            self.position = _integer_argument(value["$position"])
            if self.position is None:
                raise _bad(
                    "The value for $position must be an integer value, not of type: "
                    f"{bson_type_name(value['$position'])}",
                    self.operator,
                )
        if "$sort" in value:
            self.sort_key = self._parse_sort(value["$sort"])

    def _parse_sort(self, spec: Any) -> Callable[[Any], Any]:
        if is_number(spec) and not isinstance(spec, bool):
            if not _is_unit(spec):
                raise _bad("The $sort element value must be either 1 or -1", self.operator)
            direction = int(to_number(spec))
            return functools.cmp_to_key(lambda a, b: direction * compare_values(a, b))
        if not isinstance(spec, Mapping):
            raise _bad(
                "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to "
                "sort embedded fields",
                self.operator,
            )
        if not spec:
            raise _bad("The $sort pattern is empty when it should be a set of fields.", self.operator)
        pattern: list[tuple[list[str], int]] = []
        for name, order in spec.items():
            if not _is_unit(order):
                raise _bad("The $sort element value must be either 1 or -1", self.operator)
            parts = str(name).split(".")
            if not name or any(not p for p in parts):
                raise _bad(f"The $sort field is a dotted field but has an empty part: {name}", self.operator)
            pattern.append((parts, int(to_number(order))))

        def compare(a: Any, b: Any) -> int:
            for parts, order in pattern:
                c = compare_values(_sort_key_value(a, parts), _sort_key_value(b, parts))
                if c:
                    return order * c
            return 0

        return functools.cmp_to_key(compare)

    def _push(self, array: list[Any]) -> list[Any]:
        new = [clone_value(v) for v in self.values]
        position = self.position
        if position is None or position >= len(array):
            result = [*array, *new]
        else:
            at = position if position >= 0 else max(len(array) + position, 0)
            result = [*array[:at], *new, *array[at:]]
        if self.sort_key is not None:
            result.sort(key=self.sort_key)  # stable, like MongoDB's std::stable_sort
        if self.slice is not None:
            if self.slice >= 0:
                result = result[: self.slice]
            else:
                result = result[self.slice :] if -self.slice < len(result) else result
        return result

    def update(self, existing: Any, ctx: ApplyContext, path: list[str]) -> Any:
        if existing is MISSING:
            return self._push([])
        if not isinstance(existing, list):
            raise _not_an_array(ctx, path, existing, self.operator)
        return self._push(existing)


class AddToSetModifier(Modifier):
    __slots__ = ("values",)
    operator = "$addToSet"

    def __init__(self, field: str, value: Any) -> None:
        if isinstance(value, Mapping) and value and next(iter(value)) == "$each":
            if len(value) > 1:
                raise _bad(
                    f"Found unexpected fields after $each in $addToSet: {render_value(value)}",
                    self.operator,
                )
            each = value["$each"]
            if not isinstance(each, list | tuple):
                raise _bad(
                    "The argument to $each in $addToSet must be an array but it was of type "
                    f"{bson_type_name(each)}",
                    self.operator,
                )
            values: list[Any] = []
            for item in each:  # duplicates inside $each are added once
                if not any(values_equal(item, seen) for seen in values):
                    values.append(item)
            self.values = values
        else:
            if isinstance(value, Mapping) and any(str(k).startswith("$") for k in value):
                raise _bad(
                    f"$addToSet of {render_value(value)} to '{field}': only $each may be used as "
                    "a modifier, and it must come first",
                    self.operator,
                )
            self.values = [value]

    def update(self, existing: Any, ctx: ApplyContext, path: list[str]) -> Any:
        if existing is MISSING:
            return [clone_value(v) for v in self.values]
        if not isinstance(existing, list):
            raise _bad(
                f"Cannot apply $addToSet to non-array field. Field named '{path[-1]}' has non-array "
                f"type {bson_type_name(existing)}",
                self.operator,
            )
        added = [clone_value(v) for v in self.values if not any(values_equal(v, e) for e in existing)]
        return [*existing, *added] if added else NO_CHANGE


class PopModifier(Modifier):
    __slots__ = ("first",)
    operator = "$pop"
    creates = False

    def __init__(self, field: str, value: Any) -> None:
        if not _is_unit(value):
            raise _bad(f"$pop expects 1 or -1, found: {render_value(value)}", self.operator)
        self.first = to_number(value) == -1

    def update(self, existing: Any, ctx: ApplyContext, path: list[str]) -> Any:
        if existing is MISSING:
            return NO_CHANGE
        if not isinstance(existing, list):
            raise _bad(
                f"Path '{dotted(path)}' contains an element of non-array type "
                f"'{bson_type_name(existing)}' ($pop works on arrays only)",
                self.operator,
                CODE_TYPE_MISMATCH,
            )
        if not existing:
            return NO_CHANGE
        return existing[1:] if self.first else existing[:-1]


class _CullingModifier(Modifier):
    """Removes the array elements a predicate selects ($pull, $pullAll)."""

    __slots__ = ()
    creates = False

    def removes(self, element: Any) -> bool:
        raise NotImplementedError

    def update(self, existing: Any, ctx: ApplyContext, path: list[str]) -> Any:
        if existing is MISSING:
            return NO_CHANGE
        if not isinstance(existing, list):
            raise _bad(
                f"Cannot apply {self.operator} to a non-array value: '{dotted(path)}' is a "
                f"{bson_type_name(existing)}",
                self.operator,
            )
        kept = [e for e in existing if not self.removes(e)]
        return kept if len(kept) != len(existing) else NO_CHANGE


class PullModifier(_CullingModifier):
    """``$pull``: a value (exact equality), a condition on the element, or a query on subdocuments."""

    __slots__ = ("_predicate",)
    operator = "$pull"

    def __init__(self, field: str, value: Any) -> None:
        self._predicate: Callable[[Any], bool]
        if isinstance(value, Mapping) and (not value or next(iter(value)) not in _ELEMENT_OPERATORS):
            # A query on the fields of subdocument elements ({score: {$lt: 5}}); non-documents
            # never match. {} matches every subdocument.
            query = _compile_filter(dict(value))

            def query_matches(element: Any) -> bool:
                return isinstance(element, dict) and query(element)

            self._predicate = query_matches
        elif isinstance(value, Mapping) or _is_regex(value):
            # A condition on the element itself ({$gte: 6}, a regex), evaluated on {"": element}.
            condition = _compile_filter({"v": value})

            def condition_matches(element: Any) -> bool:
                return condition({"v": element})

            self._predicate = condition_matches
        else:
            target = value
            self._predicate = lambda element: values_equal(element, target)

    def removes(self, element: Any) -> bool:
        return self._predicate(element)


def _compile_filter(filter: dict[str, Any]) -> Callable[[Any], bool]:
    # Imported when a $pull condition is compiled: the filter engine is a sibling module, and
    # importing it lazily keeps the engine modules free of import cycles.
    from mindtrace.database.query.filter import compile_filter  # noqa: PLC0415

    return compile_filter(filter)


def _is_regex(value: Any) -> bool:
    return isinstance(value, re.Pattern | Regex)


class PullAllModifier(_CullingModifier):
    __slots__ = ("values",)
    operator = "$pullAll"

    def __init__(self, field: str, value: Any) -> None:
        if not isinstance(value, list | tuple):
            raise _bad(
                f"$pullAll requires an array argument but was given a {bson_type_name(value)}",
                self.operator,
            )
        self.values = list(value)

    def removes(self, element: Any) -> bool:
        return any(values_equal(element, v) for v in self.values)


class BitModifier(Modifier):
    __slots__ = ("ops",)
    operator = "$bit"

    def __init__(self, field: str, value: Any) -> None:
        if not isinstance(value, Mapping):
            raise _bad(
                f"The $bit modifier is not compatible with a {bson_type_name(value)}. You must "
                "pass in an embedded document: {$bit: {field: {and/or/xor: #}}",
                self.operator,
            )
        if not value:
            raise _bad(
                "You must pass in at least one bitwise operation. The format is: "
                "{$bit: {field: {and/or/xor: #}}",
                self.operator,
            )
        ops: list[tuple[str, int]] = []
        for op, operand in value.items():
            if op not in ("and", "or", "xor"):
                raise _bad(
                    f"The $bit modifier only supports 'and', 'or', and 'xor', not '{op}' which is "
                    f"an unknown operator: {render_element(op, operand)}",
                    self.operator,
                )
            if not is_integral(operand):
                raise _bad(
                    "The $bit modifier field must be an Integer(32/64 bit); a "
                    f"'{bson_type_name(operand)}' is not supported here: "
                    f"{render_element(op, operand)}",
                    self.operator,
                )
            ops.append((op, operand))
        self.ops = ops

    def update(self, existing: Any, ctx: ApplyContext, path: list[str]) -> Any:
        if existing is MISSING:
            current: Any = 0
        elif is_integral(existing):
            current = existing
        else:
            raise _bad(
                f"Cannot apply $bit to a value of non-integral type.{{{ctx.id_text()}}} has the "
                f"field {path[-1]} of non-integer type {bson_type_name(existing)}",
                self.operator,
            )
        for op, operand in self.ops:
            current = bitwise(op, current, operand)
        return current


class RenameSourceModifier(Modifier):
    """Placeholder at a ``$rename`` source: it only reserves the path for conflict detection."""

    __slots__ = ()
    operator = "$rename"
    creates = False

    def update(self, existing: Any, ctx: ApplyContext, path: list[str]) -> Any:
        return NO_CHANGE

    def requires_viable_path(self, ctx: ApplyContext) -> bool:
        return False


class RenameModifier(Modifier):
    """``$rename`` at its destination: moves the source value here and removes the source.

    An existing destination is overwritten in place (it keeps its position); a new one is
    appended at the end of its parent, like every new field.
    """

    __slots__ = ("source", "target")
    operator = "$rename"

    def __init__(self, source: list[str], target: list[str]) -> None:
        self.source = source
        self.target = target

    def _locate_source(self, ctx: ApplyContext) -> tuple[list[Any], Any]:
        """The containers from the root down to the source's parent, and the source value."""
        chain: list[Any] = [ctx.root]
        current: Any = ctx.root
        for i, part in enumerate(self.source):
            if isinstance(current, dict):
                if part not in current:
                    return chain, MISSING
                value = current[part]
            elif isinstance(current, list) and (index := array_index(part)) is not None:
                if index >= len(current):
                    return chain, MISSING
                value = current[index]
            else:
                raise _bad(
                    f"cannot use the part ({self.source[i - 1]} of {dotted(self.source)}) to "
                    f"traverse the element ({render_element(self.source[i - 1], current)}) "
                    "($rename source path goes through a non-document)",
                    self.operator,
                    CODE_PATH_NOT_VIABLE,
                )
            if i < len(self.source) - 1:
                chain.append(value)
            current = value
        return chain, current

    def _source_value(self, ctx: ApplyContext) -> Any:
        chain, value = self._locate_source(ctx)
        if value is MISSING:
            return MISSING
        for i, container in enumerate(chain[1:]):
            if isinstance(container, list):
                raise _bad(
                    f"The source field cannot be an array element, '{dotted(self.source)}' in doc "
                    f"with {ctx.id_text()} has an array field called '{self.source[i]}'",
                    self.operator,
                )
        return value

    def _check_target(self, ctx: ApplyContext) -> None:
        current: Any = ctx.root
        for i, part in enumerate(self.target[:-1]):
            if not isinstance(current, dict) or part not in current:
                return
            current = current[part]
            if isinstance(current, list):
                raise _bad(
                    f"The destination field cannot be an array element, '{dotted(self.target)}' "
                    f"in doc with {ctx.id_text()} has an array field called '{self.target[i]}'",
                    self.operator,
                )

    def _remove_source(self, ctx: ApplyContext) -> None:
        container: Any = ctx.root
        for part in self.source[:-1]:
            container = ctx.owned_child(container, part)
        del container[self.source[-1]]

    def update(self, existing: Any, ctx: ApplyContext, path: list[str]) -> Any:
        value = self._source_value(ctx)
        if value is MISSING:
            return NO_CHANGE
        self._check_target(ctx)
        self._remove_source(ctx)
        return value

    def requires_viable_path(self, ctx: ApplyContext) -> bool:
        if self._source_value(ctx) is MISSING:
            return False
        self._check_target(ctx)
        return True


MODIFIERS: Final[dict[str, Callable[[str, Any], Modifier]]] = {
    "$set": SetModifier,
    "$setOnInsert": SetOnInsertModifier,
    "$unset": UnsetModifier,
    "$inc": IncModifier,
    "$mul": MulModifier,
    "$min": MinModifier,
    "$max": MaxModifier,
    "$currentDate": CurrentDateModifier,
    "$push": PushModifier,
    "$addToSet": AddToSetModifier,
    "$pop": PopModifier,
    "$pull": PullModifier,
    "$pullAll": PullAllModifier,
    "$bit": BitModifier,
}
"""Operator name -> modifier factory ``(field, argument) -> Modifier`` ($rename is built apart)."""


def make_modifier(operator: str, field: str, argument: Any) -> Modifier:
    """The modifier for ``{operator: {field: argument}}``; QueryError if the argument is invalid."""
    return MODIFIERS[operator](field, argument)
