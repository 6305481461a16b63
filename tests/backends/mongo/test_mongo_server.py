"""The throwaway MongoDB test server and the session's database bookkeeping."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import ServerSelectionTimeoutError

from mindtrace.database.testing.mongo_server import (
    MONGODB_URI_ENV,
    MongoServer,
    MongoTestTarget,
    secantus_binary,
)
from mindtrace.database.testing.mongo_server import mongo_test_target as target_from_env


def ping(url: str) -> Any:
    with MongoClient(url, serverSelectionTimeoutMS=500) as client:
        return client.admin.command("ping")


def test_server_answers_until_stopped() -> None:
    assert secantus_binary() is not None
    server = MongoServer().start()
    url = server.url
    try:
        assert url.startswith("mongodb://127.0.0.1:")
        assert ping(url)["ok"] == 1
    finally:
        server.stop()
    with pytest.raises(ServerSelectionTimeoutError):
        ping(url)
    with pytest.raises(RuntimeError):
        server.url  # noqa: B018 - no URL once stopped
    server.stop()  # idempotent


def test_target_names_are_unique_and_dropped(mongo_test_target: MongoTestTarget) -> None:
    target = MongoTestTarget(mongo_test_target.url, external=True)
    names = [target.new_database_name("x") for _ in range(3)]
    assert len(set(names)) == 3 and all(n.startswith("x_") for n in names)
    with MongoClient(target.url) as client:
        for name in names:
            client[name]["c"].insert_one({"a": 1})
        assert set(names) <= set(client.list_database_names())
        target.drop_databases()
        assert set(names).isdisjoint(client.list_database_names())


def test_mongodb_uri_selects_an_existing_server(
    monkeypatch: pytest.MonkeyPatch, mongo_test_target: MongoTestTarget
) -> None:
    monkeypatch.setenv(MONGODB_URI_ENV, mongo_test_target.url)
    with target_from_env() as target:
        assert target.external and target.url == mongo_test_target.url
        name = target.new_database_name()
        with MongoClient(target.url) as client:
            client[name]["c"].insert_one({"a": 1})
    with MongoClient(mongo_test_target.url) as client:
        assert name not in client.list_database_names()
