"""Thread-level operations of the SQLite saver: delete (with tombstones), delete_for_runs,
copy, prune, listing threads from the index, TTL sweeps, disk reclaim and storage reports.

Each operation on one thread is one short write transaction; sweeps and prunes over many
threads commit thread by thread (or in small batches), so no writer waits long.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from langgraph.checkpoint.serde.types import TASKS

from zerograph.checkpoint.base import (
    CheckpointNode,
    check_prune_args,
    checkpoint_time,
    encode_filter_value,
    metadata_matches,
    plan_prune,
    thread_key,
    unseeded_channels,
    validate_list_args,
)
from zerograph.checkpoint.sqlite import _sql as sql
from zerograph.checkpoint.sqlite._connection import Database
from zerograph.checkpoint.threads import (
    DEFAULT_THREAD_PAGE,
    DEFAULT_TOMBSTONE_TTL,
    StorageReport,
    ThreadInfo,
    ThreadPage,
    check_page_limit,
    decode_cursor,
    encode_cursor,
    timestamp,
)
from zerograph.errors import ConfigError

SWEEP_BATCH = 100
VACUUM_STEP_PAGES = 4096  # pages returned to the OS per short transaction


class SqliteThreadOps:
    """Mixed into `SqliteSaver`; relies on its `_db`, `_loads`, `serde` and `clock`."""

    _db: Database
    clock: Any
    _index_metadata: bool

    def _checkpoint(self, typed: tuple[str, Any], where: str) -> dict[str, Any]:  # SqliteSaver's
        raise NotImplementedError

    def _metadata(self, typed: tuple[str, Any], where: str) -> dict[str, Any]:  # SqliteSaver's
        raise NotImplementedError

    @staticmethod
    def _name(conn: sqlite3.Connection, tid: int) -> str:
        row = conn.execute(sql.THREAD_NAME, (tid,)).fetchone()
        return repr(row[0]) if row else f"#{tid}"

    # --- deleting ---------------------------------------------------------------------

    def _drop_thread(self, conn: sqlite3.Connection, tid: int, *, tombstone: bool) -> None:
        if tombstone:
            conn.execute(sql.TOMBSTONE, (self.clock(), tid))
        for statement in sql.DELETE_THREAD:
            conn.execute(statement, (tid,))

    def delete_thread(self, thread_id: str) -> None:
        """Delete every namespace, checkpoint, value and write of a thread.

        A tombstone remembers the deletion: a late `put_writes`, or a `put` that continues
        the deleted timeline, is dropped instead of bringing the thread back. A fresh
        start (a `put` with no parent checkpoint) creates the thread anew.
        """
        with self._db.write() as conn:
            row = conn.execute(sql.TID_OF, (thread_key(thread_id),)).fetchone()
            if row:
                self._drop_thread(conn, row[0], tombstone=True)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        if isinstance(run_ids, str):
            raise ConfigError("delete_for_runs takes a list of run ids, not one string")
        runs = list(dict.fromkeys(str(r) for r in run_ids))
        if not runs:
            return
        with self._db.write() as conn:
            if self._index_metadata:
                doomed = [
                    row for run in runs for row in conn.execute(sql.RUN_CHECKPOINTS, (encode_filter_value(run),))
                ]
            else:  # no plaintext index: read every checkpoint's (decrypted) metadata
                wanted = set(runs)
                doomed = [
                    (cpk, tid, ns, cid)
                    for cpk, tid, ns, cid, mtype, mbytes in conn.execute(sql.ALL_METADATA)
                    if str(self._metadata((mtype, mbytes), f"checkpoint {cid!r}").get("run_id")) in wanted
                ]
            for cpk, tid, ns, cid in doomed:
                self._delete_checkpoint(conn, cpk, tid, ns, cid)
            for tid in {tid for _, tid, _, _ in doomed}:
                self._collect(conn, tid)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        src, dst = thread_key(source_thread_id, "source_thread_id"), thread_key(target_thread_id, "target_thread_id")
        if src == dst:
            raise ConfigError("copy_thread needs two different thread ids")
        with self._db.write() as conn:
            dst_row = conn.execute(sql.THREAD_COUNT, (dst,)).fetchone()
            if dst_row and dst_row[0]:
                raise ConfigError(f"copy_thread target {dst!r} already has checkpoints; delete it first")
            src_row = conn.execute(sql.TID_OF, (src,)).fetchone()
            if not src_row:
                return
            now = self.clock()
            conn.execute(sql.DELETE_TOMBSTONE, (dst,))
            conn.execute(sql.ENSURE_THREAD, (dst, now, now))
            dst_tid = conn.execute(sql.TID_OF, (dst,)).fetchone()[0]
            for statement in sql.COPY_THREAD:
                conn.execute(statement, (dst_tid, src_row[0]))
            conn.execute(sql.REFRESH_THREAD, (dst_tid,))

    # --- pruning ----------------------------------------------------------------------

    def prune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        keep_last: int | None = None,
        older_than: float | datetime | timedelta | None = None,
    ) -> None:
        """Keep each namespace's newest checkpoint (`keep_last=N`: newest N; `older_than`:
        also everything newer than that) plus what they need to load; or delete threads."""
        if isinstance(thread_ids, str):
            raise ConfigError("prune takes a list of thread ids, not one string")
        plan = check_prune_args(strategy, keep_last, older_than)
        for thread_id in [thread_key(t) for t in thread_ids]:
            with self._db.write() as conn:  # one transaction per thread: short lock holds
                row = conn.execute(sql.TID_OF, (thread_key(thread_id),)).fetchone()
                if not row:
                    continue
                tid = row[0]
                if plan.keep_last is None:
                    self._drop_thread(conn, tid, tombstone=True)
                    continue
                rows = conn.execute(sql.THREAD_CHECKPOINTS, (tid,)).fetchall()
                keep = plan_prune(self._nodes(conn, tid, rows, repr(thread_id)), plan)
                for cpk, ns, cid, *_ in rows:
                    if (ns, cid) not in keep:
                        self._delete_checkpoint(conn, cpk, tid, ns, cid)
                self._collect(conn, tid)

    def _nodes(self, conn: sqlite3.Connection, tid: int, rows: list[Any], name: str) -> list[CheckpointNode]:
        stored = {
            (ns, ch, ver)
            for _, ns, ch, ver, btype, _ in conn.execute(sql.THREAD_BLOB_KEYS, (tid,))
            if btype != "empty"
        }
        sends_owners = set(conn.execute(sql.THREAD_TASK_WRITE_OWNERS, (tid, TASKS)).fetchall())
        nodes = []
        for _, ns, cid, parent, ctype, cbytes, mtype, mbytes in rows:
            where = f"checkpoint {cid!r} of thread {name} (ns {ns!r})"
            cp = self._checkpoint((ctype, cbytes), where)
            metadata = self._metadata((mtype, mbytes), where)
            versions = cp["channel_versions"]
            have = {ch for ch, v in versions.items() if (ns, ch, str(v)) in stored}
            nodes.append(
                CheckpointNode(
                    ns,
                    cid,
                    parent,
                    cp.get("v", 4) < 4 and (ns, parent) in sends_owners,
                    unseeded_channels(metadata, versions, have),
                    frozenset(have),
                    checkpoint_time(cp),
                )
            )
        return nodes

    def _delete_checkpoint(self, conn: sqlite3.Connection, cpk: int, tid: int, ns: str, cid: str) -> None:
        for statement in sql.DELETE_CHECKPOINT:
            conn.execute(statement, (cpk,))
        conn.execute(sql.DELETE_CHECKPOINT_WRITES, (tid, ns, cid))

    def _collect(self, conn: sqlite3.Connection, tid: int) -> None:
        """After deleting checkpoints: drop blobs no survivor references, refresh the
        thread's index row, and drop the thread if nothing is left."""
        live = set()
        for _, ns, cid, _, ctype, cbytes, *_ in conn.execute(sql.THREAD_CHECKPOINTS, (tid,)).fetchall():
            where = f"checkpoint {cid!r} of thread {self._name(conn, tid)} (ns {ns!r})"
            for ch, ver in self._checkpoint((ctype, cbytes), where)["channel_versions"].items():
                live.add((ns, ch, str(ver)))
        if not live and not conn.execute(sql.ANY_CHECKPOINT, (tid,)).fetchone():
            self._drop_thread(conn, tid, tombstone=False)
            return
        blobs = conn.execute(sql.THREAD_BLOB_KEYS, (tid,)).fetchall()
        base_of = {(ns, ch, ver): base for _, ns, ch, ver, _, base in blobs if base is not None}
        stack = list(live)
        while stack:  # a kept value's tail chain keeps its bases
            ns, ch, ver = stack.pop()
            base = base_of.get((ns, ch, ver))
            if base is not None and (ns, ch, base) not in live:
                live.add((ns, ch, base))
                stack.append((ns, ch, base))
        dead = [(rowid,) for rowid, ns, ch, ver, _, _ in blobs if (ns, ch, ver) not in live]
        conn.executemany(sql.DELETE_BLOB, dead)
        conn.execute(sql.REFRESH_THREAD, (tid,))

    # --- listing threads --------------------------------------------------------------

    def _info(self, conn: sqlite3.Connection, row: Any) -> ThreadInfo:
        thread_id, created, updated, count, size, cid, mtype, mbytes, tid = row
        namespaces = tuple(r[0] for r in conn.execute(sql.THREAD_NAMESPACES, (tid,)))
        metadata = self._metadata((mtype, mbytes), f"checkpoint {cid!r} of thread {thread_id!r}") if cid else {}
        return ThreadInfo(thread_id, created, updated, count, namespaces, cid, metadata, size)

    def list_threads(
        self,
        *,
        filter: dict[str, Any] | None = None,
        updated_after: float | datetime | None = None,
        updated_before: float | datetime | None = None,
        limit: int = DEFAULT_THREAD_PAGE,
        cursor: str | None = None,
    ) -> ThreadPage:
        """Threads newest-updated first, from the thread index; `filter` matches the
        newest root checkpoint's metadata (same rules as `list`)."""
        validate_list_args(filter, None, None)
        limit = check_page_limit(limit)
        in_python = bool(filter) and not self._index_metadata  # encrypted metadata
        after = decode_cursor(cursor)
        page: list[ThreadInfo] = []
        while len(page) < limit:
            query, params = sql.threads_query(
                filter=[] if in_python else [
                    (k, None if v is None else encode_filter_value(v)) for k, v in (filter or {}).items()
                ],
                updated_after=timestamp(updated_after, "updated_after"),
                updated_before=timestamp(updated_before, "updated_before"),
                after=after,
                limit=limit,
            )
            with self._db.read() as conn:
                found = [self._info(conn, row) for row in conn.execute(query, params).fetchall()]
            page += [t for t in found if not in_python or metadata_matches(t.metadata, filter)]
            if len(found) < limit or not in_python:
                break
            after = (found[-1].updated_at, found[-1].thread_id)
        page = page[:limit]
        more = len(page) == limit
        return ThreadPage(page, encode_cursor(page[-1].updated_at, page[-1].thread_id) if more else None)

    def thread_info(self, thread_id: str) -> ThreadInfo | None:
        with self._db.read() as conn:
            row = conn.execute(sql.THREAD_INFO, (thread_key(thread_id),)).fetchone()
            return self._info(conn, row) if row else None

    def has_thread(self, thread_id: str) -> bool:
        with self._db.read() as conn:
            row = conn.execute(sql.THREAD_COUNT, (thread_key(thread_id),)).fetchone()
            return bool(row and row[0])

    # --- retention and reclaim --------------------------------------------------------

    def sweep(self, *, now: float | None = None, vacuum: bool = True) -> int:
        """Delete threads untouched for longer than `ttl` (in batches of short
        transactions), forget old tombstones, then give the space back (`vacuum()`)."""
        cutoff = self._expiry_cutoff(now)  # type: ignore[attr-defined]
        current = self.clock() if now is None else now
        removed = 0
        while cutoff is not None:
            with self._db.write() as conn:
                # re-checked inside the write lock: a thread written meanwhile is kept whole
                tids = [r[0] for r in conn.execute(sql.EXPIRED_THREADS, (cutoff, SWEEP_BATCH))]
                for tid in tids:
                    self._drop_thread(conn, tid, tombstone=True)
            removed += len(tids)
            if len(tids) < SWEEP_BATCH:
                break
        with self._db.write() as conn:
            conn.execute(sql.FORGET_TOMBSTONES, (current - DEFAULT_TOMBSTONE_TTL,))
        if removed and vacuum:
            self.vacuum()
        return removed

    def vacuum(self) -> None:
        """Return free pages to the OS and truncate the WAL, a few MB per transaction."""
        with self._db.maintenance() as conn:
            if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0:
                conn.execute("VACUUM")  # a file created without incremental vacuum
            else:
                while conn.execute("PRAGMA freelist_count").fetchone()[0]:
                    conn.execute(f"PRAGMA incremental_vacuum({VACUUM_STEP_PAGES:d})")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def storage_report(self, thread_id: str | None = None) -> StorageReport:
        """Exact stored bytes per thread and per channel, summed from the tables."""
        with self._db.read() as conn:
            tid = None
            if thread_id is not None:
                row = conn.execute(sql.TID_OF, (thread_key(thread_id),)).fetchone()
                if not row:
                    return StorageReport(0)
                tid = row[0]
            names = dict(conn.execute(*sql.scoped(sql.THREAD_NAMES, tid)).fetchall())
            by_thread: dict[str, int] = {}
            by_channel: dict[str, int] = {}
            rows = 0
            for t, n in conn.execute(*sql.scoped(sql.CHECKPOINT_BYTES, tid, "tid")):
                by_thread[names[t]] = by_thread.get(names[t], 0) + n
                rows += n
            for statement in (sql.BLOB_BYTES, sql.WRITE_BYTES):
                for t, ch, n in conn.execute(*sql.scoped(statement, tid, "tid, channel")):
                    by_thread[names[t]] = by_thread.get(names[t], 0) + n
                    by_channel[ch] = by_channel.get(ch, 0) + n
        return StorageReport(sum(by_thread.values()), by_thread, by_channel, rows)
