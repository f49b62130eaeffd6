"""What `RedisSaver` and `AsyncRedisSaver` share: argument handling and every method,
sync and async, each one line that builds an operation (`_ops.py`) and hands it to a
driver. The subclasses only say which driver runs sync calls and which runs async ones.
"""

from __future__ import annotations

import hashlib

import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde.base import SerializerProtocol

from zerograph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    PendingWrite,
    check_prune_args,
    checkpoint_config,
    parse_target,
    prepare_metadata,
    thread_key,
    validate_list_args,
    write_rows,
)
from zerograph.checkpoint.redis._driver import Op
from zerograph.checkpoint.redis._keys import check_prefix, field, pack
from zerograph.checkpoint.redis._ops import ListState
from zerograph.checkpoint.redis._thread_ops import ThreadOps
from zerograph.checkpoint.threads import (
    DEFAULT_THREAD_PAGE,
    StorageReport,
    ThreadInfo,
    ThreadPage,
    check_page_limit,
    decode_cursor,
    encode_cursor,
    timestamp,
)
from zerograph.serde import encrypts
from zerograph.errors import ConfigError, SaverClosedError

__all__ = ["Lifecycle", "RedisSaverBase"]


class Lifecycle:
    """Open/closed state and the operations in flight, shared with `with_allowlist` clones.

    `close()` waits for running operations before it closes the client: Pregel runs
    writes on background threads, and a redis-py client used during or after `close()`
    quietly reconnects (a cluster client even re-discovers the cluster), leaving sockets
    nobody closes. After `close()`, operations raise `SaverClosedError`.
    """

    def __init__(self) -> None:
        self.cv = threading.Condition()
        self.inflight = 0
        self.closed = False

    def enter(self, what: str) -> None:
        with self.cv:
            if self.closed:
                raise SaverClosedError(f"this {what} was closed; create a new one")
            self.inflight += 1

    def leave(self) -> None:
        with self.cv:
            self.inflight -= 1
            self.cv.notify_all()

    def close(self, timeout: float = 30.0) -> bool:
        """Mark closed and wait for running operations; False if already closed."""
        with self.cv:
            if self.closed:
                return False
            self.closed = True
            self.cv.wait_for(lambda: self.inflight == 0, timeout=timeout)
            return True


def check_client(client: Any) -> None:
    """Refuse a client that decodes replies: values are bytes, not text."""
    try:
        decodes = client.get_encoder().decode_responses
    except AttributeError:
        decodes = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {}).get("decode_responses")
    if decodes:
        raise ConfigError("the Redis client must be created with decode_responses=False (the default)")


