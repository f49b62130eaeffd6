"""Thread-level operations: delete_thread, delete_for_runs, copy_thread, prune, and the
delta-channel history walk they must never break."""

from __future__ import annotations

import uuid

import pytest

from tests.contract.conftest import Driver, Timeline, checkpoint, config
from zerograph.errors import ConfigError


def tid() -> str:
    return f"t-{uuid.uuid4()}"


def snapshot(drv: Driver, thread_id: str) -> list[tuple]:
    """Everything a thread holds, in a comparable form."""
    return [
        (c.config, c.checkpoint["channel_values"], c.checkpoint["channel_versions"], c.metadata, c.parent_config, c.pending_writes)
        for c in drv.list({"configurable": {"thread_id": thread_id}})
    ]


def test_delete_thread_removes_every_namespace_only_there(drv: Driver) -> None:
    """delete_thread drops all namespaces, writes and values of one thread."""
    t, other = tid(), tid()
    for thread in (t, other):
        for ns in ("", "sub:1"):
            cfg = Timeline(drv, thread, ns).step({"a": ns})
            drv.put_writes(cfg, [("a", "w")], "task")
    kept = snapshot(drv, other)
    drv.delete_thread(t)
    assert drv.list({"configurable": {"thread_id": t}}) == []
    assert drv.get_tuple(config(t, "sub:1")) is None
    assert snapshot(drv, other) == kept
    drv.delete_thread(t)  # unknown thread: a no-op


def test_delete_for_runs_removes_exactly_the_run(drv: Driver) -> None:
    """Checkpoints whose metadata run_id is listed go, with their writes; others stay."""
    t = tid()
    line, sub = Timeline(drv, t), Timeline(drv, t, "sub:1")
    a1 = line.step({"a": 1}, run_id="run-a")
    sub.step({"s": 1}, run_id="run-a")
    drv.put_writes(a1, [("a", "wa")], "task")
    b1 = line.step({"a": 2}, run_id="run-b")
    drv.put_writes(b1, [("a", "wb")], "task")
    other = Timeline(drv, tid())
    other.step({"a": 9}, run_id="run-c")
    drv.delete_for_runs(["run-a"])
    left = drv.list({"configurable": {"thread_id": t}})
    assert [c.config["configurable"]["checkpoint_id"] for c in left] == [line.ids[1]]
    assert left[0].checkpoint["channel_values"] == {"a": 2}
    assert left[0].pending_writes == [("task", "a", "wb")]
    assert drv.get_pending_writes(a1) == []
    assert len(drv.list(config(other.thread_id))) == 1
    drv.delete_for_runs([])
    drv.delete_for_runs(["no-such-run"])
    assert len(drv.list(None, filter={"run_id": "run-c"})) == 1


def test_copy_thread_keeps_ids_namespaces_parents_and_writes(drv: Driver) -> None:
    """The copy is the same history under a new thread id; the source is unchanged."""
    src, dst = tid(), tid()
    line, sub = Timeline(drv, src), Timeline(drv, src, "sub:x")
    for i in range(3):
        cfg = line.step({"a": i, "b": "same"} if i == 0 else {"a": i})
        drv.put_writes(cfg, [("a", i), ("__interrupt__", "ask")], f"task-{i}", f"~path, {i}")
        sub.step({"s": i})
    before = snapshot(drv, src)
    drv.copy_thread(src, dst)
    assert snapshot(drv, src) == before

    def renamed(rows: list[tuple]) -> list[tuple]:
        def fix(cfg: dict | None) -> dict | None:
            return None if cfg is None else {"configurable": {**cfg["configurable"], "thread_id": dst}}
        return [(fix(c), v, ver, md, fix(p), w) for c, v, ver, md, p, w in rows]

    assert snapshot(drv, dst) == renamed(before)


def test_copy_thread_refuses_a_non_empty_target(drv: Driver) -> None:
    """Copying onto a thread that has checkpoints raises and changes nothing."""
    src, dst = tid(), tid()
    Timeline(drv, src).step({"a": 1})
    Timeline(drv, dst).step({"a": 2})
    kept = snapshot(drv, dst)
    with pytest.raises(ConfigError, match="already has checkpoints"):
        drv.copy_thread(src, dst)
    assert snapshot(drv, dst) == kept
    drv.copy_thread(tid(), tid())  # unknown source: nothing to copy, no error


def test_prune_keep_latest_and_keep_last(drv: Driver) -> None:
    """keep_latest keeps each namespace's newest; keep_last=N its newest N; values survive."""
    t = tid()
    line, sub = Timeline(drv, t), Timeline(drv, t, "sub:1")
    for i in range(6):
        line.step({"a": i, "big": "x" * 100} if i == 0 else {"a": i})
        sub.step({"s": i})
    drv.prune([t], keep_last=3)
    assert [c.config["configurable"]["checkpoint_id"] for c in drv.list(config(t))] == line.ids[:2:-1]
    assert len(drv.list(config(t, "sub:1"))) == 3
    drv.prune([t], strategy="keep_latest")
    latest = drv.list(config(t))
    assert [c.config["configurable"]["checkpoint_id"] for c in latest] == [line.ids[-1]]
    assert latest[0].checkpoint["channel_values"] == {"a": 5, "big": "x" * 100}
    assert len(drv.list(config(t, "sub:1"))) == 1


