"""Fixtures for Local-specific tests: backends on a temporary file (or in memory), closed after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from mindtrace.database.backends.local_odm_backend import LocalODMBackend

MakeBackend = Callable[..., LocalODMBackend[Any]]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """This test's database file (created by the first backend that uses it)."""
    return tmp_path / "local.sqlite3"


@pytest.fixture
def make(db_path: Path) -> Iterator[MakeBackend]:
    """``make(Model, **options)``: an initialised backend on ``db_path`` (``path=`` overrides)."""
    opened: list[LocalODMBackend[Any]] = []

    def factory(model_cls: type[BaseModel], **options: Any) -> LocalODMBackend[Any]:
        options.setdefault("path", db_path)
        backend: LocalODMBackend[Any] = LocalODMBackend(model_cls, **options)
        backend.initialize_sync()
        opened.append(backend)
        return backend

    yield factory
    for backend in opened:
        backend.close_sync()
