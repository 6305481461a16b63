"""MongoDB update documents applied to Python documents: operators, replacements and pipelines.

``compile_update`` validates an update once (unknown operators, bad arguments, conflicting
paths, positional and array-filter syntax) and returns a :class:`CompiledUpdate` whose ``apply``
runs it on any number of documents; ``apply_update`` does both for one document. The input
document is never modified: the result shares untouched subdocuments with it and copies only
the containers on the paths the update writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.bson_text import render_element, render_value
from mindtrace.database.query.compare import MISSING, values_equal
from mindtrace.database.query.entry_guard import guard_recursion
from mindtrace.database.query.positional import matched_array_index
from mindtrace.database.query.type_codes import bson_type_name
from mindtrace.database.query.update_operators import (
    MODIFIERS,
    RenameModifier,
    RenameSourceModifier,
    make_modifier,
)
from mindtrace.database.query.update_tree import (
    CODE_BAD_VALUE,
    CODE_FAILED_TO_PARSE,
    CODE_IMMUTABLE_FIELD,
    ApplyContext,
    Leaf,
    ObjectNode,
    apply_tree,
    clone_value,
    insert_path,
    is_array_filter_part,
)
from mindtrace.database.query.upsert import upsert_seed

if TYPE_CHECKING:
    from mindtrace.database.query.pipeline import CompiledAggregation

__all__ = ["PIPELINE_STAGES", "CompiledUpdate", "apply_update", "compile_update", "upsert_seed"]

PIPELINE_STAGES: Final = frozenset(
    {"$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith"}
)
"""The aggregation stages MongoDB allows in an update pipeline."""

_IDENTIFIER: Final = re.compile(r"[a-z][a-zA-Z0-9]*")
_CODE_INVALID_OPTIONS: Final = 72
_CODE_EMPTY_FIELD_NAME: Final = 56
_CODE_DOLLAR_PREFIXED: Final = 52


def _parse_path(field: Any, operator: str, identifiers: Mapping[str, Any], used: set[str]) -> list[str]:
    """Split and validate an update path; record the array-filter identifiers it uses."""
    if not isinstance(field, str):
        raise QueryError(
            f"{operator}: field names must be strings, not {type(field).__name__} ({field!r})",
            operator=operator,
            code=CODE_FAILED_TO_PARSE,
        )
    if not field:
        raise QueryError(
            f"An empty update path is not valid ({operator}).",
            operator=operator,
            code=_CODE_EMPTY_FIELD_NAME,
        )
    parts = field.split(".")
    if any(not part for part in parts):
        raise QueryError(
            f"The update path '{field}' contains an empty field name, which is not allowed ({operator}).",
            operator=operator,
            code=_CODE_EMPTY_FIELD_NAME,
        )
    positional = 0
    for i, part in enumerate(parts):
        if part == "$":
            positional += 1
            if i == 0:
                raise QueryError(
                    "Cannot have positional (i.e. '$') element in the first position in path "
                    f"'{field}' ({operator}): '$' stands for an array element, so it must follow "
                    "the array's field name",
                    operator=operator,
                    code=CODE_BAD_VALUE,
                )
        elif is_array_filter_part(part):
            if i == 0:
                raise QueryError(
                    "Cannot have array filter identifier (i.e. '$[<id>]') element in the first "
                    f"position in path '{field}' ({operator})",
                    operator=operator,
                    code=CODE_BAD_VALUE,
                )
            identifier = part[2:-1]
            if identifier:
                if identifier not in identifiers:
                    raise QueryError(
                        f"No array filter found for identifier '{identifier}' in path '{field}' "
                        f"({operator}): pass array_filters=[{{'{identifier}.<field>': ...}}]",
                        operator=operator,
                        code=CODE_BAD_VALUE,
                    )
                used.add(identifier)
        elif part.startswith("$"):
            raise QueryError(
                f"The dollar ($) prefixed field '{part}' in '{field}' is not allowed in an update "
                f"path ({operator}); only $, $[] and $[<identifier>] may start with '$'",
                operator=operator,
                code=_CODE_DOLLAR_PREFIXED,
            )
    if positional > 1:
        raise QueryError(
            f"Too many positional (i.e. '$') elements found in path '{field}' ({operator})",
            operator=operator,
            code=CODE_BAD_VALUE,
        )
    return parts


def _is_dynamic(parts: list[str]) -> bool:
    return any(part == "$" or is_array_filter_part(part) for part in parts)


def _rename_error(message: str) -> QueryError:
    return QueryError(message, operator="$rename", code=CODE_BAD_VALUE)


def _add_rename(
    root: ObjectNode, source: Any, target: Any, identifiers: Mapping[str, Any], used: set[str]
) -> list[str]:
    source_parts = _parse_path(source, "$rename", identifiers, used)
    insert_path(root, source_parts, Leaf(RenameSourceModifier(), source))
    if not isinstance(target, str):
        raise _rename_error(f"The 'to' field for $rename must be a string: {render_element(source, target)}")
    target_parts = _parse_path(target, "$rename", identifiers, used)
    spec = render_element(source, target)
    if source_parts == target_parts:
        raise _rename_error(f"The source and target field for $rename must differ: {spec}")
    shorter = min(len(source_parts), len(target_parts))
    if source_parts[:shorter] == target_parts[:shorter]:
        raise _rename_error(f"The source and target field for $rename must not be on the same path: {spec}")
    if _is_dynamic(source_parts):
        raise _rename_error(f"The source field for $rename may not be dynamic: {source}")
    if _is_dynamic(target_parts):
        raise _rename_error(f"The destination field for $rename may not be dynamic: {target}")
    insert_path(root, target_parts, Leaf(RenameModifier(source_parts, target_parts), target))
    return source_parts


def _array_filter_identifier(array_filter: Mapping[str, Any]) -> str:
    names: set[str] = set()

    def collect(clause: Mapping[str, Any]) -> None:
        for key, value in clause.items():
            if key in ("$and", "$or", "$nor") and isinstance(value, list | tuple):
                for sub in value:
                    if isinstance(sub, Mapping):
                        collect(sub)
            elif isinstance(key, str) and not key.startswith("$"):
                names.add(key.split(".")[0])

    collect(array_filter)
    if not names:
        raise QueryError(
            "Cannot use an expression without a top-level field name in arrayFilters: "
            f"{render_value(dict(array_filter))} (write e.g. {{'elem.qty': {{'$gt': 5}}}})",
            operator="arrayFilters",
            code=CODE_FAILED_TO_PARSE,
        )
    if len(names) > 1:
        first, second = sorted(names)[:2]
        raise QueryError(
            "Error parsing array filter :: caused by :: Expected a single top-level field name, "
            f"found '{first}' and '{second}'",
            operator="arrayFilters",
            code=CODE_FAILED_TO_PARSE,
        )
    name = names.pop()
    if not _IDENTIFIER.fullmatch(name):
        raise QueryError(
            "Error parsing array filter :: caused by :: The top-level field name must be an "
            f"alphanumeric string beginning with a lowercase letter, found '{name}'",
            operator="arrayFilters",
            code=CODE_BAD_VALUE,
        )
    return name


def _compile_array_filters(
    array_filters: Sequence[Mapping[str, Any]] | None,
) -> dict[str, Callable[[Any], bool]]:
    predicates: dict[str, Callable[[Any], bool]] = {}
    for array_filter in array_filters or ():
        if not isinstance(array_filter, Mapping):
            raise QueryError(
                f"arrayFilters entries must be documents, not {bson_type_name(array_filter)}",
                operator="arrayFilters",
                code=CODE_FAILED_TO_PARSE,
            )
        identifier = _array_filter_identifier(array_filter)
        if identifier in predicates:
            raise QueryError(
                "Found multiple array filters with the same top-level field name "
                f"{identifier}; combine their conditions into one filter",
                operator="arrayFilters",
                code=CODE_FAILED_TO_PARSE,
            )
        predicates[identifier] = _array_filter_predicate(identifier, dict(array_filter))
    return predicates


def _array_filter_predicate(identifier: str, array_filter: dict[str, Any]) -> Callable[[Any], bool]:
    # Imported on use: the filter engine is a sibling module (no import cycles between them).
    from mindtrace.database.query.filter import compile_filter  # noqa: PLC0415

    compiled = compile_filter(array_filter)

    def predicate(element: Any) -> bool:
        # The element is matched as the value of the identifier, like MongoDB's
        # matchesBSONElement: {"i.grade": {$gte: 85}} sees element["grade"].
        return compiled({identifier: element})

    return predicate


def _same_id(old: Any, new: Any) -> bool:
    # MongoDB compares the old and new _id by value (1 and 1.0 are the same _id).
    return values_equal(old, new)


def _id_removed(operator: str) -> QueryError:
    return QueryError(
        f"Performing an update on the path '_id' would modify the immutable field '_id' "
        f"({operator}): a document's _id cannot be removed or renamed",
        operator=operator,
        code=CODE_IMMUTABLE_FIELD,
    )


def _id_altered(new_id: Any, operator: str | None) -> QueryError:
    return QueryError(
        "After applying the update, the (immutable) field '_id' was found to have been altered "
        f"to _id: {render_value(new_id)}"
        + (f" ({operator})" if operator else "")
        + "; insert a new document to change an _id",
        operator=operator,
        code=CODE_IMMUTABLE_FIELD,
    )


def _id_first(doc: dict[str, Any]) -> dict[str, Any]:
    if "_id" not in doc or next(iter(doc)) == "_id":
        return doc
    return {"_id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


def _finish_upsert(doc: dict[str, Any]) -> dict[str, Any]:
    # An inserted document has its _id first; an array _id is refused, as MongoDB does.
    if isinstance(doc.get("_id"), list):
        raise QueryError(
            "After applying the update to the document, the field '_id' was found to be an array "
            "or array descendant; an _id may not be an array",
            operator="_id",
            code=54,
        )
    return _id_first(doc)


def _restore_id(original: Mapping[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Keep the original ``_id`` on a replaced document (added first if the new one lacks it)."""
    old_id = original.get("_id", MISSING)
    if "_id" in new:
        if old_id is not MISSING and not _same_id(old_id, new["_id"]):
            raise _id_altered(new["_id"], None)
        return new
    if old_id is MISSING:
        return new
    return {"_id": old_id, **new}