class RedisSaverBase(BaseCheckpointSaver):
    """Every method of a Redis saver; subclasses provide `_sync` and `_async`."""

    def __init__(
        self,
        *,
        key_prefix: str = "zerograph",
        ttl: float | timedelta | None = None,
        sweep_interval: float | timedelta | None = None,
        clock: Callable[[], float] | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self.key_prefix = check_prefix(key_prefix)
        self._life = Lifecycle()
        self._init_retention(ttl, sweep_interval, clock)

    @property
    def _ops(self) -> ThreadOps:
        # Built per call (it is tiny): a `with_allowlist()` clone is a shallow copy with
        # its own serializer, and its operations must use that one.
        return ThreadOps(self)

    # --- drivers (subclasses) ----------------------------------------------------------

    def _sync(self, op: Op) -> Any:
        raise NotImplementedError

    async def _async(self, op: Op) -> Any:
        raise NotImplementedError

    # --- building operations -------------------------------------------------------------

    def _put_op(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, new_versions: ChannelVersions
    ) -> tuple[Op, RunnableConfig]:
        target = parse_target(config)
        ns, cid = target.checkpoint_ns or "", checkpoint["id"]
        merged = prepare_metadata(config, metadata)
        run = merged.get("run_id")
        run = None if run is None else self._run_token(str(run))
        cp = self._ops.dumps({k: v for k, v in checkpoint.items() if k != "channel_values"})
        md = pack(*self.serde.dumps_typed(merged), target.checkpoint_id, run)
        values = checkpoint.get("channel_values", {})
        blobs: list[bytes] = []
        for ch, ver in new_versions.items():
            if ch in values:  # an absent value is simply not stored
                blobs += [field(ns, ch, str(ver)), self._ops.dumps(values[ch])]
        op = self._ops.put(target, ns, cid, cp, md, run, blobs)
        return op, checkpoint_config(target.thread_id, ns, cid)

    def _put_writes_op(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
    ) -> Op:
        target = parse_target(config)
        if target.checkpoint_id is None:
            raise ConfigError("put_writes needs a config with the checkpoint_id the writes belong to")
        ns = target.checkpoint_ns or ""
        rows = []
        for row in write_rows(writes, task_id, task_path):
            typ, data = self.serde.dumps_typed(row.value)
            rec = pack(row.task_id, row.channel, typ, data, row.task_path, row.idx)
            rows.append((field(ns, target.checkpoint_id, row.task_id, str(row.idx)), rec, row.overwrite))
        return self._ops.put_writes(target, ns, rows)

    def _list_state(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> ListState:
        before_id = validate_list_args(filter, before, limit)
        target = parse_target(config, default_ns=None) if config is not None else None
        return ListState(
            thread_id=target.thread_id if target else None,
            ns=target.checkpoint_ns if target else None,
            checkpoint_id=target.checkpoint_id if target else None,
            before=before_id,
            filter=filter or None,
            remaining=limit,
        )

    def _prune_op(
        self, thread_ids: Sequence[str], strategy: str, keep_last: int | None, older_than: Any
    ) -> Op:
        if isinstance(thread_ids, str):
            raise ConfigError("prune takes a list of thread ids, not one string")
        plan = check_prune_args(strategy, keep_last, older_than)
        return self._ops.prune([thread_key(t) for t in thread_ids], plan)

    def _copy_op(self, source_thread_id: str, target_thread_id: str) -> Op:
        src = thread_key(source_thread_id, "source_thread_id")
        dst = thread_key(target_thread_id, "target_thread_id")
        return self._ops.copy(src, dst)

    def _runs_op(self, run_ids: Sequence[str]) -> Op:
        if isinstance(run_ids, str):
            raise ConfigError("delete_for_runs takes a list of run ids, not one string")
        return self._ops.delete_for_runs([self._run_token(str(r)) for r in run_ids])

    def _run_token(self, run_id: str) -> str:
        """A run id as the run index stores it. With an encrypting serializer, a SHA-256
        digest: the plaintext run id then exists only inside the encrypted metadata."""
        cached = self.__dict__.get("_encrypting")
        if cached is None or cached[0] is not self.serde:  # with_allowlist clones swap serde
            cached = self.__dict__["_encrypting"] = (self.serde, encrypts(self.serde))
        if not cached[1]:
            return run_id
        return "sha256:" + hashlib.sha256(run_id.encode("utf-8")).hexdigest()

    def _threads_op(
        self, filter: Any, updated_after: Any, updated_before: Any, limit: int, cursor: str | None
    ) -> Op:
        validate_list_args(filter, None, None)
        limit = check_page_limit(limit)
        after = decode_cursor(cursor)
        lo, hi = timestamp(updated_after, "updated_after"), timestamp(updated_before, "updated_before")
        return self._page(self._ops.list_threads(filter, lo, hi, limit, after), limit)

    @staticmethod
    def _page(op: Op, limit: int) -> Op:
        infos, last_score = yield from op
        more = len(infos) == limit
        return ThreadPage(infos, encode_cursor(last_score, infos[-1].thread_id) if more else None)

    def _has_op(self, thread_id: str) -> Op:
        (n,) = yield [("ZCARD", self._ops.keys(thread_key(thread_id)).id)]
        return bool(n)

    def _sweep_op(self, now: float | None) -> Op:
        cutoff = self._expiry_cutoff(now)
        if cutoff is None:
            return 0
        return (yield from self._ops.sweep(cutoff))

    def _pending_op(self, config: RunnableConfig) -> Op:
        tup = yield from self._ops.get_tuple(parse_target(config))
        return list(tup.pending_writes or []) if tup else []

    # --- sync API ------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._sync(self._ops.get_tuple(parse_target(config)))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        state = self._list_state(config, filter, before, limit)
        while True:
            page = self._sync(self._ops.list_page(state))
            if not page:
                return
            yield from page  # between pages the saver is free: callers may use it here

    def put(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, new_versions: ChannelVersions
    ) -> RunnableConfig:
        op, out = self._put_op(config, checkpoint, metadata, new_versions)
        self._sync(op)
        return out

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self._sync(self._put_writes_op(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._sync(self._ops.delete(thread_key(thread_id)))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._sync(self._runs_op(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._sync(self._copy_op(source_thread_id, target_thread_id))

    def prune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        keep_last: int | None = None,
        older_than: float | datetime | timedelta | None = None,
    ) -> None:
        self._sync(self._prune_op(thread_ids, strategy, keep_last, older_than))

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, DeltaChannelHistory]:
        return self._sync(self._ops.delta_history(parse_target(config), channels))

    def get_pending_writes(self, config: RunnableConfig) -> list[PendingWrite]:
        return self._sync(self._pending_op(config))

    def list_threads(
        self,
        *,
        filter: dict[str, Any] | None = None,
        updated_after: float | datetime | None = None,
        updated_before: float | datetime | None = None,
        limit: int = DEFAULT_THREAD_PAGE,
        cursor: str | None = None,
    ) -> ThreadPage:
        return self._sync(self._threads_op(filter, updated_after, updated_before, limit, cursor))

    def thread_info(self, thread_id: str) -> ThreadInfo | None:
        return self._sync(self._ops.thread_info(thread_key(thread_id)))

    def has_thread(self, thread_id: str) -> bool:
        return self._sync(self._has_op(thread_id))

    def sweep(self, *, now: float | None = None) -> int:
        return self._sync(self._sweep_op(now))

    def storage_report(self, thread_id: str | None = None) -> StorageReport:
        return self._sync(self._ops.storage(None if thread_id is None else thread_key(thread_id)))

    def vacuum(self) -> None:
        """Nothing to do: Redis frees memory as keys are deleted."""

    # --- async API ---------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._async(self._ops.get_tuple(parse_target(config)))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        state = self._list_state(config, filter, before, limit)
        while True:
            page = await self._async(self._ops.list_page(state))
            if not page:
                return
            for tup in page:
                yield tup

    async def aput(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, new_versions: ChannelVersions
    ) -> RunnableConfig:
        op, out = self._put_op(config, checkpoint, metadata, new_versions)
        await self._async(op)
        return out

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self._async(self._put_writes_op(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._async(self._ops.delete(thread_key(thread_id)))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._async(self._runs_op(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._async(self._copy_op(source_thread_id, target_thread_id))

    async def aprune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        keep_last: int | None = None,
        older_than: float | datetime | timedelta | None = None,
    ) -> None:
        await self._async(self._prune_op(thread_ids, strategy, keep_last, older_than))

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, DeltaChannelHistory]:
        return await self._async(self._ops.delta_history(parse_target(config), channels))

    async def aget_pending_writes(self, config: RunnableConfig) -> list[PendingWrite]:
        return await self._async(self._pending_op(config))

    async def alist_threads(
        self,
        *,
        filter: dict[str, Any] | None = None,
        updated_after: float | datetime | None = None,
        updated_before: float | datetime | None = None,
        limit: int = DEFAULT_THREAD_PAGE,
        cursor: str | None = None,
    ) -> ThreadPage:
        return await self._async(self._threads_op(filter, updated_after, updated_before, limit, cursor))

    async def athread_info(self, thread_id: str) -> ThreadInfo | None:
        return await self._async(self._ops.thread_info(thread_key(thread_id)))

    async def ahas_thread(self, thread_id: str) -> bool:
        return await self._async(self._has_op(thread_id))

    async def asweep(self, *, now: float | None = None) -> int:
        return await self._async(self._sweep_op(now))

    async def astorage_report(self, thread_id: str | None = None) -> StorageReport:
        return await self._async(self._ops.storage(None if thread_id is None else thread_key(thread_id)))

    async def avacuum(self) -> None:
        """Nothing to do: Redis frees memory as keys are deleted."""
