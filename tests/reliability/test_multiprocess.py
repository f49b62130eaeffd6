"""Several processes writing one SQLite file: zero "database is locked" errors and nothing
lost, for distinct threads and for one thread they all append to; contention past the
timeout is a clear `StorageTimeout`, never a hang, and leaves nothing half-written.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import checkpoint, config
from tests.reliability.test_crash import ROOT, Child
from zerograph.checkpoint.sqlite import AsyncSqliteSaver, SqliteSaver
from zerograph.errors import StorageTimeout

WORKERS = 4
STEPS = 30


@pytest.mark.slow
def test_processes_on_one_file_distinct_and_shared_thread(tmp_path: Path) -> None:
    """4 processes x 30 steps: each appends to its own thread and to one shared thread
    (reading its head first), adds writes to the shared head, and lists. No process sees
    an error; every acknowledged checkpoint and write is there afterwards."""
    path = tmp_path / "shared.db"
    with SqliteSaver(path) as saver:
        saver.setup()
    children = [Child("contend", str(path), str(n), str(STEPS)) for n in range(WORKERS)]
    try:
        codes = [child.wait(240) for child in children]
    finally:
        for child in children:
            if child.proc.poll() is None:
                child.kill()
    errors = [line for child in children for line in child.lines if line.startswith("error")]
    assert errors == [] and codes == [0] * WORKERS, (errors, [c.stderr[-2000:] for c in children])
    acked = [line.split() for child in children for line in child.lines]
    with SqliteSaver(path) as saver:
        for n in range(WORKERS):
            own = list(saver.list(config(f"own-{n}")))
            assert [t.checkpoint["channel_values"]["v"] for t in own] == list(range(STEPS))[::-1]
        shared = {t.config["configurable"]["checkpoint_id"]: t for t in saver.list(config("shared"))}
        shared_puts = [row[2] for row in acked if row[:2] == ["put", "shared"]]
        assert len(shared_puts) == WORKERS * STEPS and set(shared_puts) <= set(shared)
        assert len(shared) == WORKERS * STEPS
        writes = Counter(
            (cid, task) for cid, t in shared.items() for task, _, _ in t.pending_writes
        )
        for row in acked:
            if row[:2] == ["writes", "shared"]:
                assert writes[(row[2], row[3])] == 1
        assert saver._db._connection().execute("PRAGMA integrity_check").fetchone()[0] == "ok"


class LockHolder:
    """Another process holding the write lock (BEGIN IMMEDIATE) until stopped."""

    CODE = (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(120)\n"
    )

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.CODE, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "locked\n"

    def stop(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def _snapshot(saver: Any) -> list[Any]:
    return [(t.config, t.checkpoint, t.metadata, t.pending_writes) for t in saver.list(None)]


@pytest.mark.slow
def test_contention_past_the_timeout_is_a_clear_storage_timeout(tmp_path: Path) -> None:
    """While another process holds the write lock, put/put_writes/delete wait `timeout`
    seconds, then raise StorageTimeout (a TimeoutError) naming the timeout; reads still
    work; nothing is half-written; once the lock is gone, the same put succeeds."""
    path = tmp_path / "locked.db"
    with SqliteSaver(path, timeout=0.5) as saver:
        first = saver.put(config("t"), checkpoint({"a": 1}, {"a": "1"}), {}, {"a": "1"})
        before = _snapshot(saver)
        holder = LockHolder(path)
        try:
            operations = [
                lambda: saver.put(first, checkpoint({"a": 2}, {"a": "2"}), {}, {"a": "2"}),
                lambda: saver.put_writes(first, [("a", 9)], "task"),
                lambda: saver.delete_thread("t"),
            ]
            for operation in operations:
                start = time.monotonic()
                with pytest.raises(StorageTimeout, match="timeout") as info:
                    operation()
                elapsed = time.monotonic() - start
                assert 0.4 <= elapsed < 10, elapsed
                assert isinstance(info.value, TimeoutError)
                assert "locked" in str(info.value)
            assert _snapshot(saver) == before  # reads are not blocked by the writer
        finally:
            holder.stop()
        saver.put(first, checkpoint({"a": 2}, {"a": "2"}), {}, {"a": "2"})
        assert [t.checkpoint["channel_values"]["a"] for t in saver.list(config("t"))] == [2, 1]


@pytest.mark.slow
def test_async_contention_times_out_without_blocking_the_loop(tmp_path: Path) -> None:
    """aput under a held lock raises StorageTimeout after the timeout, and the event loop
    keeps running other tasks meanwhile."""
    path = tmp_path / "locked.db"

    async def main() -> None:
        async with AsyncSqliteSaver.from_conn_string(str(path), timeout=0.6) as saver:
            first = await saver.aput(config("t"), checkpoint({"a": 1}, {"a": "1"}), {}, {"a": "1"})
            holder = LockHolder(path)
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            tick_task = asyncio.create_task(ticker())
            try:
                with pytest.raises(StorageTimeout):
                    await saver.aput(first, checkpoint({"a": 2}, {"a": "2"}), {}, {"a": "2"})
            finally:
                tick_task.cancel()
                await asyncio.gather(tick_task, return_exceptions=True)
                holder.stop()
            assert ticks >= 20, ticks
            assert [t.checkpoint["channel_values"]["a"] async for t in saver.alist(config("t"))] == [1]

    asyncio.run(main())
