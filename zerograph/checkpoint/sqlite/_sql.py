"""SQL text of the SQLite savers. Every statement is a constant or built from constant
fragments; user-supplied strings (thread ids, namespaces, filter keys and values,
limits) only ever travel as bound parameters."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# Bound-parameter budget per statement: SQLite builds before 3.32 allow only 999.
MAX_PARAMS = 900

TID_OF = "SELECT tid FROM threads WHERE thread_id = ?"
THREAD_NAME = "SELECT thread_id FROM threads WHERE tid = ?"
THREAD_COUNT = "SELECT checkpoints FROM threads WHERE thread_id = ?"
ENSURE_THREAD = (
    "INSERT INTO threads (thread_id, created_at, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (thread_id) DO NOTHING"
)
IS_TOMBSTONED = "SELECT 1 FROM tombstones WHERE thread_id = ?"
TOMBSTONE = "INSERT OR REPLACE INTO tombstones (thread_id, deleted_at) SELECT thread_id, ? FROM threads WHERE tid = ?"
DELETE_TOMBSTONE = "DELETE FROM tombstones WHERE thread_id = ?"
FORGET_TOMBSTONES = "DELETE FROM tombstones WHERE deleted_at < ?"
TOUCH_THREAD = (
    "UPDATE threads SET updated_at = ?, checkpoints = checkpoints + ?, bytes = bytes + ? WHERE tid = ?"
)
# TOUCH_THREAD for a root-namespace put, whose checkpoint (?5, id ?6) becomes the
# thread's face in list_threads if it is the newest.
TOUCH_THREAD_LATEST = (
    "UPDATE threads SET updated_at = ?1, checkpoints = checkpoints + ?2, bytes = bytes + ?3, "
    "latest_cpk = CASE WHEN latest_cpk IS NULL OR "
    "(SELECT checkpoint_id FROM checkpoints WHERE cpk = latest_cpk) <= ?6 "
    "THEN ?5 ELSE latest_cpk END WHERE tid = ?4"
)
# Exact figures after a deletion; put/put_writes keep them up to date incrementally.
REFRESH_THREAD = """
UPDATE threads SET
    checkpoints = (SELECT count(*) FROM checkpoints WHERE tid = ?1),
    latest_cpk = (SELECT cpk FROM checkpoints WHERE tid = ?1 AND ns = ''
                  ORDER BY checkpoint_id DESC LIMIT 1),
    bytes = (SELECT coalesce(sum(length(checkpoint) + length(metadata)), 0) FROM checkpoints WHERE tid = ?1)
          + (SELECT coalesce(sum(length(value)), 0) FROM blobs WHERE tid = ?1)
          + (SELECT coalesce(sum(length(value)), 0) FROM writes WHERE tid = ?1)
