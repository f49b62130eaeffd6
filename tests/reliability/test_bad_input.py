"""Bad input gets a clear error, and nothing already stored is lost or changed.

Covers: a missing thread_id, a None (or non-dict) config, a value that cannot be
serialized, and SQLite paths that are a directory, not a database, read-only, or on a
full disk.

Read-only and full disk, two ways each. Tests run as root here, and root ignores file
permissions, so `chmod` proves nothing:
- always: a read-only `file:...?mode=ro` URI, and a full disk simulated with SQLite's
  `PRAGMA max_page_count` on the saver's connections (SQLite then fails exactly as on a
  full disk: SQLITE_FULL, "database or disk is full");
- where the sandbox allows `mount` (root with CAP_SYS_ADMIN; skipped otherwise, with the
  reason): a real 1 MiB tmpfs that fills up, and a tmpfs remounted read-only.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, make_saver
from tests.contract.conftest import checkpoint, config
from zerograph.checkpoint.sqlite import SqliteSaver, _schema
from zerograph.errors import ConfigError, SchemaError, StorageError


def _snapshot(saver: Any) -> list[Any]:
    """Everything a saver holds, as plain data."""
    return [(t.config, t.checkpoint, t.metadata, t.parent_config, t.pending_writes) for t in saver.list(None)]


def _seed(saver: Any) -> dict:
    first = saver.put(config("keep"), checkpoint({"a": 1}, {"a": "1"}), {"n": 1}, {"a": "1"})
    saver.put_writes(first, [("a", 2)], "task")
    return first


@pytest.fixture
def seeded(backend: str, tmp_path: Path) -> Iterator[tuple[Any, dict, list[Any]]]:
    saver = make_saver(backend, "sync", tmp_path)
    first = _seed(saver)
    yield saver, first, _snapshot(saver)
    saver.close()


NO_THREAD = [None, "thread-1", 42, {}, {"configurable": {}}, {"configurable": None}, {"configurable": {"thread_id": None}}, {"thread_id": "t"}]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", NO_THREAD, ids=repr)
def test_missing_thread_id_or_bad_config_is_a_config_error(seeded: tuple[Any, dict, list[Any]], bad: Any) -> None:
    """get_tuple / put / put_writes / delta history with no usable thread_id raise
    ConfigError (a ValueError) that says what to pass; nothing changes."""
    saver, _, before = seeded
    calls = [
        lambda: saver.get_tuple(bad),
        lambda: saver.put(bad, checkpoint({"a": 9}, {"a": "9"}), {}, {"a": "9"}),
        lambda: saver.put_writes(bad, [("a", 9)], "task"),
        lambda: saver.get_delta_channel_history(config=bad, channels=["a"]),
    ]
    if bad is not None:  # list(None) lists every thread; any other non-config is an error
        calls.append(lambda: list(saver.list(bad)))
    for call in calls:
        with pytest.raises(ConfigError, match="thread_id|config must be") as info:
            call()
        assert isinstance(info.value, ValueError)
    assert _snapshot(saver) == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_put_writes_without_checkpoint_id_is_a_config_error(seeded: tuple[Any, dict, list[Any]]) -> None:
    """Writes need the checkpoint they belong to."""
    saver, _, before = seeded
    with pytest.raises(ConfigError, match="checkpoint_id"):
        saver.put_writes(config("keep"), [("a", 1)], "task")
    assert _snapshot(saver) == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_none_thread_id_in_thread_operations_is_a_config_error(backend: str, tmp_path: Path) -> None:
    """delete_thread(None) must not delete the thread called "None"."""
    saver = make_saver(backend, "sync", tmp_path)
    try:
        saver.put(config("None"), checkpoint({"a": 1}, {"a": "1"}), {}, {"a": "1"})
        with pytest.raises(ConfigError):
            saver.delete_thread(None)
        assert saver.has_thread("None")
    finally:
        saver.close()


class Unserializable:
    pass


BAD_VALUES = [object(), Unserializable(), lambda: 1, {"nested": [1, {"deep": object()}]}, open]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_unserializable_value_is_a_clear_error_and_stores_nothing(backend: str, flavour: str, tmp_path: Path) -> None:
    """A channel value, pending write or metadata value msgpack cannot encode raises a
    TypeError naming the type; the failed put or write batch stores nothing at all."""
    saver = make_saver(backend, flavour, tmp_path)
    loop = asyncio.new_event_loop() if flavour == "async" else None

    def call(name: str, *args: Any) -> Any:
        if loop is None:
            return getattr(saver, name)(*args)
        return loop.run_until_complete(getattr(saver, "a" + name)(*args))

    try:
        first = _seed(saver)
        before = _snapshot(saver)
        for bad in BAD_VALUES:
            with pytest.raises(TypeError, match="cannot store this .* not msgpack serializable"):
                call("put", first, checkpoint({"a": 3, "b": bad}, {"a": "3", "b": "3"}), {}, {"a": "3", "b": "3"})
            with pytest.raises(TypeError, match="not msgpack serializable"):
                call("put", first, checkpoint({"a": 3}, {"a": "3"}), {"bad": bad}, {"a": "3"})
            with pytest.raises(TypeError, match="not msgpack serializable"):
                call("put_writes", first, [("a", 10), ("b", bad), ("__interrupt__", "x")], "task-2")
            assert _snapshot(saver) == before
        # and the saver still works
        call("put_writes", first, [("a", 10)], "task-2")
        assert call("get_tuple", first).pending_writes == [("task", "a", 2), ("task-2", "a", 10)]
    finally:
        if loop is not None:
            loop.close()
        saver.close()


# --- SQLite paths --------------------------------------------------------------------------


def test_path_that_is_a_directory_is_a_storage_error(tmp_path: Path) -> None:
    """A directory is not a database file: StorageError saying so; the directory is untouched."""
    (tmp_path / "inside.txt").write_text("x")
    with SqliteSaver(tmp_path) as saver, pytest.raises(StorageError, match="is not a directory|directory"):
        saver.get_tuple(config("t"))
    assert [p.name for p in tmp_path.iterdir()] == ["inside.txt"]


def test_path_in_a_missing_directory_is_a_storage_error(tmp_path: Path) -> None:
    """A path whose directory does not exist: StorageError naming the path."""
    path = tmp_path / "no" / "such" / "dir.db"
    with SqliteSaver(path) as saver, pytest.raises(StorageError, match="dir.db"):
        saver.put(config("t"), checkpoint({}, {}), {}, {})
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize(
    "content",
    [os.urandom(8192), b"hello world\n" * 500, b"SQLite format 3\x00" + os.urandom(4080)],
    ids=["random-bytes", "text-file", "damaged-header"],
)
def test_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    """A file that is not an SQLite database: SchemaError (a StorageError) for reads and
    writes, and the file's bytes are exactly as before; no -wal / -shm left behind."""
    path = tmp_path / "important.doc"
    path.write_bytes(content)
    with SqliteSaver(path) as saver:
        for call in (lambda: saver.get_tuple(config("t")), lambda: saver.put(config("t"), checkpoint({}, {}), {}, {})):
            with pytest.raises(StorageError, match="not a SQLite database|not a database|malformed"):
                call()
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["important.doc"]


