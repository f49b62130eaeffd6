"""`SqliteSaver`: LangGraph checkpoints in one SQLite file (WAL), safe across threads and
processes. Schema in `_schema.py`, SQL in `_sql.py`, locking in `_connection.py`."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.types import TASKS

from zerograph.checkpoint.base import (
    Ancestor,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    assemble_delta_history,
    checkpoint_config,
    encode_filter_value,
    metadata_matches,
    parse_target,
    prepare_metadata,
    sort_writes,
    validate_list_args,
    write_rows,
)
from zerograph.checkpoint.sqlite import _codec as codec
from zerograph.checkpoint.sqlite import _sql as sql
from zerograph.checkpoint.sqlite._connection import Database
from zerograph.checkpoint.sqlite._thread_ops import SqliteThreadOps
from zerograph.errors import ConfigError, CorruptDataError
from zerograph.serde import encrypts

logger = logging.getLogger("zerograph")

__all__ = ["SqliteSaver"]

EMPTY = ("empty", None)
LIST_PAGE = 64  # checkpoints per list() page: one query for rows, one for blobs, one for writes
ANCESTOR_PAGE = 128


class SqliteSaver(SqliteThreadOps, BaseCheckpointSaver):
    """A LangGraph checkpoint saver on SQLite; a drop-in for LangGraph's `SqliteSaver`.

    Args:
        conn_string: A file path (created if missing), `":memory:"`, a `file:` URI, or an
            open `sqlite3.Connection` (its file is reopened by the saver; a connection to
            an in-memory database is used as is).
        serde: The serializer; LangGraph's `JsonPlusSerializer` by default.
        timeout: Seconds a write waits for another process's write lock before raising
            `StorageTimeout`.
        synchronous: SQLite's `synchronous` level. `"NORMAL"` (default) with WAL survives
            a process crash: a `put` that returned is committed. `"FULL"` also survives
            power loss, at the cost of an fsync per commit.
        ttl: Seconds (or a timedelta) after which a thread nobody wrote to is removed by
            `sweep()`; None (default) keeps threads until deleted.
        sweep_interval: With `ttl`, also sweep on a background thread this often.
        clock: Returns Unix seconds (thread times, TTL); injectable for tests.
        metadata_index: `"auto"` (default) keeps an indexed copy of metadata for
            filters unless the serializer encrypts; `"plain"` keeps it even then (the
            metadata is then readable in the file); `"off"` never writes it (filters
            decode metadata instead, slower).
    """

    def __init__(
        self,
        conn_string: str | Path | sqlite3.Connection = "checkpoints.db",
        *,
        serde: SerializerProtocol | None = None,
        timeout: float = 30.0,
        synchronous: str = "NORMAL",
        ttl: float | timedelta | None = None,
        sweep_interval: float | timedelta | None = None,
        clock: Callable[[], float] | None = None,
        metadata_index: str = "auto",
    ) -> None:
        super().__init__(serde=serde)
        if metadata_index not in ("auto", "plain", "off"):
            raise ConfigError(f"metadata_index must be 'auto', 'plain' or 'off', got {metadata_index!r}")
        # The filter index holds metadata as plaintext: with an encrypting serializer it
        # is off unless asked for, and filters run on decrypted metadata instead.
        self._index_metadata = metadata_index == "plain" or (
            metadata_index == "auto" and not encrypts(self.serde)
        )
        try:
            self._db = Database(conn_string, timeout=timeout, synchronous=synchronous)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        try:
            self._init_retention(ttl, sweep_interval, clock)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    @contextmanager
    def from_conn_string(cls, conn_string: str | Path = "checkpoints.db", **kwargs: Any) -> Iterator[Any]:
        """A saver that is closed when the `with` block ends, like LangGraph's."""
        saver = cls(conn_string, **kwargs)
        try:
            yield saver
        finally:
            saver.close()

    @property
    def path(self) -> str:
        """The database file (or `:memory:`)."""
        return self._db.path

    def setup(self) -> None:
        """Create or upgrade the schema. Idempotent; every operation runs it lazily."""
        self._db.setup()

    def close(self) -> None:
        super().close()
        self._db.close()

    # --- decoding ---------------------------------------------------------------------

    def _loads(self, typed: tuple[str, Any], what: str) -> Any:
        try:
            return self.serde.loads_typed((typed[0], typed[1] if typed[1] is not None else b""))
        except Exception as exc:
            raise CorruptDataError(f"{what} could not be decoded: {exc}") from exc

    def _checkpoint(self, typed: tuple[str, Any], where: str) -> dict[str, Any]:
        """A decoded checkpoint row, checked to be one (a damaged row can decode to anything)."""
        cp = self._loads(typed, where)
        if not isinstance(cp, dict) or not isinstance(cp.get("channel_versions"), dict):
            raise CorruptDataError(f"{where} is not a checkpoint (it decodes to {type(cp).__name__})")
        return cp

    def _metadata(self, typed: tuple[str, Any], where: str) -> dict[str, Any]:
        md = self._loads(typed, f"metadata of {where}")
        if not isinstance(md, dict):
            raise CorruptDataError(f"metadata of {where} is not a mapping (it decodes to {type(md).__name__})")
        return md

    def _load(self, conn: sqlite3.Connection, rows: Sequence[Any]) -> list[CheckpointTuple]:
        """Build tuples for checkpoint rows: one query for their blobs, one for writes."""
        decoded = []
        blob_keys: list[tuple[Any, ...]] = []
        for cpk, thread_id, tid, ns, cid, parent_id, ctype, cbytes, mtype, mbytes in rows:
            where = f"checkpoint {cid!r} of thread {thread_id!r} (ns {ns!r})"
            checkpoint = self._checkpoint((ctype, cbytes), where)
            metadata = self._metadata((mtype, mbytes), where)
            decoded.append((thread_id, tid, ns, cid, parent_id, checkpoint, metadata, where))
            blob_keys += [(tid, ns, ch, str(v)) for ch, v in checkpoint["channel_versions"].items()]
        blobs = self._fetch_blobs(conn, blob_keys)
        write_keys = [(tid, ns, cid) for _, tid, ns, cid, *_ in decoded]
        writes: dict[tuple[Any, ...], list[Any]] = {}
        for part in sql.chunks(write_keys, 3):
            for tid, ns, cid, *row in conn.execute(
                sql.writes_for(len(part)), [x for key in part for x in key]
            ):
                writes.setdefault((tid, ns, cid), []).append(row)
        result = []
        for thread_id, tid, ns, cid, parent_id, checkpoint, metadata, where in decoded:
            values = {}
            for ch, ver in checkpoint["channel_versions"].items():
                blob = blobs.get((tid, ns, ch, str(ver)))
                if blob is not None and blob[0] != "empty":
                    values[ch] = self._loads(blob, f"channel {ch!r} of {where}")
            if checkpoint.get("v", 4) < 4 and parent_id:
                self._migrate_sends(conn, tid, ns, parent_id, checkpoint, values)
            checkpoint["channel_values"] = values
            ordered = sort_writes(writes.get((tid, ns, cid), []), key=lambda w: (w[4], w[0], w[5]))
            result.append(
                CheckpointTuple(
                    config=checkpoint_config(thread_id, ns, cid),
                    checkpoint=checkpoint,
                    metadata=metadata,
                    parent_config=checkpoint_config(thread_id, ns, parent_id) if parent_id else None,
                    pending_writes=[
                        (task_id, ch, self._loads((wtype, value), f"write of task {task_id!r} to {where}"))
                        for task_id, ch, wtype, value, _, _ in ordered
                    ],
                )
            )
        return result

    def _fetch_blobs(
        self, conn: sqlite3.Connection, keys: Sequence[tuple[Any, ...]]
    ) -> dict[tuple[Any, ...], tuple[str, Any]]:
        """Stored values for `(tid, ns, channel, version)` keys, as `(type, bytes)`.

        `blobs_for` also returns every base a tail (see `_codec`) extends, in the same
        query; a base that is missing makes decoding raise `CorruptDataError`.
        """
        rows: dict[tuple[Any, ...], tuple[str, int, Any, Any]] = {}
        for part in sql.chunks(list(dict.fromkeys(keys)), 4):
            for tid, ns, ch, ver, btype, enc, base, value in conn.execute(
                sql.blobs_for(len(part)), [x for key in part for x in key]
            ):
                rows[(tid, ns, ch, ver)] = (btype, enc, base, value)
        decoded: dict[tuple[Any, ...], bytes] = {}
        pieces: dict[tuple[Any, ...], codec.Piece] = {}
        recent = self._db.recent

        def data(key: tuple[Any, ...]) -> bytes:
            """Walk down the chain to a whole value (or one already known), then join
            the tails once: one copy of the value, however long the chain."""
            found = decoded.get(key)
            if found is not None:
                return found
            chain: list[codec.Piece] = []
            at = key
            bottom: bytes | None = None
            try:
                while True:
                    if len(chain) > codec.FULL_EVERY:
                        raise ValueError(f"its chain of tails is longer than {codec.FULL_EVERY} rows")
                    bottom = decoded.get(at)
                    if bottom is not None:
                        break
                    row = rows.get(at)
                    if row is None:
                        break  # a missing base: assemble() says so
                    _, enc, base, value = row
                    mine = recent.peek(at[:3])  # this process wrote this very row
                    if mine is not None and mine.stored_as(at[3], enc, base, value):
                        bottom = mine.data
                        break
                    p = pieces.get(at)
                    if p is None:
                        p = pieces[at] = codec.piece(enc, value if value is not None else b"")
                    if p.whole is not None:
                        bottom = p.whole
                        break
                    chain.append(p)
                    at = (*at[:3], base)
                chain.reverse()
                decoded[key] = codec.assemble(bottom, chain)
            except ValueError as exc:
                raise CorruptDataError(
                    f"stored value of channel {key[2]!r} version {key[3]!r} (ns {key[1]!r}) "
                    f"could not be decoded: {exc}"
                ) from exc
            return decoded[key]

        return {key: (rows[key][0], data(key)) for key in keys if key in rows}

    def _migrate_sends(
        self,
        conn: sqlite3.Connection,
        tid: int,
        ns: str,
        parent_id: str,
        checkpoint: dict[str, Any],
        values: dict[str, Any],
    ) -> None:
        """Pre-v4 checkpoints kept pending sends as the parent's `__pregel_tasks` writes."""
        rows = conn.execute(sql.PARENT_TASK_WRITES, (tid, ns, parent_id, TASKS)).fetchall()
        if not rows:
            return
        ordered = sort_writes(rows, key=lambda w: (w[4], w[0], w[5]))
        values[TASKS] = [self._loads((w[2], w[3]), "pending send") for w in ordered]
        versions = checkpoint["channel_versions"]
        versions[TASKS] = max(versions.values()) if versions else self.get_next_version(None)

    # --- reads ------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        target = parse_target(config)
        ns = target.checkpoint_ns or ""
        with self._db.read() as conn:
            if target.checkpoint_id:
                row = conn.execute(
                    sql.ONE_CHECKPOINT, (target.thread_id, ns, target.checkpoint_id)
                ).fetchone()
            else:
                row = conn.execute(sql.LATEST_CHECKPOINT, (target.thread_id, ns)).fetchone()
            return self._load(conn, [row])[0] if row else None

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        for page in self._list_pages(config, filter=filter, before=before, limit=limit):
            yield from page

    def _list_pages(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[list[CheckpointTuple]]:
        before_id = validate_list_args(filter, before, limit)
        target = parse_target(config, default_ns=None) if config is not None else None
        # Without a metadata index (encrypted metadata), filter decrypted metadata here.
        in_python = bool(filter) and not self._index_metadata
        pairs = [] if in_python else [
            (key, None if value is None else encode_filter_value(value))
            for key, value in (filter or {}).items()
        ]
        remaining = limit
        after: tuple[str, int] | None = None
        while remaining is None or remaining > 0:
            size = LIST_PAGE if remaining is None or in_python else min(LIST_PAGE, remaining)
            query, params = sql.list_query(
                thread_id=target.thread_id if target else None,
                ns=target.checkpoint_ns if target else None,
                checkpoint_id=target.checkpoint_id if target else None,
                before_id=before_id,
                filter=pairs,
                after=after,
                page=size,
            )
            with self._db.read() as conn:
                rows = conn.execute(query, params).fetchall()
                page = self._load(conn, rows)
            if in_python:
                page = [t for t in page if metadata_matches(t.metadata, filter)][:remaining]
            if page:
                yield page  # outside the transaction: the caller may use the saver here
            if len(rows) < size:
                return
            after = (rows[-1][4], rows[-1][0])
            if remaining is not None:
                remaining -= len(page)

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, DeltaChannelHistory]:
        if not channels:
            return {}
        target = parse_target(config)
        ns = target.checkpoint_ns or ""
        with self._db.read() as conn:
            query = sql.ONE_CHECKPOINT if target.checkpoint_id else sql.LATEST_CHECKPOINT
            args = (target.thread_id, ns) + ((target.checkpoint_id,) if target.checkpoint_id else ())
            row = conn.execute(query, args).fetchone()
            parent = row[5] if row else None
            tid = row[2] if row else None
            return assemble_delta_history(
                channels, self._ancestors(conn, tid, ns, parent, list(dict.fromkeys(channels)))
            )

    def _ancestors(
        self, conn: sqlite3.Connection, tid: int | None, ns: str, start: str | None, wanted: list[str]
    ) -> Iterator[Ancestor]:
        """Ancestors nearest first, a page of the parent chain per recursive query."""
        seen: set[str] = set()
        cid = start
        while tid is not None and cid is not None and cid not in seen:
            chain = conn.execute(sql.ANCESTORS, (cid, tid, ns, ANCESTOR_PAGE)).fetchall()
            if not chain:
                return
            versions = {
                c: self._checkpoint((t, b), f"checkpoint {c!r} (ns {ns!r})")["channel_versions"]
                for c, _, t, b in chain
            }
            keys = [(tid, ns, ch, str(v[ch])) for v in versions.values() for ch in wanted if ch in v]
            values = {
                (key[2], key[3]): blob
                for key, blob in self._fetch_blobs(conn, keys).items()
                if blob[0] != "empty"
            }
            writes: dict[str, list[Any]] = {}
            ids = list(dict.fromkeys(c for c, *_ in chain))  # a damaged parent cycle repeats ids
            for part in sql.chunks(ids, 1 + len(wanted)):
                for wcid, task_id, ch, wtype, value, path, idx in conn.execute(
                    sql.channel_writes_for(len(part), len(wanted)), [*part, tid, ns, *wanted]
                ):
                    loader = lambda t=wtype, v=value: self._loads((t, v), "pending write")  # noqa: E731
                    writes.setdefault(wcid, []).append((task_id, ch, loader, path, idx))
            for c, parent, _, _ in chain:
                if c in seen:
                    return
                seen.add(c)
                found = {
                    ch: (lambda b=values[(ch, str(versions[c][ch]))]: self._loads(b, "channel value"))
                    for ch in wanted
                    if ch in versions[c] and (ch, str(versions[c][ch])) in values
                }
                yield Ancestor(found, writes.get(c, []))
                cid = parent

    # --- writes -----------------------------------------------------------------------

    def _writable_tid(self, conn: sqlite3.Connection, thread_id: str, fresh_start: bool, what: str) -> int | None:
        """The thread's key, creating the thread if needed; None for a late write to a
        deleted thread (langgraph#7206). Only a fresh start (a root-namespace put with no
        parent) revives a deleted thread id; a subgraph's first put does not."""
        row = conn.execute(sql.TID_OF, (thread_id,)).fetchone()
        if row:
            return int(row[0])
        if not fresh_start and conn.execute(sql.IS_TOMBSTONED, (thread_id,)).fetchone():
            logger.warning("zerograph: dropped a late %s for deleted thread %r", what, thread_id)
            return None
        conn.execute(sql.DELETE_TOMBSTONE, (thread_id,))
        now = self.clock()
        return int(conn.execute(sql.ENSURE_THREAD, (thread_id, now, now)).lastrowid)

    @staticmethod
    def _insert_counting(conn: sqlite3.Connection, statement: str, rows: list[tuple[Any, ...]]) -> int:
        """Run INSERT OR IGNORE row by row (batches are a few rows); return the bytes of
        the values actually inserted (the last column), for the thread's size figure."""
        return sum(len(r[-1] or b"") for r in rows if conn.execute(statement, r).rowcount)

    def _store_blobs(self, conn: sqlite3.Connection, tid: int, ns: str, rows: list[tuple[Any, ...]]) -> int:
        """Insert new channel versions, each as the tail of the channel's last version
        when it extends it (checked to be still stored, in this transaction); return
        the bytes stored."""
        size = 0
        recent = self._db.recent
        for ch, ver, btype, data in rows:
            key = (tid, ns, ch)
            base = recent.get(key) if data else None
            if base is not None and base.type != btype:
                base = None
            enc, base_version, body, depth = codec.encode(data, base) if data else (0, None, data, 0)
            if enc & codec.TAIL and not conn.execute(sql.BLOB_EXISTS, (tid, ns, ch, base_version)).fetchone():
                enc, base_version, body, depth = codec.encode(data, None)  # base gone: whole copy
            if conn.execute(sql.INSERT_BLOB, (tid, ns, ch, ver, btype, enc, base_version, body)).rowcount:
                size += len(body or b"")
                if data and codec.header_len(data[0]) is not None:
                    recent.put(key, codec.Recent(ver, btype, data, depth, enc, base_version, body))
        return size

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        target = parse_target(config)
        ns = target.checkpoint_ns or ""
        cid = checkpoint["id"]
        merged = prepare_metadata(config, metadata)
        ctype, cbytes = self.serde.dumps_typed(
            {k: v for k, v in checkpoint.items() if k != "channel_values"}
        )
        mtype, mbytes = self.serde.dumps_typed(merged)
        meta_rows = (
            [(key, encode_filter_value(value)) for key, value in merged.items()]
            if self._index_metadata
            else []
        )
        values = checkpoint.get("channel_values", {})
        blob_rows = [
            (ch, str(ver), *(self.serde.dumps_typed(values[ch]) if ch in values else EMPTY))
            for ch, ver in new_versions.items()
        ]
        with self._db.write() as conn:
            tid = self._writable_tid(conn, target.thread_id, target.checkpoint_id is None and ns == "", "put")
            if tid is None:
                return checkpoint_config(target.thread_id, ns, cid)
            size = len(cbytes) + len(mbytes)
            inserted = conn.execute(
                sql.INSERT_CHECKPOINT, (tid, ns, cid, target.checkpoint_id, ctype, cbytes, mtype, mbytes)
            ).fetchone()
            if inserted:
                cpk = inserted[0]
            else:  # the same checkpoint again: replace it
                cpk, old_size = conn.execute(sql.FIND_CHECKPOINT, (tid, ns, cid)).fetchone()
                size -= old_size
                conn.execute(sql.UPDATE_CHECKPOINT, (target.checkpoint_id, ctype, cbytes, mtype, mbytes, cpk))
                conn.execute(sql.DELETE_META, (cpk,))
            if meta_rows:
                conn.executemany(sql.INSERT_META, [(cpk, k, v) for k, v in meta_rows])
            size += self._store_blobs(conn, tid, ns, blob_rows)
            touch = (self.clock(), 1 if inserted else 0, size, tid)
            if ns == "":
                conn.execute(sql.TOUCH_THREAD_LATEST, (*touch, cpk, cid))
            else:
                conn.execute(sql.TOUCH_THREAD, touch)
        return checkpoint_config(target.thread_id, ns, cid)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        target = parse_target(config)
        if target.checkpoint_id is None:
            raise ConfigError("put_writes needs a config with the checkpoint_id the writes belong to")
        ns = target.checkpoint_ns or ""
        rows = write_rows(writes, task_id, task_path)
        encoded = [
            (row.overwrite, (row.task_id, row.idx, row.task_path, row.channel, *self.serde.dumps_typed(row.value)))
            for row in rows
        ]
        with self._db.write() as conn:
            tid = self._writable_tid(conn, target.thread_id, False, "put_writes")
            if tid is None:
                return
            key = (tid, ns, target.checkpoint_id)
            size = 0
            for over, r in encoded:
                if over:  # special channels replace: count the new value, uncount the old
                    old = conn.execute(sql.OLD_WRITE_SIZE, (*key, r[0], r[1])).fetchone()
                    conn.execute(sql.UPSERT_WRITE, (*key, *r))
                    size += len(r[-1] or b"") - (old[0] if old else 0)
            size += self._insert_counting(conn, sql.INSERT_WRITE, [(*key, *r) for over, r in encoded if not over])
            conn.execute(sql.TOUCH_THREAD, (self.clock(), 0, size, tid))
