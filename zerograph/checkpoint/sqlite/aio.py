"""`AsyncSqliteSaver`: the SQLite saver for `ainvoke`/`astream`.

It is a `SqliteSaver`: every `a*` method runs the matching sync method in one
`asyncio.to_thread` hop, so one awaited call is one whole transaction (a cancelled
`aput` leaves the checkpoint fully stored or absent, never half), and `alist` fetches
one page per hop. A `:memory:` database has a single connection, so all of its calls
go through one single-thread executor. The sync methods work from any thread,
including the event loop's own (LangGraph's raise `InvalidStateError` or deadlock there).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Callable, TypeVar

from zerograph.checkpoint.sqlite.saver import SqliteSaver

__all__ = ["AsyncSqliteSaver"]

T = TypeVar("T")


class AsyncSqliteSaver(SqliteSaver):
    """`SqliteSaver` for asyncio; takes the same arguments. May be built outside a loop."""

    _executor: ThreadPoolExecutor | None = None

    @classmethod
    @asynccontextmanager
    async def from_conn_string(  # type: ignore[override]
        cls, conn_string: str | Path = "checkpoints.db", **kwargs: Any
    ) -> AsyncIterator[AsyncSqliteSaver]:
        """`async with AsyncSqliteSaver.from_conn_string(path) as saver:` like LangGraph's."""
        saver = cls(conn_string, **kwargs)
        try:
            await saver.asetup()
            yield saver
        finally:
            await saver.aclose()

    async def _run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        if not self._db.in_memory:
            return await asyncio.to_thread(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._single_thread(), functools.partial(fn, *args, **kwargs))

    def _single_thread(self) -> ThreadPoolExecutor:
        # Shared through the Database object, so with_allowlist() clones use it too.
        db = self._db
        with _EXECUTOR_LOCK:
            executor = getattr(db, "executor", None)
            if executor is None:
                executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zerograph-sqlite")
                db.executor = executor  # type: ignore[attr-defined]
        return executor

    async def asetup(self) -> None:
        await self._run(self.setup)

    def close(self) -> None:
        super().close()
        executor = getattr(self._db, "executor", None)
        if executor is not None:
            executor.shutdown(wait=False)


_EXECUTOR_LOCK = threading.Lock()