def test_langgraph_database_is_refused_untouched(tmp_path: Path) -> None:
    """A file written by LangGraph's own SqliteSaver is recognised and left alone."""
    from langgraph.checkpoint.sqlite import SqliteSaver as LangGraphSqliteSaver

    path = tmp_path / "langgraph.db"
    conn = sqlite3.connect(path, check_same_thread=False)
    LangGraphSqliteSaver(conn).setup()
    conn.close()
    content = path.read_bytes()
    with SqliteSaver(path) as saver, pytest.raises(SchemaError, match="langgraph-checkpoint-sqlite"):
        saver.get_tuple(config("t"))
    assert path.read_bytes() == content


def test_read_only_uri_reads_and_refuses_writes(tmp_path: Path) -> None:
    """`file:...?mode=ro` (how to open read-only as root): reads work; every write raises
    StorageError saying read-only; the data is unchanged afterwards."""
    path = tmp_path / "ro.db"
    with SqliteSaver(path) as saver:
        first = _seed(saver)
        before = _snapshot(saver)
    with SqliteSaver(f"file:{path}?mode=ro") as ro:
        assert _snapshot(ro) == before
        for call in (
            lambda: ro.put(first, checkpoint({"a": 2}, {"a": "2"}), {}, {"a": "2"}),
            lambda: ro.put_writes(first, [("a", 3)], "t2"),
            lambda: ro.delete_thread("keep"),
            lambda: ro.prune(["keep"]),
        ):
            with pytest.raises(StorageError, match="read-only"):
                call()
    with SqliteSaver(path) as saver:
        assert _snapshot(saver) == before


