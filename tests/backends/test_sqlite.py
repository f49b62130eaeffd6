"""What only the SQLite savers have: pragmas, schema versioning, storage layout, error
translation, the N+1-free list, and the async saver's threading rules."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from pathlib import Path

import pytest

from tests.contract.conftest import checkpoint, config
from zerograph.checkpoint.sqlite import AsyncSqliteSaver, SqliteSaver
from zerograph.checkpoint.sqlite._schema import SCHEMA_VERSION
from zerograph.errors import ConfigError, SaverClosedError, SchemaError, StorageError


def put_chain(saver: SqliteSaver, thread_id: str, n: int, *, changing: str = "a") -> list[dict]:
    versions: dict[str, str] = {}
    values: dict[str, object] = {"a": 0, "b": "constant"}
    parent = None
    out = []
    for i in range(n):
        changed = ["a", "b"] if i == 0 else [changing]
        for ch in changed:
            versions[ch] = saver.get_next_version(versions.get(ch), None)
        values[changing] = i
        cfg = saver.put(config(thread_id, "", parent), checkpoint(dict(values), dict(versions)), {"step": i}, {ch: versions[ch] for ch in changed})
        parent = cfg["configurable"]["checkpoint_id"]
        out.append(cfg)
    return out


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


def test_pragmas(tmp_path: Path) -> None:
    """WAL, synchronous=NORMAL, a busy timeout, incremental auto-vacuum, schema version."""
    with SqliteSaver(tmp_path / "db.sqlite", timeout=7) as saver:
        saver.setup()
        conn = saver._db._connection()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 7000
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    with SqliteSaver(tmp_path / "full.sqlite", synchronous="FULL") as saver:
        saver.setup()
        assert saver._db._connection().execute("PRAGMA synchronous").fetchone()[0] == 2
    with pytest.raises(ConfigError, match="synchronous"):
        SqliteSaver(tmp_path / "x.sqlite", synchronous="SOMETIMES")


def test_setup_is_idempotent_and_lazy(tmp_path: Path) -> None:
    """setup() may be called any number of times, by any number of savers."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as a, SqliteSaver(path) as b:
        a.setup()
        a.setup()
        b.setup()
        put_chain(b, "t", 1)
        assert a.get_tuple(config("t")) is not None


