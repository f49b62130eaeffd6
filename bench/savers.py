"""The savers the benchmark compares, in pairs: zerograph's ("ours") and LangGraph's
("theirs"), each opened fresh on a fresh file, and the two ways to drive them.

A workload is written once, as a generator of saver calls (`("put", args)`, ...); `run`
executes it on a sync saver directly, `arun` on an async saver with the `a*` methods
inside one event loop. Timing is taken inside the generator, between its yields, so it
covers exactly the saver calls (and, for async, the event loop's share of them).

To add a backend pair (e.g. Redis: zerograph's saver vs langgraph-checkpoint-plainredis),
write two `SaverSpec`s whose `open` yields a ready saver on a fresh key prefix/database,
give them a `storage` function (e.g. the `used_memory` delta from `INFO memory`), and add
a `Pair` to `PAIRS` with an `available` check that returns a reason to skip when no
server is reachable. Every workload that lists the pair's key then runs it.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver as LGInMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver as LGSqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver as LGAsyncSqliteSaver

from zerograph.checkpoint.memory import InMemorySaver as ZGInMemorySaver
from zerograph.checkpoint.sqlite import AsyncSqliteSaver as ZGAsyncSqliteSaver
from zerograph.checkpoint.sqlite import SqliteSaver as ZGSqliteSaver

Ops = Generator[tuple[Any, ...], Any, Any]


def file_bytes(path: Path) -> int:
    """Bytes of a SQLite database on disk: the file plus its -wal and -shm."""
    return sum(
        os.path.getsize(p) for p in (str(path), f"{path}-wal", f"{path}-shm") if os.path.exists(p)
    )


@dataclass(frozen=True)
class SaverSpec:
    label: str
    kind: str  # "sync" or "async"
    open: Callable[[Path], Any]  # path -> (async) context manager yielding a ready saver
    storage: Callable[[Path], int] | None = None  # bytes stored after close; None: not on disk


@dataclass(frozen=True)
class Pair:
    key: str
    ours: SaverSpec
    theirs: SaverSpec
    note: str = ""
    available: Callable[[], str | None] = field(default=lambda: None)  # a reason to skip, or None


# --- zerograph ---------------------------------------------------------------------------


@contextmanager
def _zg_memory(path: Path) -> Iterator[Any]:
    saver = ZGInMemorySaver()
    try:
        yield saver
    finally:
        saver.close()


def _zg_sqlite(synchronous: str = "NORMAL") -> Callable[[Path], Any]:
    @contextmanager
    def open_(path: Path) -> Iterator[Any]:
        saver = ZGSqliteSaver(path, synchronous=synchronous)
        try:
            saver.setup()
            yield saver
        finally:
            saver.close()

    return open_


@asynccontextmanager
async def _zg_async(path: Path) -> AsyncIterator[Any]:
    async with ZGAsyncSqliteSaver.from_conn_string(path) as saver:
        yield saver


# --- LangGraph ---------------------------------------------------------------------------


@contextmanager
def _lg_memory(path: Path) -> Iterator[Any]:
    yield LGInMemorySaver()


@contextmanager
def _lg_sqlite(path: Path) -> Iterator[Any]:
    conn = sqlite3.connect(str(path), check_same_thread=False)
    try:
        saver = LGSqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


@asynccontextmanager
async def _lg_async(path: Path) -> AsyncIterator[Any]:
    async with LGAsyncSqliteSaver.from_conn_string(str(path)) as saver:
        await saver.setup()
        yield saver


ZG_MEMORY = SaverSpec("zerograph InMemorySaver", "sync", _zg_memory)
ZG_SQLITE = SaverSpec("zerograph SqliteSaver", "sync", _zg_sqlite("NORMAL"), file_bytes)
ZG_SQLITE_FULL = SaverSpec('zerograph SqliteSaver(synchronous="FULL")', "sync", _zg_sqlite("FULL"), file_bytes)
ZG_ASYNC = SaverSpec("zerograph AsyncSqliteSaver", "async", _zg_async, file_bytes)
LG_MEMORY = SaverSpec("LangGraph InMemorySaver", "sync", _lg_memory)
LG_SQLITE = SaverSpec("LangGraph SqliteSaver", "sync", _lg_sqlite, file_bytes)
LG_ASYNC = SaverSpec("LangGraph AsyncSqliteSaver", "async", _lg_async, file_bytes)

PAIRS: dict[str, Pair] = {
    "memory": Pair("memory", ZG_MEMORY, LG_MEMORY),
    "sqlite": Pair(
        "sqlite", ZG_SQLITE, LG_SQLITE,
        note="defaults: zerograph WAL+synchronous=NORMAL, LangGraph WAL+synchronous=FULL (sqlite3's default)",
    ),
    "sqlite-full": Pair(
        "sqlite-full", ZG_SQLITE_FULL, LG_SQLITE,
        note="durability matched: both WAL + synchronous=FULL (an fsync per commit)",
    ),
    "async": Pair("async", ZG_ASYNC, LG_ASYNC),
    # "redis": Pair("redis", ZG_REDIS, PLAINREDIS, available=redis_reachable),  # later
}


# --- running a workload generator ---------------------------------------------------------


def run(saver: Any, ops: Ops) -> Any:
    """Execute a workload's calls on a sync saver; return the generator's value."""
    result: Any = None
    try:
        while True:
            op = ops.send(result)
            name, args = op[0], op[1]
            kwargs = op[2] if len(op) > 2 else {}
            if name == "list":
                result = list(saver.list(*args, **kwargs))
            else:
                result = getattr(saver, name)(*args, **kwargs)
    except StopIteration as stop:
        return stop.value


async def arun(saver: Any, ops: Ops) -> Any:
    """Execute a workload's calls on an async saver (the a* methods)."""
    result: Any = None
    try:
        while True:
            op = ops.send(result)
            name, args = op[0], op[1]
            kwargs = op[2] if len(op) > 2 else {}
            if name == "list":
                result = [t async for t in saver.alist(*args, **kwargs)]
            elif name == "get_next_version":
                result = saver.get_next_version(*args, **kwargs)
            else:
                result = await getattr(saver, "a" + name)(*args, **kwargs)
    except StopIteration as stop:
        return stop.value


