"""MongoDB projections (``find`` projections and the ``$project`` stage) over engine documents.

:func:`compile_projection` parses a projection once, with MongoDB's rules (4.4+):

* ``1``/``true``/non-zero numbers include, ``0``/``false`` exclude; inclusion and exclusion cannot
  be mixed, except ``_id``, which is included by default and may be excluded from an inclusion;
* dotted paths and nested specs are equivalent (``{"a.b": 1}`` == ``{"a": {"b": 1}}``); through
  arrays, inclusion keeps only subdocuments (and nested arrays), exclusion keeps scalars;
* any other value is an aggregation expression, evaluated against the whole document:
  ``"$field"`` references, ``{"$literal": ...}``, ``{"$concat": [...]}``, plain literals; computed
  fields come after the included ones, and overwrite non-document values on their path;
* find-only operators: ``{"arr": {"$slice": n | [skip, limit]}}``, ``{"arr": {"$elemMatch": ...}}``
  and the positional ``"arr.$"`` (which needs the query filter).

Pass ``allow_find_operators=False`` for the aggregation ``$project`` stage, where ``$slice`` is
the expression operator and ``$elemMatch`` / positional projections are errors, as in MongoDB.
Input documents are never mutated; results share no mutable containers with them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any, Final

from bson import Decimal128

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.compare import MISSING
from mindtrace.database.query.entry_guard import guard_recursion
from mindtrace.database.query.filter import compile_filter

__all__ = ["Projection", "compile_projection", "project"]

_Evaluator = Callable[[Any, Mapping[str, Any]], Any]
_Predicate = Callable[[Mapping[str, Any]], bool]


class _Flag(Enum):
    INCLUDE = "include"
    EXCLUDE = "exclude"


INCLUDE: Final = _Flag.INCLUDE
EXCLUDE: Final = _Flag.EXCLUDE


@dataclass(slots=True)
class _Computed:
    """A field whose value is an aggregation expression evaluated on the whole document."""

    expression: Any
    evaluator: _Evaluator | None = None  # compiled in _Parser.finish()


@dataclass(frozen=True, slots=True)
class _ElemMatch:
    """A find ``$elemMatch`` projection: the first array element matching ``predicate``."""

    field: str
    predicate: _Predicate


@dataclass(slots=True)
class _Node:
    """One level of the projection tree; ``children`` keep the order they were specified in."""

    children: dict[str, _Node | _Flag | _Computed | _ElemMatch] = field(default_factory=dict)
    has_computed: bool = False


@dataclass(frozen=True, slots=True)
class _Slice:
    parts: tuple[str, ...]
    skip: int | None
    limit: int


def _copy(value: Any) -> Any:
    # Fresh containers so callers can mutate results without touching the input document.
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class Projection:
    """A compiled projection; :meth:`apply` projects one document. Build with :func:`compile_projection`."""

    __slots__ = ("_filter", "_is_inclusion", "_positional", "_root", "_slices")

    def __init__(
        self,
        root: _Node,
        *,
        is_inclusion: bool,
        slices: list[_Slice],
        positional: tuple[str, ...] | None,
        filter_predicate: _Predicate | None,
    ) -> None:
        self._root = root
        self._is_inclusion = is_inclusion
        self._slices = tuple(slices)
        self._positional = positional
        self._filter = filter_predicate

    @property
    def is_inclusion(self) -> bool:
        """True for inclusion projections (only listed fields are kept), False for exclusions."""
        return self._is_inclusion

    @guard_recursion
    def apply(self, doc: Mapping[str, Any], variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Project ``doc``; ``variables`` binds the ``$$names`` declared at compile time.

        Raises:
            QueryError: a positional projection finds no matching array element, or a computed
                expression fails.
        """
        if self._is_inclusion:
            out = _include(self._root, doc)
            if self._root.has_computed:
                self._expressions(self._root, out, doc, variables if variables is not None else {})
        else:
            out = _exclude(self._root, doc)
        for cut in self._slices:
            _slice_in(out, cut, 0)
        if self._positional is not None and self._filter is not None:
            _positional(doc, out, self._positional, self._filter)
        return out

    def _expressions(
        self, node: _Node, out: dict[str, Any], root: Mapping[str, Any], variables: Mapping[str, Any]
    ) -> None:
        # MongoDB's second pass: computed fields, in specification order, after the inclusions.
        for name, child in node.children.items():
            if isinstance(child, _Node):
                if child.has_computed:
                    out[name] = self._expressions_value(child, out.get(name, MISSING), root, variables)
                continue
            if isinstance(child, _Computed):
                assert child.evaluator is not None  # set by _Parser.finish()
                value = _copy(child.evaluator(root, variables))
            elif isinstance(child, _ElemMatch):
                value = _elem_match(root, child)
            else:
                continue
            if value is MISSING:
                out.pop(name, None)
            else:
                out[name] = value

    def _expressions_value(
        self, node: _Node, value: Any, root: Mapping[str, Any], variables: Mapping[str, Any]
    ) -> Any:
        if isinstance(value, dict):
            self._expressions(node, value, root, variables)
            return value
        if isinstance(value, list):
            return [self._expressions_value(node, item, root, variables) for item in value]
        # Anything else on the path (scalar, missing) is replaced by a document of computed fields.
        fresh: dict[str, Any] = {}
        self._expressions(node, fresh, root, variables)
        return fresh


