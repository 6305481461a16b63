"""Throwaway MongoDB-compatible servers for tests: SecantusDB on a free loopback port, or ``MONGODB_URI``.

Test-only. SecantusDB (PyPI ``secantusdb``, GPL) is started as a separate process from its
``secantusd-py`` executable and never imported, so nothing in the package's runtime depends on it.
Its data lives in memory and disappears with the process.

    with MongoServer() as server:                   # SecantusDB, ready to answer ``ping``
        backend = MongoMindtraceODMBackend(User, server.url, "test")

    with mongo_test_target() as target:              # MONGODB_URI if set, else SecantusDB
        name = target.new_database_name()            # unique per session, dropped at exit
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from pymongo import MongoClient
from pymongo.errors import PyMongoError

__all__ = ["MONGODB_URI_ENV", "MongoServer", "MongoTestTarget", "mongo_test_target", "secantus_binary"]

MONGODB_URI_ENV = "MONGODB_URI"
"""Environment variable naming a real MongoDB server to test against instead of SecantusDB."""

_START_TIMEOUT = 30.0
_EXECUTABLE = "secantusd-py"


def secantus_binary() -> Path | None:
    """The ``secantusd-py`` executable: on PATH, else next to the running Python; None if absent."""
    found = shutil.which(_EXECUTABLE)
    if found:
        return Path(found)
    sibling = Path(sys.executable).parent / _EXECUTABLE
    return sibling if sibling.is_file() else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _answers_ping(url: str, timeout: float) -> bool:
    client: MongoClient[dict[str, Any]] = MongoClient(
        url, serverSelectionTimeoutMS=int(timeout * 1000), connectTimeoutMS=int(timeout * 1000)
    )
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


class MongoServer:
    """One SecantusDB process on 127.0.0.1, in-memory storage; a context manager.

    ``start`` returns once the server answers ``ping``; raises ``RuntimeError`` (with the server's
    log) if it exits or does not answer within ``start_timeout`` seconds, and ``FileNotFoundError``
    when ``secantusd-py`` is not installed (``pip install secantusdb``).
    """

    def __init__(self, *, start_timeout: float = _START_TIMEOUT) -> None:
        self.start_timeout = start_timeout
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        """``mongodb://127.0.0.1:PORT``; only valid once started."""
        if self.port is None:
            raise RuntimeError("the MongoDB test server is not running; call start() first")
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self) -> Self:
        binary = secantus_binary()
        if binary is None:
            raise FileNotFoundError(
                f"{_EXECUTABLE} not found on PATH or next to {sys.executable}; install the test "
                "dependency with `pip install secantusdb`, or set MONGODB_URI to a MongoDB server"
            )
        self._dir = tempfile.TemporaryDirectory(prefix="mindtrace-secantus-")
        workdir = Path(self._dir.name)
        # An explicit (empty) config file stops SecantusDB from picking up a secantusd.toml from
        # the working directory or the user's home, which could turn on auth or TLS.
        config = workdir / "secantusd.toml"
        config.write_text("")
        log_path = workdir / "server.log"
        for _attempt in range(3):  # the free port may be taken between probing and binding
            self.port = _free_port()
            with log_path.open("wb") as log:
                self._process = subprocess.Popen(
                    [
                        str(binary),
                        "--config",
                        str(config),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(self.port),
                        "--storage-path",
                        ":memory:",
                        "--log-level",
                        "WARNING",
                    ],
                    cwd=workdir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            if self._wait_ready():
                return self
            self._terminate()
        log_text = log_path.read_text(errors="replace")[-4000:]
        self.stop()
        raise RuntimeError(f"SecantusDB did not start within {self.start_timeout:.0f}s; its log:\n{log_text}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return False
            if _answers_ping(self.url, 0.5):
                return True
            time.sleep(0.1)
        return False

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server and delete its directory; idempotent."""
        self._terminate()
        self.port = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class MongoTestTarget:
    """A server for one test session and the databases the session created on it.

    Database names are unique to the session (``<prefix>_<session>_<n>``), so several sessions
    (or xdist workers) can share one external server; ``drop_databases`` removes them all.
    """

    def __init__(self, url: str, *, external: bool) -> None:
        self.url = url
        self.external = external
        self._session = uuid.uuid4().hex[:8]
        self._counter = itertools.count(1)
        self._created: list[str] = []

    def new_database_name(self, prefix: str = "mt") -> str:
        """A database name nobody else uses; it is dropped by ``drop_databases``."""
        name = f"{prefix}_{self._session}_{next(self._counter)}"
        self._created.append(name)
        return name

    def drop_databases(self) -> None:
        """Drop every database handed out by ``new_database_name``."""
        if not self._created:
            return
        client: MongoClient[dict[str, Any]] = MongoClient(self.url, serverSelectionTimeoutMS=5000)
        try:
            for name in self._created:
                client.drop_database(name)
        finally:
            client.close()
            self._created.clear()


@contextlib.contextmanager
def mongo_test_target(url: str | None = None) -> Iterator[MongoTestTarget]:
    """The server to test against: ``url``, else ``$MONGODB_URI``, else a fresh SecantusDB.

    On exit the databases created through the target are dropped (on an external server) or the
    SecantusDB process is stopped.
    """
    url = url or os.environ.get(MONGODB_URI_ENV) or None
    if url:
        target = MongoTestTarget(url, external=True)
        try:
            yield target
        finally:
            target.drop_databases()
        return
    with MongoServer() as server:
        yield MongoTestTarget(server.url, external=False)