def session(spec: SaverSpec, path: Path, make_ops: Callable[[Any], Ops]) -> Any:
    """Open a fresh saver, run one workload generator on it, close it."""
    if spec.kind == "sync":
        with spec.open(path) as saver:
            return run(saver, make_ops(saver))

    async def main() -> Any:
        async with spec.open(path) as saver:
            return await arun(saver, make_ops(saver))

    return asyncio.run(main())


def concurrent_session(spec: SaverSpec, path: Path, make_ops: list[Callable[[Any], Ops]]) -> list[Any]:
    """Run several workload generators at once on one shared saver: OS threads for a
    sync saver, asyncio tasks on one loop for an async saver. Returns (wall seconds,
    results); the clock starts when every worker is ready."""
    import time

    if spec.kind == "sync":
        with spec.open(path) as saver:
            barrier = threading.Barrier(len(make_ops) + 1)
            results: list[Any] = [None] * len(make_ops)
            errors: list[BaseException] = []

            def worker(k: int) -> None:
                ops = make_ops[k](saver)
                barrier.wait()
                try:
                    results[k] = run(saver, ops)
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(make_ops))]
            for t in threads:
                t.start()
            barrier.wait()
            start = time.perf_counter()
            for t in threads:
                t.join()
            wall = time.perf_counter() - start
            if errors:
                raise errors[0]
            return [wall, results]

    async def main() -> list[Any]:
        async with spec.open(path) as saver:
            gens = [m(saver) for m in make_ops]
            start = time.perf_counter()
            results = await asyncio.gather(*(arun(saver, g) for g in gens))
            return [time.perf_counter() - start, list(results)]

    return asyncio.run(main())
