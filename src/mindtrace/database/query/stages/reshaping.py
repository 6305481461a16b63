"""Stages that reshape each document: $project, $addFields/$set, $unset, $replaceRoot/$replaceWith, $unwind.

``$addFields`` follows MongoDB's computed-projection rules: a dotted path or a nested object
literal adds fields *inside* an existing subdocument (and inside every subdocument of an array on
the way), a scalar in the way is replaced by a new subdocument, and every expression sees the
document as it was before the stage. ``$unset`` removes paths the same way. Output documents are
new dicts; the input documents are never modified.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.compare import MISSING
from mindtrace.database.query.expr_operands import Evaluator, Variables, bson_type_name
from mindtrace.database.query.expressions import is_operator_object
from mindtrace.database.query.projection import compile_projection
from mindtrace.database.query.stages.context import Document, PipelineScope, RunContext, Stage

__all__ = ["STAGES", "get_nested", "set_nested", "split_field_path"]


def split_field_path(stage: str, path: Any, what: str = "field path") -> tuple[str, ...]:
    """Split a dotted output path, rejecting empty components and names starting with '$'."""
    if not isinstance(path, str) or not path:
        raise QueryError(f"{stage}: a {what} must be a non-empty string, got {path!r}", operator=stage)
    parts = tuple(path.split("."))
    for part in parts:
        if not part:
            raise QueryError(f"{stage}: {what} '{path}' must not contain an empty field name", operator=stage)
        if part.startswith("$"):
            raise QueryError(
                f"{stage}: {what} '{path}' must not contain a field name starting with '$'", operator=stage
            )
    return parts


def get_nested(doc: Any, parts: tuple[str, ...]) -> Any:
    """The value at ``parts`` through subdocuments only (arrays are not traversed); MISSING if absent."""
    value = doc
    for part in parts:
        if not isinstance(value, Mapping):
            return MISSING
        value = value.get(part, MISSING)
    return value


def set_nested(doc: Document, parts: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with ``parts`` set to ``value`` (removed when MISSING); copies only the path."""
    out = dict(doc)
    head = parts[0]
    if len(parts) == 1:
        if value is MISSING:
            out.pop(head, None)
        else:
            out[head] = value
        return out
    child = out.get(head)
    out[head] = set_nested(child if isinstance(child, Mapping) else {}, parts[1:], value)
    return out


# ----- $addFields / $set ------------------------------------------------------------------------

_Tree = dict[str, "Evaluator | _Tree"]


def _add_to_tree(stage: str, tree: _Tree, parts: tuple[str, ...], leaf: Evaluator | _Tree, full: str) -> None:
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise QueryError(f"{stage}: path collision at '{full}'", operator=stage)
        node = child
    last = parts[-1]
    if last in node:
        existing = node[last]
        if isinstance(existing, dict) and isinstance(leaf, dict):
            for key, value in leaf.items():
                _add_to_tree(stage, existing, (key,), value, f"{full}.{key}")
            return
        raise QueryError(f"{stage}: path collision at '{full}'", operator=stage)
    node[last] = leaf


def _computed_tree(
    stage: str, spec: Mapping[str, Any], scope: PipelineScope, *, nested: bool = False
) -> _Tree:
    tree: _Tree = {}
    for key, value in spec.items():
        if nested and "." in key:
            raise QueryError(
                f"{stage}: field name '{key}' in a nested object must not contain '.'", operator=stage
            )
        parts = split_field_path(stage, key, "field name")
        leaf: Evaluator | _Tree
        if isinstance(value, Mapping) and not is_operator_object(value):
            if not value:
                raise QueryError(
                    f"{stage}: an empty object is not a valid value (found at '{key}'); use "
                    "{'$literal': {}} to set an empty document",
                    operator=stage,
                )
            leaf = _computed_tree(stage, value, scope, nested=True)
        else:
            leaf = scope.expressions.compile(value)
        _add_to_tree(stage, tree, parts, leaf, key)
    return tree


def _apply_tree(root: Document, target: Any, tree: _Tree, variables: Variables) -> dict[str, Any]:
    out = dict(target) if target.__class__ is dict or isinstance(target, Mapping) else {}
    for name, item in tree.items():
        if isinstance(item, dict):
            out[name] = _apply_subtree(root, out.get(name, MISSING), item, variables)
        else:
            value = item(root, variables)
            if value is MISSING:
                out.pop(name, None)
            else:
                out[name] = value
    return out


def _apply_subtree(root: Document, value: Any, tree: _Tree, variables: Variables) -> Any:
    if isinstance(value, list):
        return [_apply_subtree(root, element, tree, variables) for element in value]
    return _apply_tree(root, value, tree, variables)


