"""put / get_tuple: what Pregel relies on when it stores and reloads a checkpoint."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver as LangGraphSaver

from tests.contract.conftest import Driver, Timeline, checkpoint, config
from zerograph.errors import ConfigError


def tid() -> str:
    return f"t-{uuid.uuid4()}"


def test_is_a_langgraph_saver(drv: Driver) -> None:
    """Pregel only accepts subclasses of LangGraph's BaseCheckpointSaver."""
    assert isinstance(drv.saver, LangGraphSaver)


def test_put_returns_exactly_the_three_keys(drv: Driver) -> None:
    """put returns {thread_id, checkpoint_ns, checkpoint_id} and nothing from the input config."""
    cp = checkpoint({}, {})
    out = drv.put(config(tid(), "", None, user="u", __pregel_runtime=object()), cp, {}, {})
    assert set(out["configurable"]) == {"thread_id", "checkpoint_ns", "checkpoint_id"}
    assert out["configurable"]["checkpoint_id"] == cp["id"]


def test_checkpoint_id_none_means_no_parent(drv: Driver) -> None:
    """Pregel passes checkpoint_id=None explicitly for a thread's first put."""
    t = tid()
    out = drv.put(config(t, "", None), checkpoint({}, {}), {}, {})
    tup = drv.get_tuple(config(t, "", None))
    assert tup.parent_config is None
    assert tup.config == out


def test_metadata_merges_config_metadata_and_scalar_configurable(drv: Driver) -> None:
    """run_id and user keys reach stored metadata only through the saver's merge."""
    t = tid()
    cfg = config(t, "", None, user_id="u1", n=3, flag=True, obj=object(), __secret="x")
    cfg["metadata"] = {"tag": "m", "run_id": "r-1"}
    drv.put(cfg, checkpoint({}, {}), {"source": "loop", "step": 0, "parents": {}}, {})
    md = drv.get_tuple(config(t)).metadata
    assert md == {"source": "loop", "step": 0, "parents": {}, "tag": "m", "run_id": "r-1", "user_id": "u1", "n": 3, "flag": True}


def test_unchanged_channels_load_from_earlier_versions(drv: Driver) -> None:
    """Only channels in new_versions are written; the others still load."""
    line = Timeline(drv, tid())
    line.step({"a": [1], "b": {"x": 1}})
    line.step({"a": [1, 2]})
    line.step({"a": [1, 2, 3]})
    tup = drv.get_tuple(config(line.thread_id))
    assert tup.checkpoint["channel_values"] == {"a": [1, 2, 3], "b": {"x": 1}}
    first = drv.get_tuple(config(line.thread_id, "", line.ids[0]))
    assert first.checkpoint["channel_values"] == {"a": [1], "b": {"x": 1}}


def test_channel_without_version_is_not_loaded(drv: Driver) -> None:
    """A value not in channel_versions is not part of the checkpoint."""
    t = tid()
    drv.put(config(t), checkpoint({"a": 1, "stray": 2}, {"a": "1"}), {}, {"a": "1", "stray": "1"})
    assert drv.get_tuple(config(t)).checkpoint["channel_values"] == {"a": 1}


def test_absent_value_with_a_version_loads_as_missing(drv: Driver) -> None:
    """A channel versioned but without a value (DeltaChannel between snapshots) stays absent."""
    line = Timeline(drv, tid())
    line.step({"a": 1, "d": None}, absent=("d",))
    values = drv.get_tuple(config(line.thread_id)).checkpoint["channel_values"]
    assert values == {"a": 1}


def test_history_is_immune_to_later_mutation(drv: Driver) -> None:
    """Mutating an object after put does not change what was stored."""
    t = tid()
    value = {"k": [1]}
    drv.put(config(t), checkpoint({"a": value}, {"a": "1"}), {}, {"a": "1"})
    value["k"].append(2)
    loaded = drv.get_tuple(config(t)).checkpoint["channel_values"]["a"]
    assert loaded == {"k": [1]}
    loaded["k"].append(3)
    assert drv.get_tuple(config(t)).checkpoint["channel_values"]["a"] == {"k": [1]}


