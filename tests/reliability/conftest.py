"""Shared fixtures of the reliability tests: worker processes, a reproducible random source,
short/soak variants, and the figures (kills survived, writes verified...) printed after the run.

* ``process_context``: a ``multiprocessing`` context for worker processes. ``forkserver`` with
  the package preloaded, so a worker starts in milliseconds rather than re-importing everything
  (the crash test starts hundreds); workers never inherit an open database connection.
* ``rng``: a ``random.Random`` seeded from ``$RELIABILITY_SEED``, else a fixed seed in
  ``make test`` and a fresh one in soak variants; the seed is recorded as a figure so that a
  failing run can be replayed.
* ``short_and_soak(short, soak)``: two parametrizations of a test, the second marked ``soak``
  (``make test`` runs the short one, ``make soak`` the long one).
* ``figure(name, value)``: records a measured number for the run's summary (also under xdist).
* ``store``: a throwaway database on every backend kind of the conformance suite;
  ``store.open(Model)`` gives a ready backend (the hostile-input tests run on each).
"""

from __future__ import annotations

import multiprocessing
import os
import random
from collections.abc import Callable, Iterator
from multiprocessing.context import ForkServerContext, SpawnContext
from typing import Any, TypeVar

import pytest
from _pytest.mark.structures import ParameterSet

from tests.conformance.backends import BACKENDS, BackendFactory
from tests.conftest import FIGURE_PREFIX, exploring

T = TypeVar("T")

SEED_ENV = "RELIABILITY_SEED"
"""Environment variable fixing the random seed of every reliability test (to replay a failure)."""


WorkerContext = ForkServerContext | SpawnContext
"""What ``process_context`` returns (both have ``Process``, ``Queue``, ``Barrier``...)."""

# Imported once by the fork server, not by every worker: what workers need most.
_PRELOAD = [
    "pytest",  # test modules hold the workers' entry points, and import it
    "pydantic",
    "mindtrace.database",
    "mindtrace.database.backends.local_odm_backend",
    "tests.reliability",
    "tests.reliability.test_unique_races",  # with the Redis and MongoDB backends its workers use
    "tests.reliability.test_lost_updates",
]


@pytest.fixture(scope="session")
def process_context() -> WorkerContext:
    """Start method for worker processes: ``forkserver`` (package preloaded) where available,
    else ``spawn``. Never plain ``fork``: a forked worker could inherit SQLite or socket state."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


FIXED_SEED = 20240501
"""The seed of every short variant in ``make test`` (unless ``$RELIABILITY_SEED`` is set)."""


@pytest.fixture
def rng(request: pytest.FixtureRequest, figure: Callable[[str, Any], None]) -> random.Random:
    """A random source for this test, its seed recorded as a figure: ``$RELIABILITY_SEED`` if set;
    else a fresh one for soak variants and under the ``soak`` Hypothesis profile (exploration),
    and ``FIXED_SEED`` otherwise, so ``make test`` draws the same values on every run."""
    if os.environ.get(SEED_ENV):
        seed = int(os.environ[SEED_ENV])
    elif request.node.get_closest_marker("soak") is not None or exploring():
        seed = random.SystemRandom().randrange(2**32)
    else:
        seed = FIXED_SEED
    figure("seed", seed)
    return random.Random(f"{seed}:{request.node.nodeid}")


@pytest.fixture
def figure(record_property: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    """``figure(name, value)``: a number this test measured, printed in the run's summary."""

    def record(name: str, value: Any) -> None:
        record_property(FIGURE_PREFIX + name, value)

    return record


def short_and_soak(short: T, soak: T) -> list[ParameterSet]:
    """Parameters for ``pytest.mark.parametrize``: ``short`` (ids "short") runs in ``make test``,
    ``soak`` (id "soak", marked ``soak``) only in ``make soak``."""
    return [pytest.param(short, id="short"), pytest.param(soak, id="soak", marks=pytest.mark.soak)]


# ----------------------------------------------------------------------------- every backend


class Store:
    """A throwaway database on one backend kind (``BACKENDS`` of the conformance suite):
    ``open(Model)`` gives a ready backend (initialised, closed at teardown), driven sync."""

    def __init__(self, factory: BackendFactory, location: Any) -> None:
        self.kind: str = factory.name
        self.factory = factory
        self.location = location
        self.opened: list[Any] = []

    @property
    def engine_based(self) -> bool:
        """Local and Redis run queries in the package's engine; MongoDB runs them on the server."""
        return self.kind != "mongo"

    def open(self, model: type[Any]) -> Any:
        backend = self.factory.open(self.location, model)
        self.opened.append(backend)
        backend.initialize_sync()
        return backend


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """One throwaway database per backend kind (local-memory, local-file, mongo, redis, valkey)."""
    factory = BACKENDS[request.param]
    with factory.database(request) as location:
        opened = Store(factory, location)
        try:
            yield opened
        finally:
            for backend in reversed(opened.opened):
                backend.close_sync()
