"""The tree of paths an update writes, built once per update and applied copy-on-write per document.

It mirrors MongoDB's update tree: every operator path becomes a leaf; shared prefixes become
internal nodes. Building it detects conflicting paths ("Updating the path 'a.b' would create a
conflict at 'a'"). Applying it visits children in MongoDB's order (field names lexicographically,
numeric names numerically), so new fields are appended in the same order MongoDB appends them.
Positional parts resolve per document: ``$`` to the array index the filter matched, ``$[]`` to
every element, ``$[<id>]`` to the elements its array filter matches; when a resolved child and an
explicit one land on the same element they are merged, and two leaves there are a conflict
("Update created a conflict at 'a.0'").

Documents are never mutated: every container on a written path is shallow-copied once (tracked
in :class:`ApplyContext`), everything else is shared with the input document.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.bson_text import render_element, render_value
from mindtrace.database.query.compare import MISSING

__all__ = [
    "NO_CHANGE",
    "REMOVE",
    "ApplyContext",
    "ArrayNode",
    "Leaf",
    "Modifier",
    "ObjectNode",
    "apply_tree",
    "array_index",
    "clone_value",
    "insert_path",
]

# Error codes MongoDB reports, kept on QueryError.code so callers can tell errors apart.
CODE_BAD_VALUE: Final = 2
CODE_FAILED_TO_PARSE: Final = 9
CODE_TYPE_MISMATCH: Final = 14
CODE_PATH_NOT_VIABLE: Final = 28
CODE_CONFLICT: Final = 40
CODE_IMMUTABLE_FIELD: Final = 66

# A padding limit keeps ``{$set: {"a.100000000": 1}}`` from allocating gigabytes, as in MongoDB.
MAX_ARRAY_PADDING: Final = 1_500_000


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


NO_CHANGE: Final[Any] = _Sentinel("NO_CHANGE")
"""Returned by a modifier to leave the field as it is (and not create it when missing)."""

REMOVE: Final[Any] = _Sentinel("REMOVE")
"""Returned by a modifier to remove the field (an array element becomes null instead)."""


def clone_value(value: Any) -> Any:
    """Copy of the containers in ``value`` (scalars are immutable and shared).

    Values taken from an update are cloned before they enter a document, so one compiled update
    applied to many documents never makes two documents share a mutable list or dict.
    """
    if isinstance(value, dict):
        return {k: clone_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clone_value(v) for v in value]
    return value


def array_index(name: str) -> int | None:
    """The array index a path component names (``"3"`` -> 3), or None if it is not all digits."""
    if name.isdigit() and name.isascii():
        return int(name)
    return None


def dotted(parts: list[str]) -> str:
    return ".".join(parts)


class ApplyContext:
    """State of one update applied to one document: ownership of copied containers, clock, matches."""

    __slots__ = ("_find_match", "_matched", "_now", "_owned", "array_filters", "is_upsert", "root")

    def __init__(
        self,
        root: dict[str, Any],
        *,
        is_upsert: bool,
        find_match: Callable[[], str | None],
        array_filters: Mapping[str, Callable[[Any], bool]],
    ) -> None:
        """``find_match`` computes the index ``$`` stands for (called at most once, on demand)."""
        self.root = root
        self.is_upsert = is_upsert
        self._find_match = find_match
        self.array_filters = array_filters
        # id -> container: the containers this result owns (copied or created during this apply).
        # Keeping the objects in the dict pins them, so an id is never reused while we compare.
        self._owned: dict[int, Any] = {id(root): root}
        self._now: dt.datetime | None = None
        self._matched: str | _Sentinel | None = NO_CHANGE

    def own(self, container: Any) -> None:
        """Record that ``container`` was created for the result (so it may be written in place)."""
        self._owned[id(container)] = container

    def owned_child(self, parent: Any, key: Any) -> Any:
        """``parent[key]`` (a dict or list), copied into the result first unless already owned."""
        child = parent[key]
        if id(child) in self._owned:
            return child
        copy = dict(child) if isinstance(child, dict) else list(child)
        self._owned[id(copy)] = copy
        parent[key] = copy
        return copy

    def now(self) -> dt.datetime:
        """The update's clock: timezone-aware UTC, truncated to milliseconds like a BSON date."""
        if self._now is None:
            now = dt.datetime.now(dt.UTC)
            self._now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        return self._now

    def id_text(self) -> str:
        """The document's ``_id`` as MongoDB's messages show it (``_id: 1``)."""
        doc_id = self.root.get("_id", MISSING)
        return "no id" if doc_id is MISSING else f"_id: {render_value(doc_id)}"

    def matched_field(self) -> str:
        """The array index the filter matched, for the positional ``$`` operator.

        Raises QueryError (as MongoDB does) when the filter matched no array element, including
        on an upsert insert, where there is no matched document.
        """
        if self._matched is NO_CHANGE:
            self._matched = None if self.is_upsert else self._find_match()
        if not isinstance(self._matched, str):
            raise QueryError(
                "The positional operator did not find the match needed from the query: the filter "
                "must select an element of the array the '$' stands for (e.g. {'items.sku': 'x'}).",
                operator="$",
                code=CODE_BAD_VALUE,
            )
        return self._matched


