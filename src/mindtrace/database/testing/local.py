"""Pytest fixtures that give your own tests a fresh Local backend on a temporary database file.

Make them visible to your tests with ``pytest_plugins = ["mindtrace.database.testing.local"]`` in
your top-level ``conftest.py`` (or import the fixtures into it), then::

    @pytest.mark.parametrize("local_backend", [UserDoc], indirect=True)
    async def test_insert(local_backend):
        doc = await local_backend.insert(UserDoc(name="a", age=1, email="a@x"))
        assert local_backend.get_sync(doc.id) == doc

Each test gets its own database file under pytest's ``tmp_path``, so tests never see each
other's data and can run in parallel (pytest-xdist). Backends are initialised before the test and
closed after it; both the async methods and the ``_sync`` twins may be used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from mindtrace.database.backends.local_odm_backend import LocalODMBackend

__all__ = ["LocalBackendFactory", "local_backend", "local_backend_factory", "local_database_path"]

LocalBackendFactory = Callable[[type[BaseModel]], LocalODMBackend[Any]]


@pytest.fixture
def local_database_path(tmp_path: Path) -> Path:
    """Path of this test's Local database file (created on first use by a backend)."""
    return tmp_path / "mindtrace-local.db"


@pytest.fixture
def local_backend_factory(local_database_path: Path) -> Iterator[LocalBackendFactory]:
    """``make(Model)`` opens an initialised Local backend for ``Model`` on this test's database.

    Every backend it made shares one database file, so ``$lookup`` between their collections
    works; all of them are closed after the test.
    """
    opened: list[LocalODMBackend[Any]] = []

    def make(model_cls: type[BaseModel]) -> LocalODMBackend[Any]:
        backend: LocalODMBackend[Any] = LocalODMBackend(model_cls, path=str(local_database_path))
        opened.append(backend)
        backend.initialize_sync()
        return backend

    yield make
    for backend in reversed(opened):
        backend.close_sync()


@pytest.fixture
def local_backend(
    request: pytest.FixtureRequest, local_backend_factory: LocalBackendFactory
) -> LocalODMBackend[Any]:
    """An initialised Local backend for the model class given by indirect parametrization.

    Use ``@pytest.mark.parametrize("local_backend", [YourModel], indirect=True)``; without it the
    test fails with a message saying so.
    """
    model_cls = getattr(request, "param", None)
    if not (isinstance(model_cls, type) and issubclass(model_cls, BaseModel)):
        pytest.fail(
            "local_backend needs a model class: decorate the test with "
            '@pytest.mark.parametrize("local_backend", [YourModel], indirect=True)'
            + ("" if model_cls is None else f" (got {model_cls!r})"),
            pytrace=False,
        )
    return local_backend_factory(model_cls)
