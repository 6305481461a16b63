"""Fixtures of the MongoDB backend's tests: a database per test and a command recorder."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pymongo import monitoring

from mindtrace.database.backends.mongo.bindings import BeanieBindings
from mindtrace.database.backends.mongo.clients import MongoClients
from mindtrace.database.backends.mongo_odm_backend import MongoMindtraceODMBackend
from mindtrace.database.testing.mongo_server import MongoTestTarget


@dataclass
class Sent:
    name: str
    database: str
    thread: int
    command: dict[str, Any]


@dataclass
class CommandLog(monitoring.CommandListener):
    """Every command the server was sent through clients that use this listener."""

    sent: list[Sent] = field(default_factory=list)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append(
            Sent(event.command_name, event.database_name, threading.get_ident(), dict(event.command))
        )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def names(self, database: str | None = None) -> list[str]:
        """Command names in order, optionally only those sent to ``database``."""
        return [s.name for s in self.sent if database is None or s.database == database]

    def clear(self) -> None:
        self.sent.clear()


@dataclass
class Setup:
    """A fresh database name on the test server, plus private client pool and bindings."""

    url: str
    db_name: str
    target: MongoTestTarget
    log: CommandLog
    clients: MongoClients
    bindings: BeanieBindings
    opened: list[MongoMindtraceODMBackend[Any]] = field(default_factory=list)

    def backend(self, model_cls: type[Any], db_name: str | None = None, **kwargs: Any) -> Any:
        """A backend on this test's database (or ``db_name``), closed at teardown."""
        kwargs.setdefault("clients", self.clients)
        kwargs.setdefault("bindings", self.bindings)
        backend = MongoMindtraceODMBackend(model_cls, self.url, db_name or self.db_name, **kwargs)
        self.opened.append(backend)
        return backend


@pytest.fixture
async def mongo(mongo_test_target: MongoTestTarget) -> AsyncIterator[Setup]:
    log = CommandLog()
    setup = Setup(
        url=mongo_test_target.url,
        db_name=mongo_test_target.new_database_name(),
        target=mongo_test_target,
        log=log,
        clients=MongoClients(event_listeners=[log]),
        bindings=BeanieBindings(),
    )
    try:
        yield setup
    finally:
        for backend in reversed(setup.opened):
            await backend.close()