class Modifier:
    """One update operator applied to one path (a leaf of the tree)."""

    __slots__ = ()
    operator: ClassVar[str] = ""
    creates: ClassVar[bool] = True
    """Whether applying to a missing path creates it (``$set``) or is a no-op (``$unset``)."""

    def update(self, existing: Any, ctx: ApplyContext, path: list[str]) -> Any:
        """The field's new value given its current one (MISSING if absent), or NO_CHANGE/REMOVE."""
        raise NotImplementedError

    def requires_viable_path(self, ctx: ApplyContext) -> bool:
        """Whether a path that cannot exist (through a scalar or an array by name) is an error.

        True for every modifier but ``$unset`` (and ``$setOnInsert`` when not inserting): even
        ``$pull`` and ``$pop``, which never create a missing path, refuse an impossible one.
        """
        return True


class Leaf:
    __slots__ = ("modifier", "path")

    def __init__(self, modifier: Modifier, path: str) -> None:
        self.modifier = modifier
        self.path = path


class ObjectNode:
    """Children by field name (or array index), plus the child under a positional ``$``."""

    __slots__ = ("children", "ordered", "positional")

    def __init__(self) -> None:
        self.children: dict[str, Node] = {}
        self.positional: Node | None = None
        self.ordered: list[tuple[str, Node]] = []

    def finish(self) -> None:
        """Fix the application order; call after the last child is added."""
        self.ordered = sorted(self.children.items(), key=_order_key)
        for _, child in self.ordered:
            _finish(child)
        if self.positional is not None:
            _finish(self.positional)


class ArrayNode:
    """Children under ``$[]`` (identifier ``""``) and ``$[<identifier>]``, applied per element."""

    __slots__ = ("children",)

    def __init__(self) -> None:
        self.children: dict[str, Node] = {}

    def finish(self) -> None:
        for child in self.children.values():
            _finish(child)


Node = ObjectNode | ArrayNode | Leaf


def _finish(node: Node) -> None:
    if not isinstance(node, Leaf):
        node.finish()


def _compare_names(a: str, b: str) -> int:
    # MongoDB >= 5.0: numeric field names in numeric order, everything else lexicographically.
    ia, ib = array_index(a), array_index(b)
    if ia is not None and ib is not None:
        return (ia > ib) - (ia < ib)
    return (a > b) - (a < b)


def _compare_items(x: tuple[str, Node], y: tuple[str, Node]) -> int:
    return _compare_names(x[0], y[0])


_order_key = functools.cmp_to_key(_compare_items)


def is_array_filter_part(part: str) -> bool:
    """True for ``$[]`` and ``$[<identifier>]`` path components."""
    return part.startswith("$[") and part.endswith("]")


def _conflict(path: str, at: str, operator: str) -> QueryError:
    return QueryError(
        f"Updating the path '{path}' would create a conflict at '{at}' ({operator}): one update "
        "may modify a field only once and may not modify both a field and a field inside it; "
        "split it into two updates.",
        operator=operator,
        code=CODE_CONFLICT,
    )


def insert_path(root: ObjectNode, parts: list[str], leaf: Leaf) -> None:
    """Add ``leaf`` at ``parts`` (already validated), raising QueryError on a conflicting path."""
    path = dotted(parts)
    current: ObjectNode | ArrayNode = root
    for i, part in enumerate(parts):
        key = part[2:-1] if is_array_filter_part(part) else part
        last = i == len(parts) - 1
        if isinstance(current, ObjectNode) and part == "$":
            child = current.positional
        else:
            child = current.children.get(key)
        if last:
            if child is not None:
                raise _conflict(path, path, leaf.modifier.operator)
            new: Node = leaf
        elif child is None:
            new = ArrayNode() if is_array_filter_part(parts[i + 1]) else ObjectNode()
        else:
            wants_array = is_array_filter_part(parts[i + 1])
            if isinstance(child, Leaf) or isinstance(child, ArrayNode) != wants_array:
                raise _conflict(path, dotted(parts[: i + 1]), leaf.modifier.operator)
            current = child
            continue
        if isinstance(current, ObjectNode) and part == "$":
            current.positional = new
        else:
            current.children[key] = new
        if isinstance(new, Leaf):
            return
        current = new


