"""Index declarations on models, read into one backend-neutral list of :class:`IndexSpec`.

Three spellings are understood, so the same model works on every backend:

* Beanie's ``Indexed``: ``email: Indexed(str, unique=True)`` or
  ``email: Annotated[str, Indexed(unique=True)]`` (also inside ``Optional``). Recognised by the
  ``_indexed`` attribute Beanie puts on the type or the annotation (read by ``core.schema``), so
  core never imports Beanie.
* ``Settings.indexes`` entries as Beanie takes them: a field name, a list of ``(field, direction)``
  pairs, or a ``pymongo.IndexModel`` (anything with an index ``document`` holding ``"key"``).
* This package's :class:`Index`, for plain Pydantic models: ``Annotated[str, Index(unique=True)]``
  on a field, or ``Index("last", "-first", unique=True)`` in ``Settings.indexes``.

Only top-level fields are scanned for annotations (as Beanie does); nested paths such as
``"address.city"`` are declared in ``Settings.indexes``. Field names are the stored names
(aliases when set; see ``core.schema``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from mindtrace.database.core.schema import model_schema

__all__ = ["Index", "IndexSpec", "index_specs"]

Direction = int | str
"""1 (ascending), -1 (descending), or a MongoDB special index type such as ``"text"``."""


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One index to create: its keys in order, whether it is unique, and its name.

    ``fields`` holds ``(path, direction)`` pairs; a direction that is not 1 or -1 (``"text"``,
    ``"2dsphere"``, ``"hashed"``) is a MongoDB special index that other backends may skip.
    ``options`` carries any further MongoDB index options (``expireAfterSeconds``...) verbatim.
    """

    fields: tuple[tuple[str, Direction], ...]
    unique: bool = False
    name: str = ""
    sparse: bool = False
    options: tuple[tuple[str, Any], ...] = field(default=())

    @property
    def paths(self) -> tuple[str, ...]:
        """The indexed paths, in key order."""
        return tuple(p for p, _ in self.fields)

    @property
    def is_plain(self) -> bool:
        """True when every key is ascending or descending (no text/geo/hashed key)."""
        return all(d in (1, -1) for _, d in self.fields)


def default_index_name(fields: Iterable[tuple[str, Direction]]) -> str:
    """MongoDB's default index name: ``"email_1"``, ``"last_1_first_-1"``."""
    return "_".join(f"{path}_{direction}" for path, direction in fields)


def _parse_key(key: Any) -> tuple[str, Direction]:
    if isinstance(key, str):
        if key.startswith("-"):
            return key[1:], -1
        return key.lstrip("+"), 1
    if isinstance(key, tuple | list) and len(key) == 2 and isinstance(key[0], str):
        direction = key[1]
        if isinstance(direction, bool) or not isinstance(direction, int | str):
            raise ValueError(
                f"index direction for {key[0]!r} must be 1, -1 or an index type, got {direction!r}"
            )
        return key[0], direction
    raise ValueError(f"cannot read index key {key!r}: use 'field', '-field' or (field, 1 | -1)")


class Index:
    """Backend-neutral index declaration for plain Pydantic models (and any other model).

    On a field: ``email: Annotated[str, Index(unique=True)]`` (``Index(direction=-1)`` for
    descending). In ``Settings.indexes``: ``Index("last", "-first", unique=True, name="by_name")``
    with keys written as ``"field"``, ``"-field"`` or ``(field, direction)``.
    Raises ``ValueError`` for a malformed key.
    """

    __slots__ = ("direction", "keys", "name", "sparse", "unique")

    def __init__(
        self,
        *keys: str | tuple[str, Direction],
        unique: bool = False,
        name: str | None = None,
        sparse: bool = False,
        direction: int = 1,
    ) -> None:
        self.keys: tuple[tuple[str, Direction], ...] = tuple(_parse_key(k) for k in keys)
        self.unique = unique
        self.name = name
        self.sparse = sparse
        self.direction = direction

    def spec(self, path: str | None = None) -> IndexSpec:
        """The :class:`IndexSpec` this declaration stands for; ``path`` names the annotated field."""
        fields = self.keys or (((path, self.direction),) if path is not None else ())
        if not fields:
            raise ValueError("Index() in Settings.indexes needs at least one key, e.g. Index('email')")
        return IndexSpec(fields, self.unique, self.name or default_index_name(fields), self.sparse)

    def __repr__(self) -> str:
        keys = ", ".join(repr(k) for k in self.keys)
        return f"Index({keys}{', ' if keys else ''}unique={self.unique}, name={self.name!r})"


def _from_options(fields: tuple[tuple[str, Direction], ...], options: Mapping[str, Any]) -> IndexSpec:
    opts = dict(options)
    unique = bool(opts.pop("unique", False))
    sparse = bool(opts.pop("sparse", False))
    name = opts.pop("name", None) or default_index_name(fields)
    opts.pop("key", None)
    return IndexSpec(fields, unique, str(name), sparse, tuple(sorted(opts.items())))


def _settings_entry(entry: Any) -> IndexSpec:
    if isinstance(entry, Index):
        return entry.spec()
    fields: tuple[tuple[str, Direction], ...]
    if isinstance(entry, str):
        fields = (_parse_key(entry),)
        return IndexSpec(fields, name=default_index_name(fields))
    document = getattr(entry, "document", None)
    if isinstance(document, Mapping) and "key" in document:  # pymongo.IndexModel
        keys = document["key"]
        fields = tuple(_parse_key((k, d)) for k, d in (keys.items() if isinstance(keys, Mapping) else keys))
        return _from_options(fields, document)
    if isinstance(entry, list | tuple) and entry:
        if len(entry) == 2 and isinstance(entry[0], str) and not isinstance(entry[1], str | tuple | list):
            fields = (_parse_key(entry),)  # a single (field, direction) pair
        else:
            fields = tuple(_parse_key(k) for k in entry)
        return IndexSpec(fields, name=default_index_name(fields))
    raise ValueError(
        f"cannot read Settings.indexes entry {entry!r}: use a field name, a list of (field, direction) "
        "pairs, a pymongo IndexModel or mindtrace.database.Index"
    )


def index_specs(model_cls: type[BaseModel]) -> list[IndexSpec]:
    """Every index declared on ``model_cls``, field annotations first, then ``Settings.indexes``.

    An index on ``id``/``_id`` is dropped (the id is always the primary key). Two declarations with
    the same keys are merged (unique wins). Raises ``ValueError`` for an entry it cannot read.
    """
    specs: list[IndexSpec] = []
    for f in model_schema(model_cls).fields.values():
        for item in f.metadata:
            if isinstance(item, Index):
                specs.append(item.spec(f.stored_name))
        if f.beanie_index is not None:
            direction, options = f.beanie_index
            specs.append(_from_options(((f.stored_name, direction),), options))
    settings = getattr(model_cls, "Settings", None)
    for entry in getattr(settings, "indexes", None) or ():
        specs.append(_settings_entry(entry))

    merged: dict[tuple[tuple[str, Direction], ...], IndexSpec] = {}
    for spec in specs:
        if spec.paths in (("id",), ("_id",)):
            continue
        seen = merged.get(spec.fields)
        if seen is None:
            merged[spec.fields] = spec
        elif spec.unique and not seen.unique:
            merged[spec.fields] = IndexSpec(
                spec.fields, True, seen.name, seen.sparse and spec.sparse, seen.options
            )
    return list(merged.values())
