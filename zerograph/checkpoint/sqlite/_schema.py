"""The SQLite schema: pragmas, the append-only migration list, and `migrate()`.

Layout (schema version 2; version 2 changed no table, see `MIGRATIONS`):

- `threads` — one small row per thread (`tid` integer key, `thread_id` text, created /
  updated time, checkpoint count, stored bytes, its newest root checkpoint). Threads are
  listed from here without reading a blob, and every other table refers to a thread by
  `tid`, not by repeating its text id.
- `tombstones` — deleted thread ids, so a late write from a deleted run does not bring
  the thread back (langgraph#7206).
- `checkpoints` — one row per checkpoint *without* channel values: the serialized
  checkpoint (versions, versions_seen, ...), serialized metadata and the parent id.
- `checkpoint_meta` — each top-level metadata key of a checkpoint as canonical JSON
  text, indexed by `(key, value)`: a metadata filter is an indexed lookup with the key
  and value as bound parameters, and rows filtered out are never read.
- `blobs` — one row per `(thread, ns, channel, version)`: a channel value is written
  once, when `new_versions` says it changed, and shared by every later checkpoint. A
  value that extends an earlier version (a growing message list), or a window of it (a
  trimmed one), is stored as its tail (`enc`, `base`; see `_codec.py`), compressed when
  that pays.
- `writes` — pending writes per `(thread, ns, checkpoint, task, idx)` with `task_path`.

`PRAGMA user_version` holds the schema version. `MIGRATIONS[i]` upgrades version `i` to
`i + 1`; the list only ever grows. A database whose version is higher than
`len(MIGRATIONS)` was written by a newer zerograph and is refused, untouched.
"""

from __future__ import annotations

import sqlite3

from zerograph.errors import SchemaError

# Applied to every connection. busy_timeout is set separately from the saver's timeout.
CONNECTION_PRAGMAS = {
    "foreign_keys": "OFF",
    "temp_store": "MEMORY",
    "cache_size": "-16000",  # KiB: 16 MiB page cache per connection
}

# Applied when a file is opened, before WAL mode writes its header; SQLite only takes
# them on a new, empty file: incremental auto-vacuum lets `vacuum()` return freed pages to the OS later without
# rewriting the whole file.
FILE_PRAGMAS_BEFORE_TABLES = {"auto_vacuum": "INCREMENTAL"}

MIGRATIONS: list[str] = [
    # 0 -> 1: the initial schema
    """
    CREATE TABLE threads (
        tid         INTEGER PRIMARY KEY,
        thread_id   TEXT NOT NULL UNIQUE,
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL,
        checkpoints INTEGER NOT NULL DEFAULT 0,
        bytes       INTEGER NOT NULL DEFAULT 0,
        latest_cpk  INTEGER
    );
    CREATE INDEX threads_updated ON threads (updated_at, thread_id);

    CREATE TABLE tombstones (
        thread_id  TEXT PRIMARY KEY,
        deleted_at REAL NOT NULL
    );

    CREATE TABLE checkpoints (
        cpk           INTEGER PRIMARY KEY,
        tid           INTEGER NOT NULL,
        ns            TEXT NOT NULL,
        checkpoint_id TEXT NOT NULL,
        parent_id     TEXT,
        type          TEXT NOT NULL,
        checkpoint    BLOB NOT NULL,
        metadata_type TEXT NOT NULL,
        metadata      BLOB NOT NULL,
        UNIQUE (tid, ns, checkpoint_id)
    );
    CREATE INDEX checkpoints_id ON checkpoints (checkpoint_id);

    CREATE TABLE checkpoint_meta (
        cpk   INTEGER NOT NULL,
        key   TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (cpk, key)
    ) WITHOUT ROWID;
    CREATE INDEX checkpoint_meta_kv ON checkpoint_meta (key, value);

    CREATE TABLE blobs (
        tid     INTEGER NOT NULL,
        ns      TEXT NOT NULL,
        channel TEXT NOT NULL,
        version TEXT NOT NULL,
        type    TEXT NOT NULL,
        enc     INTEGER NOT NULL DEFAULT 0,
        base    TEXT,
        value   BLOB,
        UNIQUE (tid, ns, channel, version)
    );

    CREATE TABLE writes (
        tid           INTEGER NOT NULL,
        ns            TEXT NOT NULL,
        checkpoint_id TEXT NOT NULL,
        task_id       TEXT NOT NULL,
        idx           INTEGER NOT NULL,
        task_path     TEXT NOT NULL DEFAULT '',
        channel       TEXT NOT NULL,
        type          TEXT NOT NULL,
        value         BLOB,
        UNIQUE (tid, ns, checkpoint_id, task_id, idx)
    );
    """,
    # 1 -> 2: no table changes. The version marks the `SKIP` bit of `blobs.enc` (a value
    # stored as a sliding tail of a trimmed list, see `_codec.py`): a zerograph that
    # knows only version 1 would decode such a row to wrong bytes, so it must refuse the
    # file instead, which it does for any version above its own.
    "-- blobs.enc may have the SKIP bit (4) set",
]

SCHEMA_VERSION = len(MIGRATIONS)

# Tables of langgraph-checkpoint-sqlite's schema: a file holding them is LangGraph's.
_LANGGRAPH_TABLES = {"checkpoints", "writes"}


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the database to `SCHEMA_VERSION`, or refuse it without changing anything.

    Runs inside one `BEGIN IMMEDIATE` transaction, re-reading the version after taking
    the write lock, so several processes starting at once migrate exactly once.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    _refuse_newer(version)
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        _refuse_newer(version)
        if version == 0:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if tables & _LANGGRAPH_TABLES:
                raise SchemaError(
                    "this database was written by langgraph-checkpoint-sqlite (tables "
                    f"{sorted(tables & _LANGGRAPH_TABLES)}), not by zerograph; zerograph "
                    "left it untouched. Point zerograph at a new file."
                )
        for target in range(version, SCHEMA_VERSION):
            for statement in _split(MIGRATIONS[target]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={target + 1:d}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _refuse_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"this database has zerograph schema version {version}, but this zerograph "
            f"knows versions up to {SCHEMA_VERSION}: it was written by a newer zerograph. "
            "Upgrade zerograph (pip install -U zerograph); the database was not changed."
        )