def _merge(a: Node, b: Node, path: list[str]) -> Node:
    # Two updates resolved to the same array element: fine as long as they touch different
    # fields of it; two leaves (or a leaf and a subtree) on one element conflict.
    if isinstance(a, ObjectNode) and isinstance(b, ObjectNode):
        merged = ObjectNode()
        merged.children = dict(a.children)
        for name, child in b.children.items():
            other = merged.children.get(name)
            merged.children[name] = child if other is None else _merge(other, child, [*path, name])
        if a.positional is not None and b.positional is not None:
            merged.positional = _merge(a.positional, b.positional, [*path, "$"])
        else:
            merged.positional = a.positional if a.positional is not None else b.positional
        merged.ordered = sorted(merged.children.items(), key=_order_key)
        return merged
    if isinstance(a, ArrayNode) and isinstance(b, ArrayNode):
        array = ArrayNode()
        array.children = dict(a.children)
        for ident, child in b.children.items():
            other = array.children.get(ident)
            array.children[ident] = child if other is None else _merge(other, child, [*path, f"$[{ident}]"])
        return array
    operators = sorted({_operator_of(a), _operator_of(b)} - {""})
    raise QueryError(
        f"Update created a conflict at '{dotted(path)}' ({', '.join(operators)}): two parts of the "
        "update resolve to the same array element; split it into two updates.",
        operator=operators[0] if operators else None,
        code=CODE_CONFLICT,
    )


def _operator_of(node: Node) -> str:
    # The operator of the first leaf under ``node``, to name it in a conflict message.
    if isinstance(node, Leaf):
        return node.modifier.operator
    children = list(node.children.values())
    if isinstance(node, ObjectNode) and node.positional is not None:
        children.append(node.positional)
    return _operator_of(children[0]) if children else ""


def _not_viable(field: str, parent_name: str, parent: Any, modifier: Modifier, path: list[str]) -> QueryError:
    element = render_element(parent_name, parent)
    if modifier.creates:
        problem = f"Cannot create field '{field}' in element {element}"
    else:
        # MongoDB's wording for modifiers that never create paths ($pull, $pullAll, $pop).
        problem = f"Cannot use the part ({field}) of ({dotted(path)}) to traverse the element ({element})"
    return QueryError(
        f"{problem} ({modifier.operator}): the path goes through a value that is not a document; "
        "update the parent field itself instead.",
        operator=modifier.operator or None,
        code=CODE_PATH_NOT_VIABLE,
    )


def _must_exist(path: list[str]) -> QueryError:
    return QueryError(
        f"The path '{dotted(path)}' must exist in the document in order to apply array updates "
        "($[] / $[<identifier>]).",
        operator="$[]",
        code=CODE_BAD_VALUE,
    )


def _not_an_array(name: str, value: Any) -> QueryError:
    return QueryError(
        f"Cannot apply array updates to non-array element {render_element(name, value)} "
        "($[] / $[<identifier>] need an array).",
        operator="$[]",
        code=CODE_BAD_VALUE,
    )


def apply_tree(root: ObjectNode, doc: dict[str, Any], ctx: ApplyContext) -> None:
    """Apply the tree to ``doc`` (owned by ``ctx``: a fresh shallow copy of the input)."""
    _apply_object(root, doc, ctx, [])


def _children_of(node: ObjectNode, ctx: ApplyContext, path: list[str]) -> list[tuple[str, Node]]:
    if node.positional is None:
        return node.ordered
    matched = ctx.matched_field()
    items: list[tuple[str, Node]] = []
    placed = False
    for name, child in node.ordered:
        if not placed:
            if name == matched:
                items.append((name, _merge(node.positional, child, [*path, name])))
                placed = True
                continue
            if _compare_names(matched, name) < 0:
                items.append((matched, node.positional))
                placed = True
        items.append((name, child))
    if not placed:
        items.append((matched, node.positional))
    return items


