"""Where the database file lives: path argument, MINDTRACE_DB_PATH, XDG default, memory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from mindtrace.database import DatabaseError
from mindtrace.database.backends.local.database_path import (
    ENV_VAR,
    default_database_path,
    resolve_database_path,
)
from mindtrace.database.backends.local_odm_backend import LocalODMBackend

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="XDG applies to POSIX systems")


class Thing(BaseModel):
    name: str


def test_path_argument_wins_and_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {ENV_VAR: str(tmp_path / "env.db")}
    assert resolve_database_path("rel.db", env) == str(tmp_path / "rel.db")
    assert resolve_database_path(tmp_path / "p.db", env) == str(tmp_path / "p.db")


def test_environment_variable_when_no_path(tmp_path: Path) -> None:
    assert resolve_database_path(None, {ENV_VAR: str(tmp_path / "env.db")}) == str(tmp_path / "env.db")


def test_home_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_database_path("~/x.db", {}) == str(tmp_path / "x.db")


@posix_only
def test_xdg_data_home_then_local_share(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_database_path({"XDG_DATA_HOME": str(tmp_path / "xdg")}) == (
        tmp_path / "xdg" / "mindtrace" / "database.sqlite3"
    )
    expected = tmp_path / "home" / ".local" / "share" / "mindtrace" / "database.sqlite3"
    assert default_database_path({}) == expected
    # The XDG spec says relative values are invalid and must be ignored.
    assert default_database_path({"XDG_DATA_HOME": "relative/dir"}) == expected
    assert resolve_database_path(None, {}) == str(expected)


def test_memory_and_empty() -> None:
    assert resolve_database_path(":memory:", {ENV_VAR: "/somewhere.db"}) == ":memory:"
    with pytest.raises(ValueError, match="empty"):
        resolve_database_path("", {})


@posix_only
def test_backend_without_path_uses_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "nested" / "dir" / "from-env.sqlite3"
    monkeypatch.setenv(ENV_VAR, str(target))
    with LocalODMBackend(Thing) as things:
        things.insert_sync(Thing(name="a"))
        assert things.path == str(target)
    assert target.exists()  # the directory was created on first use
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with LocalODMBackend(Thing) as things:
        assert things.path == str(tmp_path / "data" / "mindtrace" / "database.sqlite3")
        assert things.count_sync() == 0


def test_memory_databases_are_private_to_their_backend() -> None:
    with LocalODMBackend(Thing, ":memory:") as a, LocalODMBackend(Thing, ":memory:") as b:
        a.insert_sync(Thing(name="a"))
        assert (a.count_sync(), b.count_sync()) == (1, 0)


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DatabaseError, match="directory"):
        LocalODMBackend(Thing, blocker / "db.sqlite3").initialize_sync()
    assert os.path.isfile(blocker)