# ---------------------------------------------------------------------------------------------
# Applying


def _include(node: _Node, doc: Mapping[str, Any]) -> dict[str, Any]:
    # Included fields keep the document's field order, not the projection's.
    out: dict[str, Any] = {}
    children = node.children
    for name, value in doc.items():
        child = children.get(name)
        if child is INCLUDE:
            out[name] = _copy(value)
        elif isinstance(child, _Node):
            projected = _include_value(child, value)
            if projected is not MISSING:
                out[name] = projected
    return out


def _include_value(node: _Node, value: Any) -> Any:
    if isinstance(value, dict):
        return _include(node, value)
    if isinstance(value, list):
        items = [_include_value(node, item) for item in value]
        # Scalars inside arrays are dropped, unless computed fields will replace them later.
        return items if node.has_computed else [item for item in items if item is not MISSING]
    return MISSING


def _exclude(node: _Node, doc: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    children = node.children
    for name, value in doc.items():
        child = children.get(name)
        if child is None or child is INCLUDE:
            out[name] = _copy(value)
        elif isinstance(child, _Node):
            out[name] = _exclude_value(child, value)
    return out


def _exclude_value(node: _Node, value: Any) -> Any:
    if isinstance(value, dict):
        return _exclude(node, value)
    if isinstance(value, list):
        return [_exclude_value(node, item) for item in value]
    return value


def _slice_array(array: list[Any], skip: int | None, limit: int) -> list[Any]:
    length = len(array)
    if skip is None:
        if limit < 0:
            return array[max(0, length + limit) :]
        return array[:limit]
    start = max(0, length + skip) if skip < 0 else min(length, skip)
    return array[start : start + limit]


def _slice_in(doc: dict[str, Any], cut: _Slice, index: int) -> None:
    # Mirrors MongoDB: arrays at the end of the path are sliced; arrays on the way are entered
    # one level (their subdocuments), nested arrays and scalars are left alone.
    name = cut.parts[index]
    if name not in doc:
        return
    value = doc[name]
    index += 1
    if isinstance(value, list):
        if index == len(cut.parts):
            doc[name] = _slice_array(value, cut.skip, cut.limit)
        else:
            for item in value:
                if isinstance(item, dict):
                    _slice_in(item, cut, index)
    elif isinstance(value, dict) and index < len(cut.parts):
        _slice_in(value, cut, index)


def _with_element(doc: Mapping[str, Any], prefix: tuple[str, ...], element: Any) -> dict[str, Any]:
    # A shallow copy of ``doc`` whose array at ``prefix`` holds only ``element``.
    head, rest = prefix[0], prefix[1:]
    copy = dict(doc)
    copy[head] = [element] if not rest else _with_element(doc[head], rest, element)
    return copy


def _positional(
    pre: Mapping[str, Any], post: dict[str, Any], parts: tuple[str, ...], predicate: _Predicate
) -> None:
    # The first array on the path gets the element that made the filter match. MongoDB records
    # that position while matching; here each element is tried alone in place of the array, which
    # gives the same position whenever the filter's array conditions target a single element.
    sub_post: dict[str, Any] = post
    sub_pre: Any = pre
    for depth, name in enumerate(parts):
        value = sub_post.get(name, MISSING)
        original = sub_pre.get(name, MISSING) if isinstance(sub_pre, Mapping) else MISSING
        if isinstance(value, list):
            prefix = parts[: depth + 1]
            candidates = original if isinstance(original, list) else []
            position = next(
                (i for i, item in enumerate(candidates) if predicate(_with_element(pre, prefix, item))), None
            )
            if position is None:
                raise QueryError(
                    "positional operator '.$' couldn't find a matching element in the array "
                    f"{'.'.join(prefix)!r}; the filter must select one element of that array",
                    operator="$",
                )
            if position >= len(value):
                raise QueryError("positional operator '.$' element mismatch", operator="$")
            sub_post[name] = [value[position]]
            return
        if not isinstance(value, dict):
            return
        sub_post, sub_pre = value, original


def _elem_match(doc: Mapping[str, Any], spec: _ElemMatch) -> Any:
    array = doc.get(spec.field, MISSING)
    if not isinstance(array, list):
        return MISSING
    for item in array:
        if spec.predicate({spec.field: [item]}):
            return [_copy(item)]
    return MISSING


# ---------------------------------------------------------------------------------------------
# Parsing


def _is_flag_value(value: Any) -> bool:
    # MongoDB treats booleans and numbers as inclusion/exclusion flags; anything else is an expression.
    return isinstance(value, bool | int | float | Decimal | Decimal128)


def _flag_truthy(value: Any) -> bool:
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    if isinstance(value, Decimal) and value.is_nan():
        return True  # NaN is not zero (and a signalling NaN raises on comparison)
    return bool(value != 0)


def _first_positional(path: str) -> tuple[int, int] | None:
    middle = path.find(".$.")
    if middle >= 0:
        return (middle, middle + 3)
    if path.endswith(".$"):
        return (len(path) - 2, len(path))
    if path == "$":
        return (0, 1)
    return None


def _field_parts(path: str) -> tuple[str, ...]:
    parts = tuple(path.split("."))
    if not path or "" in parts:
        raise QueryError(f"invalid projection field path {path!r}: empty field names are not allowed")
    for part in parts:
        if part.startswith("$"):
            raise QueryError(
                f"invalid projection field path {path!r}: field names cannot start with '$' "
                f"(unknown expression {part!r}?)",
                operator=part,
            )
    return parts


def _filter_paths(filter: Mapping[str, Any]) -> list[str]:
    # The field paths a filter constrains, through $and/$or/$nor (for positional projections).
    paths: list[str] = []
    for key, value in filter.items():
        if key in ("$and", "$or", "$nor") and isinstance(value, list | tuple):
            for entry in value:
                if isinstance(entry, Mapping):
                    paths.extend(_filter_paths(entry))
        elif isinstance(key, str) and not key.startswith("$"):
            paths.append(key)
    return paths


class _Parser:
    def __init__(self, *, allow_find_operators: bool, filter: Mapping[str, Any] | None) -> None:
        self.find = allow_find_operators
        self.filter = filter
        self.root = _Node()
        self.inclusion: bool | None = None
        self.id_specified = False
        self.id_included = False
        self.id_excluded = False
        self.has_positional = False
        self.has_elem_match = False
        self.has_find_slice = False
        self.slices: list[_Slice] = []
        self.positional: tuple[str, ...] | None = None
        self.has_expressions = False

    # -- tree building -------------------------------------------------------------------------

    def add(
        self, parent: _Node, parts: tuple[str, ...], leaf: _Flag | _Computed | _ElemMatch, full: str
    ) -> None:
        node = parent
        for depth, part in enumerate(parts[:-1]):
            child = node.children.get(part)
            if child is None:
                child = _Node()
                node.children[part] = child
            elif not isinstance(child, _Node):
                raise QueryError(
                    f"Path collision at {full} remaining portion {'.'.join(parts[depth + 1 :])}",
                    operator="$project",
                )
            node = child
        if parts[-1] in node.children:
            raise QueryError(f"Path collision at {full}", operator="$project")
        node.children[parts[-1]] = leaf

    def child_node(self, parent: _Node, parts: tuple[str, ...], full: str) -> _Node:
        node = parent
        for part in parts:
            child = node.children.get(part)
            if child is None:
                child = _Node()
                node.children[part] = child
            elif not isinstance(child, _Node):
                raise QueryError(f"Path collision at {full}", operator="$project")
            node = child
        return node

    # -- elements ------------------------------------------------------------------------------

    def element(self, parent: _Node, key: Any, value: Any, prefix: str) -> None:
        if not isinstance(key, str):
            raise QueryError(f"projection field names must be strings, got {key!r}")
        full = f"{prefix}.{key}" if prefix else key
        positional = _first_positional(key)
        if positional is not None and not self.find:
            raise QueryError("Cannot use positional projection in aggregation projection", operator="$")
        if isinstance(value, Mapping):
            if positional is not None:
                raise QueryError(
                    "positional projection cannot be used with an expression or sub object", operator="$"
                )
            self.sub_object(parent, key, value, full)
        elif _is_flag_value(value):
            if _flag_truthy(value):
                self.inclusion_of(parent, key, full, positional, is_root=not prefix)
            else:
                self.exclusion_of(parent, key, full, is_root=not prefix)
        else:
            if positional is not None:
                raise QueryError("positional projection cannot be used with a literal", operator="$")
            self.expression(parent, key, value, full)

    def sub_object(self, parent: _Node, key: str, value: Mapping[str, Any], full: str) -> None:
        first = next(iter(value), None)
        if len(value) == 1 and isinstance(first, str) and first.startswith("$"):
            operand = value[first]
            if self.find and first == "$slice":
                if self.find_slice(parent, key, operand, full):
                    return
            elif first == "$elemMatch":
                self.elem_match(parent, key, operand, full)
                return
            elif first == "$meta":
                raise QueryError(
                    f"$meta projections (text scores, search metadata) are not supported (field {full!r})",
                    operator="$meta",
                )
            self.expression(parent, key, value, full)
            return
        if not value:
            raise QueryError(
                f"An empty sub-projection is not a valid value. Found empty object at path {full!r}",
                operator="$project",
            )
        node = self.child_node(parent, _field_parts(key), full)
        for sub_key, sub_value in value.items():
            self.element(node, sub_key, sub_value, full)

    def find_slice(self, parent: _Node, key: str, operand: Any, full: str) -> bool:
        """Parse ``{"$slice": ...}`` in find syntax; False when it must be an aggregation expression."""
        skip: int | None = None
        if _is_flag_value(operand) and not isinstance(operand, bool):
            limit = _slice_int(operand)
        elif (
            isinstance(operand, list | tuple)
            and len(operand) == 2
            and all(_is_flag_value(x) and not isinstance(x, bool) for x in operand)
        ):
            skip, limit = _slice_int(operand[0]), _slice_int(operand[1])
            if limit <= 0:
                raise QueryError(
                    f"$slice limit must be positive, got {operand[1]!r} (field {full!r})", operator="$slice"
                )
        else:
            return False
        parts = _field_parts(full)
        # Included in inclusion projections, kept in exclusion ones; then sliced (see apply()).
        self.add(parent, _field_parts(key), INCLUDE, full)
        self.slices.append(_Slice(parts, skip, limit))
        self.has_find_slice = True
        return True

    def elem_match(self, parent: _Node, key: str, operand: Any, full: str) -> None:
        if not self.find:
            raise QueryError(
                "Cannot use $elemMatch in this context (aggregation projection)", operator="$elemMatch"
            )
        if not isinstance(operand, Mapping):
            raise QueryError(
                f"elemMatch: Invalid argument, object required, but got {operand!r}", operator="$elemMatch"
            )
        if self.has_positional:
            raise QueryError("Cannot specify positional operator and $elemMatch.", operator="$elemMatch")
        if parent is not self.root or "." in key:
            raise QueryError("Cannot use $elemMatch projection on a nested field.", operator="$elemMatch")
        predicate = compile_filter({key: {"$elemMatch": operand}})
        self.add(parent, (key,), _ElemMatch(key, predicate), full)
        self.has_elem_match = True

    def expression(self, parent: _Node, key: str, value: Any, full: str) -> None:
        if self.inclusion is False:
            raise QueryError(
                f"Cannot use an expression {value!r} at {full!r} in an exclusion projection",
                operator="$project",
            )
        self.inclusion = True
        self.has_expressions = True
        self.add(parent, _field_parts(key), _Computed(value), full)

    def inclusion_of(
        self, parent: _Node, key: str, full: str, positional: tuple[int, int] | None, *, is_root: bool
    ) -> None:
        is_root_id = is_root and key == "_id"
        if positional is None:
            self.add(parent, _field_parts(key), INCLUDE, full)
            if is_root_id:
                self.id_included = True
        else:
            self.positional_of(parent, key, full, positional)
        if not is_root_id:
            if self.inclusion is False:
                raise QueryError(
                    f"Cannot do inclusion on field {full} in exclusion projection", operator="$project"
                )
            self.inclusion = True

    def positional_of(self, parent: _Node, key: str, full: str, positional: tuple[int, int]) -> None:
        if self.has_positional:
            raise QueryError("Cannot specify more than one positional projection per query.", operator="$")
        if self.has_elem_match:
            raise QueryError("Cannot specify positional operator and $elemMatch.", operator="$")
        if self.filter is None:
            raise QueryError(
                "Projections with a positional operator require a matcher (pass filter=)", operator="$"
            )
        begin, end = positional
        if key.endswith(".$."):
            raise QueryError("Path cannot end with '.$.'", operator="$")
        remaining = key[end:]
        if _first_positional(remaining) is not None or remaining == "$":
            raise QueryError(f"Cannot use positional operator twice: {key}", operator="$")
        relative = key[:begin]
        if not relative:
            raise QueryError(f"positional projection {full!r} needs an array field before '.$'", operator="$")
        match_field = full.split(".", maxsplit=1)[0]
        if not any(p.split(".", maxsplit=1)[0] == match_field for p in _filter_paths(self.filter)):
            raise QueryError(
                f"Positional projection '{full}' does not match the query document.", operator="$"
            )
        self.add(parent, _field_parts(relative), INCLUDE, full)
        full_begin, _ = _first_positional(full) or (len(full), len(full))
        self.positional = _field_parts(full[:full_begin])
        self.has_positional = True

    def exclusion_of(self, parent: _Node, key: str, full: str, *, is_root: bool) -> None:
        self.add(parent, _field_parts(key), EXCLUDE, full)
        if is_root and key == "_id":
            self.id_excluded = True
            return
        if self.inclusion is True:
            raise QueryError(
                f"Cannot do exclusion on field {full} in inclusion projection", operator="$project"
            )
        self.inclusion = False

    # -- result --------------------------------------------------------------------------------

    def finish(self, variable_names: Iterable[str]) -> Projection:
        if self.inclusion is None:
            if self.has_find_slice:
                self.inclusion = self.id_included
            elif self.has_elem_match:
                self.inclusion = True
            else:
                self.inclusion = self.id_included
        if not self.inclusion and self.has_elem_match:
            raise QueryError("Cannot use $elemMatch in an exclusion projection", operator="$elemMatch")
        if self.inclusion and not self.id_specified:
            self.root.children.setdefault("_id", INCLUDE)
        if not self.inclusion and self.id_included:
            del self.root.children["_id"]
        _mark_computed(self.root)
        if self.has_expressions:
            # Imported here: the expression module imports this package, which imports this module.
            from mindtrace.database.query.expressions import compile_expression  # noqa: PLC0415

            names = tuple(variable_names)
            for computed in _computed_fields(self.root):
                computed.evaluator = compile_expression(computed.expression, names)
        predicate: _Predicate | None = None
        if self.positional is not None and self.filter is not None:
            predicate = compile_filter(self.filter)
        return Projection(
            self.root,
            is_inclusion=self.inclusion,
            slices=self.slices,
            positional=self.positional,
            filter_predicate=predicate,
        )


def _computed_fields(node: _Node) -> list[_Computed]:
    found: list[_Computed] = []
    for child in node.children.values():
        if isinstance(child, _Node):
            found.extend(_computed_fields(child))
        elif isinstance(child, _Computed):
            found.append(child)
    return found


def _mark_computed(node: _Node) -> bool:
    # A node "has computed fields" when any descendant is an expression or an $elemMatch.
    found = False
    for child in node.children.values():
        if isinstance(child, _Node):
            found = _mark_computed(child) or found
        elif isinstance(child, _Computed | _ElemMatch):
            found = True
    node.has_computed = found
    return found


def _slice_int(value: Any) -> int:
    # MongoDB reads $slice numbers as 32-bit ints (truncating doubles).
    number = value.to_decimal() if isinstance(value, Decimal128) else value
    if isinstance(number, float | Decimal) and not (
        number.is_finite() if isinstance(number, Decimal) else math.isfinite(number)
    ):
        raise QueryError(f"$slice expects finite numbers, got {value!r}", operator="$slice")
    return max(-(2**31), min(2**31 - 1, int(number)))


@guard_recursion
def compile_projection(
    projection: Mapping[str, Any] | None,
    *,
    filter: Mapping[str, Any] | None = None,
    allow_find_operators: bool = True,
    variable_names: Iterable[str] = (),
) -> Projection:
    """Parse a projection once; apply it to many documents with :meth:`Projection.apply`.

    ``filter`` is the query filter, needed only by positional (``"arr.$"``) projections.
    ``allow_find_operators=False`` gives the aggregation ``$project`` stage's rules.
    ``variable_names`` declares the ``$$variables`` expressions may use (bound in ``apply``).

    Raises:
        QueryError: mixed inclusion and exclusion, path collisions (``{"a": 1, "a.b": 1}``),
            misuse of ``$slice``/``$elemMatch``/positional, unsupported ``$meta``, or an
            expression in an exclusion projection; ``operator`` names the culprit.
    """
    if projection is None:
        projection = {}
    if not isinstance(projection, Mapping):
        raise QueryError(
            f"a projection must be a mapping (dict), got {type(projection).__name__}", operator="$project"
        )
    parser = _Parser(allow_find_operators=allow_find_operators, filter=filter)
    for key, value in projection.items():
        if isinstance(key, str) and (key == "_id" or key.startswith("_id.")):
            parser.id_specified = True
        parser.element(parser.root, key, value, "")
    return parser.finish(variable_names)


def project(
    doc: Mapping[str, Any],
    projection: Mapping[str, Any] | None,
    *,
    filter: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    allow_find_operators: bool = True,
) -> dict[str, Any]:
    """Project one document: ``compile_projection(projection, ...).apply(doc, variables)``.

    ``None`` or ``{}`` returns a copy of the whole document. For many documents, compile once.

    Raises:
        QueryError: as :func:`compile_projection` and :meth:`Projection.apply`.
    """
    compiled = compile_projection(
        projection,
        filter=filter,
        allow_find_operators=allow_find_operators,
        variable_names=variables.keys() if variables is not None else (),
    )
    return compiled.apply(doc, variables)