def test_prune_delete_and_bad_arguments(drv: Driver) -> None:
    """strategy='delete' removes the thread; unknown strategies and keep_last<1 are refused."""
    t, other = tid(), tid()
    Timeline(drv, t).step({"a": 1})
    Timeline(drv, other).step({"a": 1})
    drv.prune([t], strategy="delete")
    assert drv.list({"configurable": {"thread_id": t}}) == []
    assert len(drv.list(config(other))) == 1
    drv.prune([])
    with pytest.raises(ConfigError, match="strategy"):
        drv.prune([other], strategy="keep_oldest")
    with pytest.raises(ConfigError, match="keep_last"):
        drv.prune([other], keep_last=0)
    assert len(drv.list(config(other))) == 1


def test_prune_keeps_pending_interrupt_resumable(drv: Driver) -> None:
    """The kept head keeps its interrupt writes, so a paused thread can still resume."""
    line = Timeline(drv, tid())
    for i in range(4):
        cfg = line.step({"a": i})
    drv.put_writes(cfg, [("__interrupt__", ["approve?"])], "task-h", "~__pregel_pull, human")
    drv.prune([line.thread_id])
    assert drv.get_tuple(config(line.thread_id)).pending_writes == [("task-h", "__interrupt__", ["approve?"])]


def delta_thread(drv: Driver, steps: int, snapshot_every: int) -> Timeline:
    """A thread whose channel 'd' is stored only every few steps and otherwise rebuilt
    from writes, the way DeltaChannel stores it (and Pregel's metadata names it)."""
    line = Timeline(drv, tid())
    total: list[int] = []
    cfg = line.step({"d": [], "plain": 0})
    for i in range(steps):
        drv.put_writes(cfg, [("d", i)], f"task-{i}", f"~path, {i}")
        total.append(i)
        since = (i + 1) % snapshot_every
        meta = {"counters_since_delta_snapshot": {"d": (since, since)}} if since else {}
        # 'plain' is consumed every step (versioned, no value): it needs no ancestor
        cfg = line.step({"d": list(total), "plain": None}, absent=("d", "plain") if since else ("plain",), metadata=meta)
    return line


def rebuild(drv: Driver, thread_id: str, checkpoint_id: str | None = None) -> list[int]:
    hist = drv.get_delta_channel_history(config=config(thread_id, "", checkpoint_id), channels=["d"])["d"]
    return list(hist.get("seed", [])) + [v for _, _, v in hist["writes"]]


def test_delta_history_seed_and_writes(drv: Driver) -> None:
    """Walk to the nearest stored value; writes oldest to newest; the target's own excluded."""
    line = delta_thread(drv, steps=10, snapshot_every=4)
    assert rebuild(drv, line.thread_id) == list(range(10))
    hist = drv.get_delta_channel_history(config=config(line.thread_id), channels=["d", "missing"])
    assert hist["d"]["seed"] == list(range(8))
    assert [v for _, _, v in hist["d"]["writes"]] == [8, 9]
    assert hist["missing"] == {"writes": []}
    assert rebuild(drv, line.thread_id, line.ids[3]) == [0, 1, 2]
    assert drv.get_delta_channel_history(config=config(line.thread_id), channels=[]) == {}


def test_delta_history_follows_parents_not_id_order(drv: Driver) -> None:
    """A fork whose ids do not sort in parent order still walks its own ancestors."""
    t = tid()
    ids = ["c", "a", "d", "b"]  # parent chain c -> a -> d -> b; id order differs
    parent = None
    for i, cid in enumerate(ids):
        cp = checkpoint({"d": [0]} if i == 0 else {}, {"d": f"{i + 1}"}, id=cid)
        cfg = drv.put(config(t, "", parent), cp, {}, {"d": f"{i + 1}"})
        drv.put_writes(cfg, [("d", i + 1)], "task")
        parent = cid
    hist = drv.get_delta_channel_history(config=config(t, "", "b"), channels=["d"])["d"]
    assert hist["seed"] == [0]
    assert [v for _, _, v in hist["writes"]] == [1, 2, 3]


@pytest.mark.parametrize("how", ["keep_latest", "keep_last", "delete_for_runs"])
def test_pruning_never_breaks_delta_reconstruction(drv: Driver, how: str) -> None:
    """After pruning, the kept head still rebuilds its delta channel in full."""
    line = delta_thread(drv, steps=13, snapshot_every=5)
    expected = rebuild(drv, line.thread_id)
    assert expected == list(range(13))
    if how == "keep_latest":
        drv.prune([line.thread_id])
    elif how == "keep_last":
        drv.prune([line.thread_id], keep_last=2)
    else:
        drv.delete_for_runs(["no-run"])
    assert rebuild(drv, line.thread_id) == expected
    kept = len(drv.list(config(line.thread_id)))
    # the head, two unsnapshotted parents and the snapshot they rebuild from
    assert kept == (len(line.ids) if how == "delete_for_runs" else 4)
