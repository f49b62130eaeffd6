"""The workloads of issue #4. Each one measures a single saver on a fresh file and
returns its figures; `bench.run` runs zerograph's and LangGraph's saver alternately.

A figure for a sequence of different operations (a fill, reads of every thread) is the
total time divided by the count. A figure for one operation repeated on the same data
(get_tuple(latest) of the storage file, get_tuple by id, a run_id filter) is the median
of the individual calls, so a burst of load from elsewhere on the machine does not land
in it.

Every figure is taken around saver calls only (the values they are given are built the
same way for every saver, by `bench.sim`), and every workload checks what the saver
returned before reporting a number, so a saver that drops data fails instead of
looking fast.
"""

from __future__ import annotations

import asyncio
import gc
import random
import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import get_checkpoint_metadata
from langgraph.checkpoint.memory import InMemorySaver as LGInMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver as LGSqliteSaver
from langgraph.graph import END, START, MessagesState, StateGraph

from bench import list_threads as lt
from bench.savers import PAIRS, ZG_SQLITE, SaverSpec, concurrent_session, session
from bench.sim import Plan, Timeline, agent_ops, check_latest, make_messages

clock = time.perf_counter


# --- scales ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    name: str
    reps: int
    agent_steps: int
    many_threads: int
    many_steps: int
    delete_small: int
    delete_big: int
    delete_k: int
    history: int
    history_window: int
    conc_workers: int
    conc_steps: int
    e2e_messages: int
    e2e_invokes: int
    storage_steps: int
    storage_reads: int
    lt_threads: int
    lt_checkpoints: int
    lt_baseline: bool


SCALES = {
    # a few seconds: checks that every workload runs (not for numbers)
    "tiny": Scale(
        "tiny", reps=1, agent_steps=20, many_threads=10, many_steps=5,
        delete_small=10, delete_big=50, delete_k=5, history=60, history_window=20,
        conc_workers=4, conc_steps=5, e2e_messages=10, e2e_invokes=1, storage_steps=20, storage_reads=5,
        lt_threads=20, lt_checkpoints=1000, lt_baseline=True,
    ),
    # about a minute on 2 cores: the same shapes, fewer steps / threads / reps / pairs
    "quick": Scale(
        "quick", reps=3, agent_steps=80, many_threads=30, many_steps=10,
        delete_small=30, delete_big=300, delete_k=20, history=150, history_window=20,
        conc_workers=16, conc_steps=8, e2e_messages=50, e2e_invokes=1, storage_steps=200, storage_reads=5,
        lt_threads=100, lt_checkpoints=10_000, lt_baseline=True,
    ),
    # the sizes of issue #4
    "full": Scale(
        "full", reps=5, agent_steps=200, many_threads=500, many_steps=10,
        delete_small=100, delete_big=1000, delete_k=50, history=1000, history_window=20,
        conc_workers=16, conc_steps=20, e2e_messages=50, e2e_invokes=5, storage_steps=200, storage_reads=20,
        lt_threads=1500, lt_checkpoints=200_000, lt_baseline=False,
    ),
}


# --- what a workload reports ---------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    fmt: str = "{:.1f}"


@dataclass
class Contender:
    """One side of a comparison: a label and a function measuring one repetition."""

    label: str
    measure: Callable[[Path, Scale], dict[str, float]]


@dataclass
class Comparison:
    key: str
    ours: Contender
    theirs: Contender | None
    note: str = ""


@dataclass
class Workload:
    """`comparisons(scale, args, keys)` builds the comparisons named by `keys`: by default
    `full_pairs` at full scale and `quick_pairs` at quick and tiny scale (both default to
    `pairs`; they keep the pairs issue #4's targets are about where a workload is slow),
    or whichever of `pairs` `--pairs` names."""

    name: str
    title: str
    metrics: list[Metric]
    comparisons: Callable[[Scale, Any, list[str]], list[Comparison]]
    describe: Callable[[Scale], str]
    pairs: list[str]
    full_pairs: list[str] | None = None
    quick_pairs: list[str] | None = None

    def selected(self, scale: Scale, args: Any) -> list[Comparison]:
        if getattr(args, "pairs", None):
            keys = [k for k in self.pairs if k in args.pairs]
        elif scale.name == "full":
            keys = self.full_pairs or self.pairs
        else:
            keys = self.quick_pairs or self.pairs
        return self.comparisons(scale, args, keys)


