"""Asyncio cancellation at random points: every checkpoint is fully present or absent,
every `aput_writes` batch is whole or missing, and the saver keeps working.

Cancellation points are random but seeded: a task is cancelled after a random number of
event-loop turns and sometimes a random sub-millisecond sleep, so runs are repeatable
in what they try while still landing before, during and after the saver's work.
"""

from __future__ import annotations

import asyncio
import operator
import random
from pathlib import Path
from typing import Annotated, Any

import pytest
from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from tests.conftest import BACKENDS, make_saver
from tests.contract.conftest import checkpoint, config

ROUNDS = 120


async def _cancel_soon(coro: Any, rng: random.Random, turns: int = 6, sleep: float = 0.002) -> bool:
    """Run `coro` as a task, cancel it at a random point (after up to `turns` loop turns,
    then half the time up to `sleep` seconds more); True if it finished first."""
    task = asyncio.ensure_future(coro)
    for _ in range(rng.randrange(turns)):
        await asyncio.sleep(0)
    if rng.random() < 0.5:
        await asyncio.sleep(rng.uniform(0, sleep))
    task.cancel()
    done = await asyncio.gather(task, return_exceptions=True)
    return not isinstance(done[0], asyncio.CancelledError)


def _expected(n: int) -> dict[str, Any]:
    return {f"ch{k}": f"{n}-{k}-" + "x" * (k * 2000) for k in range(5)}


def _whole_or_absent(tup: Any, n: int) -> bool:
    """True if present (and then exactly as written), False if absent."""
    if tup is None:
        return False
    assert tup.checkpoint["channel_values"] == _expected(n)
    assert tup.metadata["n"] == n and tup.metadata["source"] == "loop"
    writes = [(c, v) for _, c, v in tup.pending_writes]
    assert writes in ([], [("ch0", f"w{n}-0"), ("ch1", f"w{n}-1"), ("ch2", f"w{n}-2")]), writes
    return True


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_cancelled_aput_and_aput_writes_are_all_or_nothing(backend: str, tmp_path: Path) -> None:
    """120 rounds of aput + aput_writes, each cancelled at a random point: right after the
    cancel and again once background work drained, every checkpoint is whole or absent,
    every batch of writes whole or absent; later calls on the saver succeed."""
    rng = random.Random(1066)

    async def main() -> None:
        saver = make_saver(backend, "async", tmp_path)
        finished = {"put": 0, "writes": 0}
        try:
            ids = []
            for n in range(ROUNDS):
                values = _expected(n)
                versions = {ch: f"{n + 1:032}.0" for ch in values}
                cp = checkpoint(values, versions)
                ids.append(cp["id"])
                cfg = config(f"c{n % 7}", "", None)
                finished["put"] += await _cancel_soon(saver.aput(cfg, cp, {"n": n, "source": "loop"}, versions), rng)
                target = config(f"c{n % 7}", "", cp["id"])
                writes = [(f"ch{k}", f"w{n}-{k}") for k in range(3)]
                finished["writes"] += await _cancel_soon(saver.aput_writes(target, writes, "task"), rng)
                _whole_or_absent(await saver.aget_tuple(target), n)
            await asyncio.sleep(0.2)  # let work that outlived its cancelled task finish
            present = 0
            for n, cid in enumerate(ids):
                present += _whole_or_absent(await saver.aget_tuple(config(f"c{n % 7}", "", cid)), n)
            listed = [t async for t in saver.alist(None)]
            assert len(listed) == present
            # the saver still works after all that
            again = checkpoint({"ok": 1}, {"ok": "1"})
            await saver.aput(config("after"), again, {}, {"ok": "1"})
            assert (await saver.aget_tuple(config("after"))).checkpoint["channel_values"] == {"ok": 1}
        finally:
            await saver.aclose()
        # the cancel points were spread: some operations finished, some were cut short
        assert 0 < finished["put"] < ROUNDS or 0 < finished["writes"] < ROUNDS, finished

    asyncio.run(main())


class Steps(TypedDict):
    done: Annotated[list[str], operator.add]


NODES = [f"n{i}" for i in range(5)]


def _graph(saver: Any) -> Any:
    builder = StateGraph(Steps)
    previous = START
    for name in NODES:

        async def node(state: Steps, name: str = name) -> dict:
            await asyncio.sleep(0)
            return {"done": [name]}

        builder.add_node(name, node)
        builder.add_edge(previous, name)
        previous = name
    return builder.compile(checkpointer=saver)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_cancelled_graph_runs_resume_exactly_once(backend: str, tmp_path: Path) -> None:
    """30 five-step graph runs cancelled at random points: every history loads with an
    unbroken parent chain, and resuming each run finishes it with every step exactly once."""
    rng = random.Random(2718)

    async def main() -> None:
        saver = make_saver(backend, "async", tmp_path)
        graph = _graph(saver)
        finished = 0
        lengths = set()
        try:
            for n in range(30):
                cfg = {"configurable": {"thread_id": f"g{n}"}}
                finished += await _cancel_soon(graph.ainvoke({"done": []}, cfg), rng, turns=80, sleep=0.02)
                await asyncio.sleep(0.01)
                history = [s async for s in graph.aget_state_history(cfg)]
                lengths.add(len(history))
                ids = {s.config["configurable"]["checkpoint_id"] for s in history}
                for snap in history:
                    if snap.parent_config is not None:
                        assert snap.parent_config["configurable"]["checkpoint_id"] in ids
                if not history:
                    continue  # cancelled before the first checkpoint: nothing to resume
                final = await graph.ainvoke(None, cfg)
                assert final["done"] == NODES, (n, final)
        finally:
            await saver.aclose()
        # cancels landed all along the run: at several different steps
        assert len(lengths) >= 3 and finished < 30, (lengths, finished)

    asyncio.run(main())
