"""put_writes and list(): ordering, overwrite rules, filters, paging."""

from __future__ import annotations

import inspect
import uuid

import pytest
from langgraph.checkpoint.base import WRITES_IDX_MAP

from tests.contract.conftest import Driver, Timeline, checkpoint, config
from zerograph.errors import ConfigError


def tid() -> str:
    return f"t-{uuid.uuid4()}"


def head(drv: Driver, **values: object) -> dict:
    return drv.put(config(tid()), checkpoint(dict(values), {k: "1" for k in values}), {}, {k: "1" for k in values})


def test_put_writes_declares_task_path(drv: Driver) -> None:
    """Pregel only passes task_path to savers whose put_writes declares it."""
    for name in ("put_writes", "aput_writes"):
        assert "task_path" in inspect.signature(getattr(drv.saver, name)).parameters


def test_pending_writes_follow_writes_sort_key(drv: Driver) -> None:
    """Ordered by (task_path, task_id, idx): path-less writes first, specials first in a task."""
    cfg = head(drv)
    drv.put_writes(cfg, [("x", "b0"), ("y", "b1")], "task-b", "~__pregel_pull, b")
    drv.put_writes(cfg, [("x", "a0"), ("__error__", "boom")], "task-z", "~__pregel_pull, a")
    drv.put_writes(cfg, [("x", "input")], "00000000-0000-0000-0000-000000000000", "")
    got = drv.get_tuple(cfg).pending_writes
    assert got == [
        ("00000000-0000-0000-0000-000000000000", "x", "input"),
        ("task-z", "__error__", "boom"),
        ("task-z", "x", "a0"),
        ("task-b", "x", "b0"),
        ("task-b", "y", "b1"),
    ]
    assert drv.get_pending_writes(cfg) == got


def test_ordinary_writes_are_insert_if_absent(drv: Driver) -> None:
    """A retried task's duplicate write (same task_id, idx) keeps the first value."""
    cfg = head(drv)
    drv.put_writes(cfg, [("x", 1)], "t1")
    drv.put_writes(cfg, [("x", 2)], "t1")
    assert drv.get_tuple(cfg).pending_writes == [("t1", "x", 1)]


@pytest.mark.parametrize("channel", sorted(WRITES_IDX_MAP))
def test_special_writes_overwrite(drv: Driver, channel: str) -> None:
    """ERROR, SCHEDULED, INTERRUPT and RESUME replace an earlier write of the same task."""
    cfg = head(drv)
    drv.put_writes(cfg, [(channel, "first")], "t1")
    drv.put_writes(cfg, [(channel, "second")], "t1")
    assert drv.get_tuple(cfg).pending_writes == [("t1", channel, "second")]


def test_mixed_batch_is_decided_per_write(drv: Driver) -> None:
    """Pregel's resume batch [RESUME, ordinary]: the special one overwrites, the other doesn't."""
    cfg = head(drv)
    drv.put_writes(cfg, [("__resume__", "old"), ("items", "kept")], "t1")
    drv.put_writes(cfg, [("__resume__", "new"), ("items", "ignored")], "t1")
    assert drv.get_tuple(cfg).pending_writes == [("t1", "__resume__", "new"), ("t1", "items", "kept")]


def test_writes_belong_to_one_checkpoint_and_namespace(drv: Driver) -> None:
    """Writes are stored per (thread, ns, checkpoint); a new checkpoint starts with none."""
    line = Timeline(drv, tid())
    first = line.step({"a": 1})
    drv.put_writes(first, [("a", 2)], "t1")
    second = line.step({"a": 2})
    assert drv.get_tuple(second).pending_writes == []
    assert drv.get_tuple(first).pending_writes == [("t1", "a", 2)]
    other_ns = config(line.thread_id, "sub:1", first["configurable"]["checkpoint_id"])
    assert drv.get_pending_writes(other_ns) == []


def test_list_newest_first_all_namespaces_and_limit(drv: Driver) -> None:
    """A thread-only config lists every namespace, newest first; limit=None means all."""
    t = tid()
    root, sub = Timeline(drv, t), Timeline(drv, t, "sub:1")
    for i in range(3):
        root.step({"a": i})
        sub.step({"a": i})
    everything = drv.list({"configurable": {"thread_id": t}})
    ids = [c.config["configurable"]["checkpoint_id"] for c in everything]
    assert ids == sorted(root.ids + sub.ids, reverse=True)
    assert len(drv.list(config(t))) == 3  # checkpoint_ns "" is a filter
    assert len(drv.list(config(t, "sub:1"))) == 3
    assert len(drv.list({"configurable": {"thread_id": t}}, limit=4)) == 4
    assert drv.list({"configurable": {"thread_id": t}}, limit=0) == []