def _bind(
    measure: Callable[[SaverSpec, Path, Scale], dict[str, float]], spec: SaverSpec
) -> Callable[[Path, Scale], dict[str, float]]:
    return lambda path, scale: measure(spec, path, scale)


def _pairs(measure: Callable[[SaverSpec, Path, Scale], dict[str, float]], keys: list[str]) -> list[Comparison]:
    out = []
    for key in keys:
        pair = PAIRS[key]
        reason = pair.available()
        if reason:
            print(f"  (skipping pair {key}: {reason})")
            continue
        out.append(Comparison(
            key,
            Contender(pair.ours.label, _bind(measure, pair.ours)),
            Contender(pair.theirs.label, _bind(measure, pair.theirs)),
            pair.note,
        ))
    return out


_PLANS: dict[int, Plan] = {}


def plan(steps: int) -> Plan:
    """One plan per size, shared by every saver and repetition (same bytes for all)."""
    if steps not in _PLANS:
        _PLANS[steps] = Plan.build(steps)
    return _PLANS[steps]


# --- agent thread / write path ---------------------------------------------------------------


def measure_agent(spec: SaverSpec, path: Path, scale: Scale, *, read: bool = True) -> dict[str, float]:
    p = plan(scale.agent_steps)

    def ops(saver: Any) -> Any:
        tl = Timeline(p, "agent-thread", saver.get_next_version)
        gc.collect()
        start = clock()
        yield from agent_ops(tl, range(scale.agent_steps), read=read)
        elapsed = clock() - start
        check_latest((yield ("get_tuple", (tl.root_config,))), tl)
        return {"steps_per_s": scale.agent_steps / elapsed}

    return session(spec, path, ops)


