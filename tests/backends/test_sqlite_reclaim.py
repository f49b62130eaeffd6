"""Disk reclaim: after large deletions the SQLite file (and its WAL) shrink."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.contract.conftest import checkpoint, config
from zerograph.checkpoint.sqlite import SqliteSaver

MB = 1024 * 1024


def disk(path: Path) -> int:
    return sum(os.path.getsize(p) for p in path.parent.glob(path.name + "*"))


@pytest.mark.slow
def test_200mb_file_shrinks_after_its_threads_are_deleted(tmp_path: Path) -> None:
    """Fill ~200 MB, delete most threads, vacuum(): the file gives the space back."""
    path = tmp_path / "big.db"
    with SqliteSaver(path) as saver:
        for n in range(200):
            value = os.urandom(MB)  # incompressible: what is on disk is what was stored
            saver.put(config(f"t{n}"), checkpoint({"blob": value}, {"blob": "1"}), {}, {"blob": "1"})
        saver.vacuum()  # folds the WAL into the file
        full = disk(path)
        assert full > 200 * MB
        for n in range(190):
            saver.delete_thread(f"t{n}")
        saver.vacuum()
        reclaimed = disk(path)
        assert reclaimed < 15 * MB, (full, reclaimed)
        assert saver.has_thread("t195") and not saver.has_thread("t5")
        assert saver._db._connection().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        print(f"reclaim: {full / MB:.1f} MiB -> {reclaimed / MB:.1f} MiB after deleting 190/200 threads")


def test_sweep_reclaims_space(tmp_path: Path) -> None:
    """A TTL sweep that removed threads also runs vacuum()."""
    clock = [1000.0]
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path, ttl=60, clock=lambda: clock[0]) as saver:
        for n in range(20):
            saver.put(config(f"t{n}"), checkpoint({"blob": os.urandom(256 * 1024)}, {"blob": "1"}), {}, {"blob": "1"})
        saver.vacuum()
        full = disk(path)
        clock[0] += 61
        assert saver.sweep() == 20
        assert disk(path) < full / 4