def _compile_add_fields(name: str, spec: Any, scope: PipelineScope) -> Stage:
    if not isinstance(spec, Mapping):
        raise QueryError(f"{name}: the specification must be an object of fields to add", operator=name)
    if not spec:
        raise QueryError(f"{name}: the specification must have at least one field", operator=name)
    tree = _computed_tree(name, spec, scope)

    def add_fields(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        variables = ctx.variables
        for doc in docs:
            yield _apply_tree(doc, doc, tree, variables)

    return add_fields


# ----- $unset -----------------------------------------------------------------------------------

_REMOVE: Final = object()
_Removal = dict[str, Any]  # name -> _REMOVE or a nested _Removal


def _remove(value: Any, tree: _Removal) -> Any:
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            rule = tree.get(key)
            if rule is None:
                out[key] = item
            elif rule is not _REMOVE:
                out[key] = _remove(item, rule)
        return out
    if isinstance(value, list):
        return [_remove(element, tree) for element in value]
    return value


def _compile_unset(name: str, spec: Any, scope: PipelineScope) -> Stage:
    paths = [spec] if isinstance(spec, str) else spec
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise QueryError(
            "$unset specification must be a string or a non-empty array of strings", operator=name
        )
    tree: _Removal = {}
    for path in paths:
        parts = split_field_path(name, path)
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if child is _REMOVE:
                raise QueryError(f"$unset: path collision at '{path}'", operator=name)
            node = child
        if parts[-1] in node:
            raise QueryError(f"$unset: path collision at '{path}'", operator=name)
        node[parts[-1]] = _REMOVE

    def unset(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        for doc in docs:
            yield _remove(doc, tree)

    return unset


# ----- $project -----------------------------------------------------------------------------------


def _compile_project(name: str, spec: Any, scope: PipelineScope) -> Stage:
    if not isinstance(spec, Mapping):
        raise QueryError("$project: the specification must be an object", operator=name)
    if not spec:
        raise QueryError("$project requires at least one output field", operator=name)
    projection = compile_projection(spec, allow_find_operators=False, variable_names=scope.expressions.scope)

    def project_(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        variables = ctx.variables
        for doc in docs:
            yield projection.apply(doc, variables)

    return project_


# ----- $replaceRoot / $replaceWith ------------------------------------------------------------------


def _replace_root(name: str, new_root: Evaluator) -> Stage:
    def replace_root(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        variables = ctx.variables
        for doc in docs:
            value = new_root(doc, variables)
            if not isinstance(value, Mapping):
                raise QueryError(
                    f"{name}: 'newRoot' expression must evaluate to an object, but resulting value was: "
                    f"{value!r}. Type of resulting value: '{bson_type_name(value)}'. "
                    f"Input document: {dict(doc)!r}",
                    operator=name,
                )
            yield value

    return replace_root


def _compile_replace_root(name: str, spec: Any, scope: PipelineScope) -> Stage:
    if not isinstance(spec, Mapping) or "newRoot" not in spec:
        raise QueryError(
            "$replaceRoot: no newRoot specified; write {'$replaceRoot': {'newRoot': <expr>}}", operator=name
        )
    extra = set(spec) - {"newRoot"}
    if extra:
        raise QueryError(f"$replaceRoot: unrecognized option '{sorted(extra)[0]}'", operator=name)
    return _replace_root(name, scope.expressions.compile(spec["newRoot"]))


def _compile_replace_with(name: str, spec: Any, scope: PipelineScope) -> Stage:
    return _replace_root(name, scope.expressions.compile(spec))


# ----- $unwind ------------------------------------------------------------------------------------


def _compile_unwind(name: str, spec: Any, scope: PipelineScope) -> Stage:
    preserve = False
    index_field: str | None = None
    if isinstance(spec, str):
        path = spec
    elif isinstance(spec, Mapping):
        unknown = set(spec) - {"path", "preserveNullAndEmptyArrays", "includeArrayIndex"}
        if unknown:
            raise QueryError(f"$unwind: unrecognized option '{sorted(unknown)[0]}'", operator=name)
        if "path" not in spec:
            raise QueryError("$unwind: no path specified", operator=name)
        path = spec["path"]
        preserve = spec.get("preserveNullAndEmptyArrays", False)
        if not isinstance(preserve, bool):
            raise QueryError("$unwind: 'preserveNullAndEmptyArrays' must be a boolean", operator=name)
        if "includeArrayIndex" in spec:
            index_field = spec["includeArrayIndex"]
            if not isinstance(index_field, str) or not index_field or index_field.startswith("$"):
                raise QueryError(
                    "$unwind: 'includeArrayIndex' must be a non-empty string not starting with '$'",
                    operator=name,
                )
    else:
        raise QueryError(
            f"$unwind expects a string or an object as its specification, got {bson_type_name(spec)}",
            operator=name,
        )
    if not isinstance(path, str) or not path.startswith("$"):
        raise QueryError(
            f"$unwind: path must be a string prefixed with '$', e.g. '$sizes'; got {path!r}", operator=name
        )
    parts = split_field_path(name, path[1:])
    index_parts = (
        split_field_path(name, index_field, "includeArrayIndex") if index_field is not None else None
    )

    def with_index(doc: dict[str, Any], index: int | None) -> dict[str, Any]:
        return doc if index_parts is None else set_nested(doc, index_parts, index)

    def unwind(docs: Iterable[Document], ctx: RunContext) -> Iterator[Document]:
        for doc in docs:
            value = get_nested(doc, parts)
            if isinstance(value, list):
                if value:
                    for i, element in enumerate(value):
                        yield with_index(set_nested(doc, parts, element), i)
                elif preserve:
                    yield with_index(set_nested(doc, parts, MISSING), None)
            elif value is None or value is MISSING:
                if preserve:
                    yield with_index(dict(doc), None)
            else:
                yield with_index(dict(doc), None)  # a non-array value unwinds to itself

    return unwind


STAGES = {
    "$project": _compile_project,
    "$addFields": _compile_add_fields,
    "$set": _compile_add_fields,
    "$unset": _compile_unset,
    "$replaceRoot": _compile_replace_root,
    "$replaceWith": _compile_replace_with,
    "$unwind": _compile_unwind,
}