class RawFloor:
    """The raw floor: plain sqlite3 (WAL, synchronous=NORMAL) writing, per step and in one
    transaction, what a naive saver must write: the full checkpoint (with every channel
    value) and both tasks' writes, as LangGraph's serializer encodes them, in tables
    shaped like LangGraph's. `serialize=False` (the default figure) serializes everything
    before the clock starts, so the floor is the storage I/O alone."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(
            """
            CREATE TABLE checkpoints (thread_id TEXT NOT NULL, checkpoint_ns TEXT NOT NULL DEFAULT '',
              checkpoint_id TEXT NOT NULL, parent_checkpoint_id TEXT, type TEXT, checkpoint BLOB,
              metadata BLOB, PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id));
            CREATE TABLE writes (thread_id TEXT NOT NULL, checkpoint_ns TEXT NOT NULL DEFAULT '',
              checkpoint_id TEXT NOT NULL, task_id TEXT NOT NULL, task_path TEXT NOT NULL DEFAULT '',
              idx INTEGER NOT NULL, channel TEXT NOT NULL, type TEXT, value BLOB,
              PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx));
            """
        )
        self.serde = JsonPlusSerializer()
        self.get_next_version = LGInMemorySaver().get_next_version
        self.pending: list[tuple[Any, ...]] = []
        self.steps: list[tuple[list[tuple[Any, ...]], tuple[Any, ...]]] = []
        self.record_only = False

    def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        c = config["configurable"]
        for idx, (channel, value) in enumerate(writes):
            self.pending.append((c["thread_id"], c["checkpoint_ns"], c["checkpoint_id"], task_id,
                                 task_path, idx, channel, *self.serde.dumps_typed(value)))

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        c = config["configurable"]
        ctype, cbytes = self.serde.dumps_typed(checkpoint)
        mbytes = __import__("json").dumps(get_checkpoint_metadata(config, metadata)).encode()
        row = (c["thread_id"], c["checkpoint_ns"], checkpoint["id"], c.get("checkpoint_id"), ctype, cbytes, mbytes)
        writes, self.pending = self.pending, []
        if self.record_only:
            self.steps.append((writes, row))
        else:
            self.commit(writes, row)
        return {"configurable": {"thread_id": c["thread_id"], "checkpoint_ns": c["checkpoint_ns"],
                                 "checkpoint_id": checkpoint["id"]}}

    def commit(self, writes: list[tuple[Any, ...]], row: tuple[Any, ...]) -> None:
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT OR IGNORE INTO writes (thread_id, checkpoint_ns, checkpoint_id, "
                              "task_id, task_path, idx, channel, type, value) VALUES (?,?,?,?,?,?,?,?,?)", writes)
        self.conn.execute("INSERT OR REPLACE INTO checkpoints VALUES (?,?,?,?,?,?,?)", row)
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


def measure_floor(path: Path, scale: Scale, *, serialize: bool) -> dict[str, float]:
    from bench.savers import run

    p = plan(scale.agent_steps)
    floor = RawFloor(path)
    try:
        tl = Timeline(p, "agent-thread", floor.get_next_version)
        floor.record_only = not serialize
        gc.collect()
        start = clock()
        run(floor, agent_ops(tl, range(scale.agent_steps), read=False))
        if not serialize:  # the steps were only recorded: now time the I/O alone
            gc.collect()
            start = clock()
            for writes, row in floor.steps:
                floor.commit(writes, row)
        elapsed = clock() - start
        n = floor.conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0]
        if n != scale.agent_steps + 1:
            raise AssertionError(f"raw floor stored {n} checkpoints, expected {scale.agent_steps + 1}")
        return {"steps_per_s": scale.agent_steps / elapsed}
    finally:
        floor.close()


STEPS_PER_S = [Metric("steps_per_s", "steps/s", "steps/s", True)]


def write_comparisons(scale: Scale, args: Any, keys: list[str]) -> list[Comparison]:
    def w(spec: SaverSpec, path: Path, s: Scale) -> dict[str, float]:
        return measure_agent(spec, path, s, read=False)

    comps = _pairs(w, [k for k in keys if k in PAIRS])
    ours = Contender(ZG_SQLITE.label, lambda p, s: w(ZG_SQLITE, p, s))
    if "floor" in keys:
        comps.append(Comparison(
            "floor", ours,
            Contender("raw floor: sqlite3 I/O only", lambda p, s: measure_floor(p, s, serialize=False)),
            "plain sqlite3, WAL, synchronous=NORMAL, one transaction per step, full checkpoint + writes "
            "pre-serialized by LangGraph's serializer (serialization not timed)",
        ))
    if "floor+serde" in keys:
        comps.append(Comparison(
            "floor+serde", ours,
            Contender("raw floor incl. serialization", lambda p, s: measure_floor(p, s, serialize=True)),
            "the same floor, serializing the full checkpoint + writes inside the timed loop",
        ))
    return comps


# --- many threads -----------------------------------------------------------------------------


def measure_many(spec: SaverSpec, path: Path, scale: Scale) -> dict[str, float]:
    p = plan(scale.many_steps)
    n, steps = scale.many_threads, scale.many_steps

    def ops(saver: Any) -> Any:
        tls = [Timeline(p, f"thread-{t:05d}", saver.get_next_version) for t in range(n)]
        gc.collect()
        start = clock()
        for tl in tls:
            yield from agent_ops(tl, range(steps), read=False)
        fill = clock() - start
        order = list(range(n))
        random.Random(3).shuffle(order)
        gc.collect()
        start = clock()
        for t in order:
            yield ("get_tuple", (tls[t].root_config,))
        get = clock() - start
        start = clock()
        for t in order:
            yield ("list", (tls[t].root_config,), {"limit": 10})
        lst = clock() - start
        for t in order[:5]:
            check_latest((yield ("get_tuple", (tls[t].root_config,))), tls[t])
            if len((yield ("list", (tls[t].root_config,), {"limit": 10}))) != min(10, steps + 1):
                raise AssertionError("list(limit=10) returned the wrong number of checkpoints")
        gc.collect()
        start = clock()
        for t in order:
            yield ("delete_thread", (tls[t].thread_id,))
        delete = clock() - start
        for t in order[:5]:
            if (yield ("get_tuple", (tls[t].root_config,))) is not None:
                raise AssertionError("a deleted thread still has a checkpoint")
        return {
            "fill_steps_per_s": n * steps / fill,
            "get_tuple_us": get / n * 1e6,
            "list10_us": lst / n * 1e6,
            "delete_us": delete / n * 1e6,
        }

    return session(spec, path, ops)


def measure_delete_scaling(spec: SaverSpec, path: Path, scale: Scale) -> dict[str, float]:
    """delete_thread cost with few vs many other threads stored (InMemorySaver target)."""
    p = plan(3)
    out = {}
    for key, n in (("small", scale.delete_small), ("big", scale.delete_big)):
        def ops(saver: Any, n: int = n) -> Any:
            tls = [Timeline(p, f"thread-{t:05d}", saver.get_next_version) for t in range(n)]
            for tl in tls:
                yield from agent_ops(tl, range(3), read=False)
            victims = random.Random(5).sample(range(n), scale.delete_k)
            gc.collect()
            start = clock()
            for t in victims:
                yield ("delete_thread", (tls[t].thread_id,))
            elapsed = clock() - start
            if (yield ("get_tuple", (tls[victims[0]].root_config,))) is not None:
                raise AssertionError("a deleted thread still has a checkpoint")
            return elapsed / scale.delete_k * 1e6

        out[f"delete_{key}_us"] = session(spec, path.with_name(f"{key}-{path.name}"), ops)
    out["growth"] = out["delete_big_us"] / out["delete_small_us"]
    return out


# --- history ----------------------------------------------------------------------------------


def history_ops(tl: Timeline, n: int, per_run: int = 10) -> Any:
    """A thread of `n` checkpoints made by runs of `per_run`: an input checkpoint
    (source "input", a new run_id) and loop steps."""
    config = None
    i = made = run = 0
    while made < n:
        tl.run_id = f"run-{run:04d}"
        cp, md, new = tl.input_checkpoint(first_message=i)
        config = yield ("put", (config or tl.root_config, cp, md, new))
        made += 1
        for _ in range(per_run - 1):
            if made >= n:
                break
            for writes, task_id, path in tl.writes(i):
                yield ("put_writes", (config, writes, task_id, path))
            config = yield ("put", (config, *tl.checkpoint(i)))
            i += 1
            made += 1
        run += 1
    return config


def measure_history(spec: SaverSpec, path: Path, scale: Scale) -> dict[str, float]:
    n = scale.history
    p = plan(n)

    def ops(saver: Any) -> Any:
        tl = Timeline(p, "history-thread", saver.get_next_version, window=scale.history_window)
        yield from history_ops(tl, n)
        cfg = tl.root_config
        gc.collect()
        start = clock()
        every = yield ("list", (cfg,))
        list_all = clock() - start
        if len(every) != n:
            raise AssertionError(f"list() returned {len(every)} checkpoints, expected {n}")
        check_latest(every[0], tl)
        runs = (n + 9) // 10
        gc.collect()
        start = clock()
        inputs = yield ("list", (cfg,), {"filter": {"source": "input"}})
        filt_source = clock() - start
        if len(inputs) != runs:
            raise AssertionError(f"filter source=input returned {len(inputs)}, expected {runs}")
        times = []
        for k in range(5):
            start = clock()
            one_run = yield ("list", (cfg,), {"filter": {"run_id": f"run-{(k * 7) % runs:04d}"}})
            times.append(clock() - start)
        filt_run = statistics.median(times)
        if not 1 <= len(one_run) <= 10:
            raise AssertionError(f"filter run_id returned {len(one_run)} checkpoints")
        ids = [t.config["configurable"]["checkpoint_id"] for t in every]
        sample = random.Random(11).sample(ids, min(100, len(ids)))
        gc.collect()
        times = []
        for cid in sample:
            start = clock()
            tup = yield ("get_tuple", ({"configurable": {"thread_id": tl.thread_id, "checkpoint_ns": "",
                                                         "checkpoint_id": cid}},))
            times.append(clock() - start)
        by_id = statistics.median(times)
        if tup is None or tup.config["configurable"]["checkpoint_id"] != sample[-1]:
            raise AssertionError("get_tuple by id returned the wrong checkpoint")
        return {
            "list_all_ms": list_all * 1e3,
            "filter_source_ms": filt_source * 1e3,
            "filter_run_ms": filt_run * 1e3,
            "get_by_id_us": by_id * 1e6,
        }

    figures: dict[str, float] = session(spec, path, ops)
    if spec.storage is not None:  # a trimmed thread: what its file takes after close
        figures["bytes"] = float(spec.storage(path))
    return figures


# --- concurrency ------------------------------------------------------------------------------


def measure_concurrency(spec: SaverSpec, path: Path, scale: Scale) -> dict[str, float]:
    p = plan(scale.conc_steps)
    workers, steps = scale.conc_workers, scale.conc_steps
    tls: list[Timeline] = []

    def make(k: int) -> Callable[[Any], Any]:
        def ops(saver: Any) -> Any:
            tl = Timeline(p, f"worker-{k:02d}", saver.get_next_version)
            tls.append(tl)
            yield from agent_ops(tl, range(steps), read=True)
            check_latest((yield ("get_tuple", (tl.root_config,))), tl)

        return ops

    gc.collect()
    wall, _ = concurrent_session(spec, path, [make(k) for k in range(workers)])
    return {"steps_per_s": workers * steps / wall}


# --- end to end -------------------------------------------------------------------------------


def build_graph(n_messages: int) -> StateGraph:
    """A real StateGraph: one node appends a ~500-character AIMessage to MessagesState
    and loops to itself until the thread holds `n_messages` messages."""
    replies = [m.content for m in make_messages(n_messages + 1, seed=21)]

    def agent(state: MessagesState) -> dict[str, Any]:
        k = len(state["messages"])
        return {"messages": [AIMessage(content=replies[k], id=f"ai-{k}",
                                       response_metadata={"model_name": "bench", "finish_reason": "stop"})]}

    def route(state: MessagesState) -> str:
        return "agent" if len(state["messages"]) < n_messages else END

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["agent", END])
    return builder


def measure_e2e(spec: SaverSpec, path: Path, scale: Scale) -> dict[str, float]:
    """Time `invoke` (ainvoke for an async saver) of the same graph with checkpointer=None
    and with the saver, alternating, on fresh thread ids."""
    builder = build_graph(scale.e2e_messages)
    plain = builder.compile()
    question = HumanMessage(content=make_messages(1, seed=22)[0].content, id="q")

    def config(k: int) -> RunnableConfig:
        return {"configurable": {"thread_id": f"e2e-{k}"}, "recursion_limit": 4 * scale.e2e_messages}

    def check(out: Any) -> None:
        if len(out["messages"]) != scale.e2e_messages:
            raise AssertionError(f"graph produced {len(out['messages'])} messages")

    if spec.kind == "sync":
        with spec.open(path) as saver:
            graph = builder.compile(checkpointer=saver)
            check(plain.invoke({"messages": [question]}, config(-1)))  # warm-up, untimed
            without = with_ = 0.0
            for k in range(scale.e2e_invokes):
                gc.collect()
                start = clock()
                check(plain.invoke({"messages": [question]}, config(k)))
                without += clock() - start
                gc.collect()
                start = clock()
                check(graph.invoke({"messages": [question]}, config(k)))
                with_ += clock() - start
            if len(graph.get_state(config(0)).values["messages"]) != scale.e2e_messages:
                raise AssertionError("the saver did not keep the graph's state")
    else:
        async def main() -> tuple[float, float]:
            async with spec.open(path) as saver:
                graph = builder.compile(checkpointer=saver)
                check(await plain.ainvoke({"messages": [question]}, config(-1)))
                without = with_ = 0.0
                for k in range(scale.e2e_invokes):
                    gc.collect()
                    start = clock()
                    check(await plain.ainvoke({"messages": [question]}, config(k)))
                    without += clock() - start
                    gc.collect()
                    start = clock()
                    check(await graph.ainvoke({"messages": [question]}, config(k)))
                    with_ += clock() - start
                state = await graph.aget_state(config(0))
                if len(state.values["messages"]) != scale.e2e_messages:
                    raise AssertionError("the saver did not keep the graph's state")
                return without, with_

        without, with_ = asyncio.run(main())
    k = scale.e2e_invokes
    return {"with_ms": with_ / k * 1e3, "without_ms": without / k * 1e3, "overhead": with_ / without}


# --- storage ----------------------------------------------------------------------------------


def measure_storage(spec: SaverSpec, path: Path, scale: Scale) -> dict[str, float]:
    """Bytes on disk after the agent thread (db + wal + shm, after close), then the read
    speed of that file through a freshly opened saver: the first get_tuple(latest) (cold
    saver), more get_tuple(latest), and list(limit=10) (a history page)."""
    p = plan(scale.storage_steps)
    holder: dict[str, Timeline] = {}

    def write(saver: Any) -> Any:
        tl = holder["tl"] = Timeline(p, "agent-thread", saver.get_next_version)
        yield from agent_ops(tl, range(scale.storage_steps), read=False)

    session(spec, path, write)
    assert spec.storage is not None
    size = spec.storage(path)

    def read(saver: Any) -> Any:
        tl = holder["tl"]
        gc.collect()
        start = clock()
        first = yield ("get_tuple", (tl.root_config,))
        first_latest = clock() - start
        times = []
        for _ in range(scale.storage_reads):
            start = clock()
            tup = yield ("get_tuple", (tl.root_config,))
            times.append(clock() - start)
        latest = statistics.median(times)
        check_latest(first, tl)
        check_latest(tup, tl)
        gc.collect()
        times = []
        for _ in range(scale.storage_reads):
            start = clock()
            page = yield ("list", (tl.root_config,), {"limit": 10})
            times.append(clock() - start)
        list10 = statistics.median(times)
        if len(page) != 10:
            raise AssertionError(f"list(limit=10) returned {len(page)} checkpoints")
        check_latest(page[0], tl)
        return first_latest, latest, list10

    first_latest, latest, list10 = session(spec, path, read)
    return {"bytes": float(size), "first_get_ms": first_latest * 1e3, "get_latest_ms": latest * 1e3,
            "list10_ms": list10 * 1e3}


# --- list_threads -----------------------------------------------------------------------------


class ListThreadsContender:
    """Fills one database once (bench/list_threads.py's `fill`: small Pregel-shaped
    checkpoints), then every repetition opens a fresh saver on it and times the reads."""

    def __init__(self, ours: bool) -> None:
        self.ours = ours
        self.path: Path | None = None
        self.fill_s = 0.0

    def _fill(self, path: Path, scale: Scale) -> None:
        start = clock()
        if self.ours:
            with ZG_SQLITE.open(path) as saver:
                lt.fill(saver, scale.lt_threads, scale.lt_checkpoints)
        else:
            conn = sqlite3.connect(str(path), check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # the fill is not measured; only make it faster
            try:
                lt.fill(cast(Any, LGSqliteSaver(conn)), scale.lt_threads, scale.lt_checkpoints)
            finally:
                conn.close()
        self.fill_s = clock() - start
        self.path = path

    def measure(self, path: Path, scale: Scale) -> dict[str, float]:
        if self.path is None:
            keep = path.parent.parent / f"list-threads-{'ours' if self.ours else 'theirs'}"
            keep.mkdir(exist_ok=True)
            self._fill(keep / "lt.db", scale)
        assert self.path is not None
        n = scale.lt_threads
        if not self.ours:
            with PAIRS["sqlite"].theirs.open(self.path) as saver:
                gc.collect()
                start = clock()
                threads = {t.config["configurable"]["thread_id"] for t in saver.list(None)}
                elapsed = clock() - start
            if len(threads) != n:
                raise AssertionError(f"baseline found {len(threads)} threads, expected {n}")
            return {"all_ms": elapsed * 1e3}
        with ZG_SQLITE.open(self.path) as saver:
            def all_pages() -> int:
                count, cursor = 0, None
                while True:
                    page = saver.list_threads(limit=100, cursor=cursor)
                    count += len(page)
                    if page.next_cursor is None:
                        return count
                    cursor = page.next_cursor

            def timed(fn: Callable[[], Any], times: int = 5) -> tuple[float, Any]:
                gc.collect()
                out = None
                start = clock()
                for _ in range(times):
                    out = fn()
                return (clock() - start) / times * 1e3, out

            first_ms, first = timed(lambda: saver.list_threads(limit=100))
            if len(first) != min(100, n):
                raise AssertionError(f"first page has {len(first)} threads")
            all_ms, count = timed(all_pages, 3)
            if count != n:
                raise AssertionError(f"paging found {count} threads, expected {n}")
            filt_ms, _ = timed(lambda: saver.list_threads(filter={"user_id": "user-7"}, limit=100))
            info_ms, info = timed(lambda: saver.thread_info("thread-00007"))
            if info is None or info.checkpoints != scale.lt_checkpoints // n:
                raise AssertionError("thread_info returned a wrong summary")
        return {"first_page_ms": first_ms, "all_ms": all_ms, "filter_ms": filt_ms, "thread_info_ms": info_ms}


def list_threads_comparisons(scale: Scale, args: Any, keys: list[str]) -> list[Comparison]:
    ours = ListThreadsContender(True)
    theirs = ListThreadsContender(False) if (scale.lt_baseline or args.baseline) else None
    return [Comparison(
        "sqlite",
        Contender("zerograph SqliteSaver.list_threads", ours.measure),
        Contender("LangGraph SqliteSaver: list(None) grouped by thread", theirs.measure) if theirs else None,
        "LangGraph has no list_threads; its baseline reads every checkpoint (slow: quick scale or --baseline)",
    )]


# --- the catalogue ----------------------------------------------------------------------------


def _simple(measure: Callable[..., dict[str, float]]) -> Callable[[Scale, Any, list[str]], list[Comparison]]:
    return lambda scale, args, keys: _pairs(measure, keys)


WORKLOADS: list[Workload] = [
    Workload(
        "agent", "Agent thread: per step get_tuple(latest) + 2x put_writes + put",
        STEPS_PER_S, _simple(measure_agent),
        lambda s: f"{s.agent_steps} steps on one thread, the full growing message list in every checkpoint",
        pairs=["memory", "sqlite", "sqlite-full", "async"],
    ),
    Workload(
        "write", "Write path: per step 2x put_writes + put (no reads)",
        STEPS_PER_S, write_comparisons,
        lambda s: f"{s.agent_steps} steps on one thread",
        pairs=["memory", "sqlite", "sqlite-full", "async", "floor", "floor+serde"],
        quick_pairs=["sqlite", "sqlite-full", "async", "floor", "floor+serde"],
    ),
    Workload(
        "many", "Many threads",
        [Metric("fill_steps_per_s", "fill (2x put_writes + put)", "steps/s", True),
         Metric("get_tuple_us", "get_tuple(latest)", "us/op", False),
         Metric("list10_us", "list(thread, limit=10)", "us/op", False),
         Metric("delete_us", "delete_thread", "us/op", False)],
        _simple(measure_many),
        lambda s: f"{s.many_threads} threads x {s.many_steps} steps; reads and deletes in shuffled order",
        pairs=["memory", "sqlite", "async"],
        full_pairs=["memory", "sqlite"],
        quick_pairs=["memory", "sqlite"],
    ),
    Workload(
        "delete", "delete_thread vs number of stored threads",
        [Metric("delete_small_us", "delete_thread, few threads stored", "us/op", False),
         Metric("delete_big_us", "delete_thread, 10x more threads stored", "us/op", False),
         Metric("growth", "growth (many/few; 1.0 = independent)", "x", False, "{:.2f}")],
        _simple(measure_delete_scaling),
        lambda s: f"{s.delete_k} deletes among {s.delete_small} vs {s.delete_big} threads of 3 steps",
        pairs=["memory", "sqlite"],
        full_pairs=["memory"],
        quick_pairs=["memory"],
    ),
    Workload(
        "history", "History of one long thread",
        [Metric("list_all_ms", "list(thread), all checkpoints", "ms", False),
         Metric("filter_source_ms", "list(filter={'source': 'input'})", "ms", False),
         Metric("filter_run_ms", "list(filter={'run_id': ...})", "ms", False),
         Metric("get_by_id_us", "get_tuple(checkpoint_id)", "us/op", False),
         Metric("bytes", "bytes on disk (db+wal+shm, after close)", "bytes", False, "{:,.0f}")],
        _simple(measure_history),
        lambda s: (f"{s.history} checkpoints in runs of 10 (1 input + 9 loop steps); messages trimmed "
                   f"to the last {s.history_window}"),
        pairs=["memory", "sqlite", "async"],
        full_pairs=["sqlite", "async"],
        quick_pairs=["sqlite"],
    ),
    Workload(
        "concurrency", "Concurrency: one shared saver",
        STEPS_PER_S, _simple(measure_concurrency),
        lambda s: (f"{s.conc_workers} OS threads (sync savers) or asyncio tasks (async savers), "
                   f"each a {s.conc_steps}-step agent thread with reads; aggregate steps/s"),
        pairs=["memory", "sqlite", "async"],
        quick_pairs=["sqlite", "async"],
    ),
    Workload(
        "e2e", "End to end: a real StateGraph",
        [Metric("with_ms", "invoke with the saver", "ms", False),
         Metric("without_ms", "invoke with checkpointer=None", "ms", False),
         Metric("overhead", "with / without", "x", False, "{:.2f}")],
        _simple(measure_e2e),
        lambda s: (f"MessagesState, one node appending a ~500-char AIMessage until {s.e2e_messages} messages "
                   f"(~{s.e2e_messages} super-steps); {s.e2e_invokes} invoke(s) of each per repetition, "
                   "alternating; the async pair uses ainvoke"),
        pairs=["memory", "sqlite", "async"],
        quick_pairs=["sqlite", "async"],
    ),
    Workload(
        "storage", "Storage after the agent thread, and reading it back",
        [Metric("bytes", "bytes on disk (db+wal+shm, after close)", "bytes", False, "{:,.0f}"),
         Metric("first_get_ms", "first get_tuple(latest) after reopening", "ms", False, "{:.2f}"),
         Metric("get_latest_ms", "get_tuple(latest)", "ms", False, "{:.2f}"),
         Metric("list10_ms", "list(thread, limit=10)", "ms", False, "{:.2f}")],
        _simple(measure_storage),
        lambda s: f"{s.storage_steps}-step agent thread (the agent workload's shape), then a fresh saver on the file",
        pairs=["sqlite", "async"],
        full_pairs=["sqlite"],
        quick_pairs=["sqlite"],
    ),
    Workload(
        "list_threads", "list_threads",
        [Metric("first_page_ms", "list_threads(limit=100), first page", "ms", False, "{:.2f}"),
         Metric("all_ms", "every thread (pages of 100 / baseline list(None))", "ms", False, "{:.2f}"),
         Metric("filter_ms", "list_threads(filter={'user_id': ...})", "ms", False, "{:.2f}"),
         Metric("thread_info_ms", "thread_info(one thread)", "ms", False, "{:.3f}")],
        list_threads_comparisons,
        lambda s: (f"{s.lt_threads:,} threads / {s.lt_checkpoints:,} checkpoints (bench/list_threads.py's fill, "
                   "done once per saver; a fresh saver per repetition)"),
        pairs=["sqlite"],
    ),
]


def warmup(root: Path) -> None:
    """Run every saver once on a tiny thread, untimed, so first-use costs (imports,
    serializer caches, schema code paths) do not land on whichever saver runs first."""
    tiny = SCALES["tiny"]
    specs = {id(s): s for pair in PAIRS.values() if not pair.available() for s in (pair.ours, pair.theirs)}
    for n, spec in enumerate(specs.values()):
        work = root / f"warmup-{n}"
        work.mkdir()
        measure_agent(spec, work / "bench.db", tiny)
    build_graph(5).compile().invoke({"messages": [HumanMessage(content="hi", id="q")]})
