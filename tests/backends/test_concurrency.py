"""Many threads on one saver, many processes on one file: zero errors, nothing lost."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, make_saver
from tests.contract.conftest import checkpoint, config
from zerograph.checkpoint.sqlite import SqliteSaver

THREADS = 16
STEPS = 25


def write_thread(saver: Any, thread_id: str, steps: int, shared: str | None = None) -> None:
    """Pregel's pattern: put a checkpoint, then two tasks' writes, every step."""
    parent = None
    versions: dict[str, str] = {}
    for i in range(steps):
        versions["a"] = saver.get_next_version(versions.get("a"), None)
        cfg = saver.put(config(thread_id, "", parent), checkpoint({"a": i}, dict(versions)), {"step": i}, {"a": versions["a"]})
        saver.put_writes(cfg, [("a", i), ("__interrupt__", "x")], "task-1", "~p, 1")
        saver.put_writes(cfg, [("a", -i)], "task-2", "~p, 2")
        if shared is not None:  # every worker also appends to one common thread
            saver.put(config(shared), checkpoint({}, {}), {"writer": thread_id, "step": i}, {})
        parent = cfg["configurable"]["checkpoint_id"]


def check_thread(saver: Any, thread_id: str, steps: int) -> None:
    got = list(saver.list(config(thread_id)))
    assert len(got) == steps
    assert sorted(t.checkpoint["channel_values"]["a"] for t in got) == list(range(steps))
    for t in got:
        i = t.checkpoint["channel_values"]["a"]
        assert t.pending_writes == [("task-1", "__interrupt__", "x"), ("task-1", "a", i), ("task-2", "a", -i)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_sixteen_threads_share_one_saver(backend: str, tmp_path: Path) -> None:
    """16 OS threads writing and reading through one saver object."""
    saver = make_saver(backend, "sync", tmp_path)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            write_thread(saver, f"thread-{n}", STEPS, shared="common")
            check_thread(saver, f"thread-{n}", STEPS)
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    try:
        assert not errors, errors[:3]
        for n in range(THREADS):
            check_thread(saver, f"thread-{n}", STEPS)
        assert len(list(saver.list(config("common")))) == THREADS * STEPS
    finally:
        saver.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_sixteen_asyncio_tasks_share_one_saver(backend: str, tmp_path: Path) -> None:
    """16 asyncio tasks interleaving aput / aput_writes / alist on one saver."""

    async def main() -> None:
        saver = make_saver(backend, "async", tmp_path)
        try:
            async def work(n: int) -> None:
                parent = None
                for i in range(STEPS):
                    v = saver.get_next_version(None, None)
                    cfg = await saver.aput(config(f"a-{n}", "", parent), checkpoint({"a": i}, {"a": v}), {}, {"a": v})
                    await saver.aput_writes(cfg, [("a", i)], "task")
                    parent = cfg["configurable"]["checkpoint_id"]
                    assert len([t async for t in saver.alist(config(f"a-{n}"), limit=2)]) == min(i + 1, 2)

            await asyncio.gather(*(work(n) for n in range(THREADS)))
            for n in range(THREADS):
                got = [t async for t in saver.alist(config(f"a-{n}"))]
                assert [t.checkpoint["channel_values"]["a"] for t in got] == list(range(STEPS))[::-1]
        finally:
            saver.close()

    asyncio.run(main())


def _process_worker(path: str, n: int, steps: int) -> None:
    with SqliteSaver(path, timeout=60) as saver:
        write_thread(saver, f"proc-{n}", steps, shared="common")


@pytest.mark.slow
def test_four_processes_write_one_file(tmp_path: Path) -> None:
    """4 processes on one SQLite file: distinct threads and one shared thread, no locks lost."""
    path = str(tmp_path / "shared.db")
    with SqliteSaver(path) as saver:
        saver.setup()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_worker, args=(path, n, 40)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    with SqliteSaver(path) as saver:
        for n in range(4):
            check_thread(saver, f"proc-{n}", 40)
        assert len(list(saver.list(config("common")))) == 4 * 40
        assert saver._db._connection().execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* fork:DeprecationWarning")
def test_saver_reconnects_after_fork(tmp_path: Path) -> None:
    """A saver used before fork() keeps working in the child, on its own connection."""
    with SqliteSaver(tmp_path / "db.sqlite") as saver:
        write_thread(saver, "parent", 2)
        ctx = multiprocessing.get_context("fork")
        child = ctx.Process(target=write_thread, args=(saver, "child", 3))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        check_thread(saver, "child", 3)
        check_thread(saver, "parent", 2)
