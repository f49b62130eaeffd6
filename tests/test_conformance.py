"""LangGraph's public conformance suite (`langgraph-checkpoint-conformance`) on every saver.

The suite only calls the `a*` methods, so each backend runs twice: once through its own
async API, and once through a thin adapter whose `a*` methods call the SYNC methods in a
worker thread — so the sync API is held to the same contract.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate

from tests.conftest import BACKENDS, make_saver

CAPABILITIES = [
    "put",
    "put_writes",
    "get_tuple",
    "list",
    "delete_thread",
    "delete_for_runs",
    "copy_thread",
    "prune",
]

# a* method -> the sync method it must delegate to (alist is special-cased below).
_SYNC_TWINS = {
    "aget_tuple": "get_tuple",
    "aput": "put",
    "aput_writes": "put_writes",
    "adelete_thread": "delete_thread",
    "adelete_for_runs": "delete_for_runs",
    "acopy_thread": "copy_thread",
    "aprune": "prune",
    "aget_delta_channel_history": "get_delta_channel_history",
    "aget_pending_writes": "get_pending_writes",
}


def _to_thread(sync_name: str) -> Any:
    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self, sync_name), *args, **kwargs)

    method.__name__ = f"a{sync_name}"
    return method


async def _alist(self: Any, *args: Any, **kwargs: Any) -> Any:
    # Materialize the sync generator inside the worker thread, not on the event loop.
    for tup in await asyncio.to_thread(lambda: list(self.list(*args, **kwargs))):
        yield tup


@functools.cache
def sync_adapter(cls: type) -> type:
    """A subclass of `cls` whose async API is the sync API run via `asyncio.to_thread`."""
    methods: dict[str, Any] = {name: _to_thread(sync) for name, sync in _SYNC_TWINS.items()}
    methods["alist"] = _alist
    return type(f"SyncAdapted{cls.__name__}", (cls,), methods)


@pytest.mark.parametrize("api", ["async", "sync"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_conformance(backend: str, api: str, tmp_path: Path) -> None:
    """Every capability of the conformance suite is detected and fully passes."""
    counter = itertools.count()

    @checkpointer_test(name=f"zerograph-{backend}-{api}")
    async def factory() -> Any:
        db_dir = tmp_path / f"db{next(counter)}"  # a fresh file DB per capability suite
        db_dir.mkdir()
        saver = make_saver(backend, api, db_dir)
        if api == "sync":
            saver.__class__ = sync_adapter(type(saver))
        try:
            yield saver
        finally:
            saver.close()

    report = asyncio.run(validate(factory))
    results = report.to_dict()["results"]
    problems = []
    for cap in CAPABILITIES:
        r = results.get(cap)
        if r is None or not r["detected"]:
            problems.append(f"{cap}: not detected")
        elif r["passed"] is not True or r["tests_failed"] or not r["tests_passed"]:
            problems.append(
                f"{cap}: {r['tests_failed']} failed / {r['tests_passed']} passed\n    "
                + "\n    ".join(r["failures"])
            )
    assert not problems, f"{report.checkpointer_name} conformance failures:\n" + "\n".join(problems)
    assert report.passed_all_base() and report.conformance_level() == "FULL"
