"""Which dotted paths of a model can run through an array, read from its field annotations.

MongoDB resolves ``"a.b"`` through arrays (``{"a": [{"b": 1}]}`` has ``a.b == 1``), SQLite's
``json_extract(doc, '$.a.b')`` does not. The pushdown compiler therefore adds an "``a`` is an
array" branch to its candidate condition unless the model guarantees ``a`` never holds one. Every
document written through a backend is validated by its model (inserts, replacements and the
results of ``update_many``), so the guarantee holds for what this model stored; an annotation the
analysis cannot read (``Any``, ``object``, a bare ``dict``, extra fields) counts as "may be an array".
The annotations are read by ``core.schema`` (:meth:`ModelSchema.may_be_array`); this module keeps
the per-backend cache of answers the pushdown asks for on every query.
"""

from __future__ import annotations

from pydantic import BaseModel

from mindtrace.database.core.schema import model_schema

__all__ = ["ArrayPaths"]


class ArrayPaths:
    """Answers "can this path prefix hold an array?" for one model class; results are cached."""

    def __init__(self, model_cls: type[BaseModel]) -> None:
        self._schema = model_schema(model_cls)
        self._cache: dict[str, bool] = {}

    def may_be_array(self, path: str) -> bool:
        """True unless every document of the model has a non-array (or no) value at ``path``
        and at each of its prefixes.

        ``path`` is a dotted path of stored (alias) names, e.g. ``"address.city"``.
        """
        cached = self._cache.get(path)
        if cached is None:
            cached = self._cache[path] = self._schema.may_be_array(path)
        return cached
