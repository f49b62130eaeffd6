"""Crash safety: a writer process killed with SIGKILL at random moments loses no
checkpoint it was told was stored, and the file stays sound (`PRAGMA integrity_check`).

The child (`_writer.py crash`) prints an acknowledgement after each `put` / `put_writes`
returned; the parent kills it at a random moment, reopens the file, and checks every
acknowledged checkpoint and write is there, byte for byte. Rounds continue the same
thread, so each round also resumes from whatever the previous kill left behind.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.reliability._writer import expected_value, expected_writes
from zerograph.checkpoint.sqlite import SqliteSaver

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 12


class Child:
    """A writer subprocess whose stdout lines are collected on a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability._writer", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.endswith("\n"):
                break  # cut off by the kill: not an acknowledgement
            self.lines.append(line.rstrip("\n"))
            if line == "ready\n":
                self.ready.set()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(30)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(30)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code


def _verify(path: Path, acked_puts: dict[str, int], acked_writes: dict[str, int]) -> None:
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    raw.close()
    with SqliteSaver(path) as saver:
        stored = {t.config["configurable"]["checkpoint_id"]: t for t in saver.list({"configurable": {"thread_id": "chain"}})}
        missing = set(acked_puts) - set(stored)
        assert not missing, f"{len(missing)} acknowledged checkpoints lost"
        for cid, step in acked_puts.items():
            assert stored[cid].checkpoint["channel_values"]["v"] == expected_value("chain", step)
            assert stored[cid].metadata["step"] == step
        for cid, step in acked_writes.items():
            got = sorted((c, v) for _, c, v in stored[cid].pending_writes)
            assert got == sorted(expected_writes("chain", step), key=lambda w: w[0])
        # the chain is whole: every stored checkpoint's parent is stored too
        for tup in stored.values():
            if tup.parent_config is not None:
                assert tup.parent_config["configurable"]["checkpoint_id"] in stored


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_acknowledged_checkpoint(tmp_path: Path) -> None:
    """12 rounds (sync and async savers alternating), each SIGKILLed 50-400 ms after the
    writer is ready: every acknowledged put and write survives, integrity_check is ok."""
    path = tmp_path / "crash.db"
    rng = random.Random(6)
    acked_puts: dict[str, int] = {}
    acked_writes: dict[str, int] = {}

    def one_round(round_: int) -> bool:
        """Run and kill one writer, check the file; True if the kill fell between a
        put and its writes."""
        child = Child("crash", str(path), "chain", str(round_ % 2), "0")
        try:
            assert child.ready.wait(60), "writer never became ready"
            time.sleep(rng.uniform(0.05, 0.4))
        finally:
            child.kill()
        assert "Traceback" not in child.stderr, child.stderr
        for line in child.lines:
            kind, *rest = line.split()
            if kind == "put":
                acked_puts[rest[0]] = int(rest[1])
            elif kind == "writes":
                acked_writes[rest[0]] = int(rest[1])
        _verify(path, acked_puts, acked_writes)
        return child.lines[-1].startswith("put")

    killed_mid_write = sum(one_round(r) for r in range(ROUNDS))
    assert len(acked_puts) >= ROUNDS, "the writer barely wrote anything; the test proves little"
    # A kill between a put and its writes must have happened at least once, or that case
    # went untested. It lands there in about one round in six, so 12 rounds miss it about
    # one time in ten: keep killing (each round checked as above) until it has happened.
    for extra in range(3 * ROUNDS):
        if killed_mid_write:
            break
        killed_mid_write += one_round(ROUNDS + extra)
    assert killed_mid_write >= 1, "no kill fell between a put and its writes in 48 rounds"