def test_list_pages_through_long_threads(drv: Driver) -> None:
    """More checkpoints than one page come back complete, ordered, with their writes."""
    line = Timeline(drv, tid())
    for i in range(150):
        cfg = line.step({"a": i} if i % 10 == 0 else {"b": i})
        if i % 7 == 0:
            drv.put_writes(cfg, [("a", i)], f"task-{i}")
    got = drv.list(config(line.thread_id))
    assert [c.config["configurable"]["checkpoint_id"] for c in got] == line.ids[::-1]
    by_id = {c.config["configurable"]["checkpoint_id"]: c for c in got}
    for i, cid in enumerate(line.ids):
        assert by_id[cid].pending_writes == ([(f"task-{i}", "a", i)] if i % 7 == 0 else [])
        assert by_id[cid].checkpoint["channel_values"]["a"] == i - i % 10
    assert len(drv.list(config(line.thread_id), limit=100)) == 100


def test_list_before_without_thread_id_and_from_another_namespace(drv: Driver) -> None:
    """Replay lists a subgraph ns with before={checkpoint_id: <root id>}, limit=1."""
    t = tid()
    root, sub = Timeline(drv, t), Timeline(drv, t, "sub:abc")
    sub.step({"s": 0})
    root.step({"r": 0})
    sub.step({"s": 1})
    root.step({"r": 1})
    got = drv.list(config(t, "sub:abc"), before={"configurable": {"checkpoint_id": root.ids[0]}}, limit=1)
    assert [c.config["configurable"]["checkpoint_id"] for c in got] == [sub.ids[0]]
    got = drv.list(config(t, "sub:abc"), before={"configurable": {"checkpoint_id": root.ids[1]}}, limit=1)
    assert [c.config["configurable"]["checkpoint_id"] for c in got] == [sub.ids[1]]


def test_list_none_spans_threads_newest_first(drv: Driver) -> None:
    """list(None) returns every thread's checkpoints, ordered by checkpoint id."""
    lines = [Timeline(drv, tid()) for _ in range(3)]
    for i in range(2):
        for line in lines:
            line.step({"a": i})
    ids = [c.config["configurable"]["checkpoint_id"] for c in drv.list(None)]
    mine = {cid for line in lines for cid in line.ids}
    assert [i for i in ids if i in mine] == sorted(mine, reverse=True)


def test_list_metadata_filters(drv: Driver) -> None:
    """Filters are equality on top-level keys; None matches a missing key; 1 == True."""
    t = tid()
    line = Timeline(drv, t)
    line.step({"a": 0}, metadata={"source": "input", "user": "u1", "nested": {"k": [1, 2]}})
    line.step({"a": 1}, metadata={"user": "u2", "flag": True})
    line.step({"a": 2}, metadata={"user": "u1", "flag": None})

    def ids(**f: object) -> list[str]:
        return [c.config["configurable"]["checkpoint_id"] for c in drv.list(config(t), filter=f)]

    assert ids(user="u1") == [line.ids[2], line.ids[0]]
    assert ids(user="u1", source="loop") == [line.ids[2]]
    assert ids(nested={"k": [1, 2]}) == [line.ids[0]]
    assert ids(nested={"k": [2, 1]}) == []
    assert ids(flag=None) == [line.ids[2], line.ids[0]]
    assert ids(flag=1) == [line.ids[1]]
    assert ids(step=1.0) == [line.ids[1]]
    assert ids(user="nobody") == []
    assert ids() == line.ids[::-1]


@pytest.mark.parametrize(
    "key",
    ["a') OR 1=1 --", "$.x", "user\x00", "%", "_", "*", "a.b", "' UNION SELECT * FROM threads --"],
)
def test_filter_keys_are_data_not_sql(drv: Driver, key: str) -> None:
    """Hostile filter keys (CVE-2025-67644's shape) match nothing and break nothing."""
    line = Timeline(drv, tid())
    line.step({"a": 0}, metadata={"user": "u1"})
    assert drv.list(config(line.thread_id), filter={key: "u1"}) == []
    assert drv.list(None, filter={key: 1}) == []
    assert len(drv.list(config(line.thread_id))) == 1


@pytest.mark.parametrize("limit", [-1, "5", 1.5, True])
def test_bad_limit_is_refused(drv: Driver, limit: object) -> None:
    """limit must be None or a non-negative int."""
    with pytest.raises(ConfigError, match="limit"):
        drv.list(None, limit=limit)


def test_bad_filter_is_refused(drv: Driver) -> None:
    """filter must be a dict with str keys."""
    with pytest.raises(ConfigError, match="filter"):
        drv.list(None, filter=[("a", 1)])
    with pytest.raises(ConfigError, match="filter"):
        drv.list(None, filter={1: "a"})