class CompiledUpdate:
    """A validated update, applied to one document at a time with :meth:`apply`.

    Cheap to apply many times: parsing, validation and conflict detection happened once. Thread
    safe: applying keeps all per-document state in a fresh context.
    """

    __slots__ = ("_array_filters", "_id_operator", "_kind", "_pipeline", "_replacement", "_root")

    def __init__(
        self,
        update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        array_filters: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        self._kind = "operators"
        self._root = ObjectNode()
        self._replacement: dict[str, Any] = {}
        self._pipeline: CompiledAggregation | None = None
        self._id_operator: str | None = None  # the first operator writing a path under _id
        self._array_filters: dict[str, Callable[[Any], bool]] = {}
        if isinstance(update, Mapping):
            self._compile_document(update, array_filters)
        elif isinstance(update, Sequence) and not isinstance(update, str | bytes):
            if array_filters:
                raise QueryError(
                    "arrayFilters may not be specified for pipeline-style updates",
                    operator="arrayFilters",
                    code=_CODE_INVALID_OPTIONS,
                )
            self._compile_pipeline(update)
        else:
            raise QueryError(
                "An update must be a document of update operators ({'$set': {...}}), a "
                f"replacement document or a pipeline (a list of stages), not {type(update).__name__}",
                code=CODE_FAILED_TO_PARSE,
            )

    def _compile_document(
        self, update: Mapping[str, Any], array_filters: Sequence[Mapping[str, Any]] | None
    ) -> None:
        if not update:
            raise QueryError(
                "update cannot be empty: give operators such as {'$set': {'field': value}}",
                code=CODE_FAILED_TO_PARSE,
            )
        keys = list(update)
        operators = [k for k in keys if isinstance(k, str) and k.startswith("$")]
        if not operators:
            if array_filters:
                raise QueryError(
                    "arrayFilters may not be specified for replacement-style updates",
                    operator="arrayFilters",
                    code=_CODE_INVALID_OPTIONS,
                )
            self._kind = "replacement"
            self._replacement = dict(update)
            return
        if len(operators) != len(keys):
            field = next(k for k in keys if k not in operators)
            raise QueryError(
                f"Unknown modifier: {field}. An update document either uses only operators "
                f"({', '.join(operators)}) or is a whole replacement document without any; "
                f"move '{field}' into {{'$set': {{...}}}}",
                operator=str(field),
                code=CODE_FAILED_TO_PARSE,
            )
        self._kind = "operators"
        self._array_filters = _compile_array_filters(array_filters)
        used: set[str] = set()
        for operator, spec in update.items():
            if operator not in MODIFIERS and operator != "$rename":
                raise QueryError(
                    f"Unknown modifier: {operator}. Expected a valid update modifier ($set, $unset, "
                    "$inc, $mul, $min, $max, $rename, $currentDate, $setOnInsert, $push, $addToSet, "
                    "$pop, $pull, $pullAll, $bit) or pipeline-style update specified as an array",
                    operator=operator,
                    code=CODE_FAILED_TO_PARSE,
                )
            if not isinstance(spec, Mapping):
                raise QueryError(
                    "Modifiers operate on fields but we found type "
                    f"{bson_type_name(spec)} instead. For example: {{$mod: {{<field>: ...}}}} not "
                    f"{{{operator}: {render_value(spec)}}}",
                    operator=operator,
                    code=CODE_FAILED_TO_PARSE,
                )
            # An empty operand ({$set: {}}) is a no-op, as in MongoDB >= 5.0.
            for field, argument in spec.items():
                if operator == "$rename":
                    parts = _add_rename(self._root, field, argument, self._array_filters, used)
                    if argument == "_id" or str(argument).startswith("_id."):
                        self._id_operator = self._id_operator or operator
                else:
                    parts = _parse_path(field, operator, self._array_filters, used)
                    modifier = make_modifier(operator, field, argument)
                    insert_path(self._root, parts, Leaf(modifier, field))
                if parts[0] == "_id":
                    self._id_operator = self._id_operator or operator
        unused = sorted(set(self._array_filters) - used)
        if unused:
            raise QueryError(
                f"The array filter for identifier '{unused[0]}' was not used in the update "
                f"{render_value(dict(update))}; remove it or use $[{unused[0]}] in a path",
                operator="arrayFilters",
                code=CODE_FAILED_TO_PARSE,
            )
        self._root.finish()

    def _compile_pipeline(self, pipeline: Sequence[Any]) -> None:
        if not pipeline:
            raise QueryError(
                "update cannot be empty: an update pipeline needs at least one stage",
                code=CODE_FAILED_TO_PARSE,
            )
        for stage in pipeline:
            if not isinstance(stage, Mapping) or len(stage) != 1:
                raise QueryError(
                    "Each stage of an update pipeline must be a document with exactly one field "
                    f"(the stage name), not {render_value(stage)}",
                    code=CODE_FAILED_TO_PARSE,
                )
            name = next(iter(stage))
            if name not in PIPELINE_STAGES:
                raise QueryError(
                    f"{name} is not allowed to be used within an update: an update pipeline may "
                    "only use $addFields, $set, $project, $unset, $replaceRoot and $replaceWith",
                    operator=str(name),
                    code=_CODE_INVALID_OPTIONS,
                )
        # Imported on use: the aggregation engine is a sibling module that imports many others.
        from mindtrace.database.query.pipeline import compile_pipeline  # noqa: PLC0415

        self._kind = "pipeline"
        # Compiled once here: update_many applies the same pipeline to every matched document,
        # and stage errors should surface before anything is written.
        self._pipeline = compile_pipeline([dict(stage) for stage in pipeline])

    @guard_recursion
    def apply(
        self,
        doc: Mapping[str, Any],
        *,
        is_upsert: bool = False,
        filter: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The updated copy of ``doc``; ``doc`` itself is left unchanged.

        ``is_upsert`` means the update is inserting ``doc`` (the :func:`upsert_seed` of the
        filter): ``$setOnInsert`` applies, ``_id`` moves first and ``$`` is refused. ``filter``
        is the update's filter, needed only to resolve the positional ``$``.

        Raises QueryError for updates MongoDB refuses on this document: arithmetic on a
        non-number, ``$push`` to a non-array, a path through a scalar, changing ``_id``, ...
        """
        if self._kind == "operators":
            result = self._apply_operators(doc, is_upsert, filter)
        elif self._kind == "replacement":
            result = _restore_id(doc, clone_value(self._replacement))
        else:
            result = self._apply_pipeline(doc)
        return _finish_upsert(result) if is_upsert else result

    def _apply_operators(
        self, doc: Mapping[str, Any], is_upsert: bool, filter: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        result = dict(doc)

        def find_match() -> str | None:
            return matched_array_index(filter, doc) if filter else None

        ctx = ApplyContext(
            result, is_upsert=is_upsert, find_match=find_match, array_filters=self._array_filters
        )
        apply_tree(self._root, result, ctx)
        if self._id_operator is not None:
            old_id = doc.get("_id", MISSING)
            if old_id is not MISSING:
                new_id = result.get("_id", MISSING)
                if new_id is MISSING:
                    raise _id_removed(self._id_operator)
                if not _same_id(old_id, new_id):
                    raise _id_altered(new_id, self._id_operator)
        return result

    def _apply_pipeline(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        assert self._pipeline is not None  # set whenever _kind is "pipeline"
        out = self._pipeline.run([dict(doc)])
        if len(out) != 1 or not isinstance(out[0], dict):
            raise QueryError(
                "An update pipeline must produce exactly one document per input document",
                code=CODE_BAD_VALUE,
            )
        return _restore_id(doc, out[0])


@guard_recursion
def compile_update(
    update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    array_filters: Sequence[Mapping[str, Any]] | None = None,
) -> CompiledUpdate:
    """Validate ``update`` once for applying to many documents (see :class:`CompiledUpdate`).

    ``update`` is a document of update operators, a replacement document (no ``$`` keys) or an
    update pipeline (a list of ``$set``/``$addFields``, ``$unset``/``$project``,
    ``$replaceWith``/``$replaceRoot`` stages). ``array_filters`` are the filters for
    ``$[<identifier>]`` paths.

    Raises QueryError naming the operator for anything MongoDB refuses before touching a
    document: an empty or unknown operator, a non-document operand, a bad argument, conflicting
    paths, malformed positional paths, unused or missing array filters.
    """
    return CompiledUpdate(update, array_filters)


@guard_recursion
def apply_update(
    doc: Mapping[str, Any],
    update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    is_upsert: bool = False,
    filter: Mapping[str, Any] | None = None,
    array_filters: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Apply a MongoDB update to ``doc`` and return the new document (``doc`` is not modified).

    For an upsert that inserts, pass ``doc=upsert_seed(filter)`` and ``is_upsert=True``. New
    fields are appended in MongoDB's order (existing fields keep their place); the result shares
    unchanged subdocuments with ``doc``, so copy it before mutating it in place.

    Raises QueryError as :func:`compile_update` and :meth:`CompiledUpdate.apply` do.
    """
    return CompiledUpdate(update, array_filters).apply(doc, is_upsert=is_upsert, filter=filter)