def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    """A database from a newer zerograph raises SchemaError and is not modified."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        put_chain(saver, "t", 2)
    with raw(path) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    with SqliteSaver(path) as saver, pytest.raises(SchemaError, match="newer zerograph"):
        saver.get_tuple(config("t"))
    assert path.read_bytes() == before


def test_version_1_is_upgraded_and_then_refused_by_a_version_1_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version 2 changed no table (it marks sliding tails in `blobs.enc`): a version 1
    file is upgraded in place and reads back; a zerograph that knows only version 1,
    which would misread sliding tails, refuses the upgraded file untouched."""
    from zerograph.checkpoint.sqlite import _schema

    assert SCHEMA_VERSION == 2
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        cfg = put_chain(saver, "t", 3)[-1]
    with raw(path) as conn:
        conn.execute("PRAGMA user_version=1")
    conn.close()
    with SqliteSaver(path) as saver:
        assert saver.get_tuple(cfg).checkpoint["channel_values"]["a"] == 2
    with raw(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()
    before = path.read_bytes()
    monkeypatch.setattr(_schema, "MIGRATIONS", _schema.MIGRATIONS[:1])
    monkeypatch.setattr(_schema, "SCHEMA_VERSION", 1)
    with SqliteSaver(path) as saver, pytest.raises(SchemaError, match="schema version 2"):
        saver.get_tuple(cfg)
    assert path.read_bytes() == before


def test_langgraph_database_is_refused(tmp_path: Path) -> None:
    """A file written by langgraph-checkpoint-sqlite is refused, not reinterpreted."""
    from langgraph.checkpoint.sqlite import SqliteSaver as LangGraphSqliteSaver

    path = tmp_path / "lg.sqlite"
    with LangGraphSqliteSaver.from_conn_string(str(path)) as lg:
        lg.setup()
    with SqliteSaver(path) as saver, pytest.raises(SchemaError, match="langgraph-checkpoint-sqlite"):
        saver.list(None).__next__()


def test_not_a_database_and_directory_paths(tmp_path: Path) -> None:
    """Bad paths give clear errors and leave the file as it was."""
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with SqliteSaver(junk) as saver, pytest.raises(SchemaError, match="not a SQLite database"):
        saver.setup()
    assert junk.read_bytes() == b"this is not sqlite" * 100
    with SqliteSaver(tmp_path) as saver, pytest.raises(StorageError, match="cannot open|SQLite"):
        saver.setup()


def test_closed_saver_says_so(tmp_path: Path) -> None:
    """Using a closed saver raises SaverClosedError; closing twice is fine."""
    saver = SqliteSaver(tmp_path / "db.sqlite")
    saver.close()
    saver.close()
    with pytest.raises(SaverClosedError):
        saver.get_tuple(config("t"))


def test_unchanged_channels_are_stored_once(tmp_path: Path) -> None:
    """A channel that never changes is one blob row however long the thread gets."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        put_chain(saver, "t", 50)
    with raw(path) as conn:
        counts = dict(conn.execute("SELECT channel, count(*) FROM blobs GROUP BY channel").fetchall())
    conn.close()
    assert counts == {"a": 50, "b": 1}


def test_list_fetches_per_page_not_per_row(tmp_path: Path) -> None:
    """Listing 200 checkpoints with writes costs a few queries per page (no N+1)."""
    with SqliteSaver(tmp_path / "db.sqlite") as saver:
        for cfg in put_chain(saver, "t", 200):
            saver.put_writes(cfg, [("a", 1)], "task")
        statements: list[str] = []
        saver._db._connection().set_trace_callback(statements.append)
        got = list(saver.list(config("t")))
    assert len(got) == 200 and all(t.pending_writes == [("task", "a", 1)] for t in got)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 3 * 4 + 2, len(selects)


def test_metadata_filter_uses_the_index(tmp_path: Path) -> None:
    """A metadata filter is an indexed lookup on checkpoint_meta, not a scan of blobs."""
    from zerograph.checkpoint.sqlite import _sql as sql

    with SqliteSaver(tmp_path / "db.sqlite") as saver:
        saver.setup()
        query, params = sql.list_query(thread_id=None, ns=None, checkpoint_id=None, before_id=None, filter=[("user", '"u"')], after=None, page=10)
        plan = " ".join(r[3] for r in saver._db._connection().execute("EXPLAIN QUERY PLAN " + query, params))
    assert "checkpoint_meta_kv" in plan, plan


def test_calling_the_saver_inside_a_list_loop(tmp_path: Path) -> None:
    """No lock is held while list() yields: reads and writes inside the loop proceed."""
    with SqliteSaver(tmp_path / "db.sqlite") as saver:
        put_chain(saver, "t", 100)
        seen = 0
        done = threading.Event()

        def loop() -> None:
            nonlocal seen
            for tup in saver.list(config("t")):
                assert saver.get_tuple(tup.config) is not None
                saver.put_writes(tup.config, [("a", 1)], "inside")
                seen += 1
            done.set()

        worker = threading.Thread(target=loop, daemon=True)
        worker.start()
        assert done.wait(30), "list() loop deadlocked"
        assert seen == 100


def test_accepts_an_open_connection(tmp_path: Path) -> None:
    """Like LangGraph's SqliteSaver(conn): the saver reopens the connection's file."""
    path = tmp_path / "db.sqlite"
    conn = sqlite3.connect(path, check_same_thread=False)
    with SqliteSaver(conn) as saver:
        put_chain(saver, "t", 3)
        assert saver.path == str(path)
    conn.close()
    with SqliteSaver(path) as saver:
        assert len(list(saver.list(config("t")))) == 3


def test_from_conn_string_closes(tmp_path: Path) -> None:
    """from_conn_string is a context manager that closes the saver."""
    with SqliteSaver.from_conn_string(str(tmp_path / "db.sqlite")) as saver:
        put_chain(saver, "t", 1)
    with pytest.raises(SaverClosedError):
        saver.get_tuple(config("t"))


def test_async_from_conn_string(tmp_path: Path) -> None:
    """AsyncSqliteSaver.from_conn_string is an async context manager, like LangGraph's."""

    async def main() -> int:
        async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "db.sqlite")) as saver:
            await saver.aput(config("t"), checkpoint({}, {}), {}, {})
            return len([t async for t in saver.alist(None)])

    assert asyncio.run(main()) == 1


