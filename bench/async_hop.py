"""What one `asyncio.to_thread` hop costs on this machine, and what that means for the
AsyncSqliteSaver / SqliteSaver ratio of the agent workload.

    .venv/bin/python bench/async_hop.py

Every `a*` method of AsyncSqliteSaver is one `asyncio.to_thread` call of the sync method
(so one awaited call is one transaction, and the event loop never waits on SQLite). An
agent step makes four calls (get_tuple, 2x put_writes, put), so the async saver cannot
be faster than `sync_step / (sync_step + 4 * hop)` of the sync one. This prints the hop
(an empty function), a bare thread ping-pong for comparison, and that bound for the
sync step time measured here.
"""

from __future__ import annotations

import asyncio
import queue
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.savers import ZG_SQLITE
from bench.workloads import SCALES, measure_agent


def _noop() -> None:
    return None


async def _hops(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await asyncio.to_thread(_noop)
    return (time.perf_counter() - start) / n


def _ping_pong(n: int) -> float:
    there: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    back: queue.SimpleQueue[int] = queue.SimpleQueue()

    def echo() -> None:
        while (item := there.get()) is not None:
            back.put(item)

    worker = threading.Thread(target=echo)
    worker.start()
    start = time.perf_counter()
    for i in range(n):
        there.put(i)
        back.get()
    elapsed = (time.perf_counter() - start) / n
    there.put(None)
    worker.join()
    return elapsed


def _sync_step() -> float:
    """Seconds per step of the agent workload on SqliteSaver, as bench/run.py measures it."""
    with tempfile.TemporaryDirectory() as root:
        return 1 / measure_agent(ZG_SQLITE, Path(root) / "hop.db", SCALES["full"])["steps_per_s"]


def main() -> int:
    hop = statistics.median(asyncio.run(_hops(2000)) for _ in range(5))
    pp = statistics.median(_ping_pong(2000) for _ in range(5))
    step = statistics.median(_sync_step() for _ in range(3))
    print(f"asyncio.to_thread hop (empty function): {hop * 1e6:.0f} us")
    print(f"bare thread ping-pong (SimpleQueue):     {pp * 1e6:.0f} us")
    print(f"SqliteSaver agent step (full scale):      {step * 1e6:.0f} us")
    print(f"bound on AsyncSqliteSaver / SqliteSaver:  {step / (step + 4 * hop):.2f}x (4 hops a step)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
