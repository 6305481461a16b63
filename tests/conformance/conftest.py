"""Fixtures of the conformance suite: every test runs on every backend, through both APIs.

``db`` is the entry point: ``users = await db.open(User)`` gives a ready backend on this test's
throwaway database, seen through the API under test — ``await users.find(...)`` calls either
``backend.find(...)`` or ``backend.find_sync(...)`` depending on the ``api`` parameter, so one
test body checks both the coroutines and their blocking twins. ``users.raw`` is the backend itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import BaseModel

from mindtrace.database.core.backend import MindtraceODMBackend
from tests.conformance.backends import BACKENDS, BackendFactory, Capabilities


class Api:
    """One backend seen through its async methods (``mode="async"``) or their ``_sync`` twins.

    Every method is awaited in tests either way; in sync mode the awaitable simply wraps the
    blocking call's result. ``collect`` drains ``iterate``/``iterate_sync`` into a list.
    """

    def __init__(self, backend: MindtraceODMBackend[Any], mode: str) -> None:
        self.raw = backend
        self.mode = mode

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or name == "iterate":
            raise AttributeError(name)
        if self.mode == "async":
            method: Callable[..., Any] = getattr(self.raw, name)
            return method
        blocking = getattr(self.raw, f"{name}_sync")

        async def call(*args: Any, **kwargs: Any) -> Any:
            return blocking(*args, **kwargs)

        return call

    async def collect(self, *filters: Any, **kwargs: Any) -> list[Any]:
        if self.mode == "async":
            return [doc async for doc in self.raw.iterate(*filters, **kwargs)]
        return list(self.raw.iterate_sync(*filters, **kwargs))


class Database:
    """The throwaway database of one test on one backend kind; closes what it opened."""

    def __init__(self, factory: BackendFactory, location: Any, mode: str) -> None:
        self.factory = factory
        self.location = location
        self.mode = mode
        self.caps: Capabilities = factory.caps
        self._opened: list[MindtraceODMBackend[Any]] = []

    def backend(self, model_cls: type[BaseModel]) -> MindtraceODMBackend[Any]:
        """A new, not yet initialised backend for ``model_cls`` on this database (closed at teardown)."""
        backend = self.factory.open(self.location, model_cls)
        self._opened.append(backend)
        return backend

    async def open(self, model_cls: type[BaseModel]) -> Api:
        """A ready backend for ``model_cls``, initialised through the API under test."""
        api = Api(self.backend(model_cls), self.mode)
        await api.initialize()
        return api

    async def close(self, api: Api) -> None:
        """Close one backend through the API under test (closing again at teardown is harmless)."""
        await api.close()

    def require(self, capability: str) -> None:
        if not getattr(self.caps, capability):
            pytest.skip(reason=f"{self.factory.name} lacks capability {capability!r}")

    async def close_all(self) -> None:
        for backend in reversed(self._opened):
            if self.mode == "async":
                await backend.close()
            else:
                backend.close_sync()


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> BackendFactory:
    """The backend kind under test (one parametrization per entry of ``BACKENDS``)."""
    return BACKENDS[request.param]


@pytest.fixture(params=["async", "sync"])
def api(request: pytest.FixtureRequest) -> str:
    """Which API the test drives: the coroutines or their ``_sync`` twins."""
    mode: str = request.param
    return mode


@pytest.fixture
async def db(backend: BackendFactory, api: str, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    with backend.database(request) as location:
        database = Database(backend, location, api)
        try:
            yield database
        finally:
            await database.close_all()
