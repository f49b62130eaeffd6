"""Real Redis servers for the tests: a standalone server and a 3-node Redis Cluster, each
started on free loopback ports in a temporary directory, without persistence, the first
time a test needs it, and stopped when the session ends (or the process exits).

Locally, a missing `redis-server` skips the Redis tests with a reason; under `CI=true`
it fails them, so CI can never go green without having run them.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

__all__ = ["RedisServer", "available", "cluster_url", "require", "standalone_url", "stop_all"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
INSTALL_HINT = "install it with `apt-get install redis-server` (Debian/Ubuntu) or `brew install redis`"


def _missing() -> str | None:
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH; {INSTALL_HINT}"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "redis-py is not installed: pip install -e '.[dev]'"
    return None


def available() -> bool:
    return _missing() is None


def require() -> None:
    """Skip (locally) or fail (CI=true) the calling test if Redis cannot be run."""
    reason = _missing()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"Redis tests cannot run under CI=true: {reason}")
    pytest.skip(reason)


def free_port(*, with_bus: bool = False) -> int:
    """A free loopback port (and, for cluster nodes, its bus port +10000)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port > 55000:
            continue
        if with_bus:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free loopback port found")


class RedisServer:
    """One `redis-server` process we started and will stop."""

    def __init__(self, directory: Path, *args: str, port: int | None = None, cluster: bool = False) -> None:
        self.directory = directory
        self.port = port or free_port(with_bus=cluster)
        self.args = list(args)
        self.cluster = cluster
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        cmd = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
            "--logfile", str(self.directory / "redis.log"),
        ]
        if self.cluster:
            cmd += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{self.port}.conf", "--cluster-node-timeout", "3000"]
        cmd += self.args  # later options override earlier ones
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_ready()
        return self

    def cli(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
            capture_output=True, text=True, timeout=30, check=False,
        )
        if check and out.returncode != 0:
            raise RuntimeError(f"redis-cli {' '.join(args)} failed: {out.stderr or out.stdout}")
        return out.stdout.strip()

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {log}")
            if self.cli("PING", check=False) == "PONG":
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not answer within {timeout}s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        """Stop abruptly, like a crash."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


class RedisCluster:
    """Three masters, no replicas, slots spread by `redis-cli --cluster create`."""

    def __init__(self, directory: Path) -> None:
        self.nodes: list[RedisServer] = []
        self.directory = directory

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisCluster:
        ports: list[int] = []
        while len(ports) < 3:
            port = free_port(with_bus=True)
            if port not in ports and all(abs(port - p) != 10000 for p in ports):
                ports.append(port)
        for port in ports:
            self.nodes.append(RedisServer(self.directory / str(port), port=port, cluster=True).start())
        addresses = [f"127.0.0.1:{p}" for p in ports]
        out = subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        if out.returncode != 0:
            self.stop()
            raise RuntimeError(f"redis-cli --cluster create failed: {out.stdout}\n{out.stderr}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = [n.cli("CLUSTER", "INFO", check=False) for n in self.nodes]
            if all("cluster_state:ok" in s and "cluster_slots_assigned:16384" in s for s in states):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the test cluster did not reach cluster_state:ok")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


_lock = threading.Lock()
_started: dict[str, Any] = {}
_tmp: list[tempfile.TemporaryDirectory[str]] = []


def _scratch() -> Path:
    tmp = tempfile.TemporaryDirectory(prefix="zerograph-redis-")
    _tmp.append(tmp)
    return Path(tmp.name)


def standalone_url() -> str:
    """The URL of the session's standalone server, started on first use."""
    require()
    with _lock:
        if "standalone" not in _started:
            _started["standalone"] = RedisServer(_scratch() / "standalone").start()
        return _started["standalone"].url


def cluster_url() -> str:
    """The URL of one node of the session's 3-node cluster, started on first use."""
    require()
    with _lock:
        if "cluster" not in _started:
            _started["cluster"] = RedisCluster(_scratch() / "cluster").start()
        return _started["cluster"].url


def stop_all() -> None:
    with _lock:
        for server in _started.values():
            server.stop()
        _started.clear()
        while _tmp:
            _tmp.pop().cleanup()


atexit.register(stop_all)
