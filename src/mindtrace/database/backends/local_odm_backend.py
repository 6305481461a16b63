"""The seed's import path of the embedded backend (``LocalODMBackend``); the code lives in
``backends/local/`` (façade in ``backend.py``, operations in ``collection.py``)."""

from __future__ import annotations

from mindtrace.database.backends.local.backend import LocalODMBackend
from mindtrace.database.core.input_checks import MAX_DOCUMENT_BYTES

__all__ = ["MAX_DOCUMENT_BYTES", "LocalODMBackend"]
