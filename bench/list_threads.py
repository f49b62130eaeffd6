"""Benchmark: list_threads over many threads and checkpoints (SQLite).

    .venv/bin/python bench/list_threads.py                 # 1,500 threads / 200,000 checkpoints
    .venv/bin/python bench/list_threads.py --threads 150 --checkpoints 20000   # quick

Fills a fresh database through the public `put` API (small checkpoints, Pregel-shaped
metadata), then times the thread index: the first page, paging through every thread,
a metadata-filtered page, and `thread_info`. Medians of --repeat runs, in milliseconds.
With --baseline it also times what LangGraph users do today without a thread index:
`list(None)` over every checkpoint, grouped by thread.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from langgraph.checkpoint.base.id import uuid6

from zerograph.checkpoint.sqlite import SqliteSaver


def fill(saver: SqliteSaver, threads: int, checkpoints: int) -> None:
    per_thread = checkpoints // threads
    versions = {"messages": None, "step": None}
    for t in range(threads):
        parent = None
        for i in range(per_thread):
            v = saver.get_next_version(versions["step"], None)
            cp = {"v": 4, "id": str(uuid6(clock_seq=i)), "ts": "2026-11-22T00:00:00+00:00",
                  "channel_values": {"step": i}, "channel_versions": {"step": v},
                  "versions_seen": {}, "updated_channels": None}
            cfg = {"configurable": {"thread_id": f"thread-{t:05d}", "checkpoint_ns": "",
                                    "checkpoint_id": parent, "user_id": f"user-{t % 50}"}}
            meta = {"source": "loop", "step": i, "parents": {}, "run_id": f"run-{t}"}
            parent = saver.put(cfg, cp, meta, {"step": v})["configurable"]["checkpoint_id"]


def timed(fn, repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs), max(runs) - min(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1500)
    ap.add_argument("--checkpoints", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--baseline", action="store_true")
    args = ap.parse_args()
    path = Path(tempfile.mkdtemp()) / "bench.db"
    with SqliteSaver(path) as saver:
        start = time.perf_counter()
        fill(saver, args.threads, args.checkpoints)
        print(f"filled {args.threads} threads / {args.checkpoints} checkpoints in {time.perf_counter() - start:.1f} s")

        def all_pages() -> int:
            n, cursor = 0, None
            while True:
                page = saver.list_threads(limit=100, cursor=cursor)
                n += len(page)
                if page.next_cursor is None:
                    return n
                cursor = page.next_cursor

        assert all_pages() == args.threads
        rows = [
            ("list_threads(limit=100), first page", lambda: saver.list_threads(limit=100)),
            (f"list_threads, all {args.threads} threads in pages of 100", all_pages),
            ("list_threads(filter={'user_id': ...}, limit=100)", lambda: saver.list_threads(filter={"user_id": "user-7"})),
            ("thread_info(one thread)", lambda: saver.thread_info("thread-00042")),
        ]
        if args.baseline:
            def baseline() -> int:
                return len({t.config["configurable"]["thread_id"] for t in saver.list(None)})
            rows.append(("baseline: list(None) grouped by thread", baseline))
        print(f"{'operation':58} {'median ms':>10} {'spread ms':>10}")
        for name, fn in rows:
            median, spread = timed(fn, args.repeat if "baseline" not in name else 1)
            print(f"{name:58} {median:10.2f} {spread:10.2f}")


if __name__ == "__main__":
    main()
