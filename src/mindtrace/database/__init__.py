"""mindtrace.database: one Pydantic ODM for MongoDB, plain Redis and an embedded SQLite store.

Backends are imported lazily so that the core install (Local backend only) never needs the
``mongo`` or ``redis`` extras; touching a backend whose extra is missing raises an ImportError
that names the extra to install.
"""

from __future__ import annotations

import importlib
from typing import Any

from mindtrace.database.core.backend import MindtraceODMBackend, UpdateResult
from mindtrace.database.core.exceptions import (
    BackendNotAvailableError,
    ConnectionFailedError,
    DatabaseError,
    DocumentNotFoundError,
    DocumentTooLargeError,
    DuplicateInsertError,
    QueryError,
    WriteConflictError,
)
from mindtrace.database.core.fields import fields
from mindtrace.database.core.indexes import Index
from mindtrace.database.core.model import MindtraceModel
from mindtrace.database.core.safe_filters import eq_filter, equals

# name -> module that defines it; imported on first access.
_LAZY: dict[str, str] = {
    "LocalODMBackend": "mindtrace.database.backends.local_odm_backend",
    "RedisODMBackend": "mindtrace.database.backends.redis_odm_backend",
    "MongoMindtraceODMBackend": "mindtrace.database.backends.mongo_odm_backend",
    "MindtraceDocument": "mindtrace.database.backends.mongo_odm_backend",
}

__all__ = [
    "BackendNotAvailableError",
    "ConnectionFailedError",
    "DatabaseError",
    "DocumentNotFoundError",
    "DocumentTooLargeError",
    "DuplicateInsertError",
    "Index",
    "LocalODMBackend",
    "MindtraceDocument",
    "MindtraceModel",
    "MindtraceODMBackend",
    "MongoMindtraceODMBackend",
    "QueryError",
    "RedisODMBackend",
    "UpdateResult",
    "WriteConflictError",
    "eq_filter",
    "equals",
    "fields",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mindtrace.database' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
