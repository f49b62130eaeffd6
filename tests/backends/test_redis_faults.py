"""Network faults: a server that dies and comes back, connections killed under the saver.
A write that failed says so (StorageError, quickly); a write that returned is never lost.
Each test runs its own redis-server (AOF on, fsync always, so a restart keeps data)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import redis_servers
from tests.contract.conftest import checkpoint, config
from zerograph.errors import StorageError


@pytest.fixture
def durable() -> Iterator[redis_servers.RedisServer]:
    """A redis-server of this test's own, appending every write to its AOF."""
    redis_servers.require()
    with tempfile.TemporaryDirectory(prefix="zerograph-redis-fault-") as tmp:
        server = redis_servers.RedisServer(Path(tmp), "--appendonly", "yes", "--appendfsync", "always").start()
        try:
            yield server
        finally:
            server.stop()


def make(flavour: str, url: str) -> Any:
    from zerograph.checkpoint.redis import AsyncRedisSaver, RedisSaver

    return (AsyncRedisSaver if flavour == "async" else RedisSaver).from_url(url, key_prefix="faults")


class Calls:
    """The saver's sync methods, or its a* twins on one event loop."""

    def __init__(self, saver: Any, flavour: str) -> None:
        self.saver = saver
        self.loop = asyncio.new_event_loop() if flavour == "async" else None

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.loop is None:
            return getattr(self.saver, name)(*args, **kwargs)
        return self.loop.run_until_complete(getattr(self.saver, "a" + name)(*args, **kwargs))

    def list(self, cfg: Any) -> list[Any]:
        if self.loop is None:
            return list(self.saver.list(cfg))

        async def drain() -> list[Any]:
            return [t async for t in self.saver.alist(cfg)]

        return self.loop.run_until_complete(drain())

    def close(self) -> None:
        self.saver.close()
        if self.loop is not None:
            self.loop.close()


def step(call: Calls, i: int, parent: str | None) -> dict:
    versions = {"a": f"{i + 1:032}.0", "big": f"{i + 1:032}.0"}
    cfg = call("put", config("t", "", parent), checkpoint({"a": i, "big": [i] * 200}, versions), {"step": i}, versions)
    call("put_writes", cfg, [("a", -i), ("__interrupt__", f"ask {i}")], f"task-{i}", "~p")
    return cfg


def check(call: Calls, steps: int) -> None:
    got = call.list(config("t"))
    assert sorted(t.checkpoint["channel_values"]["a"] for t in got) == list(range(steps))
    for t in got:
        i = t.checkpoint["channel_values"]["a"]
        assert t.checkpoint["channel_values"]["big"] == [i] * 200
        assert t.pending_writes == [(f"task-{i}", "__interrupt__", f"ask {i}"), (f"task-{i}", "a", -i)]
    assert call("thread_info", "t").bytes == call("storage_report", "t").total_bytes


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_restart_mid_run_fails_loudly_and_loses_nothing(durable: redis_servers.RedisServer, flavour: str) -> None:
    """Kill -9 the server mid-run: the next write raises StorageError within seconds;
    once it is back the same saver carries on, and every write that returned is there."""
    call = Calls(make(flavour, durable.url), flavour)
    try:
        parent = None
        for i in range(5):
            parent = step(call, i, parent)["configurable"]["checkpoint_id"]
        durable.kill()
        started = time.monotonic()
        with pytest.raises(StorageError, match="connection|Redis"):
            step(call, 5, parent)
        assert time.monotonic() - started < 10
        durable.start()  # same port, same directory: the AOF is replayed
        parent = step(call, 5, parent)["configurable"]["checkpoint_id"]  # the retry is safe
        for i in range(6, 8):
            parent = step(call, i, parent)["configurable"]["checkpoint_id"]
        check(call, 8)
    finally:
        call.close()


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_killed_connections_are_replaced_transparently(durable: redis_servers.RedisServer, flavour: str) -> None:
    """CLIENT KILL between (and during a burst of) operations: reads and idempotent
    writes go on through a new connection; nothing is lost or duplicated."""
    call = Calls(make(flavour, durable.url), flavour)
    try:
        parent = None
        for i in range(12):
            if i % 3 == 0:
                durable.cli("CLIENT", "KILL", "TYPE", "normal")
            parent = step(call, i, parent)["configurable"]["checkpoint_id"]
            if i % 4 == 0:
                durable.cli("CLIENT", "KILL", "TYPE", "normal")
                assert call("get_tuple", config("t")).checkpoint["channel_values"]["a"] == i
        check(call, 12)
    finally:
        call.close()


def test_server_gone_for_good_is_a_clear_error_on_reads_too(durable: redis_servers.RedisServer) -> None:
    """Reads, lists and thread operations all raise StorageError naming Redis."""
    call = Calls(make("sync", durable.url), "sync")
    try:
        step(call, 0, None)
        durable.stop()
        for fn in (
            lambda: call("get_tuple", config("t")),
            lambda: call.list(None),
            lambda: call("delete_thread", "t"),
            lambda: call("list_threads"),
        ):
            with pytest.raises(StorageError, match="Redis"):
                fn()
    finally:
        call.close()
