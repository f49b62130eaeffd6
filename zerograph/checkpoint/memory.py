"""`InMemorySaver`: checkpoints in process memory, for tests and short-lived graphs.

Storage, per thread (so deleting one thread never touches the others):

- `checkpoints[ns][checkpoint_id]` → serialized checkpoint (without values),
  serialized metadata, parent id, and the metadata's filter index;
- `blobs[(ns, channel, version)]` → one serialized value per channel version, written
  only when `new_versions` says the channel changed;
- `writes[(ns, checkpoint_id)][(task_id, idx)]` → serialized pending write + task_path.

Everything stored is serialized, so mutating an object after `put` never changes
history. One lock guards the maps; `list()` copies a page under the lock and yields
outside it. Reads never create entries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
    CheckpointNode,
    CheckpointTuple,
    DeltaChannelHistory,
    assemble_delta_history,
    check_prune_args,
    checkpoint_config,
    checkpoint_time,
    metadata_matches,
    parse_target,
    plan_prune,
    prepare_metadata,
    sort_writes,
    thread_key,
    unseeded_channels,
    validate_list_args,
    write_rows,
)
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

logger = logging.getLogger("zerograph")

__all__ = ["InMemorySaver"]

Typed = tuple[str, bytes]
EMPTY: Typed = ("empty", b"")
PAGE = 100


@dataclass
class _Stored:
    checkpoint: Typed
    metadata: Typed
    parent_id: str | None
    run_id: Any


@dataclass
class _Thread:
    created_at: float
    updated_at: float
    checkpoints: dict[str, dict[str, _Stored]] = field(default_factory=dict)
    blobs: dict[tuple[str, str, str], Typed] = field(default_factory=dict)
    writes: dict[tuple[str, str], dict[tuple[str, int], tuple[str, str, Typed, str]]] = field(
        default_factory=dict
    )


class InMemorySaver(BaseCheckpointSaver):
    """A thread-safe in-memory saver, a drop-in for LangGraph's `InMemorySaver`.

    Args:
        serde: The serializer; LangGraph's `JsonPlusSerializer` by default.
        ttl: Seconds (or a timedelta) after which an untouched thread is removed by
            `sweep()`; None keeps threads forever.
        sweep_interval: If set (with `ttl`), sweep on a background thread this often.
        clock: Returns Unix seconds; injectable for tests.
    """

    def __init__(
        self,
        *,
        serde: SerializerProtocol | None = None,
        ttl: float | timedelta | None = None,
        sweep_interval: float | timedelta | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self._threads: dict[str, _Thread] = {}
        self._tombstones: dict[str, float] = {}
        self._lock = threading.RLock()
        self._init_retention(ttl, sweep_interval, clock)

    def _writable(self, thread_id: str, fresh_start: bool, what: str) -> _Thread | None:
        """The thread to write into, or None if it was deleted and this write is late.

        A deleted thread stays deleted (langgraph#7206): only a fresh start (a root-namespace
        put with no parent checkpoint) brings the thread id back, not a subgraph's first put.
        """
        thread = self._threads.get(thread_id)
        now = self.clock()
        if thread is None:
            if thread_id in self._tombstones and not fresh_start:
                logger.warning("zerograph: dropped a late %s for deleted thread %r", what, thread_id)
                return None
            self._tombstones.pop(thread_id, None)
            thread = self._threads[thread_id] = _Thread(now, now)
        thread.updated_at = now
        return thread

    async def _run(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Memory operations are short and never block on I/O: no thread hop.
        return fn(*args, **kwargs)

    # --- reads ------------------------------------------------------------------------

    def _tuple(self, thread_id: str, ns: str, cid: str, thread: _Thread) -> CheckpointTuple:
        stored = thread.checkpoints[ns][cid]
        checkpoint: dict[str, Any] = self.serde.loads_typed(stored.checkpoint)
        values: dict[str, Any] = {}
        for ch, ver in checkpoint["channel_versions"].items():
            blob = thread.blobs.get((ns, ch, str(ver)))
            if blob is not None and blob[0] != "empty":
                values[ch] = self.serde.loads_typed(blob)
        stored_writes = thread.writes.get((ns, cid), {})
        writes = sort_writes(stored_writes.items(), key=lambda kv: (kv[1][3], *kv[0]))
        if checkpoint.get("v", 4) < 4 and stored.parent_id:
            self._migrate_sends(thread, ns, stored.parent_id, checkpoint, values)
        checkpoint["channel_values"] = values
        return CheckpointTuple(
            config=checkpoint_config(thread_id, ns, cid),
            checkpoint=checkpoint,  # type: ignore[arg-type]
            metadata=self.serde.loads_typed(stored.metadata),
            parent_config=(
                checkpoint_config(thread_id, ns, stored.parent_id) if stored.parent_id else None
            ),
            pending_writes=[(t, c, self.serde.loads_typed(v)) for (t, c, v, _) in (w for _, w in writes)],
        )

    def _migrate_sends(
        self, thread: _Thread, ns: str, parent_id: str, checkpoint: dict[str, Any], values: dict[str, Any]
    ) -> None:
        """Pre-v4 checkpoints kept sends as the parent's `__pregel_tasks` writes."""
        parent_writes = thread.writes.get((ns, parent_id), {})
        sends = [
            self.serde.loads_typed(v)
            for _, (_, ch, v, _) in sort_writes(parent_writes.items(), key=lambda kv: (kv[1][3], *kv[0]))
            if ch == TASKS
        ]
        if sends:
            values[TASKS] = sends
            versions = checkpoint["channel_versions"]
            versions[TASKS] = max(versions.values()) if versions else self.get_next_version(None)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        target = parse_target(config)
        ns = target.checkpoint_ns or ""
        with self._lock:
            thread = self._threads.get(target.thread_id)
            by_id = thread.checkpoints.get(ns) if thread else None
            if not thread or not by_id:
                return None
            cid = target.checkpoint_id or max(by_id)
            if cid not in by_id:
                return None
            return self._tuple(target.thread_id, ns, cid, thread)

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
        with self._lock:
            keys: list[tuple[str, str, str]] = []
            names = [target.thread_id] if target else list(self._threads)
            for thread_id in names:
                thread = self._threads.get(thread_id)
                if thread is None:
                    continue
                for ns, by_id in thread.checkpoints.items():
                    if target and target.checkpoint_ns is not None and ns != target.checkpoint_ns:
                        continue
                    for cid, stored in by_id.items():
                        if target and target.checkpoint_id and cid != target.checkpoint_id:
                            continue
                        if before_id is not None and not cid < before_id:
                            continue
                        if filter and not metadata_matches(
                            self.serde.loads_typed(stored.metadata), filter
                        ):
                            continue
                        keys.append((cid, thread_id, ns))
        keys.sort(reverse=True)
        if limit is not None:
            keys = keys[:limit]
        for start in range(0, len(keys), PAGE):
            page: list[CheckpointTuple] = []
            with self._lock:
                for cid, thread_id, ns in keys[start : start + PAGE]:
                    thread = self._threads.get(thread_id)
                    if thread and cid in thread.checkpoints.get(ns, {}):
                        page.append(self._tuple(thread_id, ns, cid, thread))
            yield page

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, DeltaChannelHistory]:
        if not channels:
            return {}
        target = parse_target(config)
        ns = target.checkpoint_ns or ""
        with self._lock:
            thread = self._threads.get(target.thread_id)
            by_id = thread.checkpoints.get(ns, {}) if thread else {}
            cid = target.checkpoint_id or max(by_id, default=None)
            start = by_id.get(cid) if cid else None
            return assemble_delta_history(
                channels, self._ancestors(thread, ns, start.parent_id if start else None, set(channels))
            )

    def _ancestors(
        self, thread: _Thread | None, ns: str, cid: str | None, wanted: set[str]
    ) -> Iterator[Ancestor]:
        seen: set[str] = set()
        while thread is not None and cid is not None and cid not in seen:
            stored = thread.checkpoints.get(ns, {}).get(cid)
            if stored is None:
                return
            seen.add(cid)
            versions = self.serde.loads_typed(stored.checkpoint)["channel_versions"]
            values = {}
            for ch in wanted:
                blob = thread.blobs.get((ns, ch, str(versions.get(ch))))
                if ch in versions and blob is not None and blob[0] != "empty":
                    values[ch] = lambda b=blob: self.serde.loads_typed(b)
            writes = [
                (t, ch, (lambda v=v: self.serde.loads_typed(v)), path, idx)
                for (t, idx), (_, ch, v, path) in thread.writes.get((ns, cid), {}).items()
                if ch in wanted
            ]
            yield Ancestor(values, writes)
            cid = stored.parent_id

    # --- writes -----------------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        target = parse_target(config)
        ns = target.checkpoint_ns or ""
        merged = prepare_metadata(config, metadata)
        values = checkpoint.get("channel_values", {})
        blobs = {
            (ns, ch, str(ver)): (self.serde.dumps_typed(values[ch]) if ch in values else EMPTY)
            for ch, ver in new_versions.items()
        }
        stored = _Stored(
            checkpoint=self.serde.dumps_typed(
                {k: v for k, v in checkpoint.items() if k != "channel_values"}
            ),
            metadata=self.serde.dumps_typed(merged),
            parent_id=target.checkpoint_id,
            run_id=merged.get("run_id"),
        )
        with self._lock:
            thread = self._writable(target.thread_id, target.checkpoint_id is None and ns == "", "put")
            if thread is None:
                return checkpoint_config(target.thread_id, ns, checkpoint["id"])
            for key, blob in blobs.items():
                thread.blobs.setdefault(key, blob)  # a version is immutable once stored
            thread.checkpoints.setdefault(ns, {})[checkpoint["id"]] = stored
        return checkpoint_config(target.thread_id, ns, checkpoint["id"])

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
        rows = [(row, self.serde.dumps_typed(row.value)) for row in write_rows(writes, task_id, task_path)]
        with self._lock:
            thread = self._writable(target.thread_id, False, "put_writes")
            if thread is None:
                return
            stored = thread.writes.setdefault((ns, target.checkpoint_id), {})
            for row, typed in rows:
                key = (row.task_id, row.idx)
                if row.overwrite or key not in stored:
                    stored[key] = (row.task_id, row.channel, typed, row.task_path)

    # --- thread-level operations ------------------------------------------------------

    def delete_thread(self, thread_id: str) -> None:
        with self._lock:
            self._forget(thread_key(thread_id))

    def _forget(self, thread_id: str) -> None:
        """Remove a thread whole and leave a tombstone so late writes cannot revive it."""
        if self._threads.pop(thread_id, None) is not None:
            self._tombstones[thread_id] = self.clock()

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        if isinstance(run_ids, str):
            raise ConfigError("delete_for_runs takes a list of run ids, not one string")
        runs = {str(r) for r in run_ids}
        if not runs:
            return
        with self._lock:
            for thread in self._threads.values():
                doomed = [
                    (ns, cid)
                    for ns, by_id in thread.checkpoints.items()
                    for cid, stored in by_id.items()
                    if stored.run_id is not None and str(stored.run_id) in runs
                ]
                if doomed:
                    self._drop(thread, doomed)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        src, dst = thread_key(source_thread_id, "source_thread_id"), thread_key(target_thread_id, "target_thread_id")
        if src == dst:
            raise ConfigError("copy_thread needs two different thread ids")
        with self._lock:
            source = self._threads.get(src)
            if self._threads.get(dst) and self._threads[dst].checkpoints:
                raise ConfigError(
                    f"copy_thread target {dst!r} already has checkpoints; delete it first"
                )
            if source is None:
                return
            # Stored values are immutable serialized bytes: sharing them is a copy.
            now = self.clock()
            self._tombstones.pop(dst, None)
            self._threads[dst] = _Thread(
                created_at=now,
                updated_at=now,
                checkpoints={ns: dict(by_id) for ns, by_id in source.checkpoints.items()},
                blobs=dict(source.blobs),
                writes={k: dict(v) for k, v in source.writes.items()},
            )

    def prune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        keep_last: int | None = None,
        older_than: float | datetime | timedelta | None = None,
    ) -> None:
        if isinstance(thread_ids, str):
            raise ConfigError("prune takes a list of thread ids, not one string")
        plan = check_prune_args(strategy, keep_last, older_than)
        names = [thread_key(t) for t in thread_ids]
        with self._lock:
            for thread_id in names:
                thread = self._threads.get(thread_id)
                if thread is None:
                    continue
                if plan.keep_last is None:
                    self._forget(thread_id)
                    continue
                keep = plan_prune(self._nodes(thread), plan)
                doomed = [
                    (ns, cid)
                    for ns, by_id in thread.checkpoints.items()
                    for cid in by_id
                    if (ns, cid) not in keep
                ]
                self._drop(thread, doomed)

    def _nodes(self, thread: _Thread) -> Iterator[CheckpointNode]:
        for ns, by_id in thread.checkpoints.items():
            for cid, stored in by_id.items():
                cp = self.serde.loads_typed(stored.checkpoint)
                versions = cp["channel_versions"]
                seeded = {
                    ch
                    for ch, ver in versions.items()
                    if thread.blobs.get((ns, ch, str(ver)), EMPTY)[0] != "empty"
                }
                needs_parent = cp.get("v", 4) < 4 and any(
                    w[1] == TASKS for w in thread.writes.get((ns, stored.parent_id or ""), {}).values()
                )
                metadata = self.serde.loads_typed(stored.metadata)
                yield CheckpointNode(
                    ns, cid, stored.parent_id, needs_parent,
                    unseeded_channels(metadata, versions, seeded), frozenset(seeded),
                    checkpoint_time(cp),
                )

    def _drop(self, thread: _Thread, doomed: Sequence[tuple[str, str]]) -> None:
        """Delete checkpoints with their writes, then every blob no survivor references."""
        for ns, cid in doomed:
            thread.checkpoints.get(ns, {}).pop(cid, None)
            thread.writes.pop((ns, cid), None)
        thread.checkpoints = {ns: by_id for ns, by_id in thread.checkpoints.items() if by_id}
        live = {
            (ns, ch, str(ver))
            for ns, by_id in thread.checkpoints.items()
            for stored in by_id.values()
            for ch, ver in self.serde.loads_typed(stored.checkpoint)["channel_versions"].items()
        }
        thread.blobs = {k: v for k, v in thread.blobs.items() if k in live}

    # --- threads ----------------------------------------------------------------------

    def _info(self, thread_id: str, thread: _Thread) -> ThreadInfo:
        root = thread.checkpoints.get("", {})
        latest = max(root, default=None)
        return ThreadInfo(
            thread_id=thread_id,
            created_at=thread.created_at,
            updated_at=thread.updated_at,
            checkpoints=sum(len(by_id) for by_id in thread.checkpoints.values()),
            namespaces=tuple(sorted(ns for ns, by_id in thread.checkpoints.items() if by_id)),
            latest_checkpoint_id=latest,
            metadata=self.serde.loads_typed(root[latest].metadata) if latest else {},
            bytes=sum(self._usage(thread).values()),
        )

    def _usage(self, thread: _Thread) -> dict[str, int]:
        """Stored bytes by channel; checkpoint rows and metadata under the key None."""
        usage: dict[Any, int] = {None: 0}
        for by_id in thread.checkpoints.values():
            for stored in by_id.values():
                usage[None] += len(stored.checkpoint[1]) + len(stored.metadata[1])
        for (_, ch, _), (_, data) in thread.blobs.items():
            usage[ch] = usage.get(ch, 0) + len(data)
        for by_key in thread.writes.values():
            for _, ch, (_, data), _ in by_key.values():
                usage[ch] = usage.get(ch, 0) + len(data)
        return usage

    def list_threads(
        self,
        *,
        filter: dict[str, Any] | None = None,
        updated_after: float | datetime | None = None,
        updated_before: float | datetime | None = None,
        limit: int = DEFAULT_THREAD_PAGE,
        cursor: str | None = None,
    ) -> ThreadPage:
        validate_list_args(filter, None, None)
        limit = check_page_limit(limit)
        after = decode_cursor(cursor)
        lo, hi = timestamp(updated_after, "updated_after"), timestamp(updated_before, "updated_before")
        with self._lock:
            keys = sorted(
                ((t.updated_at, tid) for tid, t in self._threads.items() if t.checkpoints),
                reverse=True,
            )
            page: list[ThreadInfo] = []
            for updated_at, thread_id in keys:
                if after is not None and (updated_at, thread_id) >= after:
                    continue
                if (lo is not None and updated_at <= lo) or (hi is not None and updated_at >= hi):
                    continue
                info = self._info(thread_id, self._threads[thread_id])
                if filter and not metadata_matches(info.metadata, filter):
                    continue
                page.append(info)
                if len(page) == limit:
                    break
        more = len(page) == limit
        return ThreadPage(page, encode_cursor(page[-1].updated_at, page[-1].thread_id) if more else None)

    def thread_info(self, thread_id: str) -> ThreadInfo | None:
        with self._lock:
            thread = self._threads.get(thread_key(thread_id))
            return self._info(thread_key(thread_id), thread) if thread and thread.checkpoints else None

    def has_thread(self, thread_id: str) -> bool:
        with self._lock:
            thread = self._threads.get(thread_key(thread_id))
            return bool(thread and thread.checkpoints)

    def sweep(self, *, now: float | None = None) -> int:
        cutoff = self._expiry_cutoff(now)
        current = self.clock() if now is None else now
        with self._lock:
            doomed = [] if cutoff is None else [t for t, th in self._threads.items() if th.updated_at < cutoff]
            for thread_id in doomed:
                self._forget(thread_id)
            self._tombstones = {
                t: at for t, at in self._tombstones.items() if at >= current - DEFAULT_TOMBSTONE_TTL
            }
        return len(doomed)

    def storage_report(self, thread_id: str | None = None) -> StorageReport:
        with self._lock:
            names = [thread_key(thread_id)] if thread_id is not None else list(self._threads)
            by_thread: dict[str, int] = {}
            by_channel: dict[str, int] = {}
            rows = 0
            for name in names:
                thread = self._threads.get(name)
                if thread is None:
                    continue
                usage = self._usage(thread)
                by_thread[name] = sum(usage.values())
                rows += usage.pop(None)
                for ch, n in usage.items():
                    by_channel[ch] = by_channel.get(ch, 0) + n
        return StorageReport(sum(by_thread.values()), by_thread, by_channel, rows)
