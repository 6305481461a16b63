"""One analysis of a Pydantic model's fields, made once per class and shared by every consumer.

The codec (``core.document``), the Local backend's pushdown (``backends.local.model_paths``), index
declarations (``core.indexes``), field expressions (``core.fields``) and the MongoDB backend all
need facts read from a model's annotations: the key each field is stored under, whether a value
may be an array, how deep a dump can nest, whether a dump is already plain JSON, where
timezone-aware datetimes sit and whether a document may hold a datetime at all, which fields are
Beanie links. :func:`model_schema` parses every field annotation once into a :class:`Shape` tree
(``Annotated``, unions, containers, sub-models, literals, links) and derives each fact from that
tree (the datetime facts also read the fields of dataclasses and TypedDicts); nothing else in the
package calls ``typing.get_origin`` on a model's annotations.

Every fact is *sound*: where the analysis cannot tell (``Any``, an unresolved forward reference,
a class it does not know, a custom serializer), it answers the cautious way — "may be an array",
"not plain", "no depth bound" — so a consumer that trusts a fact never mis-stores or mis-queries
a document. Recursive models are followed as a graph: no fact loops on them.

Stored names are the keys ``model_dump(by_alias=True)`` writes: the serialisation alias, else the
alias, else the field name (the top-level ``id`` -> ``_id`` rule belongs to the codec).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import ipaddress
import pathlib
import sys
import types
import typing
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from functools import cached_property
from typing import Any, Final, Literal, TypeAlias, Union

from bson import ObjectId
from pydantic import (
    AwareDatetime,
    BaseModel,
    FutureDatetime,
    NaiveDatetime,
    PastDatetime,
    PlainSerializer,
    RootModel,
    WrapSerializer,
)
from pydantic.fields import FieldInfo
from pydantic_core import MultiHostUrl, Url

from mindtrace.database.core.datetimes import to_milliseconds

__all__ = [
    "ANY_KEY",
    "ARRAY_ITEMS",
    "AwareNode",
    "FieldSchema",
    "Kind",
    "LinkTarget",
    "ModelSchema",
    "Shape",
    "model_schema",
    "parse_annotation",
]

ARRAY_ITEMS: Final = "$[]"
"""Step of an :attr:`ModelSchema.aware_paths` path: every element of an array (MongoDB's spelling)."""

ANY_KEY: Final = "$*"
"""Step of an :attr:`ModelSchema.aware_paths` path: the value under every key of a ``dict`` field."""


class Kind(enum.Enum):
    """What an annotation says about the values it admits."""

    NONE = "none"  # NoneType: only None
    CLASS = "class"  # one class: str, int, datetime, an Enum, ObjectId, a dataclass... (see Shape.cls)
    LITERAL = "literal"  # Literal[...]: one of Shape.values
    MODEL = "model"  # a Pydantic model (a RootModel stands for its root value)
    ARRAY = "array"  # list, tuple, set, frozenset, Sequence[...]...: stored as an array
    MAPPING = "mapping"  # dict, Mapping[...]: keys of the user's choosing
    UNION = "union"  # X | Y, Optional[X]: one of Shape.args
    LINK = "link"  # Beanie's Link[T] / BackLink[T]
    ANY = "any"  # Any, object, an unresolved forward reference, a TypeVar: anything
    OTHER = "other"  # an annotation the analysis does not read (type[X], Callable, a type alias...)


@dataclasses.dataclass(frozen=True, eq=False, slots=True)
class Shape:
    """One annotation, parsed: its :class:`Kind` and the parts facts are read from.

    ``cls`` is the class for CLASS and MODEL, the container class for ARRAY and MAPPING
    (``list``, ``dict``, ``collections.abc.Sequence``...), ``Link``/``BackLink`` for LINK, the
    generic origin for OTHER. ``args`` are the element shapes of an ARRAY (one per ``tuple``
    position; empty when not parametrised), ``(key, value)`` of a parametrised MAPPING, the
    alternatives of a UNION and ``(target,)`` of a LINK. ``metadata`` holds ``Annotated``
    metadata (and, on a field's own shape, Pydantic's ``FieldInfo.metadata``).
    """

    kind: Kind
    annotation: Any
    cls: Any = None
    args: tuple[Shape, ...] = ()
    metadata: tuple[Any, ...] = ()
    values: tuple[Any, ...] = ()  # the values of a LITERAL

    @property
    def optional(self) -> bool:
        """True when None is one of the values (``X | None``, ``Optional[X]``, ``None``)."""
        return any(alt.kind is Kind.NONE for alt in self.alternatives)

    @property
    def alternatives(self) -> tuple[Shape, ...]:
        """The shapes a value may take: a union's alternatives (nested unions flattened), else
        itself (also a union whose dump a custom serializer replaces: its alternatives say nothing)."""
        if self.kind is not Kind.UNION or self.custom_serializer:
            return (self,)
        return tuple(alt for arg in self.args for alt in arg.alternatives)

    @property
    def custom_serializer(self) -> bool:
        """True when ``Annotated`` metadata replaces how values are dumped (``PlainSerializer``,
        ``WrapSerializer``): no fact about the stored value can be read from the type then."""
        return any(isinstance(m, PlainSerializer | WrapSerializer) for m in self.metadata)


def _beanie_links() -> tuple[Any, Any]:
    # Beanie's Link and BackLink classes, without importing Beanie (core never does): an
    # annotation can only name them once Beanie has been imported.
    fields = sys.modules.get("beanie.odm.fields")
    return getattr(fields, "Link", None), getattr(fields, "BackLink", None)


# Annotations Pydantic could not resolve (a forward reference, given as a string or not) or left
# generic: the value may be anything.
_UNRESOLVED: Final = (str, typing.ForwardRef, typing.TypeVar)
# TypedDict key qualifiers, read through (matched by name: typing_extensions has its own ReadOnly).
_TYPED_DICT_QUALIFIERS: Final = ("Required", "NotRequired", "ReadOnly")


def parse_annotation(annotation: Any, metadata: Iterable[Any] = ()) -> Shape:
    """The :class:`Shape` of ``annotation``; ``metadata`` is added to its ``Annotated`` metadata.

    Sub-models are not expanded (their fields are parsed by their own :func:`model_schema`), so
    parsing always ends, recursive models included.
    """
    meta = tuple(metadata)
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            inner, *extra = typing.get_args(annotation)
            annotation, meta = inner, meta + tuple(extra)
        elif isinstance(annotation, typing.NewType):  # validated (and dumped) as its supertype
            annotation = annotation.__supertype__
        elif getattr(origin, "_name", None) in _TYPED_DICT_QUALIFIERS:
            annotation = typing.get_args(annotation)[0]
        else:
            break
    if annotation is type(None) or annotation is None:
        return Shape(Kind.NONE, type(None), metadata=meta)
    if annotation is Any or annotation is object or isinstance(annotation, _UNRESOLVED):
        return Shape(Kind.ANY, annotation, metadata=meta)
    if origin is Union or origin is types.UnionType:
        alternatives = tuple(parse_annotation(a) for a in typing.get_args(annotation))
        return Shape(Kind.UNION, annotation, args=alternatives, metadata=meta)
    if origin is Literal:
        return Shape(Kind.LITERAL, annotation, values=typing.get_args(annotation), metadata=meta)
    if origin is not None:
        args = typing.get_args(annotation)
        if origin in _beanie_links():
            return Shape(Kind.LINK, annotation, origin, (parse_annotation(args[0]),) if args else (), meta)
        if isinstance(origin, type):
            parsed = tuple(parse_annotation(a) for a in args if a is not Ellipsis)
            if issubclass(origin, Mapping):
                return Shape(Kind.MAPPING, annotation, origin, parsed, meta)
            if issubclass(origin, Iterable) and not issubclass(origin, str | bytes):
                return Shape(Kind.ARRAY, annotation, origin, parsed, meta)
        return Shape(Kind.OTHER, annotation, origin, metadata=meta)
    if not isinstance(annotation, type):
        return Shape(Kind.OTHER, annotation, metadata=meta)
    if issubclass(annotation, BaseModel):
        return Shape(Kind.MODEL, annotation, annotation, metadata=meta)
    if issubclass(annotation, list | tuple | set | frozenset):
        return Shape(Kind.ARRAY, annotation, annotation, metadata=meta)
    if issubclass(annotation, Mapping):
        return Shape(Kind.MAPPING, annotation, annotation, metadata=meta)
    return Shape(Kind.CLASS, annotation, annotation, metadata=meta)


@dataclasses.dataclass(frozen=True, slots=True)
class LinkTarget:
    """A Beanie link field's target: ``back`` is True for a ``BackLink`` (never stored)."""

    back: bool
    target: type


# An AwareNode with its refs merged in: (here, items, values, keys), each child with its "here".
_FlatNode: TypeAlias = (
    "tuple[bool, tuple[tuple[AwareNode, bool], ...], tuple[tuple[AwareNode, bool], ...], "
    "tuple[tuple[str, AwareNode, bool], ...]]"
)


class AwareNode:
    """Where timezone-aware datetimes sit inside one value; see :attr:`ModelSchema.aware`.

    MongoDB stores datetimes as UTC instants and PyMongo reads them back naive; Pydantic refuses a
    naive value for ``AwareDatetime``. :meth:`attach_utc` puts UTC back on exactly the values the
    model declares aware, at any depth (sub-models, dataclasses, TypedDicts, lists, dict values,
    recursive models).
    """

    __slots__ = ("_flat", "here", "items", "keys", "refs", "values")

    def __init__(self) -> None:
        self.here = False
        """The value itself may be an aware datetime."""
        self.items: list[AwareNode] = []
        """Nodes for each element of an array value."""
        self.values: list[AwareNode] = []
        """Nodes for every value of a dict value."""
        self.keys: dict[str, AwareNode] = {}
        """Nodes for a sub-document's fields, by stored name."""
        self.refs: list[AwareNode] = []
        """Other nodes that apply to the same value (a union of models, a root model)."""
        # (here, items, values, keys) with every ref merged in; made on first use, once the
        # (possibly cyclic) graph is complete.
        self._flat: _FlatNode | None = None

    def attach_utc(self, value: Any) -> Any:
        """``value`` with UTC attached to its naive datetimes at the places this node names.

        Lists and dicts are changed in place (the caller owns the freshly decoded document); a
        datetime is returned replaced. Anything that does not fit the node is left as it is.
        """
        # Runs on every document MongoDB returns: datetimes and None are handled inline, one
        # call per nested list or dict only.
        flat = self._flat
        here, items, values, keys = flat if flat is not None else self._flattened()
        t = type(value)
        if t is dt.datetime:
            return value.replace(tzinfo=_UTC) if here and value.tzinfo is None else value
        if t is list:
            for node, node_here in items:
                for i, item in enumerate(value):
                    t = type(item)
                    if t is dt.datetime:
                        if node_here and item.tzinfo is None:
                            value[i] = item.replace(tzinfo=_UTC)
                    elif t is list or t is dict:
                        node.attach_utc(item)  # in place
        elif t is dict:
            for key, node, node_here in keys:
                item = value.get(key)
                t = type(item)
                if t is dt.datetime:
                    if node_here and item.tzinfo is None:
                        value[key] = item.replace(tzinfo=_UTC)
                elif t is list or t is dict:
                    node.attach_utc(item)
            for node, node_here in values:
                for key, item in value.items():
                    t = type(item)
                    if t is dt.datetime:
                        if node_here and item.tzinfo is None:
                            value[key] = item.replace(tzinfo=_UTC)
                    elif t is list or t is dict:
                        node.attach_utc(item)
        return value

    def _flattened(self) -> _FlatNode:
        # This node with every node reachable through refs merged in; made on first use, once
        # the graph is complete. Each child comes with its own merged "here", so that a datetime
        # child needs no call.
        flat = self._flat
        if flat is None:
            nodes = self._merged()
            flat = self._flat = (
                any(n.here for n in nodes),
                tuple((c, c._here()) for n in nodes for c in n.items),
                tuple((c, c._here()) for n in nodes for c in n.values),
                tuple((k, c, c._here()) for n in nodes for k, c in n.keys.items()),
            )
        return flat

    def _merged(self) -> list[AwareNode]:
        # This node and every node reachable through refs, each once (refs may form a cycle).
        nodes: list[AwareNode] = []
        pending = [self]
        while pending:
            node = pending.pop()
            if all(node is not n for n in nodes):
                nodes.append(node)
                pending.extend(node.refs)
        return nodes

    def _here(self) -> bool:
        return any(n.here for n in self._merged())


_UTC: Final = dt.UTC


# ----------------------------------------------------------------------------- leaf classes
# Field classes whose python-mode dump already is an engine value. Exact classes only: a subclass
# (e.g. Beanie's Indexed(str)) may dump differently.
_NATIVE_LEAVES: Final = (str, int, float, bool, dt.date, Decimal, uuid.UUID, bytes, ObjectId)
# Classes whose values orjson plus typed_json's default hook store exactly (no UUID: orjson would
# write it as a plain string; floats are handled apart: NaN and infinities need tags).
_PLAIN_JSON_LEAVES: Final = (str, int, bool, dt.date, dt.time, dt.timedelta, Decimal, bytes, ObjectId)
STRING_FORM: Final = (
    Url,
    MultiHostUrl,
    pathlib.PurePath,
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
)
"""Values Pydantic's python-mode dump leaves as objects that the engine and the codecs compare
and store as their string form (``core.document`` uses this tuple too); validation turns the
string back into the field's type."""
# Classes (and subclasses) whose dump is one value: no document or array below.
_FLAT_LEAVES: Final = (
    str, int, float, bool, bytes, dt.date, dt.time, dt.timedelta, Decimal, uuid.UUID, ObjectId, enum.Enum,
    *STRING_FORM,
)  # fmt: skip
# Classes (and subclasses) that are never arrays and have no paths below them.
_SCALARS: Final = (str, int, float, bool, bytes, Decimal, uuid.UUID, dt.date, dt.time, dt.timedelta)
_LITERAL_LEAVES: Final = (str, int, bool, type(None))


def _bson_object_id(cls: type) -> bool:
    # ObjectId and the subclasses of BSON and Beanie (PydanticObjectId), which dump as ObjectIds.
    return issubclass(cls, ObjectId) and cls.__module__.startswith(("bson", "beanie"))


# ----------------------------------------------------------------------------- per-model facts
class FieldSchema:
    """One field of a model: its names, its parsed annotation and the facts read from it."""

    def __init__(self, owner: type[BaseModel], name: str, info: FieldInfo) -> None:
        self.owner = owner
        self.name = name
        self.info = info
        self.stored_name: str = info.serialization_alias or info.alias or name
        """The key the field is stored under (see the module docstring)."""
        self.metadata: tuple[Any, ...] = tuple(info.metadata)
        """The field's own ``Annotated`` metadata (``Index(...)``, constraints...), as Pydantic keeps it."""
        self.shape = parse_annotation(info.annotation, self.metadata)
        """The parsed annotation, ``metadata`` included."""

    def __repr__(self) -> str:
        return f"FieldSchema({self.owner.__name__}.{self.name}, stored as {self.stored_name!r})"

    @cached_property
    def beanie_index(self) -> tuple[Any, Mapping[str, Any]] | None:
        """Beanie's ``Indexed`` declaration on this field, ``(direction, options)``, or None.

        ``Indexed(str, ...)`` makes a subclass of ``str`` carrying ``_indexed`` (possibly inside
        ``Optional``); ``Annotated[str, Indexed(...)]`` puts an object carrying it in the metadata.
        """
        for item in self.metadata:
            marker = getattr(item, "_indexed", None)
            if _is_index_marker(marker):
                return marker
        for alt in self.shape.alternatives:
            if alt.kind is not Kind.NONE and isinstance(alt.annotation, type):
                marker = getattr(alt.annotation, "_indexed", None)
                if _is_index_marker(marker):
                    return marker
        return None

    @cached_property
    def link(self) -> LinkTarget | None:
        """The Beanie ``Link``/``BackLink`` this field holds (also in ``Optional``/``list``), or None.
        A target given as an unresolved forward reference is not a link here."""
        return _link(self.shape)

    @cached_property
    def native(self) -> bool:
        """True when the python-mode dump of any value of this field already is an engine value."""
        return _native(self.shape, set())

    @cached_property
    def depth(self) -> int | None:
        """Most levels of documents/arrays the dump of a value holds (0 for a scalar); None when
        unbounded or unknown, or when it may hold keys of the user's choosing (a dict)."""
        return _depth(self.shape, frozenset())

    @cached_property
    def array(self) -> bool | None:
        """Whether a stored value of this field is an array: True, False, or None (unknown)."""
        return _any_array(self.shape)

    @cached_property
    def value_models(self) -> tuple[type[BaseModel], ...] | None:
        """The model classes a value may be, through ``Optional``, unions and arrays (a path into
        ``list[Model]`` reaches the elements' fields, as in MongoDB); ``()`` when every value is a
        scalar; None when the value is free-form (a dict, ``Any``), so any sub-path may exist."""
        models: list[type[BaseModel]] = []
        if _collect_models(self.shape, models, set()):
            return None
        return tuple(dict.fromkeys(models))


def _is_index_marker(marker: Any) -> bool:
    return isinstance(marker, tuple) and len(marker) == 2 and isinstance(marker[1], Mapping)


class ModelSchema:
    """The field tree of one model class and the facts derived from it; see :func:`model_schema`.

    Facts are computed on first use and kept (the schema of a class is built once).
    """

    def __init__(self, model_cls: type[BaseModel]) -> None:
        self.model_cls = model_cls
        self._source = model_cls.__pydantic_fields__  # replaced by model_rebuild(): see model_schema
        self.fields: Mapping[str, FieldSchema] = types.MappingProxyType(
            {name: FieldSchema(model_cls, name, info) for name, info in self._source.items()}
        )
        """Fields by Python name, in declaration order."""
        self.by_stored_name: Mapping[str, FieldSchema] = types.MappingProxyType(
            {f.stored_name: f for f in reversed(list(self.fields.values()))}
        )
        """Fields by stored name (the first declared wins should two share one)."""
        self.root: FieldSchema | None = self.fields.get("root") if issubclass(model_cls, RootModel) else None
        """The ``root`` field of a ``RootModel``, whose dump is the root value itself."""
        decorators = model_cls.__pydantic_decorators__
        self.opaque_dump: bool = bool(
            model_cls.model_config.get("extra") == "allow"
            or decorators.field_serializers
            or decorators.model_serializers
            or model_cls.model_computed_fields
        )
        """True when a dump may hold keys or values the field annotations do not declare
        (extra fields, custom serializers, computed fields)."""

    def __repr__(self) -> str:
        return f"ModelSchema({self.model_cls.__name__}: {', '.join(self.fields)})"

    @cached_property
    def native(self) -> bool:
        """True when ``model_dump(mode="python", by_alias=True)`` of any instance is already an
        engine document (no Enum, tuple, set, URL... to convert)."""
        return _native_model(self, set())

    @cached_property
    def plain_json_floats(self) -> tuple[str, ...] | None:
        """Stored names of the top-level float fields to check for NaN/infinity when every other
        value of a dump goes to JSON exactly through one ``orjson.dumps`` (no type tags); None when
        some dump needs the typed-JSON pass anyway."""
        return _plain_model(self, set())

    @cached_property
    def depth(self) -> int | None:
        """Most levels of documents and arrays in a dump (the document itself counts one), or None
        when there is no static bound (free-form or recursive fields, an opaque dump) or a dict
        field's keys are data (they must be checked too)."""
        return _model_depth(self, frozenset())

    @cached_property
    def links(self) -> Mapping[str, LinkTarget]:
        """Beanie link fields by Python name (see :attr:`FieldSchema.link`)."""
        return types.MappingProxyType({f.name: f.link for f in self.fields.values() if f.link is not None})

    @cached_property
    def aware(self) -> AwareNode | None:
        """Where aware datetimes sit in a stored document (``AwareDatetime`` fields, also in
        sub-models, dataclasses, TypedDicts, arrays, dict values, unions and linked documents);
        None when there are none."""
        return _model_aware(self, {})

    @cached_property
    def aware_paths(self) -> tuple[str, ...]:
        """The places of :attr:`aware` as dotted stored names, for reading: ``"created"``,
        ``"runs.$[].at"`` (every array element), ``"meta.$*"`` (every dict value). A recursive
        model's paths are listed once, not through the recursion (which :attr:`aware` follows)."""
        out: list[str] = []
        if self.aware is not None:
            _aware_paths(self.aware, "", out, set())
        return tuple(dict.fromkeys(out))

    def attach_utc(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Attach UTC to the naive datetimes ``doc`` holds where the model declares aware ones, in
        place (``doc`` is a stored document, e.g. as PyMongo decoded it); returns ``doc``."""
        node = self.aware
        return doc if node is None else node.attach_utc(doc)

    @cached_property
    def may_hold_datetimes(self) -> bool:
        """False when no stored document of the model can hold a datetime, at any depth (linked
        documents included). ``Any``, free-form containers, classes the analysis does not know,
        unresolved forward references, custom serializers and opaque dumps (``extra="allow"``...)
        count as "may hold"."""
        return any(
            _may_be_datetime(part) for part in _reachable(Shape(Kind.MODEL, self.model_cls, self.model_cls))
        )

    def to_utc_instants(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Turn the datetimes of ``doc`` (a document about to be stored) into what a store keeping
        UTC instants without their awareness (BSON) gives back once :meth:`attach_utc` has run:
        UTC in milliseconds, aware where the model declares ``AwareDatetime``, naive elsewhere. In
        place; returns ``doc``. A backend returns this from a write so that what the caller holds
        is what a read gives."""
        if self.may_hold_datetimes:
            _naive_utc(doc)
            node = self.aware
            if node is not None:
                node.attach_utc(doc)
        return doc

    def may_be_array(self, path: str) -> bool:
        """True unless every stored document of the model has a non-array (or no) value at
        ``path`` and at each of its prefixes (``"a.b"``: ``a`` and ``a.b``).

        ``path`` is a dotted path of stored names. Documents are validated by the model before
        they are stored, so the annotations hold for them; a key that is no field (extra data,
        ``update_many`` may have stored anything there) or a type the analysis cannot read counts
        as "may be an array".
        """
        parts = path.split(".")
        level = [Shape(Kind.MODEL, self.model_cls, self.model_cls)]
        for i in range(len(parts) + 1):
            alternatives = [alt for shape in level for alt in _resolved(shape, set())]
            if any(_is_array(alt) is not False for alt in alternatives):
                return True
            if i == len(parts):
                return False
            level = []
            for alt in alternatives:
                if alt.kind is Kind.NONE:
                    continue
                child = _child(alt, parts[i])
                if child is None:
                    # A scalar has no children (the path is simply missing); anything else is unknown.
                    if alt.kind is Kind.CLASS and issubclass(alt.cls, _SCALARS):
                        continue
                    return True
                level.append(child)
        return False  # pragma: no cover - the loop returns at i == len(parts)


_schemas: dict[type[BaseModel], ModelSchema] = {}


def model_schema(model_cls: type[BaseModel]) -> ModelSchema:
    """The :class:`ModelSchema` of ``model_cls``, built on first use and kept for the class.

    A model that Pydantic has not completed yet (unresolved forward references) gets a fresh
    analysis on each call, so that ``model_rebuild()`` is seen; so does a rebuilt model.
    """
    cached = _schemas.get(model_cls)
    if cached is not None and cached._source is model_cls.__pydantic_fields__:
        return cached
    schema = ModelSchema(model_cls)
    if model_cls.__pydantic_complete__:
        _schemas[model_cls] = schema
    return schema


# ----------------------------------------------------------------------------- shape walkers
def _resolved(shape: Shape, seen: set[type]) -> list[Shape]:
    # The alternatives of ``shape``, a RootModel standing for its root value (a root model
    # reached again inside itself stands for anything: its depth is unbounded).
    out: list[Shape] = []
    for alt in shape.alternatives:
        if alt.kind is Kind.MODEL and not alt.custom_serializer:
            root = model_schema(alt.cls).root
            if root is not None:
                if alt.cls in seen:
                    out.append(Shape(Kind.ANY, Any))
                else:
                    out.extend(_resolved(root.shape, seen | {alt.cls}))
                continue
        out.append(alt)
    return out


def _native(shape: Shape, seen: set[type]) -> bool:
    if shape.custom_serializer:
        return False
    kind = shape.kind
    if kind is Kind.NONE:
        return True
    if kind is Kind.UNION:
        return all(_native(a, seen) for a in shape.args)
    if kind is Kind.LITERAL:
        return all(type(v) in _LITERAL_LEAVES for v in shape.values)
    if kind is Kind.ARRAY:
        return shape.cls is list and len(shape.args) == 1 and _native(shape.args[0], seen)
    if kind is Kind.MAPPING:
        if shape.cls is not dict or len(shape.args) != 2:
            return False
        key = shape.args[0]
        return key.kind is Kind.CLASS and key.cls is str and not key.metadata and _native(shape.args[1], seen)
    if kind is Kind.MODEL:
        return _native_model(model_schema(shape.cls), seen)
    if kind is Kind.CLASS:
        cls = shape.cls
        if issubclass(cls, enum.Enum):
            return False
        return cls in _NATIVE_LEAVES or _bson_object_id(cls)
    return False  # LINK, ANY, OTHER


def _native_model(schema: ModelSchema, seen: set[type]) -> bool:
    known = schema.__dict__.get("native")
    if known is not None:
        return known  # type: ignore[no-any-return]
    if schema.model_cls in seen:
        return True  # the rest of the cycle decides
    seen.add(schema.model_cls)
    if schema.opaque_dump:
        return False
    return all(_native(f.shape, seen) for f in schema.fields.values())


def _is_float(shape: Shape) -> bool:
    return shape.kind is Kind.CLASS and shape.cls is float and not shape.custom_serializer


def _model_floats(schema: ModelSchema) -> list[str]:
    return [f.stored_name for f in schema.fields.values() if any(_is_float(a) for a in f.shape.alternatives)]


def _plain(shape: Shape, seen: set[type]) -> bool:
    # Values of this shape reach storage exactly through one orjson.dumps (ints beyond 64 bits
    # make orjson raise, which callers catch); floats are never plain below the top level.
    if shape.custom_serializer:
        return False
    kind = shape.kind
    if kind is Kind.NONE:
        return True
    if kind is Kind.UNION:
        return all(_plain(a, seen) for a in shape.args)
    if kind is Kind.LITERAL:
        return all(type(v) in _LITERAL_LEAVES for v in shape.values)
    if kind is Kind.ARRAY:
        return shape.cls is list and len(shape.args) == 1 and _plain(shape.args[0], seen)
    if kind is Kind.MODEL:
        schema = model_schema(shape.cls)
        return _plain_model(schema, seen) is not None and not _model_floats(schema)
    if kind is Kind.CLASS:
        cls = shape.cls
        if issubclass(cls, enum.Enum | float):
            return False
        return cls in _PLAIN_JSON_LEAVES or _bson_object_id(cls)
    return False  # MAPPING (keys may need escaping), LINK, ANY, OTHER


def _plain_model(schema: ModelSchema, seen: set[type]) -> tuple[str, ...] | None:
    if "plain_json_floats" in schema.__dict__:
        return schema.__dict__["plain_json_floats"]  # type: ignore[no-any-return]
    if schema.model_cls in seen:
        return ()  # the rest of the cycle decides
    seen.add(schema.model_cls)
    if not schema.native:
        return None
    floats = []
    for f in schema.fields.values():
        if f.stored_name.startswith("$"):
            return None  # stored keys starting with "$" are escaped by the full encoder
        alternatives = f.shape.alternatives
        if any(_is_float(a) for a in alternatives):
            floats.append(f.stored_name)
            alternatives = tuple(a for a in alternatives if not _is_float(a))
        if not all(_plain(a, seen) for a in alternatives):
            return None
    return tuple(floats)


def _depth(shape: Shape, seen: frozenset[type]) -> int | None:
    # Most levels of documents/arrays a value dumps to; None when unbounded or unknown (Any,
    # recursive models, classes we do not know) or when it may hold keys of the user's choosing.
    if shape.custom_serializer:
        return None
    kind = shape.kind
    if kind is Kind.NONE or kind is Kind.LITERAL:
        return 0
    if kind is Kind.UNION or kind is Kind.ARRAY:
        if kind is Kind.ARRAY and (shape.cls not in (list, set, frozenset, tuple) or not shape.args):
            return None
        depths = [_depth(a, seen) for a in shape.args]
        if None in depths:
            return None
        deepest = max(d for d in depths if d is not None)
        return deepest + 1 if kind is Kind.ARRAY else deepest
    if kind is Kind.MODEL:
        return _model_depth(model_schema(shape.cls), seen)
    if kind is Kind.CLASS:
        return 0 if issubclass(shape.cls, _FLAT_LEAVES) else None
    return None  # MAPPING, LINK, ANY, OTHER


def _model_depth(schema: ModelSchema, seen: frozenset[type]) -> int | None:
    if "depth" in schema.__dict__:
        # A model on a cycle has no bound wherever it is met, so the cached answer holds here too.
        return schema.__dict__["depth"]  # type: ignore[no-any-return]
    if schema.model_cls in seen or schema.opaque_dump:
        return None
    inner = seen | {schema.model_cls}
    depths = [_depth(f.shape, inner) for f in schema.fields.values()]
    if None in depths:
        return None
    deepest = max((d for d in depths if d is not None), default=0)
    return deepest if schema.root is not None else deepest + 1  # a root model is its root value


def _is_array(shape: Shape) -> bool | None:
    """True/False for "stored values are arrays"; None when unknown. ``shape`` is resolved (no
    union, no root model)."""
    if shape.custom_serializer:
        return None
    kind = shape.kind
    if kind is Kind.NONE or kind is Kind.MODEL or kind is Kind.MAPPING:
        return False
    if kind is Kind.ARRAY:
        return True
    if kind is Kind.LITERAL:
        return any(isinstance(v, list | tuple) for v in shape.values)
    if kind is Kind.CLASS:
        cls = shape.cls
        if issubclass(cls, enum.Enum):
            return any(isinstance(m.value, list | tuple) for m in cls)
        if issubclass(cls, _SCALARS) or dataclasses.is_dataclass(cls):
            return False
        # bson.ObjectId and other opaque scalar classes: values are that class, never a list.
        return None if issubclass(cls, Sequence | Mapping) else False
    return None  # LINK, ANY, OTHER


def _any_array(shape: Shape) -> bool | None:
    answers = [_is_array(alt) for alt in _resolved(shape, set())]
    if True in answers:
        return True
    return None if None in answers else False


def _child(shape: Shape, key: str) -> Shape | None:
    # The shape of ``key`` inside a (resolved) value of ``shape``; None when unknown. A key that
    # is no field of a model is unknown: update_many may have stored anything there.
    if shape.kind is Kind.MODEL and not shape.custom_serializer:
        found = model_schema(shape.cls).by_stored_name.get(key)
        return None if found is None else found.shape
    if shape.kind is Kind.MAPPING and len(shape.args) == 2 and not shape.custom_serializer:
        return shape.args[1]
    return None


def _collect_models(shape: Shape, models: list[type[BaseModel]], roots: set[type]) -> bool:
    # Add the model classes a value may be to ``models``; True when it is free-form. ``roots``:
    # the root models already looked into (a recursive one adds nothing new the second time).
    free = False
    for alt in shape.alternatives:
        if alt.kind is Kind.MODEL:
            root = None if alt.custom_serializer else model_schema(alt.cls).root
            if root is None:
                models.append(alt.cls)
            elif alt.cls not in roots:
                roots.add(alt.cls)
                free = _collect_models(root.shape, models, roots) or free
        elif alt.kind in (Kind.ANY, Kind.MAPPING):
            free = True
        elif alt.kind is Kind.ARRAY:
            for item in alt.args:
                free = _collect_models(item, models, roots) or free
    return free


def _link(shape: Shape) -> LinkTarget | None:
    if shape.kind is Kind.LINK:
        target = shape.args[0].annotation if shape.args else None
        if isinstance(target, type):
            return LinkTarget(back=shape.cls is _beanie_links()[1], target=target)
        return None
    for arg in shape.args:  # UNION, ARRAY, MAPPING: the first link inside, depth first
        if arg.kind is not Kind.NONE:
            found = _link(arg)
            if found is not None:
                return found
    return None


# ----------------------------------------------------------------------------- aware datetimes
def _is_aware_class(shape: Shape) -> bool:
    return shape.kind is Kind.CLASS and issubclass(shape.cls, AwareDatetime)


def _reaches_aware(shape: Shape) -> bool:
    # Whether a value of ``shape`` may hold a value declared aware, through sub-models, records,
    # arrays, dicts and links (a graph search, so recursive models end).
    return any(_is_aware_class(part) for part in _reachable(shape))


def _model_aware(schema: ModelSchema, building: dict[type, AwareNode]) -> AwareNode | None:
    # ``building``: the nodes of the models met so far in this build, registered before their
    # fields are read, so that a recursive model meets its own (unfinished) node instead of
    # building it again. Only finished graphs are published (ModelSchema.aware), so another
    # thread never walks a half-built one.
    if "aware" in schema.__dict__:
        return schema.__dict__["aware"]  # type: ignore[no-any-return]
    node = building.get(schema.model_cls)
    if node is not None:
        return node
    if not _reaches_aware(Shape(Kind.MODEL, schema.model_cls, schema.model_cls)):
        return None
    node = building[schema.model_cls] = AwareNode()
    if schema.root is not None:
        found = _aware_node(schema.root.shape, building)
        if found is not None:
            node.refs.append(found)
    else:
        for f in schema.fields.values():
            found = _aware_node(f.shape, building)
            if found is not None:
                node.keys[f.stored_name] = found
    return node


def _aware_node(shape: Shape, building: dict[type, AwareNode]) -> AwareNode | None:
    if _is_aware_class(shape):
        node = AwareNode()
        node.here = True
        return node
    kind = shape.kind
    if kind is Kind.MODEL:
        return _model_aware(model_schema(shape.cls), building)
    if _is_record(shape):
        return _record_aware(shape, building)
    if kind is Kind.LINK:  # a fetched link is the linked document
        target = shape.args[0] if shape.args else None
        return _aware_node(target, building) if target is not None and target.kind is Kind.MODEL else None
    if kind is Kind.UNION:
        found = [n for n in (_aware_node(a, building) for a in shape.args) if n is not None]
        if len(found) <= 1:
            return found[0] if found else None
        node = AwareNode()
        node.refs.extend(found)
        return node
    if kind is Kind.ARRAY or (kind is Kind.MAPPING and len(shape.args) == 2):
        inner = shape.args if kind is Kind.ARRAY else shape.args[1:]
        children = [n for n in (_aware_node(a, building) for a in inner) if n is not None]
        if not children:
            return None
        node = AwareNode()
        (node.items if kind is Kind.ARRAY else node.values).extend(children)
        return node
    return None


def _record_aware(shape: Shape, building: dict[type, AwareNode]) -> AwareNode | None:
    # A dataclass or TypedDict, built like a model (``building`` ends recursive ones).
    node = building.get(shape.cls)
    if node is not None:
        return node
    fields = _record_fields(shape.cls)
    if fields is None or not _reaches_aware(shape):
        return None
    node = building[shape.cls] = AwareNode()
    for key, field_shape in fields:
        found = _aware_node(field_shape, building)
        if found is not None:
            node.keys[key] = found
    return node


def _aware_paths(node: AwareNode, prefix: str, out: list[str], seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen = seen | {id(node)}
    if node.here:
        out.append(prefix)
    for ref in node.refs:
        _aware_paths(ref, prefix, out, seen)
    for child in node.items:
        _aware_paths(child, f"{prefix}.{ARRAY_ITEMS}" if prefix else ARRAY_ITEMS, out, seen)
    for child in node.values:
        _aware_paths(child, f"{prefix}.{ANY_KEY}" if prefix else ANY_KEY, out, seen)
    for key, child in node.keys.items():
        _aware_paths(child, f"{prefix}.{key}" if prefix else key, out, seen)


# ----------------------------------------------------------------------------- records
# Dataclasses and TypedDicts dump as dicts of their fields; parse_annotation does not expand them
# (a dataclass is a CLASS, a TypedDict a MAPPING without arguments: the other facts treat them as
# opaque or free-form, which is sound). The datetime facts read their fields here.
_records: dict[type, tuple[tuple[str, Shape], ...]] = {}


def _is_record(shape: Shape) -> bool:
    cls = shape.cls
    if shape.kind is Kind.CLASS:
        return dataclasses.is_dataclass(cls)
    # TypedDict classes (typing's and typing_extensions') are dict subclasses listing their keys.
    return (
        shape.kind is Kind.MAPPING
        and isinstance(cls, type)
        and issubclass(cls, dict)
        and hasattr(cls, "__required_keys__")
    )


def _record_fields(cls: type) -> tuple[tuple[str, Shape], ...] | None:
    """``(stored key, shape)`` of each field of a dataclass or TypedDict; None when its annotations
    cannot be resolved (yet), in which case nothing is known about its values."""
    known = _records.get(cls)
    if known is not None:
        return known
    pydantic_fields: Mapping[str, FieldInfo] | None = cls.__dict__.get("__pydantic_fields__")
    if pydantic_fields is not None:  # a Pydantic dataclass: dumped by alias, like a model
        fields = tuple(
            (info.serialization_alias or info.alias or name, parse_annotation(info.annotation, info.metadata))
            for name, info in pydantic_fields.items()
        )
        complete = bool(getattr(cls, "__pydantic_complete__", False))
    else:
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except Exception:  # an unresolvable forward reference (NameError, TypeError...): unknown
            return None
        names = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else list(hints)
        fields = tuple((name, parse_annotation(hints[name])) for name in names if name in hints)
        complete = True
    if complete:
        _records[cls] = fields
    return fields


def _reachable(shape: Shape) -> Iterator[Shape]:
    # ``shape`` and every shape below it: alternatives, items, dict keys and values, link targets,
    # and the fields of every model and record met, each class expanded once (recursion ends).
    pending: list[Shape] = [shape]
    seen: set[type] = set()
    while pending:
        part = pending.pop()
        yield part
        pending.extend(part.args)
        is_model = part.kind is Kind.MODEL
        if (is_model or _is_record(part)) and part.cls not in seen:
            seen.add(part.cls)
            if is_model:
                pending.extend(f.shape for f in model_schema(part.cls).fields.values())
            else:
                pending.extend(field_shape for _, field_shape in _record_fields(part.cls) or ())


# ----------------------------------------------------------------------------- stored datetimes
_DATETIME_CLASSES: Final = (dt.datetime, AwareDatetime, NaiveDatetime, PastDatetime, FutureDatetime)
# Values that are no datetime and hold none: Enum member values and Literal values of these.
_NO_DATETIME_VALUES: Final = (str, int, float, bytes, Decimal, uuid.UUID, type(None))
# Modules of the containers whose values are exactly their items (no custom dump).
_STANDARD_MODULES: Final = frozenset({"builtins", "collections", "collections.abc", "typing"})


def _no_datetime_value(value: Any) -> bool:
    if isinstance(value, enum.Enum):
        value = value.value
    return isinstance(value, _NO_DATETIME_VALUES)


def _may_be_datetime(shape: Shape) -> bool:
    # Whether a value of ``shape`` may dump to a datetime, or to something its parts do not
    # describe (then it may hold one). Unions and links: their parts decide.
    if shape.custom_serializer:
        return True
    kind = shape.kind
    cls = shape.cls
    if kind is Kind.CLASS:
        if issubclass(cls, _DATETIME_CLASSES):
            return True
        if _is_record(shape):
            return _record_fields(cls) is None
        if issubclass(cls, enum.Enum):
            return not all(_no_datetime_value(m) for m in cls)
        if issubclass(cls, _FLAT_LEAVES) or _bson_object_id(cls):
            return False
        # Pydantic's own types (secrets, URLs, colours...) dump to strings; any other class's dump
        # may hold anything.
        return not cls.__module__.startswith("pydantic")
    if kind is Kind.MODEL:
        return model_schema(cls).opaque_dump
    if kind is Kind.MAPPING and _is_record(shape):  # a TypedDict
        return _record_fields(cls) is None
    if kind is Kind.ARRAY or kind is Kind.MAPPING:
        arity_known = len(shape.args) == 2 if kind is Kind.MAPPING else bool(shape.args)
        return not arity_known or getattr(cls, "__module__", None) not in _STANDARD_MODULES
    if kind is Kind.LITERAL:
        return not all(_no_datetime_value(v) for v in shape.values)
    return kind is Kind.ANY or kind is Kind.OTHER


_STRUCTURED: Final = (dict, list)


def _naive_utc(value: Any) -> Any:
    # ``value`` with every datetime in it, at any depth, as BSON reads it back: a naive datetime in
    # UTC, in milliseconds. Lists and dicts are changed in place.
    t = type(value)
    if t is dict:
        for key, item in value.items():
            if type(item) in _STRUCTURED or isinstance(item, dt.datetime):
                value[key] = _naive_utc(item)
    elif t is list:
        for i, item in enumerate(value):
            if type(item) in _STRUCTURED or isinstance(item, dt.datetime):
                value[i] = _naive_utc(item)
    elif isinstance(value, dt.datetime):
        if value.utcoffset() is not None:
            value = value.astimezone(_UTC)
        if t is not dt.datetime or value.tzinfo is not None:
            # BSON gives back a plain datetime (also for a subclass, or a zone without an offset).
            value = dt.datetime(
                value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond
            )
        return to_milliseconds(value)
    return value
