"""The MongoDB indexes a model declares, as PyMongo ``IndexModel`` objects.

Declarations are read by ``core.indexes`` (Beanie's ``Indexed``, ``Settings.indexes`` entries,
the package's ``Index``), so a model gets the same indexes here as on every other backend and as
``init_beanie`` would create; the backend creates them on its own collection from sync or async
code alike.
"""

from __future__ import annotations

from pydantic import BaseModel
from pymongo import IndexModel

from mindtrace.database.core.indexes import IndexSpec, index_specs

__all__ = ["index_models", "to_index_model"]


def to_index_model(spec: IndexSpec) -> IndexModel:
    """The ``IndexModel`` creating ``spec`` (name, uniqueness, sparseness and options kept)."""
    options = dict(spec.options)
    if spec.unique:
        options["unique"] = True
    if spec.sparse:
        options["sparse"] = True
    if spec.name:
        options["name"] = spec.name
    return IndexModel(list(spec.fields), **options)


def index_models(model_cls: type[BaseModel]) -> list[IndexModel]:
    """Every index ``model_cls`` declares (the ``_id`` index excepted); may be empty.

    Raises ``ValueError`` for a declaration ``core.indexes`` cannot read.
    """
    return [to_index_model(spec) for spec in index_specs(model_cls)]
