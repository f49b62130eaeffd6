"""Real LangGraph `StateGraph`s on every saver, through the sync and the async graph API.

Each test runs on the `saver` fixture (every backend x flavour). The `api` fixture makes
one test body drive either `invoke/stream/get_state/...` (sync flavour) or their
`a*` twins (async flavour, all on one event loop per test). Expected values are
written out by hand from the graph's definition, never read back from a saver.
"""

from __future__ import annotations

import asyncio
import operator
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any
from uuid import uuid4

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command, Send, StateSnapshot, interrupt
from typing_extensions import TypedDict

from tests.conftest import make_saver

try:
    from langgraph.channels import DeltaChannel
except ImportError:  # pragma: no cover - older langgraph
    DeltaChannel = None


class Api:
    """The sync graph/saver API, or its async twin run on one event loop: same calls."""

    def __init__(self, flavour: str) -> None:
        self.loop = asyncio.new_event_loop() if flavour == "async" else None

    def close(self) -> None:
        if self.loop is not None:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()

    def call(self, obj: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        """`obj.name(...)`, or `await obj.aname(...)` in the async flavour."""
        if self.loop is None:
            return getattr(obj, name)(*args, **kwargs)
        return self.loop.run_until_complete(getattr(obj, "a" + name)(*args, **kwargs))

    def collect(self, obj: Any, name: str, *args: Any, **kwargs: Any) -> list[Any]:
        """`list(obj.name(...))`, or the items of `obj.aname(...)` in the async flavour."""
        if self.loop is None:
            return list(getattr(obj, name)(*args, **kwargs))

        async def drain() -> list[Any]:
            return [item async for item in getattr(obj, "a" + name)(*args, **kwargs)]

        return self.loop.run_until_complete(drain())

    def invoke(self, graph: Any, inp: Any, config: Any, **kw: Any) -> Any:
        return self.call(graph, "invoke", inp, config, **kw)

    def stream(self, graph: Any, inp: Any, config: Any, **kw: Any) -> list[Any]:
        return self.collect(graph, "stream", inp, config, **kw)

    def state(self, graph: Any, config: Any, **kw: Any) -> StateSnapshot:
        return self.call(graph, "get_state", config, **kw)

    def history(self, graph: Any, config: Any, **kw: Any) -> list[StateSnapshot]:
        return self.collect(graph, "get_state_history", config, **kw)

    def update(self, graph: Any, config: Any, values: Any, **kw: Any) -> Any:
        return self.call(graph, "update_state", config, values, **kw)


@pytest.fixture
def api(flavour: str) -> Iterator[Api]:
    a = Api(flavour)
    yield a
    a.close()


# --- helpers -------------------------------------------------------------------------


def thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": str(uuid4())}}


def cid(config: Any) -> str:
    return config["configurable"]["checkpoint_id"]


class Log(TypedDict, total=False):
    log: Annotated[list, operator.add]


def chain(names: Sequence[str], calls: Counter[str], state: type = Log) -> StateGraph:
    """START -> names[0] -> ... -> END; each node appends its name to `log`."""

    def node(name: str) -> Any:
        def run(_: Any) -> dict[str, Any]:
            calls[name] += 1
            return {"log": [name]}

        return run

    builder = StateGraph(state)
    for name in names:
        builder.add_node(name, node(name))
    for a, b in zip([START, *names], [*names, END]):
        builder.add_edge(a, b)
    return builder


def assert_linear(history: list[StateSnapshot], steps: list[int]) -> None:
    """Newest first, each entry's parent is the next one, steps as given."""
    assert [h.metadata["step"] for h in history] == steps
    for newer, older in zip(history, history[1:]):
        assert newer.parent_config is not None and cid(newer.parent_config) == cid(older.config)
        assert cid(newer.config) > cid(older.config)
    assert history[-1].parent_config is None


# --- 1. interrupt + resume -----------------------------------------------------------


class Ask(TypedDict, total=False):
    name: str
    greeting: str


def test_interrupt_and_resume(api: Api, saver: Any) -> None:
    """interrupt() stops the run, the interrupt is stored, Command(resume=) finishes it."""
    calls: Counter[str] = Counter()

    def prep(state: Ask) -> Ask:
        calls["prep"] += 1
        return {"name": state["name"].title()}

    def ask(state: Ask) -> Ask:
        calls["ask"] += 1
        answer = interrupt({"question": f"greet {state['name']}?"})
        return {"greeting": f"{answer}, {state['name']}"}

    builder = StateGraph(Ask)
    builder.add_node("prep", prep)
    builder.add_node("ask", ask)
    builder.add_edge(START, "prep")
    builder.add_edge("prep", "ask")
    graph = builder.compile(checkpointer=saver)
    cfg = thread()

    out = api.invoke(graph, {"name": "ada"}, cfg)
    assert [i.value for i in out["__interrupt__"]] == [{"question": "greet Ada?"}]
    snap = api.state(graph, cfg)
    assert snap.values == {"name": "Ada"}
    assert snap.next == ("ask",)
    assert [t.name for t in snap.tasks] == ["ask"]
    assert [i.value for i in snap.tasks[0].interrupts] == [{"question": "greet Ada?"}]
    assert [i.id for i in snap.interrupts] == [i.id for i in out["__interrupt__"]]

    chunks = api.stream(graph, Command(resume="Hello"), cfg, stream_mode="values")
    assert chunks[-1] == {"name": "Ada", "greeting": "Hello, Ada"}
    final = api.state(graph, cfg)
    assert final.values == {"name": "Ada", "greeting": "Hello, Ada"}
    assert final.next == () and final.tasks == () and final.interrupts == ()
    assert calls == {"prep": 1, "ask": 2}  # prep's result came from the checkpoint


# --- 2. subgraphs --------------------------------------------------------------------


class Topic(TypedDict, total=False):
    topic: str
    answer: str


def test_subgraph_inherits_checkpointer_interrupt_resume(api: Api, saver: Any) -> None:
    """A subgraph using the parent's saver interrupts, shows its state, and resumes."""
    calls: Counter[str] = Counter()

    def prep(state: Topic) -> Topic:
        calls["prep"] += 1
        return {"topic": state["topic"].upper()}

    def ask(state: Topic) -> Topic:
        calls["ask"] += 1
        topic = state["topic"]
        return {"answer": f"{topic}: {interrupt(f'about {topic}?')}"}

    sub = StateGraph(Topic)
    sub.add_node("prep", prep)
    sub.add_node("ask", ask)
    sub.add_edge(START, "prep")
    sub.add_edge("prep", "ask")
    parent = StateGraph(Topic)
    parent.add_node("child", sub.compile())
    parent.add_node("finish", lambda s: {"answer": s["answer"] + "!"})
    parent.add_edge(START, "child")
    parent.add_edge("child", "finish")
    graph = parent.compile(checkpointer=saver)
    cfg = thread()

    out = api.invoke(graph, {"topic": "cats"}, cfg)
    assert [i.value for i in out["__interrupt__"]] == ["about CATS?"]
    snap = api.state(graph, cfg, subgraphs=True)
    assert snap.next == ("child",)
    (task,) = snap.tasks
    assert task.name == "child" and isinstance(task.state, StateSnapshot)
    assert task.state.values == {"topic": "CATS"}
    assert task.state.next == ("ask",)
    assert task.state.config["configurable"]["checkpoint_ns"].startswith("child:")
    assert [i.value for i in task.state.tasks[0].interrupts] == ["about CATS?"]

    final = api.invoke(graph, Command(resume="purr"), cfg)
    assert final == {"topic": "CATS", "answer": "CATS: purr!"}
    assert api.state(graph, cfg).next == ()
    assert calls == {"prep": 1, "ask": 2}


class Seen(TypedDict, total=False):
    x: int
    seen: list


class SubSeen(TypedDict, total=False):
    x: int
    seen: Annotated[list, operator.add]


class SubIn(TypedDict):
    x: int


def test_subgraph_own_checkpointer_keeps_state(api: Api, saver: Any) -> None:
    """A `checkpointer=True` subgraph keeps its own state across parent runs on a thread."""
    sub = StateGraph(SubSeen, input_schema=SubIn)
    sub.add_node("record", lambda s: {"seen": [s["x"]]})
    sub.add_edge(START, "record")
    parent = StateGraph(Seen)
    parent.add_node("child", sub.compile(checkpointer=True))
    parent.add_edge(START, "child")
    graph = parent.compile(checkpointer=saver)
    cfg = thread()

    assert api.invoke(graph, {"x": 1}, cfg) == {"x": 1, "seen": [1]}
    assert api.invoke(graph, {"x": 2}, cfg) == {"x": 2, "seen": [1, 2]}
    assert api.invoke(graph, {"x": 3}, cfg) == {"x": 3, "seen": [1, 2, 3]}
    # The subgraph's own namespace holds its latest state.
    sub_cfg = {"configurable": {**cfg["configurable"], "checkpoint_ns": "child"}}
    latest = api.call(saver, "get_tuple", sub_cfg)
    assert latest is not None and latest.checkpoint["channel_values"]["seen"] == [1, 2, 3]
    # A different thread starts the subgraph afresh.
    assert api.invoke(graph, {"x": 9}, thread()) == {"x": 9, "seen": [9]}


# --- 3. Send fan-out -----------------------------------------------------------------


class Fan(TypedDict, total=False):
    items: list[int]
    results: Annotated[list, operator.add]


def test_send_fan_out(api: Api, saver: Any) -> None:
    """Five parallel Send tasks all land in the reducer channel; history is consistent."""
    builder = StateGraph(Fan)
    builder.add_node("worker", lambda arg: {"results": [arg["n"] * 10]})
    builder.add_conditional_edges(
        START, lambda s: [Send("worker", {"n": n}) for n in s["items"]], ["worker"]
    )
    builder.add_edge("worker", END)
    graph = builder.compile(checkpointer=saver)
    cfg = thread()

    updates = api.stream(graph, {"items": [1, 2, 3, 4, 5]}, cfg, stream_mode="updates")
    assert sorted(u["worker"]["results"][0] for u in updates) == [10, 20, 30, 40, 50]
    final = api.state(graph, cfg)
    assert sorted(final.values["results"]) == [10, 20, 30, 40, 50]
    assert final.values["items"] == [1, 2, 3, 4, 5]

    history = api.history(graph, cfg)
    assert_linear(history, [1, 0, -1])
    assert history[0].values == final.values and history[0].next == ()
    assert history[1].next == ("worker",) * 5 and len(history[1].tasks) == 5
    assert history[1].values == {"items": [1, 2, 3, 4, 5], "results": []}


# --- 4. update_state -----------------------------------------------------------------


def test_update_state_as_node(api: Api, saver: Any) -> None:
    """update_state(as_node=) writes a source="update" checkpoint the run continues from."""
    graph = chain(["a", "b"], Counter()).compile(checkpointer=saver, interrupt_before=["b"])
    cfg = thread()

    assert api.invoke(graph, {"log": ["start"]}, cfg) == {"log": ["start", "a"]}
    before = api.state(graph, cfg)
    assert before.next == ("b",)

    updated_cfg = api.update(graph, cfg, {"log": ["human"]}, as_node="a")
    updated = api.state(graph, updated_cfg)
    assert updated.metadata["source"] == "update"
    assert updated.metadata["step"] == before.metadata["step"] + 1
    assert updated.values == {"log": ["start", "a", "human"]}
    assert updated.next == ("b",)
    assert cid(updated.parent_config) == cid(before.config)
    assert cid(api.state(graph, cfg).config) == cid(updated_cfg)

    assert api.invoke(graph, None, cfg) == {"log": ["start", "a", "human", "b"]}
    history = api.history(graph, cfg)
    assert [h.metadata["source"] for h in history] == ["loop", "update", "loop", "loop", "input"]
    assert_linear(history, [3, 2, 1, 0, -1])


# --- 5. history and time travel ------------------------------------------------------


def test_history_replay_and_fork(api: Api, saver: Any) -> None:
    """History is newest first and linked; replay and fork branch off, leaving it intact."""
    calls: Counter[str] = Counter()
    graph = chain(["a", "b", "c"], calls).compile(checkpointer=saver)
    cfg = thread()

    assert api.invoke(graph, {"log": ["start"]}, cfg) == {"log": ["start", "a", "b", "c"]}
    original = api.history(graph, cfg)
    assert_linear(original, [3, 2, 1, 0, -1])
    expected_logs = [["start", "a", "b", "c"], ["start", "a", "b"], ["start", "a"], ["start"], []]
    assert [h.values.get("log", []) for h in original] == expected_logs
    assert [h.next for h in original] == [(), ("c",), ("b",), ("a",), ("__start__",)]
    assert [h.metadata["source"] for h in original] == ["loop"] * 4 + ["input"]

    def intact() -> None:
        for h in original:
            again = api.state(graph, h.config)
            assert (again.values, again.next, again.metadata) == (h.values, h.next, h.metadata)

    # Replay from after "a": b and c run again, on a new branch.
    past = original[2]
    assert api.invoke(graph, None, past.config) == {"log": ["start", "a", "b", "c"]}
    assert calls == {"a": 1, "b": 2, "c": 2}
    after_replay = api.history(graph, cfg)
    old_ids = {cid(h.config) for h in original}
    branch = [h for h in after_replay if cid(h.config) not in old_ids]
    assert len(after_replay) == len(original) + len(branch) and branch
    assert branch[0].values == {"log": ["start", "a", "b", "c"]} and branch[0].next == ()
    assert cid(branch[-1].parent_config) == cid(past.config)
    for newer, older in zip(branch, branch[1:]):
        assert cid(newer.parent_config) == cid(older.config)
    assert cid(api.state(graph, cfg).config) == cid(branch[0].config)
    intact()

    # Fork: edit the same past checkpoint, then continue from the edit.
    fork_cfg = api.update(graph, past.config, {"log": ["edited"]})
    fork = api.state(graph, fork_cfg)
    assert fork.metadata["source"] == "update" and cid(fork.parent_config) == cid(past.config)
    assert fork.values == {"log": ["start", "a", "edited"]} and fork.next == ("b",)
    assert api.invoke(graph, None, fork_cfg) == {"log": ["start", "a", "edited", "b", "c"]}
    assert calls == {"a": 1, "b": 3, "c": 3}
    intact()
    everything = api.history(graph, cfg)
    ids = [cid(h.config) for h in everything]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert old_ids | {cid(h.config) for h in branch} < set(ids)
    known = set(ids)
    assert all(h.parent_config is None or cid(h.parent_config) in known for h in everything)


class Trail(TypedDict, total=False):
    log: Annotated[list, operator.add]
    trail: list


class SubTrail(TypedDict, total=False):
    trail: Annotated[list, operator.add]


def test_subgraph_replay(api: Api, saver: Any) -> None:
    """Replaying from a root checkpoint before a subgraph re-runs the subgraph afresh."""
    calls: Counter[str] = Counter()

    def step(name: str, key: str) -> Any:
        def run(_: Any) -> dict[str, Any]:
            calls[name] += 1
            return {key: [name]}

        return run

    sub = StateGraph(SubTrail)
    sub.add_node("s1", step("s1", "trail"))
    sub.add_node("s2", step("s2", "trail"))
    sub.add_edge(START, "s1")
    sub.add_edge("s1", "s2")
    parent = StateGraph(Trail)
    parent.add_node("p1", step("p1", "log"))
    parent.add_node("child", sub.compile())
    parent.add_node("p2", step("p2", "log"))
    parent.add_edge(START, "p1")
    parent.add_edge("p1", "child")
    parent.add_edge("child", "p2")
    graph = parent.compile(checkpointer=saver)
    cfg = thread()

    expected = {"log": ["start", "p1", "p2"], "trail": ["s1", "s2"]}
    assert api.invoke(graph, {"log": ["start"]}, cfg) == expected
    (root,) = [h for h in api.history(graph, cfg) if h.next == ("child",)]
    assert root.values == {"log": ["start", "p1"]}

    assert api.invoke(graph, None, root.config) == expected
    assert calls == {"p1": 1, "s1": 2, "s2": 2, "p2": 2}
    assert api.state(graph, cfg).values == expected


def test_persistent_subgraph_replay(api: Api, saver: Any) -> None:
    """Replay restores a checkpointer=True subgraph's state from before the replay point."""
    sub = StateGraph(SubSeen, input_schema=SubIn)
    sub.add_node("record", lambda s: {"seen": [s["x"]]})
    sub.add_edge(START, "record")
    parent = StateGraph(Seen)
    parent.add_node("child", sub.compile(checkpointer=True))
    parent.add_edge(START, "child")
    graph = parent.compile(checkpointer=saver)
    cfg = thread()
    for x in (1, 2, 3):
        api.invoke(graph, {"x": x}, cfg)

    roots = [h for h in api.history(graph, cfg) if h.next == ("child",)]
    assert [r.values for r in roots] == [{"x": 3, "seen": [1, 2]}, {"x": 2, "seen": [1]}, {"x": 1}]
    # Pregel loads the subgraph via list(ns "child", before=<root id>, limit=1): its
    # state as of run 1, so run 2 replays to [1, 2] (not [1, 2, 3] + [2]).
    assert api.invoke(graph, None, roots[1].config) == {"x": 2, "seen": [1, 2]}
    assert api.state(graph, cfg).values == {"x": 2, "seen": [1, 2]}


# --- 6. durability -------------------------------------------------------------------


@pytest.mark.parametrize("durability", ["exit", "async", "sync"])
def test_durability_modes(api: Api, saver: Any, durability: str) -> None:
    """Each durability mode stores a correct final state and a loadable history."""
    graph = chain(["a", "b", "c"], Counter()).compile(checkpointer=saver)
    cfg = thread()
    expected = {"log": ["start", "a", "b", "c"]}

    assert api.invoke(graph, {"log": ["start"]}, cfg, durability=durability) == expected
    assert api.state(graph, cfg).values == expected
    history = api.history(graph, cfg)
    assert history[0].values == expected and history[0].next == ()
    if durability == "exit":  # only the final checkpoint is written
        assert [h.metadata["step"] for h in history] == [3]
    else:
        assert_linear(history, [3, 2, 1, 0, -1])
        logs = [h.values.get("log", []) for h in history]
        assert logs == [["start", *"abc"], ["start", *"ab"], ["start", "a"], ["start"], []]
    # The run continues from the stored state.
    assert api.invoke(graph, {"log": ["again"]}, cfg, durability=durability) == {
        "log": [*expected["log"], "again", "a", "b", "c"]
    }


# --- 7. messages ---------------------------------------------------------------------


def echo(state: MessagesState) -> dict[str, Any]:
    return {"messages": [AIMessage(content=f"echo: {state['messages'][-1].content}")]}


def test_messages_accumulate_and_persist(
    api: Api, saver: Any, backend: str, flavour: str, tmp_path: Path
) -> None:
    """add_messages state accumulates over turns and survives reopening a SQLite file."""
    builder = StateGraph(MessagesState)
    builder.add_node("echo", echo)
    builder.add_edge(START, "echo")
    graph = builder.compile(checkpointer=saver)
    cfg = thread()

    expected: list[tuple[str, str]] = []
    for turn in range(3):
        out = api.invoke(graph, {"messages": [HumanMessage(content=f"turn {turn}")]}, cfg)
        expected += [("human", f"turn {turn}"), ("ai", f"echo: turn {turn}")]
        assert [(m.type, m.content) for m in out["messages"]] == expected
    messages = api.state(graph, cfg).values["messages"]
    assert [(m.type, m.content) for m in messages] == expected
    assert all(isinstance(m, (HumanMessage, AIMessage)) for m in messages)
    assert len({m.id for m in messages}) == 6 and None not in {m.id for m in messages}

    if backend != "sqlite-file":
        return
    api.call(saver, "close")
    with make_saver(backend, flavour, tmp_path) as reopened:
        graph2 = builder.compile(checkpointer=reopened)
        assert api.state(graph2, cfg).values["messages"] == messages
        out = api.invoke(graph2, {"messages": [HumanMessage(content="turn 3")]}, cfg)
        expected += [("human", "turn 3"), ("ai", "echo: turn 3")]
        assert [(m.type, m.content) for m in out["messages"]] == expected
        assert out["messages"][:6] == messages
        assert len(api.history(graph2, cfg)) == 4 * 3  # 3 checkpoints per turn


# --- 8. metadata, filters, delete_for_runs -------------------------------------------


def test_metadata_filter_and_delete_for_runs(api: Api, saver: Any) -> None:
    """Config metadata lands on every checkpoint, filters find it, runs delete exactly."""
    graph = chain(["a", "b"], Counter()).compile(checkpointer=saver)
    thread_id = str(uuid4())
    runs = [str(uuid4()), str(uuid4())]

    def run_config(run_id: str, tid: str = thread_id) -> dict[str, Any]:
        # LangGraph 1.2 copies `config["metadata"]` (not `config["run_id"]`) into
        # checkpoint metadata, so the run id goes in both, as the LangGraph server does.
        return {
            "configurable": {"thread_id": tid, "user_id": "u1"},
            "metadata": {"tag": "m", "run_id": run_id},
            "run_id": run_id,
        }

    api.invoke(graph, {"log": ["r1"]}, run_config(runs[0]))
    api.invoke(graph, {"log": ["r2"]}, run_config(runs[1]))
    other = str(uuid4())
    api.invoke(graph, {"log": ["o"]}, run_config(str(uuid4()), other))
    cfg = {"configurable": {"thread_id": thread_id}}

    history = api.history(graph, cfg)
    assert len(history) == 8  # input + 3 steps, per run
    for h in history:
        assert h.metadata["user_id"] == "u1" and h.metadata["tag"] == "m"
    by_run = {r: [cid(h.config) for h in history if h.metadata["run_id"] == r] for r in runs}
    assert [len(v) for v in by_run.values()] == [4, 4]
    assert max(by_run[runs[0]]) < min(by_run[runs[1]])

    ids = lambda snaps: [cid(h.config) for h in snaps]  # noqa: E731
    assert ids(api.history(graph, cfg, filter={"user_id": "u1"})) == ids(history)
    assert ids(api.history(graph, cfg, filter={"user_id": "u1", "tag": "m"})) == ids(history)
    assert api.history(graph, cfg, filter={"user_id": "nope"}) == []
    assert ids(api.history(graph, cfg, filter={"run_id": runs[1]})) == by_run[runs[1]]

    api.call(saver, "delete_for_runs", [runs[0]])
    remaining = api.history(graph, cfg)
    assert ids(remaining) == by_run[runs[1]]
    assert api.state(graph, cfg).values == {"log": ["r1", "a", "b", "r2", "a", "b"]}
    assert len(api.history(graph, {"configurable": {"thread_id": other}})) == 4


def test_prune_keep_latest_on_a_finished_graph(api: Api, saver: Any) -> None:
    """prune(keep_latest) leaves one loadable checkpoint per namespace of a plain graph."""
    graph = chain(["a", "b", "c"], Counter()).compile(checkpointer=saver)
    cfg, other = thread(), thread()
    expected = {"log": ["start", "a", "b", "c"]}
    api.invoke(graph, {"log": ["start"]}, cfg)
    api.invoke(graph, {"log": ["start"]}, other)

    api.call(saver, "prune", [cfg["configurable"]["thread_id"]], strategy="keep_latest")
    history = api.history(graph, cfg)
    assert len(history) == 1, "no DeltaChannel: the latest checkpoint needs no ancestor"
    kept = history[0]
    assert kept.values == expected and kept.metadata["step"] == 3 and kept.next == ()
    assert len(api.history(graph, other)) == 5  # other threads untouched
    assert api.invoke(graph, {"log": ["more"]}, cfg) == {"log": [*expected["log"], "more", *"abc"]}


# --- 9. DeltaChannel -----------------------------------------------------------------


def extend(state: list, writes: Sequence[list]) -> list:
    return [*state, *(x for w in writes for x in w)]


if DeltaChannel is not None:

    class Delta(TypedDict, total=False):
        n: int
        log: Annotated[list, DeltaChannel(extend, snapshot_frequency=3)]


@pytest.mark.skipif(
    DeltaChannel is None, reason="langgraph.channels.DeltaChannel is not in this langgraph"
)
def test_delta_channel_reconstructs_after_prune(api: Api, saver: Any) -> None:
    """A DeltaChannel value reconstructs across history and after prune(keep_latest)."""

    def step(state: Any) -> dict[str, Any]:
        return {"log": [state["n"]], "n": state["n"] + 1}

    builder = StateGraph(Delta)
    builder.add_node("step", step)
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", lambda s: "step" if s["n"] < 10 else END)
    graph = builder.compile(checkpointer=saver)
    cfg = thread()

    assert api.invoke(graph, {"n": 0}, cfg) == {"n": 10, "log": list(range(10))}
    assert api.state(graph, cfg).values == {"n": 10, "log": list(range(10))}
    history = api.history(graph, cfg)
    assert_linear(history, list(range(10, -2, -1)))
    logs = [h.values.get("log", []) for h in history]
    assert logs == [list(range(k)) for k in range(10, -1, -1)] + [[]]

    api.call(saver, "prune", [cfg["configurable"]["thread_id"]], strategy="keep_latest")
    # The latest, plus at most its chain back to the nearest snapshot (every 3 updates).
    assert 1 <= len(api.history(graph, cfg)) <= 1 + 3
    assert api.state(graph, cfg).values == {"n": 10, "log": list(range(10))}
    # The pruned thread still runs on.
    assert api.invoke(graph, {"n": 7}, cfg) == {"n": 10, "log": [*range(10), 7, 8, 9]}