@pytest.fixture
def page_limit(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set `PRAGMA max_page_count` on every connection a saver opens from now on."""

    def limit(pages: int | None) -> None:
        if pages is None:
            monkeypatch.delitem(_schema.CONNECTION_PRAGMAS, "max_page_count", raising=False)
        else:
            monkeypatch.setitem(_schema.CONNECTION_PRAGMAS, "max_page_count", str(pages))

    return limit


def _fill(saver: Any, parent: dict, size: int, limit: int = 500) -> tuple[list[dict], StorageError]:
    """Put checkpoints of `size`-byte values until the disk is full; return what was acknowledged."""
    acked = []
    for n in range(limit):
        version = f"{n + 10:032}.0"
        try:
            cfg = saver.put(parent, checkpoint({"a": os.urandom(size)}, {"a": version}), {"n": n}, {"a": version})
        except StorageError as exc:
            return acked, exc
        acked.append(cfg)
        parent = cfg
    raise AssertionError("the disk never filled up")


def _check_full_disk_behaviour(path: Path, saver: Any, first: dict, before: list[Any]) -> list[StorageError]:
    """Fill the disk; check nothing stored was lost; return the errors raised."""
    acked, error = _fill(saver, first, 30_000)
    with pytest.raises(StorageError) as info:
        saver.put_writes(first, [("a", os.urandom(300_000)), ("b", 1)], "too-big")
    stored = _snapshot(saver)
    assert stored[len(acked):] == before  # the old data, untouched, after what was added
    assert [t[0] for t in stored[: len(acked)]] == acked[::-1]
    assert saver.get_tuple(first)[4] == [("task", "a", 2)]  # no half of the failed batch
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    return [error, info.value]


def _seed_then_cap(path: Path, page_limit: Any) -> tuple[Any, Any]:
    """Seed a file, then cap SQLite's page budget 40 pages above what it holds."""
    with SqliteSaver(path) as saver:
        first = _seed(saver)
        before = _snapshot(saver)
        pages = saver._db._connection().execute("PRAGMA page_count").fetchone()[0]
    page_limit(pages + 40)
    return first, before


def test_full_disk_simulated_is_a_clear_error_and_loses_nothing(tmp_path: Path, page_limit: Any) -> None:
    """With SQLite's page budget exhausted (max_page_count): a put that does not fit raises
    StorageError "no space left ... nothing was written"; everything stored before, and
    every put acknowledged until then, is intact; a failed write batch leaves no part
    behind; once space is back, writing works again."""
    path = tmp_path / "full.db"
    first, before = _seed_then_cap(path, page_limit)
    with SqliteSaver(path) as saver:
        _check_full_disk_behaviour(path, saver, first, before)
    page_limit(None)
    with SqliteSaver(path) as saver:
        saver.put_writes(first, [("a", 3)], "after")
        assert ("after", "a", 3) in saver.get_tuple(first).pending_writes


def test_full_disk_simulated_error_says_the_disk_is_full(tmp_path: Path, page_limit: Any) -> None:
    """The StorageError for a full disk says so: "no space left ... nothing was written"."""
    path = tmp_path / "full.db"
    first, before = _seed_then_cap(path, page_limit)
    with SqliteSaver(path) as saver:
        for error in _check_full_disk_behaviour(path, saver, first, before):
            assert "no space left" in str(error) and "nothing was written" in str(error)


# --- real read-only and full filesystems (needs mount) --------------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, if this sandbox lets us mount one."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("needs root and mount(8) for a real tmpfs; the max_page_count test covers this")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", str(mnt)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the max_page_count test covers this")
    try:
        yield mnt
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mnt)], capture_output=True, check=False)
        if subprocess.run(["umount", str(mnt)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


@pytest.mark.slow
def test_full_tmpfs_is_a_clear_error_and_loses_nothing(tmpfs: Path) -> None:
    """The same on a real 1 MiB filesystem that fills up (ENOSPC)."""
    path = tmpfs / "full.db"
    with SqliteSaver(path) as saver:
        first = _seed(saver)
        before = _snapshot(saver)
        errors = _check_full_disk_behaviour(path, saver, first, before)
    assert any("no space left" in str(e) for e in errors), errors


@pytest.mark.slow
def test_read_only_filesystem_is_a_clear_error_and_loses_nothing(tmpfs: Path) -> None:
    """A database on a filesystem remounted read-only: a StorageError naming the file
    (SQLite cannot open a WAL database there at all), and after remounting read-write
    every checkpoint is as it was."""
    path = tmpfs / "ro.db"
    with SqliteSaver(path) as saver:
        first = _seed(saver)
        before = _snapshot(saver)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    with SqliteSaver(path) as saver:
        for call in (lambda: saver.get_tuple(first), lambda: saver.put(first, checkpoint({"a": 2}, {"a": "2"}), {}, {"a": "2"})):
            with pytest.raises(StorageError, match="ro.db"):
                call()
    subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
    with SqliteSaver(path) as saver:
        assert _snapshot(saver) == before
