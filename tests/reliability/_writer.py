"""A child process for the crash and multi-process tests: writes checkpoints and
acknowledges each one on stdout only after the saver call returned.

    python -m tests.reliability._writer crash   PATH THREAD ASYNC(0|1) SEED
    python -m tests.reliability._writer contend PATH WORKER STEPS

`crash` writes until it is killed. Each step puts a checkpoint (a value of a few KB to a
few hundred KB, so a kill often lands inside a transaction), prints `put ID STEP`, puts
three pending writes, prints `writes ID STEP`. `expected_value` is how the parent checks
what it was told was stored.

`contend` is one of several processes on one file: each step appends to its own thread
and to one shared thread (parent = that thread's latest checkpoint, read first, as a
resumed graph does), adds writes to the shared thread's latest checkpoint, and lists.
It prints `put THREAD ID STEP` per acknowledged checkpoint and `error TYPE MESSAGE` for
any exception (then exits 1).
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from typing import Any

from langgraph.checkpoint.base.id import uuid6

from zerograph.checkpoint.sqlite import AsyncSqliteSaver, SqliteSaver


def expected_value(thread: str, step: int) -> bytes:
    """Deterministic, incompressible, 4 KB to 260 KB."""
    seed = hashlib.sha256(f"{thread}/{step}".encode()).digest()
    size = 4096 + (seed[0] * 1000)
    return hashlib.shake_256(seed).digest(size)


def expected_writes(thread: str, step: int) -> list[tuple[str, Any]]:
    return [("v", step), ("log", f"{thread}/{step}"), ("__interrupt__", {"step": step})]


def _checkpoint(cid: str, values: dict[str, Any], versions: dict[str, str]) -> dict[str, Any]:
    return {
        "v": 4,
        "id": cid,
        "ts": "2026-06-01T00:00:00+00:00",
        "channel_values": values,
        "channel_versions": versions,
        "versions_seen": {},
        "updated_channels": list(values),
    }


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def crash(path: str, thread: str, use_async: bool) -> None:
    saver = (AsyncSqliteSaver if use_async else SqliteSaver)(path)
    latest = saver.get_tuple({"configurable": {"thread_id": thread}})
    parent = latest.config["configurable"]["checkpoint_id"] if latest else None
    version = latest.checkpoint["channel_versions"]["v"] if latest else None
    step = (latest.metadata["step"] + 1) if latest else 0
    loop = asyncio.new_event_loop() if use_async else None

    def call(name: str, *args: Any) -> Any:
        if loop is None:
            return getattr(saver, name)(*args)
        return loop.run_until_complete(getattr(saver, "a" + name)(*args))

    _say("ready")
    while True:
        version = saver.get_next_version(version, None)
        cid = str(uuid6(clock_seq=-1))
        cfg = {"configurable": {"thread_id": thread, "checkpoint_ns": "", "checkpoint_id": parent}}
        cp = _checkpoint(cid, {"v": expected_value(thread, step)}, {"v": version})
        out = call("put", cfg, cp, {"source": "loop", "step": step}, {"v": version})
        _say(f"put {cid} {step}")
        for n, write in enumerate(expected_writes(thread, step)):
            call("put_writes", out, [write], f"task-{n}", "")
        _say(f"writes {cid} {step}")
        parent, step = cid, step + 1


def contend(path: str, worker: str, steps: int) -> None:
    shared = {"configurable": {"thread_id": "shared", "checkpoint_ns": ""}}
    with SqliteSaver(path) as saver:
        parent = None
        for step in range(steps):
            try:
                own = saver.put(
                    {"configurable": {"thread_id": f"own-{worker}", "checkpoint_ns": "", "checkpoint_id": parent}},
                    _checkpoint(str(uuid6(clock_seq=-1)), {"v": step}, {"v": f"{step + 1:032}.0"}),
                    {"step": step, "worker": worker},
                    {"v": f"{step + 1:032}.0"},
                )
                parent = own["configurable"]["checkpoint_id"]
                _say(f"put own-{worker} {parent} {step}")
                latest = saver.get_tuple(shared)
                head = latest.config["configurable"]["checkpoint_id"] if latest else None
                version = saver.get_next_version(latest.checkpoint["channel_versions"].get("v") if latest else None, None)
                out = saver.put(
                    {"configurable": {**shared["configurable"], "checkpoint_id": head}},
                    _checkpoint(str(uuid6(clock_seq=-1)), {"v": f"{worker}/{step}"}, {"v": version}),
                    {"step": step, "worker": worker},
                    {"v": version},
                )
                _say(f"put shared {out['configurable']['checkpoint_id']} {step}")
                if head is not None:
                    saver.put_writes({"configurable": {**shared["configurable"], "checkpoint_id": head}}, [("v", worker)], f"{worker}-{step}")
                    _say(f"writes shared {head} {worker}-{step}")
                list(saver.list(shared, limit=5))
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
                _say(f"error {type(exc).__name__} {exc}")
                sys.exit(1)


if __name__ == "__main__":
    mode, path, *rest = sys.argv[1:]
    if mode == "crash":
        crash(path, rest[0], rest[1] == "1")
    elif mode == "contend":
        contend(path, rest[0], int(rest[1]))
    else:
        raise SystemExit(f"unknown mode {mode}")
