"""The contract suite's driver: one set of tests, run over every backend x {sync, async}.

A test calls `drv.put(...)`, `drv.list(...)` and so on; the driver sends the call to the
sync method or awaits the `a*` twin on a private event loop, so each contract test is
written once and never checks which backend or flavour it runs on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from langgraph.checkpoint.base.id import uuid6


class Driver:
    def __init__(self, saver: Any, flavour: str) -> None:
        self.saver = saver
        self.flavour = flavour
        self._loop = asyncio.new_event_loop() if flavour == "async" else None

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self._loop is None:
            return getattr(self.saver, name)(*args, **kwargs)
        return self._loop.run_until_complete(getattr(self.saver, "a" + name)(*args, **kwargs))

    def list(self, config: Any, **kwargs: Any) -> list[Any]:
        if self._loop is None:
            return [*self.saver.list(config, **kwargs)]

        async def collect() -> list[Any]:
            return [t async for t in self.saver.alist(config, **kwargs)]

        return self._loop.run_until_complete(collect())

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: self.call(name, *a, **k)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()


@pytest.fixture
def drv(saver: Any, flavour: str) -> Iterator[Driver]:
    d = Driver(saver, flavour)
    yield d
    d.close()


def config(thread_id: str, ns: str = "", checkpoint_id: str | None = None, **extra: Any) -> dict:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id, **extra}}


def checkpoint(values: dict, versions: dict, *, id: str | None = None, v: int = 4, **extra: Any) -> dict:
    """A checkpoint shaped like the ones Pregel writes."""
    return {
        "v": v,
        "id": id or str(uuid6(clock_seq=-1)),
        "ts": datetime.now(timezone.utc).isoformat(),
        "channel_values": values,
        "channel_versions": versions,
        "versions_seen": {},
        "updated_channels": None,
        **extra,
    }


class Timeline:
    """Writes a chain of checkpoints the way Pregel does: versions from the saver's
    `get_next_version`, only changed channels in `new_versions`, parent = previous id."""

    def __init__(self, drv: Driver, thread_id: str, ns: str = "") -> None:
        self.drv, self.thread_id, self.ns = drv, thread_id, ns
        self.values: dict[str, Any] = {}
        self.versions: dict[str, str] = {}
        self.head: str | None = None
        self.ids: list[str] = []

    def step(self, changes: dict[str, Any], *, metadata: dict | None = None, absent: tuple[str, ...] = (), **cfg: Any) -> dict:
        new_versions = {}
        for ch, value in changes.items():
            self.versions[ch] = self.drv.saver.get_next_version(self.versions.get(ch), None)
            new_versions[ch] = self.versions[ch]
            if ch in absent:
                self.values.pop(ch, None)
            else:
                self.values[ch] = value
        cp = checkpoint(dict(self.values), dict(self.versions))
        meta = {"source": "loop", "step": len(self.ids), "parents": {}, **(metadata or {})}
        out = self.drv.put(config(self.thread_id, self.ns, self.head, **cfg), cp, meta, new_versions)
        self.head = out["configurable"]["checkpoint_id"]
        self.ids.append(self.head)
        return out
