"""Threads as a first-class thing: list_threads, thread_info, TTL sweeps, tombstones,
retention by age, storage reports. Every backend, sync and async, with a fake clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_saver
from tests.contract.conftest import Driver, Timeline, checkpoint, config
from zerograph.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tdrv(backend: str, flavour: str, tmp_path: Path, clock: Clock) -> Iterator[Driver]:
    """A driver whose saver has a fake clock and a one-hour TTL."""
    saver = make_saver(backend, flavour, tmp_path, clock=clock, ttl=timedelta(hours=1))
    d = Driver(saver, flavour)
    yield d
    d.close()
    saver.close()


def all_threads(drv: Driver, **kwargs: Any) -> list[str]:
    out, cursor = [], None
    while True:
        page = drv.list_threads(cursor=cursor, **kwargs)
        out += [t.thread_id for t in page.threads]
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def test_list_threads_newest_first_with_a_cursor(tdrv: Driver, clock: Clock) -> None:
    """Pages of list_threads cover every thread once, most recently updated first."""
    for n in range(23):
        Timeline(tdrv, f"t{n:02d}").step({"a": n})
        clock.tick()
    assert all_threads(tdrv, limit=5) == [f"t{n:02d}" for n in reversed(range(23))]
    first = tdrv.list_threads(limit=10)
    assert len(first) == 10 and first.next_cursor is not None
    assert tdrv.list_threads(limit=100).next_cursor is None


def test_cursor_is_stable_under_concurrent_writes(tdrv: Driver, clock: Clock) -> None:
    """Threads written during paging move to the front; the others appear exactly once."""
    lines = {}
    for n in range(20):
        lines[n] = Timeline(tdrv, f"t{n:02d}")
        lines[n].step({"a": n})
        clock.tick()
    seen, cursor, touched = [], None, set()
    while True:
        page = tdrv.list_threads(limit=4, cursor=cursor)
        seen += [t.thread_id for t in page]
        for n in (len(seen), len(seen) + 1):  # write to threads not yet listed
            if n < 20 and 19 - n not in touched:
                clock.tick()
                lines[19 - n].step({"a": -1})
                touched.add(19 - n)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))
    untouched = {f"t{n:02d}" for n in range(20) if n not in touched}
    assert untouched <= set(seen)


def test_thread_info_summarises_the_thread(tdrv: Driver, clock: Clock) -> None:
    """Count over all namespaces, namespaces, newest root checkpoint and its metadata, bytes."""
    root, sub = Timeline(tdrv, "t"), Timeline(tdrv, "t", "sub:1")
    created = clock()
    root.step({"a": 1}, metadata={"user": "u1"})
    clock.tick(5)
    sub.step({"s": 1})
    cfg = root.step({"a": 2}, metadata={"user": "u2"})
    tdrv.put_writes(cfg, [("a", "x" * 100)], "task")
    info = tdrv.thread_info("t")
    assert info.thread_id == "t"
    assert info.created_at == created and info.updated_at == clock()
    assert info.checkpoints == 3
    assert info.namespaces == ("", "sub:1")
    assert info.latest_checkpoint_id == root.ids[-1]
    assert info.metadata["user"] == "u2"
    Timeline(tdrv, "t", "sub:empty").step({"e": None}, absent=("e",))  # a channel with no value
    info = tdrv.thread_info("t")
    assert info.checkpoints == 4
    report = tdrv.storage_report("t")
    assert info.bytes == report.total_bytes == report.by_thread["t"] > 100
    assert report.by_channel["a"] > 100 and report.checkpoint_bytes > 0
    assert tdrv.thread_info("nope") is None
    assert tdrv.has_thread("t") and not tdrv.has_thread("nope")


def test_list_threads_filters(tdrv: Driver, clock: Clock) -> None:
    """filter matches the newest root checkpoint's metadata; updated_after/before bound time."""
    Timeline(tdrv, "a").step({"x": 1}, metadata={"user": "u1"})
    clock.tick(10)
    mid = clock()
    Timeline(tdrv, "b").step({"x": 1}, metadata={"user": "u2"})
    clock.tick(10)
    line = Timeline(tdrv, "c")
    line.step({"x": 1}, metadata={"user": "u2"})
    line.step({"x": 2}, metadata={"user": "u1"})
    assert all_threads(tdrv, filter={"user": "u1"}) == ["c", "a"]
    assert all_threads(tdrv, filter={"user": "u2"}) == ["b"]
    assert all_threads(tdrv, filter={"missing": None}) == ["c", "b", "a"]
    assert all_threads(tdrv, filter={"user' OR 1=1 --": "u1"}) == []
    assert all_threads(tdrv, updated_after=mid - 1) == ["c", "b"]
    assert all_threads(tdrv, updated_before=mid) == ["a"]
    with pytest.raises(ConfigError, match="cursor"):
        tdrv.list_threads(cursor="not-a-cursor")
    with pytest.raises(ConfigError, match="limit"):
        tdrv.list_threads(limit=0)