def test_get_tuple_latest_by_id_and_missing(drv: Driver) -> None:
    """No id gives the newest; an unknown id or thread gives None."""
    line = Timeline(drv, tid())
    for i in range(3):
        line.step({"a": i})
    assert drv.get_tuple(config(line.thread_id)).config["configurable"]["checkpoint_id"] == line.ids[-1]
    mid = drv.get_tuple(config(line.thread_id, "", line.ids[1]))
    assert mid.checkpoint["channel_values"] == {"a": 1}
    assert mid.parent_config == config(line.thread_id, "", line.ids[0])
    assert drv.get_tuple(config(line.thread_id, "", "nope")) is None
    assert drv.get_tuple(config(tid())) is None


def test_namespaces_are_separate(drv: Driver) -> None:
    """A subgraph namespace (with ':' in it) is its own timeline."""
    t = tid()
    root, sub = Timeline(drv, t), Timeline(drv, t, "sub:1234|inner:5")
    root.step({"a": "root"})
    sub.step({"a": "sub"})
    assert drv.get_tuple(config(t)).checkpoint["channel_values"] == {"a": "root"}
    assert drv.get_tuple(config(t, "sub:1234|inner:5")).checkpoint["channel_values"] == {"a": "sub"}


def test_reads_never_create_entries(drv: Driver) -> None:
    """get_tuple / list / pending writes on an unknown thread leave list(None) unchanged."""
    before = drv.list(None)
    t = tid()
    assert drv.get_tuple(config(t)) is None
    assert drv.list(config(t)) == []
    assert drv.get_pending_writes(config(t, "", "x")) == []
    assert drv.get_delta_channel_history(config=config(t), channels=["a"]) == {"a": {"writes": []}}
    assert drv.list(None) == before


def test_non_str_thread_id_is_stringified(drv: Driver) -> None:
    """Pregel str()s thread ids; an int thread id names the same thread."""
    drv.put(config(7), checkpoint({}, {}), {}, {})  # type: ignore[arg-type]
    assert drv.get_tuple(config("7")) is not None


@pytest.mark.parametrize("bad", [None, {}, {"configurable": {}}, {"configurable": {"checkpoint_ns": ""}}])
def test_missing_thread_id_is_a_clear_error(drv: Driver, bad: Any) -> None:
    """A config without thread_id raises ConfigError (a ValueError) that names the fix."""
    with pytest.raises(ConfigError, match="thread_id"):
        drv.get_tuple(bad)
    with pytest.raises(ValueError, match="thread_id"):
        drv.put(bad, checkpoint({}, {}), {}, {})


def test_next_version_is_monotonic_and_langgraph_shaped(drv: Driver) -> None:
    """Versions compare as strings in order, accept None/int/str, and match LangGraph's shape."""
    saver = drv.saver
    v, seen = None, []
    for _ in range(12):
        v = saver.get_next_version(v, None)
        seen.append(v)
    assert seen == sorted(seen) and len(set(seen)) == 12
    assert seen[0].startswith("0" * 31 + "1.")
    assert saver.get_next_version(5, None).startswith(f"{6:032}.")
    assert type(saver.get_next_version(None, None))() == ""


def test_pre_v4_pending_sends_load_from_parent_task_writes(drv: Driver) -> None:
    """A v<4 checkpoint gets its sends from the parent's __pregel_tasks writes, like Postgres."""
    from langgraph.types import Send

    t = tid()
    parent = checkpoint({"a": 1}, {"a": "1"}, v=1, pending_sends=[])
    p_cfg = drv.put(config(t), parent, {}, {"a": "1"})
    drv.put_writes(p_cfg, [("__pregel_tasks", Send("node", {"x": 1})), ("__pregel_tasks", Send("node", {"x": 2}))], "task-1")
    child = checkpoint({"a": 1}, {"a": "1"}, v=1, pending_sends=[])
    drv.put(p_cfg, child, {}, {})
    loaded = drv.get_tuple(config(t)).checkpoint
    assert loaded["channel_values"]["__pregel_tasks"] == [Send("node", {"x": 1}), Send("node", {"x": 2})]
    assert "__pregel_tasks" in loaded["channel_versions"]