WHERE tid = ?1
"""
ANY_CHECKPOINT = "SELECT 1 FROM checkpoints WHERE tid = ? LIMIT 1"
EXPIRED_THREADS = "SELECT tid FROM threads WHERE updated_at < ? LIMIT ?"

THREAD_COLUMNS = (
    "t.thread_id, t.created_at, t.updated_at, t.checkpoints, t.bytes, "
    "c.checkpoint_id, c.metadata_type, c.metadata, t.tid"
)
THREAD_INFO = (
    f"SELECT {THREAD_COLUMNS} FROM threads t LEFT JOIN checkpoints c ON c.cpk = t.latest_cpk "
    "WHERE t.thread_id = ? AND t.checkpoints > 0"
)
# Distinct namespaces by index seeks (one per namespace), not by scanning checkpoints.
THREAD_NAMESPACES = """
WITH RECURSIVE n (ns) AS (
    SELECT min(ns) FROM checkpoints WHERE tid = ?1
    UNION ALL
    SELECT (SELECT min(ns) FROM checkpoints WHERE tid = ?1 AND ns > n.ns) FROM n
    WHERE n.ns IS NOT NULL
)
SELECT ns FROM n WHERE ns IS NOT NULL
"""
THREAD_NAMES = "SELECT tid, thread_id FROM threads"
CHECKPOINT_BYTES = "SELECT tid, coalesce(sum(length(checkpoint) + length(metadata)), 0) FROM checkpoints"
BLOB_BYTES = "SELECT tid, channel, coalesce(sum(length(value)), 0) FROM blobs"
WRITE_BYTES = "SELECT tid, channel, coalesce(sum(length(value)), 0) FROM writes"


def scoped(statement: str, tid: int | None, group_by: str = "") -> tuple[str, tuple[Any, ...]]:
    """One of the *_BYTES / THREAD_NAMES statements, for one thread (indexed) or all.

    `group_by` is a column list from the caller's code, never user input.
    """
    where, params = ("", ()) if tid is None else (" WHERE tid = ?", (tid,))
    return statement + where + (f" GROUP BY {group_by}" if group_by else ""), params


def threads_query(
    *,
    filter: Sequence[tuple[str, str | None]],
    updated_after: float | None,
    updated_before: float | None,
    after: tuple[float, str] | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """One page of list_threads, newest update first, from the thread index."""
    where = ["t.checkpoints > 0"]
    params: list[Any] = []
    if updated_after is not None:
        where.append("t.updated_at > ?")
        params.append(updated_after)
    if updated_before is not None:
        where.append("t.updated_at < ?")
        params.append(updated_before)
    if after is not None:
        where.append("(t.updated_at < ? OR (t.updated_at = ? AND t.thread_id < ?))")
        params += [after[0], after[0], after[1]]
    for key, value in filter:
        where.append(_meta_condition("t.latest_cpk", value))
        params += [key] if value is None else [key, value]
    sql = (
        f"SELECT {THREAD_COLUMNS} FROM threads t LEFT JOIN checkpoints c ON c.cpk = t.latest_cpk "
        "WHERE " + " AND ".join(where) + " ORDER BY t.updated_at DESC, t.thread_id DESC LIMIT ?"
    )
    return sql, [*params, limit]


def _meta_condition(cpk: str, value: str | None) -> str:
    """A metadata equality test on one checkpoint, by its (cpk, key) primary key.

    `cpk` is a column name from this module, never user input; key and value are bound.
    A None value matches a missing key or a null, like LangGraph's savers.
    """
    if value is None:
        return (
            f"NOT EXISTS (SELECT 1 FROM checkpoint_meta m WHERE m.cpk = {cpk} "
            "AND m.key = ? AND m.value <> 'null')"
        )
    return f"EXISTS (SELECT 1 FROM checkpoint_meta m WHERE m.cpk = {cpk} AND m.key = ? AND m.value = ?)"


CHECKPOINT_COLUMNS = (
    "c.cpk, t.thread_id, c.tid, c.ns, c.checkpoint_id, c.parent_id, "
    "c.type, c.checkpoint, c.metadata_type, c.metadata"
)
FIND_CHECKPOINT = (
    "SELECT cpk, length(checkpoint) + length(metadata) FROM checkpoints "
    "WHERE tid = ? AND ns = ? AND checkpoint_id = ?"
)
OLD_WRITE_SIZE = (
    "SELECT coalesce(length(value), 0) FROM writes "
    "WHERE tid = ? AND ns = ? AND checkpoint_id = ? AND task_id = ? AND idx = ?"
)
# A new checkpoint's key, or no row if (tid, ns, checkpoint_id) is already stored.
INSERT_CHECKPOINT = (
    "INSERT INTO checkpoints (tid, ns, checkpoint_id, parent_id, type, checkpoint, "
    "metadata_type, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (tid, ns, checkpoint_id) DO NOTHING RETURNING cpk"
)
UPDATE_CHECKPOINT = (
    "UPDATE checkpoints SET parent_id = ?, type = ?, checkpoint = ?, metadata_type = ?, "
    "metadata = ? WHERE cpk = ?"
)
INSERT_META = "INSERT INTO checkpoint_meta (cpk, key, value) VALUES (?, ?, ?)"
DELETE_META = "DELETE FROM checkpoint_meta WHERE cpk = ?"
INSERT_BLOB = (
    "INSERT OR IGNORE INTO blobs (tid, ns, channel, version, type, enc, base, value) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
BLOB_EXISTS = "SELECT 1 FROM blobs WHERE tid = ? AND ns = ? AND channel = ? AND version = ?"
# Special channels overwrite; ordinary writes are insert-if-absent (idempotent retries).
_WRITE_COLUMNS = "(tid, ns, checkpoint_id, task_id, idx, task_path, channel, type, value)"
UPSERT_WRITE = f"INSERT OR REPLACE INTO writes {_WRITE_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_WRITE = f"INSERT OR IGNORE INTO writes {_WRITE_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"

LATEST_CHECKPOINT = (
    f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints c JOIN threads t ON t.tid = c.tid "
    "WHERE t.thread_id = ? AND c.ns = ? ORDER BY c.checkpoint_id DESC LIMIT 1"
)
ONE_CHECKPOINT = (
    f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints c JOIN threads t ON t.tid = c.tid "
    "WHERE t.thread_id = ? AND c.ns = ? AND c.checkpoint_id = ?"
)
PARENT_TASK_WRITES = (
    "SELECT task_id, channel, type, value, task_path, idx FROM writes "
    "WHERE tid = ? AND ns = ? AND checkpoint_id = ? AND channel = ?"
)

# An ancestor page for get_delta_channel_history: follows parent_id, never id order.
ANCESTORS = """
WITH RECURSIVE chain (cid, depth) AS (
    SELECT ?1, 0
    UNION ALL
    SELECT c.parent_id, chain.depth + 1 FROM chain
    JOIN checkpoints c ON c.tid = ?2 AND c.ns = ?3 AND c.checkpoint_id = chain.cid
    WHERE c.parent_id IS NOT NULL AND chain.depth + 1 < ?4
)
SELECT c.checkpoint_id, c.parent_id, c.type, c.checkpoint FROM chain
JOIN checkpoints c ON c.tid = ?2 AND c.ns = ?3 AND c.checkpoint_id = chain.cid
ORDER BY chain.depth
"""

THREAD_CHECKPOINTS = (
    "SELECT cpk, ns, checkpoint_id, parent_id, type, checkpoint, metadata_type, metadata "
    "FROM checkpoints WHERE tid = ?"
)
THREAD_BLOB_KEYS = "SELECT rowid, ns, channel, version, type, base FROM blobs WHERE tid = ?"
THREAD_TASK_WRITE_OWNERS = (
    "SELECT DISTINCT ns, checkpoint_id FROM writes WHERE tid = ? AND channel = ?"
)
ALL_METADATA = "SELECT cpk, tid, ns, checkpoint_id, metadata_type, metadata FROM checkpoints"
RUN_CHECKPOINTS = (
    "SELECT c.cpk, c.tid, c.ns, c.checkpoint_id FROM checkpoint_meta m "
    "JOIN checkpoints c ON c.cpk = m.cpk WHERE m.key = 'run_id' AND m.value = ?"
)
DELETE_THREAD = [  # leaves the tombstone (if any) in place
    "DELETE FROM checkpoint_meta WHERE cpk IN (SELECT cpk FROM checkpoints WHERE tid = ?)",
    "DELETE FROM checkpoints WHERE tid = ?",
    "DELETE FROM blobs WHERE tid = ?",
    "DELETE FROM writes WHERE tid = ?",
    "DELETE FROM threads WHERE tid = ?",
]
DELETE_CHECKPOINT = [
    "DELETE FROM checkpoint_meta WHERE cpk = ?",
    "DELETE FROM checkpoints WHERE cpk = ?",
]
DELETE_CHECKPOINT_WRITES = "DELETE FROM writes WHERE tid = ? AND ns = ? AND checkpoint_id = ?"
DELETE_BLOB = "DELETE FROM blobs WHERE rowid = ?"
COPY_THREAD = [
    "INSERT INTO checkpoints (tid, ns, checkpoint_id, parent_id, type, checkpoint, "
    "metadata_type, metadata) SELECT ?1, ns, checkpoint_id, parent_id, type, checkpoint, "
    "metadata_type, metadata FROM checkpoints WHERE tid = ?2 ORDER BY cpk",
    "INSERT INTO checkpoint_meta (cpk, key, value) SELECT d.cpk, m.key, m.value "
    "FROM checkpoints s JOIN checkpoint_meta m ON m.cpk = s.cpk "
    "JOIN checkpoints d ON d.tid = ?1 AND d.ns = s.ns AND d.checkpoint_id = s.checkpoint_id "
    "WHERE s.tid = ?2",
    "INSERT INTO blobs (tid, ns, channel, version, type, enc, base, value) "
    "SELECT ?1, ns, channel, version, type, enc, base, value FROM blobs WHERE tid = ?2",
    f"INSERT INTO writes {_WRITE_COLUMNS} SELECT ?1, ns, checkpoint_id, task_id, idx, "
    "task_path, channel, type, value FROM writes WHERE tid = ?2",
]


def values_join(n: int, width: int) -> str:
    """`(VALUES (?, ?), (?, ?) …)` with n rows of width placeholders, for a keyed join."""
    row = "(" + ", ".join("?" * width) + ")"
    return "(VALUES " + ", ".join([row] * n) + ")"


def blobs_for(n: int) -> str:
    """Blobs for n `(tid, ns, channel, version)` keys and the bases their tails extend
    (see `_codec.py`), in one query: indexed joins, the chain followed recursively."""
    return (
        "WITH RECURSIVE k (tid, ns, channel, version) AS ("
        f"SELECT column1, column2, column3, column4 FROM {values_join(n, 4)} "
        "UNION SELECT b.tid, b.ns, b.channel, b.base FROM k JOIN blobs b ON b.tid = k.tid "
        "AND b.ns = k.ns AND b.channel = k.channel AND b.version = k.version "
        "WHERE b.base IS NOT NULL) "
        "SELECT b.tid, b.ns, b.channel, b.version, b.type, b.enc, b.base, b.value "
        "FROM k JOIN blobs b ON b.tid = k.tid AND b.ns = k.ns AND b.channel = k.channel "
        "AND b.version = k.version"
    )


def writes_for(n: int) -> str:
    """Pending writes for n `(tid, ns, checkpoint_id)` keys, in one indexed join."""
    return (
        "SELECT w.tid, w.ns, w.checkpoint_id, w.task_id, w.channel, w.type, w.value, "
        f"w.task_path, w.idx FROM {values_join(n, 3)} AS k JOIN writes w "
        "ON w.tid = k.column1 AND w.ns = k.column2 AND w.checkpoint_id = k.column3"
    )


def channel_writes_for(n_ids: int, n_channels: int) -> str:
    """Writes of some channels at n checkpoints of one (tid, ns): the delta-history page."""
    return (
        "SELECT w.checkpoint_id, w.task_id, w.channel, w.type, w.value, w.task_path, w.idx "
        f"FROM {values_join(n_ids, 1)} AS k JOIN writes w ON w.tid = ? AND w.ns = ? "
        f"AND w.checkpoint_id = k.column1 WHERE w.channel IN ({', '.join('?' * n_channels)})"
    )


def list_query(
    *,
    thread_id: str | None,
    ns: str | None,
    checkpoint_id: str | None,
    before_id: str | None,
    filter: Sequence[tuple[str, str | None]],
    after: tuple[str, int] | None,
    page: int,
) -> tuple[str, list[Any]]:
    """One page of `list()`, newest first, resuming after the `(checkpoint_id, cpk)` key.

    `filter` holds `(key, canonical value)` pairs; a `None` value matches a missing key
    or a null value, like LangGraph's savers.
    """
    where: list[str] = []
    params: list[Any] = []
    if thread_id is not None:
        where.append("c.tid = (SELECT tid FROM threads WHERE thread_id = ?)")
        params.append(thread_id)
    if ns is not None:
        where.append("c.ns = ?")
        params.append(ns)
    if checkpoint_id is not None:
        where.append("c.checkpoint_id = ?")
        params.append(checkpoint_id)
    if before_id is not None:
        where.append("c.checkpoint_id < ?")
        params.append(before_id)
    for key, value in filter:
        if value is not None and thread_id is None:
            # across all threads: start from the (key, value) index
            where.append("c.cpk IN (SELECT m.cpk FROM checkpoint_meta m WHERE m.key = ? AND m.value = ?)")
        else:
            # within a thread: one primary-key probe per candidate checkpoint
            where.append(_meta_condition("c.cpk", value))
        params += [key] if value is None else [key, value]
    if after is not None:
        where.append("(c.checkpoint_id < ? OR (c.checkpoint_id = ? AND c.cpk < ?))")
        params += [after[0], after[0], after[1]]
    sql = f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints c JOIN threads t ON t.tid = c.tid"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY c.checkpoint_id DESC, c.cpk DESC LIMIT ?"
    params.append(page)
    return sql, params


def chunks(items: Sequence[T], width: int) -> Iterator[Sequence[T]]:
    """Split keys so one statement stays under MAX_PARAMS bound parameters."""
    step = max(1, MAX_PARAMS // width)
    for start in range(0, len(items), step):
        yield items[start : start + step]