def test_async_saver_sync_methods_on_the_loop_thread(tmp_path: Path) -> None:
    """Sync calls from inside a coroutine (the loop's own thread) work, never deadlock."""

    async def main() -> None:
        with AsyncSqliteSaver(tmp_path / "db.sqlite") as saver:
            cfg = saver.put(config("t"), checkpoint({"a": 1}, {"a": "1"}), {}, {"a": "1"})
            saver.put_writes(cfg, [("a", 2)], "task")
            assert saver.get_tuple(config("t")).pending_writes == [("task", "a", 2)]
            assert len(list(saver.list(None))) == 1
            assert (await saver.aget_tuple(config("t"))).checkpoint["channel_values"] == {"a": 1}
            saver.delete_thread("t")

    asyncio.run(asyncio.wait_for(main(), 30))


def test_async_memory_database_uses_one_thread() -> None:
    """For ':memory:' every a* call runs on one single-thread executor."""

    async def main() -> set[int]:
        with AsyncSqliteSaver(":memory:") as saver:
            idents = {await saver._run(threading.get_ident) for _ in range(20)}
            await saver.aput(config("t"), checkpoint({}, {}), {}, {})
            assert await saver.aget_tuple(config("t")) is not None
            return idents

    idents = asyncio.run(main())
    assert len(idents) == 1 and threading.get_ident() not in idents


def test_async_file_database_hops_to_threads(tmp_path: Path) -> None:
    """For a file, a* calls run in worker threads, never on the loop thread."""

    async def main() -> set[int]:
        with AsyncSqliteSaver(tmp_path / "db.sqlite") as saver:
            return {await saver._run(threading.get_ident) for _ in range(5)}

    assert threading.get_ident() not in asyncio.run(main())


@pytest.mark.parametrize("target", ["file", ":memory:"])
def test_cancelled_aput_is_all_or_nothing(tmp_path: Path, target: str) -> None:
    """Cancelling aput / aput_writes at any point leaves a whole checkpoint or none."""

    async def main() -> None:
        with AsyncSqliteSaver(tmp_path / "db.sqlite" if target == "file" else ":memory:") as saver:
            for i in range(60):
                t = f"t{i}"
                values = {f"c{j}": list(range(j * 50)) for j in range(8)}
                versions = {k: "1" for k in values}
                task = asyncio.ensure_future(saver.aput(config(t), checkpoint(values, versions), {}, versions))
                for _ in range(i % 4):
                    await asyncio.sleep(0)
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                await asyncio.sleep(0.01)  # let a started hop finish
                tup = await saver.aget_tuple(config(t))
                assert tup is None or tup.checkpoint["channel_values"] == values

    asyncio.run(main())


def test_shallow_copy_shares_the_database(tmp_path: Path) -> None:
    """with_allowlist() returns a copy.copy clone; it must see the same store."""
    import copy

    with SqliteSaver(tmp_path / "db.sqlite") as saver:
        clone = copy.copy(saver)
        put_chain(clone, "t", 2)
        assert len(list(saver.list(config("t")))) == 2


def test_thread_index_tracks_counts(tmp_path: Path) -> None:
    """The per-thread index row counts checkpoints without reading blobs."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        put_chain(saver, "t", 5)
        saver.prune(["t"], keep_last=2)
        t2 = uuid.uuid4().hex
        saver.copy_thread("t", t2)
    with raw(path) as conn:
        rows = dict(conn.execute("SELECT thread_id, checkpoints FROM threads").fetchall())
    conn.close()
    assert rows == {"t": 2, t2: 2}


def test_callers_memory_connection_is_used_not_closed() -> None:
    """A caller's in-memory connection holds the data and stays open after close()."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    with SqliteSaver(conn) as saver:
        put_chain(saver, "t", 2)
    assert conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] == 2
    conn.close()
