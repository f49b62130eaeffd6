"""Shared fixtures: every backend, in both flavours, built the same way.

`make_saver(backend, flavour, tmp_path)` is the one place tests create savers, so a new
backend joins every contract, conformance and graph test by being added to BACKENDS.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import redis_servers

_NO_REDIS = pytest.mark.skipif(
    not redis_servers.available() and not redis_servers.IN_CI,
    reason="redis-server not found (needed for the Redis backends); apt-get install redis-server",
)
BACKENDS = [
    "memory",
    "sqlite-file",
    "sqlite-memory",
    # a real redis-server / 3-node Redis Cluster, started on loopback on first use
    pytest.param("redis", marks=_NO_REDIS),
    pytest.param("redis-cluster", marks=_NO_REDIS),
]
FLAVOURS = ["sync", "async"]


def make_saver(backend: str, flavour: str, tmp_path: Path, **kwargs: Any) -> Any:
    """A fresh saver of `backend`; the async flavour of SQLite is `AsyncSqliteSaver`."""
    if backend == "memory":
        from zerograph.checkpoint.memory import InMemorySaver

        return InMemorySaver(**kwargs)
    if backend in ("redis", "redis-cluster"):
        # RedisSaver / AsyncRedisSaver with a fresh key prefix: isolated from every
        # other saver on the session's server, list(None) included.
        cluster = backend == "redis-cluster"
        url = redis_servers.cluster_url() if cluster else redis_servers.standalone_url()
        from zerograph.checkpoint.redis import AsyncRedisSaver, RedisSaver

        cls = AsyncRedisSaver if flavour == "async" else RedisSaver
        kwargs.setdefault("key_prefix", f"zgt{uuid.uuid4().hex[:12]}")
        return cls.from_url(url, cluster=cluster, **kwargs)
    from zerograph.checkpoint.sqlite import AsyncSqliteSaver, SqliteSaver

    cls = AsyncSqliteSaver if flavour == "async" else SqliteSaver
    if backend == "sqlite-file":
        return cls(tmp_path / "checkpoints.db", **kwargs)
    if backend == "sqlite-memory":
        return cls(":memory:", **kwargs)
    raise ValueError(f"unknown backend {backend}")


@pytest.fixture(scope="session", autouse=True)
def _stop_redis_servers() -> Iterator[None]:
    """Stop the Redis servers tests started, when the session ends."""
    yield
    redis_servers.stop_all()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def saver(backend: str, flavour: str, tmp_path: Path) -> Iterator[Any]:
    """A fresh saver for each backend x flavour, closed afterwards."""
    s = make_saver(backend, flavour, tmp_path)
    yield s
    s.close()
