"""``MindtraceDocument``: a Beanie ``Document`` usable before ``init_beanie``, and its link helpers.

Beanie 2 refuses to build a document (``MyDoc(name="x")``) and has no field expressions
(``MyDoc.age > 30``) until ``init_beanie`` has bound the class to a database. The package's
document class lifts both restrictions for itself only — Beanie is not patched:

* ``__init__`` skips Beanie's "is the collection bound?" check (the backend binds it on first use);
* ``get_settings`` parses the class's ``Settings`` without a database until Beanie has done so;
* class attribute access to a field gives Beanie's ``ExpressionField``, as after ``init_beanie``,
  without the class attributes ``init_beanie`` would store (they would become the defaults of
  subclasses defined afterwards).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from beanie import Document, Link
from beanie.exceptions import CollectionWasNotInitialized
from beanie.odm.fields import ExpressionField
from beanie.odm.settings.document import DocumentSettings
from bson import DBRef
from pydantic import BaseModel
from pymongo.asynchronous.collection import AsyncCollection

from mindtrace.database.core.document import collection_name_for
from mindtrace.database.core.fields import FieldPath
from mindtrace.database.core.model import MindtraceModelMetaclass
from mindtrace.database.core.schema import model_schema

__all__ = [
    "MindtraceDocument",
    "link_fields",
    "linked_document_classes",
    "parse_settings",
    "stored_link_value",
]


def _post_init(self: BaseModel, context: Any, /) -> None:
    """Nothing beyond what Pydantic's wrapper does (initialise private attributes)."""


class MindtraceDocumentMetaclass(MindtraceModelMetaclass):
    """Pydantic's metaclass (via ``MindtraceModelMetaclass``), answering ``Doc.field`` with
    Beanie's ``ExpressionField`` before ``init_beanie`` sets the same attributes itself."""

    def __new__(
        mcs,
        cls_name: str,
        bases: tuple[type[Any], ...],
        namespace: dict[str, Any],
        **kwargs: Any,
    ) -> type:
        # Pydantic wraps an inherited model_post_init once per class level that has private
        # attributes, each wrapper initialising them again: four times per validated Beanie
        # document, one more per user subclass. A model_post_init of the class's own leaves one
        # wrapper, which initialises them all once. A class defining its own keeps it.
        namespace.setdefault("model_post_init", _post_init)
        return super().__new__(mcs, cls_name, bases, namespace, **kwargs)

    if not TYPE_CHECKING:

        def __getattr__(cls, name: str) -> Any:
            found = super().__getattr__(name)
            if isinstance(found, FieldPath):
                info = cls.__dict__["__pydantic_fields__"][name]
                return ExpressionField(str(found), ExpressionField._resolve_field(info.annotation))
            return found

    def __setattr__(cls, name: str, value: Any) -> None:
        # init_beanie stores an ExpressionField per field on the class, and on every Document base
        # class it walks through (MindtraceDocument itself included). Pydantic would take those
        # class attributes as the defaults of any subclass defined later (``id='_id'``); __getattr__
        # above answers the same expression without storing it, so it is not stored.
        if isinstance(value, ExpressionField) and name in cls.__dict__.get("__pydantic_fields__", ()):
            return
        super().__setattr__(name, value)


class MindtraceDocument(Document, metaclass=MindtraceDocumentMetaclass):
    """Base class of documents stored by ``MongoMindtraceODMBackend`` (a Beanie ``Document``).

    Instances can be created before the backend has connected, and ``Doc.field > 30`` builds a
    filter at any time. ``id`` is an ObjectId (``PydanticObjectId``), ``None`` until inserted.
    Everything else is Beanie's: ``Indexed``, ``Link``, ``Settings`` (``name``, ``indexes``...).
    """

    _mindtrace_unbound_settings: ClassVar[DocumentSettings | None] = None

    # Document.__init__ is BaseModel.__init__ plus a check that init_beanie has run: use Pydantic's
    # own. Being Pydantic's, it also keeps model_validate() from routing every validation through
    # a custom __init__ (which validates twice).
    __init__ = BaseModel.__init__

    @classmethod
    def get_settings(cls) -> DocumentSettings:
        """Beanie's settings of this class; before ``init_beanie``, parsed from ``Settings`` alone
        (no database or collection attached)."""
        # Only the class's own settings: init_beanie also binds base classes it walks through
        # (MindtraceDocument itself), and those would be inherited by classes never initialised.
        settings: DocumentSettings | None = cls.__dict__.get("_document_settings")
        if settings is not None:
            return settings
        cached = cls.__dict__.get("_mindtrace_unbound_settings")
        if cached is None:
            cached = parse_settings(cls)
            cls._mindtrace_unbound_settings = cached
        return cached

    @classmethod
    def get_pymongo_collection(cls) -> AsyncCollection[dict[str, Any]]:
        """The collection Beanie's own class-level calls use (``MyDoc.find(...)``, ``doc.save()``).

        Raises ``CollectionWasNotInitialized`` (Beanie's error) until a backend, or
        ``init_beanie``, has bound the class to a database.
        """
        collection: AsyncCollection[dict[str, Any]] | None = cls.get_settings().pymongo_collection
        if collection is None:
            raise CollectionWasNotInitialized(
                f"{cls.__name__} is not bound to a database yet: Beanie calls on the class work once a "
                "MongoMindtraceODMBackend using it has initialised (await backend.initialize()), or "
                "after init_beanie"
            )
        return collection


def parse_settings(cls: type[Document]) -> DocumentSettings:
    """Beanie's ``DocumentSettings`` for ``cls``: the bound ones after ``init_beanie``, else parsed
    from the ``Settings`` class (inherited attributes included) the way ``init_beanie`` does."""
    bound: DocumentSettings | None = cls.__dict__.get("_document_settings")
    if bound is not None:
        return bound
    declared = getattr(cls, "Settings", None)
    values = (
        {k: getattr(declared, k) for k in dir(declared) if not k.startswith("__")}
        if declared is not None
        else {}
    )
    return DocumentSettings.model_validate(values)


def link_fields(model_cls: type[BaseModel]) -> dict[str, tuple[str, bool]]:
    """Fields holding Beanie links: name -> (stored name, is a ``BackLink``)."""
    schema = model_schema(model_cls)
    return {name: (schema.fields[name].stored_name, link.back) for name, link in schema.links.items()}


def linked_document_classes(model_cls: type[BaseModel]) -> list[type[Document]]:
    """``model_cls`` (when a Beanie document) and every document class reachable through links.

    Beanie must initialise them together for ``fetch_links``. Forward references given as strings
    are not followed.
    """
    found: list[type[Document]] = []
    pending: list[type] = [model_cls]
    while pending:
        cls = pending.pop()
        if not (isinstance(cls, type) and issubclass(cls, Document)) or cls in found:
            continue
        found.append(cls)
        pending.extend(link.target for link in model_schema(cls).links.values())
    return found


def stored_link_value(value: Any) -> Any:
    """How Beanie stores a link: a document or ``Link`` becomes a ``DBRef`` (lists element-wise)."""
    if isinstance(value, list | tuple):
        return [stored_link_value(v) for v in value]
    if isinstance(value, Link):
        return value.ref
    if isinstance(value, Document):
        if value.id is None:
            raise ValueError(
                f"cannot store a link to an unsaved {type(value).__name__}: insert it first so it has an id"
            )
        return DBRef(collection_name_for(type(value)), value.id)
    return value