def _apply_object(node: ObjectNode, target: Any, ctx: ApplyContext, path: list[str]) -> None:
    parent_name = path[-1] if path else ""
    for name, child in _children_of(node, ctx, path):
        _apply_child(child, target, name, parent_name=parent_name, ctx=ctx, path=[*path, name])


def _apply_array(node: ArrayNode, target: list[Any], ctx: ApplyContext, path: list[str]) -> None:
    # Which children apply to which element is decided on the array as it was, before any change.
    plan: list[tuple[int, Node]] = []
    for i, element in enumerate(target):
        matching = [
            child for ident, child in node.children.items() if not ident or ctx.array_filters[ident](element)
        ]
        if not matching:
            continue
        merged = matching[0]
        for other in matching[1:]:
            merged = _merge(merged, other, [*path, str(i)])
        plan.append((i, merged))
    parent_name = path[-1] if path else ""
    for i, child in plan:
        _apply_child(child, target, str(i), parent_name=parent_name, ctx=ctx, path=[*path, str(i)])


def _apply_child(
    child: Node, target: Any, name: str, *, parent_name: str, ctx: ApplyContext, path: list[str]
) -> None:
    index: int | None = None
    if isinstance(target, dict):
        existing = target.get(name, MISSING)
    else:
        index = array_index(name)
        if index is None:
            _apply_nonviable(child, name, parent_name=parent_name, parent=target, ctx=ctx, path=path)
            return
        existing = target[index] if index < len(target) else MISSING

    if isinstance(child, Leaf):
        new = child.modifier.update(existing, ctx, path)
        if new is NO_CHANGE:
            return
        if index is None:
            if new is REMOVE:
                del target[name]
            else:
                target[name] = new
        elif new is REMOVE:
            if index < len(target):
                target[index] = None  # $unset of an array element leaves a null hole, as in MongoDB
        else:
            _store_in_array(target, index, new, path)
        return

    key: Any = name if index is None else index
    if existing is MISSING:
        if isinstance(child, ArrayNode):
            raise _must_exist(path)
        fresh: dict[str, Any] = {}
        ctx.own(fresh)
        _apply_object(child, fresh, ctx, path)
        # Only modifiers that create paths add fields; an empty result means nothing was created
        # (e.g. $unset or $pull under a missing parent), so the parent is not created either.
        if fresh:
            if index is None:
                target[name] = fresh
            else:
                _store_in_array(target, index, fresh, path)
        return
    if isinstance(existing, dict | list):
        owned = ctx.owned_child(target, key)
        if isinstance(child, ArrayNode):
            if not isinstance(owned, list):
                raise _not_an_array(name, existing)
            _apply_array(child, owned, ctx, path)
        else:
            _apply_object(child, owned, ctx, path)
        return
    # A scalar (or null) in the middle of the path.
    if isinstance(child, ArrayNode):
        raise _not_an_array(name, existing)
    for sub_name, sub in _children_of(child, ctx, path):
        _raise_if_required(sub, sub_name, parent_name=name, parent=existing, ctx=ctx, path=[*path, sub_name])


def _apply_nonviable(
    child: Node, name: str, *, parent_name: str, parent: Any, ctx: ApplyContext, path: list[str]
) -> None:
    # The path names a field of an array (not an index): it can neither exist nor be created.
    _raise_if_required(child, name, parent_name=parent_name, parent=parent, ctx=ctx, path=path)


def _raise_if_required(
    node: Node, field: str, *, parent_name: str, parent: Any, ctx: ApplyContext, path: list[str]
) -> None:
    """Raise "Cannot create field" if any modifier under ``node`` needs its (impossible) path."""
    if isinstance(node, Leaf):
        if node.modifier.requires_viable_path(ctx):
            raise _not_viable(field, parent_name, parent, node.modifier, path)
        return
    if isinstance(node, ArrayNode):
        raise _must_exist(path)
    for sub_name, sub in _children_of(node, ctx, path):
        _raise_if_required(
            sub, field, parent_name=parent_name, parent=parent, ctx=ctx, path=[*path, sub_name]
        )


def _store_in_array(target: list[Any], index: int, value: Any, path: list[str]) -> None:
    if index < len(target):
        target[index] = value
        return
    padding = index - len(target)
    if padding > MAX_ARRAY_PADDING:
        raise QueryError(
            f"can't backfill more than {MAX_ARRAY_PADDING} elements: the index in "
            f"'{dotted(path)}' is far past the end of the array.",
            code=CODE_BAD_VALUE,
        )
    # Setting past the end pads with nulls, as MongoDB does.
    target.extend([None] * padding)
    target.append(value)
