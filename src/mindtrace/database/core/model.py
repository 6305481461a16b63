"""``MindtraceModel``: the package's document base class, whose fields double as filter expressions.

``User.age >= 18`` on a ``MindtraceModel`` subclass is ``fields(User).age >= 18``. The metaclass
only answers for names that normal class attribute lookup does not find, and only once the class
is fully built, so methods, class variables, private attributes, ``model_fields`` and Pydantic's
own class construction (which probes ``getattr(cls, field_name)`` for defaults) are unaffected.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

# Pydantic documents subclassing its metaclass as the way to customise class behaviour; it is
# only importable from this internal module.
from pydantic._internal._model_construction import ModelMetaclass

from mindtrace.database.core.fields import ModelFields

__all__ = ["MindtraceModel", "MindtraceModelMetaclass"]

# Depth of MindtraceModel classes under construction in this thread/task. While Pydantic builds a
# class it calls getattr(cls, name) and hasattr(base, name) for every field to find defaults and
# shadowing; a field expression there would become the default value. Scoped, not global: it is
# always reset by the same call that set it.
_building: ContextVar[int] = ContextVar("mindtrace_model_building", default=0)


class MindtraceModelMetaclass(ModelMetaclass):
    """Pydantic's model metaclass, plus ``Model.field`` returning a :class:`FieldPath`."""

    def __new__(
        mcs,
        cls_name: str,
        bases: tuple[type[Any], ...],
        namespace: dict[str, Any],
        **kwargs: Any,
    ) -> type:
        token = _building.set(_building.get() + 1)
        try:
            return super().__new__(mcs, cls_name, bases, namespace, **kwargs)
        finally:
            _building.reset(token)

    if not TYPE_CHECKING:  # keep mypy from allowing arbitrary attributes on model classes

        def __getattr__(cls, name: str) -> Any:
            # Only reached when normal lookup failed: Pydantic removes field defaults from the
            # class namespace, so a field name lands here whether or not it has a default.
            if not name.startswith("_") and not _building.get():
                model_fields = cls.__dict__.get("__pydantic_fields__")
                if model_fields is not None:
                    if name in model_fields:
                        return ModelFields(cls)[name]
                    raise AttributeError(
                        f"type object {cls.__name__!r} has no attribute {name!r}; "
                        f"its fields are: {', '.join(model_fields) or '(none)'}"
                    )
            return super().__getattr__(name)


class MindtraceModel(BaseModel, metaclass=MindtraceModelMetaclass):
    """Base class for documents stored by any backend; ``id`` is set by ``insert``.

    Class attribute access to a field builds a filter expression (``User.age >= 18``,
    ``User.address.city == "Paris"``, ``User.tags.in_(["a"])``); instance access returns the
    value as usual. For a field whose name is also a method (``copy``, ``json``...) use
    ``fields(User).copy``. ``id`` holds the ObjectId as a 24-character hex string.
    """

    id: str | None = None
