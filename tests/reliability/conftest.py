"""Shared fixtures of the reliability tests: worker processes, a reproducible random source,
short/soak variants, and the figures (kills survived, writes verified...) printed after the run.

* ``process_context``: a ``multiprocessing`` context for worker processes. ``forkserver`` with
  the package preloaded, so a worker starts in milliseconds rather than re-importing everything
  (the crash test starts hundreds); workers never inherit an open database connection.
* ``rng``: a ``random.Random`` seeded from ``$RELIABILITY_SEED`` or at random; the seed is
  recorded as a figure so that a failing run can be replayed.
* ``short_and_soak(short, soak)``: two parametrizations of a test, the second marked ``soak``
  (``make test`` runs the short one, ``make soak`` the long one).
* ``figure(name, value)``: records a measured number for the run's summary (also under xdist).
"""

from __future__ import annotations

import multiprocessing
import os
import random
from collections.abc import Callable
from multiprocessing.context import BaseContext
from typing import Any, TypeVar

import pytest
from _pytest.mark.structures import ParameterSet
from _pytest.terminal import TerminalReporter

T = TypeVar("T")

SEED_ENV = "RELIABILITY_SEED"
"""Environment variable fixing the random seed of every reliability test (to replay a failure)."""

FIGURE_PREFIX = "figure:"

# Imported once by the fork server, not by every worker: what workers need most.
_PRELOAD = [
    "pydantic",
    "mindtrace.database",
    "mindtrace.database.backends.local_odm_backend",
    "tests.reliability",
    "tests.reliability.test_unique_races",  # with the Redis and MongoDB backends its workers use
]


@pytest.fixture(scope="session")
def process_context() -> BaseContext:
    """Start method for worker processes: ``forkserver`` (package preloaded) where available,
    else ``spawn``. Never plain ``fork``: a forked worker could inherit SQLite or socket state."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


@pytest.fixture
def rng(request: pytest.FixtureRequest, figure: Callable[[str, Any], None]) -> random.Random:
    """A random source for this test; seed from ``$RELIABILITY_SEED`` else fresh, and recorded."""
    seed = int(os.environ.get(SEED_ENV) or random.SystemRandom().randrange(2**32))
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


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    # Reports reach the controller under xdist too, with their user_properties.
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            found = [
                f"{name[len(FIGURE_PREFIX) :]}={value}"
                for name, value in getattr(report, "user_properties", ())
                if isinstance(name, str) and name.startswith(FIGURE_PREFIX)
            ]
            if found:
                lines.append(f"{report.nodeid} [{report.outcome}]: {', '.join(found)}")
    if lines:
        terminalreporter.section("reliability figures")
        for line in sorted(lines):
            terminalreporter.write_line(line)