def test_ttl_sweep_removes_untouched_threads_whole(tdrv: Driver, clock: Clock) -> None:
    """sweep() deletes threads idle longer than ttl, with all namespaces, values and writes."""
    old, fresh = Timeline(tdrv, "old"), Timeline(tdrv, "fresh")
    cfg = old.step({"a": 1})
    Timeline(tdrv, "old", "sub:1").step({"a": 1})
    tdrv.put_writes(cfg, [("a", 2)], "task")
    clock.tick(1800)
    fresh.step({"a": 1})
    clock.tick(1801)  # old: idle 3601 s; fresh: 1801 s
    assert tdrv.sweep() == 1
    assert not tdrv.has_thread("old") and tdrv.has_thread("fresh")
    assert tdrv.list({"configurable": {"thread_id": "old"}}) == []
    assert tdrv.storage_report("old").total_bytes == 0
    assert tdrv.sweep() == 0
    clock.tick(3600)
    assert tdrv.sweep() == 1 and tdrv.list_threads().threads == []


def test_deleted_thread_stays_deleted(tdrv: Driver) -> None:
    """A late put or put_writes from the deleted timeline does not resurrect the thread."""
    line = Timeline(tdrv, "t")
    cfg = line.step({"a": 1})
    tdrv.delete_thread("t")
    tdrv.put_writes(cfg, [("a", 2)], "late-task")
    late = tdrv.put(cfg, checkpoint({"a": 3}, {"a": "9"}), {}, {"a": "9"})
    assert late["configurable"]["thread_id"] == "t"
    Timeline(tdrv, "t", "sub:1").step({"a": "sub"})  # a subgraph's first put is not a fresh start
    assert not tdrv.has_thread("t") and tdrv.get_tuple(config("t")) is None
    assert tdrv.list(None) == []
    fresh = Timeline(tdrv, "t")  # starting over from scratch is allowed
    fresh.step({"a": "new"})
    assert tdrv.get_tuple(config("t")).checkpoint["channel_values"] == {"a": "new"}


def test_prune_older_than_keeps_the_newest(tdrv: Driver) -> None:
    """older_than drops checkpoints older than a time (by their own ts), never a namespace's newest."""
    line = Timeline(tdrv, "t")
    for i in range(4):
        line.step({"a": i})
    tdrv.prune(["t"], older_than=timedelta(days=1))  # all written just now: all kept
    assert len(tdrv.list(config("t"))) == 4
    tdrv.prune(["t"], older_than=datetime.now(timezone.utc) + timedelta(minutes=1))  # all older
    assert [c.config["configurable"]["checkpoint_id"] for c in tdrv.list(config("t"))] == [line.ids[-1]]
    assert tdrv.get_tuple(config("t")).checkpoint["channel_values"] == {"a": 3}
    old = (datetime.now(timezone.utc) - timedelta(days=2)).isoformat()
    parent, ids = None, []
    for i in range(5):
        cp = checkpoint({"a": i}, {"a": f"{i + 1}"}, ts=old if i < 3 else datetime.now(timezone.utc).isoformat())
        parent = tdrv.put(config("u", "", parent), cp, {}, {"a": f"{i + 1}"})["configurable"]["checkpoint_id"]
        ids.append(parent)
    tdrv.prune(["u"], older_than=timedelta(days=1))
    assert [c.config["configurable"]["checkpoint_id"] for c in tdrv.list(config("u"))] == ids[:2:-1]


def test_sweep_never_splits_a_thread_being_written(backend: str, tmp_path: Path) -> None:
    """A thread written while sweeps run is either kept whole or gone whole."""
    clock = Clock()
    saver = make_saver(backend, "sync", tmp_path, clock=clock, ttl=1.0)
    drv = Driver(saver, "sync")
    stop = threading.Event()

    def sweeper() -> None:
        while not stop.is_set():
            clock.tick(0.7)
            saver.sweep()

    worker = threading.Thread(target=sweeper)
    worker.start()
    try:
        for n in range(30):
            line = Timeline(drv, f"t{n}")
            for i in range(5):
                line.head = None if i == 0 else line.head
                line.step({"a": i, "b": [i] * 10})
    finally:
        stop.set()
        worker.join(30)
    for tup in saver.list(None):
        assert set(tup.checkpoint["channel_values"]) == {"a", "b"}
    saver.close()


def test_background_sweeper(backend: str, tmp_path: Path) -> None:
    """sweep_interval runs sweeps on a daemon thread; close() stops it."""
    import time

    clock = Clock()
    saver = make_saver(backend, "sync", tmp_path, clock=clock, ttl=10, sweep_interval=0.02)
    try:
        Timeline(Driver(saver, "sync"), "t").step({"a": 1})
        clock.tick(11)
        deadline = time.monotonic() + 10
        while saver.has_thread("t") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not saver.has_thread("t")
    finally:
        saver.close()
    with pytest.raises(ConfigError, match="ttl"):
        make_saver(backend, "sync", tmp_path, sweep_interval=1)
