"""The saver contract every zerograph backend implements, and the logic they share.

`BaseCheckpointSaver` subclasses LangGraph's own base class, so `compile(checkpointer=…)`
and every `isinstance` check inside Pregel accept a zerograph saver. What does no I/O
lives here once: reading configs, merging metadata, numbering writes, versions,
metadata-filter encoding, the ancestor walk of `get_delta_channel_history` and the
keep-set of `prune`. Backends only store and fetch.

Async methods default to running the sync method in one `asyncio.to_thread` hop
(`_run`), so one `a*` call is one whole operation: cancelling the awaiting task never
leaves half of a write behind. A backend can route the hop elsewhere by overriding `_run`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    PendingWrite,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.base import BaseCheckpointSaver as _LangGraphSaver
from langgraph.checkpoint.serde.base import SerializerProtocol

from zerograph.checkpoint.threads import (
    StorageReport,
    Sweeper,
    ThreadInfo,
    ThreadPage,
    seconds,
    timestamp,
)
from zerograph.errors import ConfigError, UnsupportedOperation
from zerograph.serde import default_serializer

__all__ = [
    "WRITES_IDX_MAP",
    "BaseCheckpointSaver",
    "ChannelVersions",
    "Checkpoint",
    "CheckpointMetadata",
    "CheckpointTuple",
    "DeltaChannelHistory",
    "PendingWrite",
    "Target",
    "WriteRow",
    "checkpoint_config",
    "encode_filter_value",
    "next_version",
    "parse_target",
    "prepare_metadata",
    "validate_list_args",
    "write_rows",
]

T = TypeVar("T")

PRUNE_STRATEGIES = ("keep_latest", "delete")


# --- configs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a config points at: a thread, a namespace (None = all) and maybe one id."""

    thread_id: str
    checkpoint_ns: str | None
    checkpoint_id: str | None


def parse_target(config: RunnableConfig | None, *, default_ns: str | None = "") -> Target:
    """Read thread, namespace and checkpoint id from a config.

    `checkpoint_id: None` means "absent" (Pregel sends it explicitly). A non-str
    thread id is `str()`-ed, as Pregel's state APIs do.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(
            "config must be a dict like {'configurable': {'thread_id': '...'}}, "
            f"got {type(config).__name__}"
        )
    configurable = config.get("configurable")
    if not isinstance(configurable, Mapping) or configurable.get("thread_id") is None:
        raise ConfigError(
            "config needs a thread_id: pass {'configurable': {'thread_id': '...'}}"
        )
    ns = configurable.get("checkpoint_ns", default_ns)
    if ns is not None and not isinstance(ns, str):
        raise ConfigError(f"checkpoint_ns must be a str, got {type(ns).__name__}")
    cid = configurable.get("checkpoint_id")
    if cid is not None and not isinstance(cid, str):
        raise ConfigError(f"checkpoint_id must be a str, got {type(cid).__name__}")
    return Target(thread_key(configurable["thread_id"]), ns, cid or None)


def thread_key(thread_id: Any, what: str = "thread_id") -> str:
    """A thread id as stored: `str()` of a str, int or UUID (Pregel does the same).

    None (or a container) is refused: `str(None)` would silently name the thread "None".
    """
    if thread_id is None or isinstance(thread_id, (bytes, bytearray, Mapping, list, tuple, set)):
        raise ConfigError(f"{what} must be a str (or an int or UUID), got {thread_id!r}")
    return str(thread_id)


def checkpoint_config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    """The config shape every saver returns: exactly the three keys."""
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def validate_list_args(
    filter: Mapping[str, Any] | None, before: RunnableConfig | None, limit: int | None
) -> str | None:
    """Check `list()`'s keyword arguments; return the `before` checkpoint id, if any.

    `before` is used only for its checkpoint id and needs no thread_id: Pregel lists a
    subgraph namespace with the *root* namespace's id during replay.
    """
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
    ):
        raise ConfigError(f"limit must be None or an int >= 0, got {limit!r}")
    if filter is not None:
        if not isinstance(filter, Mapping):
            raise ConfigError(f"filter must be a dict, got {type(filter).__name__}")
        for key in filter:
            if not isinstance(key, str):
                raise ConfigError(f"filter keys must be str, got {key!r}")
    if before is None:
        return None
    configurable = before.get("configurable") if isinstance(before, Mapping) else None
    if not isinstance(configurable, Mapping):
        raise ConfigError("before must be a config like {'configurable': {'checkpoint_id': ...}}")
    cid = configurable.get("checkpoint_id")
    if cid is not None and not isinstance(cid, str):
        raise ConfigError(f"before's checkpoint_id must be a str, got {type(cid).__name__}")
    return cid or None


# --- metadata ------------------------------------------------------------------------


def prepare_metadata(config: RunnableConfig, metadata: CheckpointMetadata) -> dict[str, Any]:
    """Merge config metadata and scalar configurable keys into `metadata`, as LangGraph does.

    Pregel hands `put` bare `{source, step, parents}`; `run_id` and user keys reach the
    stored metadata only through this merge. A legacy `writes` key is dropped.
    """
    merged = dict(get_checkpoint_metadata(config, metadata))
    merged.pop("writes", None)
    return merged


def _canonical(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)  # LangGraph's savers match True == 1, as Python does
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    return {"__zerograph_repr__": f"{type(value).__qualname__}:{value!r}"}


def encode_filter_value(value: Any) -> str:
    """Canonical text of a metadata value, so equality is a string comparison.

    Used both when a checkpoint's metadata is indexed and when a filter is read,
    so a stored value and a filter value match exactly when they are equal the way
    LangGraph's savers compare them (`1 == 1.0 == True`, dict order ignored).
    """
    return json.dumps(
        _canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


NULL_TEXT = encode_filter_value(None)


def metadata_matches(metadata: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Does `metadata` satisfy `filter`? A `None` filter value also matches a missing key."""
    if not filter:
        return True
    for key, wanted in filter.items():
        have = metadata.get(key)
        if encode_filter_value(have) != encode_filter_value(wanted):
            return False
    return True


# --- writes and versions -------------------------------------------------------------


@dataclass(frozen=True)
class WriteRow:
    """One pending write as stored: `overwrite` is True for LangGraph's special channels."""

    task_id: str
    idx: int
    channel: str
    value: Any
    task_path: str

    @property
    def overwrite(self) -> bool:
        return self.channel in WRITES_IDX_MAP


def write_rows(
    writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
) -> list[WriteRow]:
    """Number a `put_writes` batch the way every LangGraph saver does.

    Special channels (error, scheduled, interrupt, resume) get fixed negative indexes and
    overwrite; ordinary writes are numbered by position and are insert-if-absent. The
    decision is per write, so the mixed batch Pregel sends on resume behaves like
    LangGraph's InMemorySaver.
    """
    if not isinstance(task_id, str):
        raise ConfigError(f"task_id must be a str, got {type(task_id).__name__}")
    return [
        WriteRow(task_id, WRITES_IDX_MAP.get(channel, i), channel, value, task_path or "")
        for i, (channel, value) in enumerate(writes)
    ]


def sort_writes(rows: Iterable[T], key: Callable[[T], tuple[str, str, int]]) -> list[T]:
    """Order writes by LangGraph's `writes_sort_key` (task_path, task_id, idx)."""
    return sorted(rows, key=lambda r: writes_sort_key(*key(r)))


def next_version(current: str | int | float | None) -> str:
    """LangGraph's version format: a zero-padded counter plus a random fraction.

    The fraction makes a fork's new version differ from the version the original
    timeline already stored under the same counter.
    """
    if current is None:
        n = 0
    elif isinstance(current, (int, float)):
        n = int(current)
    else:
        n = int(str(current).split(".")[0])
    return f"{n + 1:032}.{random.random():016}"


# --- delta channel history and prune planning ----------------------------------------


@dataclass
class Ancestor:
    """One ancestor of a checkpoint, as a backend hands it to the delta-history walk.

    `values` maps each requested channel that has a stored value at this checkpoint
    to a zero-argument loader; `writes` are `(task_id, channel, loader, task_path, idx)`
    rows of the requested channels.
    """

    values: dict[str, Callable[[], Any]]
    writes: list[tuple[str, str, Callable[[], Any], str, int]]


def assemble_delta_history(
    channels: Sequence[str], ancestors: Iterator[Ancestor]
) -> dict[str, DeltaChannelHistory]:
    """LangGraph's contract for `get_delta_channel_history`, over any ancestor source.

    Walk nearest-first; per channel, stop at the nearest ancestor with a stored value
    (the seed) after collecting that ancestor's writes too. Writes come out oldest to
    newest, `writes_sort_key` order within one checkpoint.
    """
    collected: dict[str, list[PendingWrite]] = {c: [] for c in channels}
    seeds: dict[str, Any] = {}
    remaining = set(channels)
    for anc in ancestors:
        if not remaining:
            break
        ordered = sort_writes(anc.writes, key=lambda w: (w[3], w[0], w[4]))
        for task_id, ch, load, _, _ in reversed(ordered):
            if ch in remaining:
                collected[ch].append((task_id, ch, load()))
        for ch in [c for c in remaining if c in anc.values]:
            seeds[ch] = anc.values[ch]()
            remaining.discard(ch)
    result: dict[str, DeltaChannelHistory] = {}
    for ch in channels:
        entry: DeltaChannelHistory = {"writes": list(reversed(collected[ch]))}
        if ch in seeds:
            entry["seed"] = seeds[ch]
        result[ch] = entry
    return result


@dataclass(frozen=True)
class CheckpointNode:
    """What `plan_prune` needs to know of one stored checkpoint."""

    checkpoint_ns: str
    checkpoint_id: str
    parent_id: str | None
    # a pre-v4 checkpoint whose pending sends live in its parent's `__pregel_tasks` writes
    needs_parent: bool
    # DeltaChannels that have a version here but no stored value: they are rebuilt
    # from ancestors' writes back to the nearest snapshot (see `unseeded_channels`)
    unseeded: frozenset[str]
    # channels that do have a stored value at this checkpoint
    seeded: frozenset[str]
    # the checkpoint's `ts` as Unix seconds (None if it cannot be read: then it is kept)
    ts: float | None = None


def checkpoint_time(checkpoint: Mapping[str, Any]) -> float | None:
    """A checkpoint's `ts` (ISO-8601, as Pregel writes it) as Unix seconds."""
    try:
        return datetime.fromisoformat(str(checkpoint.get("ts"))).timestamp()
    except ValueError:
        return None


def unseeded_channels(metadata: Mapping[str, Any], versioned: Iterable[str], stored: Iterable[str]) -> frozenset[str]:
    """Channels of a checkpoint that can only be rebuilt from its ancestors.

    Pregel names the DeltaChannels written since their last snapshot in
    `metadata["counters_since_delta_snapshot"]`. Other channels without a stored value
    (a consumed `__start__` or `branch:to:*`) are simply empty and need no ancestor.
    """
    delta = set(metadata.get("counters_since_delta_snapshot") or ())
    return frozenset((delta & set(versioned)) - set(stored))


@dataclass(frozen=True)
class PrunePlan:
    """What `prune` keeps: the newest `keep_last` per namespace (None: delete the thread),
    plus, with `cutoff`, every checkpoint at or after that time."""

    keep_last: int | None
    cutoff: float | None = None


def check_prune_args(
    strategy: str,
    keep_last: int | None,
    older_than: float | int | datetime | timedelta | None = None,
    now: float | None = None,
) -> PrunePlan:
    """Validate `prune` arguments. `older_than` is an age (timedelta) or a time
    (datetime / Unix seconds): older checkpoints go, but never a namespace's newest.
    Ages are measured on the wall clock, like the `ts` Pregel writes into checkpoints."""
    if strategy not in PRUNE_STRATEGIES:
        raise ConfigError(
            f"unknown prune strategy {strategy!r}: use 'keep_latest' or 'delete' "
            "(or keep_last=N to keep the newest N per namespace)"
        )
    if keep_last is not None:
        if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1:
            raise ConfigError(f"keep_last must be an int >= 1, got {keep_last!r}")
    if strategy == "delete":
        if keep_last is not None or older_than is not None:
            raise ConfigError("keep_last and older_than cannot be combined with strategy='delete'")
        return PrunePlan(None)
    cutoff = None
    if isinstance(older_than, timedelta):
        cutoff = (time.time() if now is None else now) - older_than.total_seconds()
    elif older_than is not None:
        cutoff = timestamp(older_than, "older_than")
    return PrunePlan(keep_last or 1, cutoff)


def plan_prune(nodes: Iterable[CheckpointNode], plan: PrunePlan | int) -> set[tuple[str, str]]:
    """The (ns, checkpoint_id) pairs to keep when pruning one thread.

    Keeps the newest `keep_last` checkpoints of each namespace (and, with a cutoff,
    every checkpoint at or after it), then every ancestor a kept checkpoint still needs:
    for each DeltaChannel it cannot load by itself, the chain back to the nearest
    ancestor with a stored value; and for a pre-v4 checkpoint, its parent when that
    parent's `__pregel_tasks` writes carry the old pending sends. Pending writes of kept
    checkpoints stay, so an interrupted thread still resumes.
    """
    if isinstance(plan, int):
        plan = PrunePlan(plan)
    keep_last = plan.keep_last or 1
    by_ns: dict[str, dict[str, CheckpointNode]] = {}
    for node in nodes:
        by_ns.setdefault(node.checkpoint_ns, {})[node.checkpoint_id] = node
    keep: set[tuple[str, str]] = set()
    for ns, nodes_by_id in by_ns.items():
        ordered = sorted(nodes_by_id, reverse=True)
        chosen = ordered[:keep_last]
        if plan.cutoff is not None:
            chosen += [
                cid for cid in ordered[keep_last:]
                if nodes_by_id[cid].ts is None or nodes_by_id[cid].ts >= plan.cutoff  # type: ignore[operator]
            ]
        for cid in chosen:
            keep.add((ns, cid))
            node = nodes_by_id[cid]
            needed = set(node.unseeded)
            if node.needs_parent and node.parent_id:
                keep.add((ns, node.parent_id))
            parent = node.parent_id
            while needed and parent is not None and parent in nodes_by_id:
                anc = nodes_by_id[parent]
                keep.add((ns, parent))
                needed -= anc.seeded
                parent = anc.parent_id
    return keep


# --- the base class ------------------------------------------------------------------


class BaseCheckpointSaver(_LangGraphSaver[str], ABC):
    """Base of every zerograph saver; a `langgraph.checkpoint.base.BaseCheckpointSaver`.

    Subclasses implement `get_tuple`, `put`, `put_writes` and `list`, and whichever of
    the thread-level operations they support. Versions are LangGraph's string format.
    """

    def __init__(self, *, serde: SerializerProtocol | None = None) -> None:
        # serde=None: zerograph's strict serializer (zerograph.serde), not LangGraph's
        # permissive default that imports and calls whatever a stored row names.
        super().__init__(serde=serde if serde is not None else default_serializer())

    # --- abstract: what a backend must store and fetch -------------------------------

    @abstractmethod
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint `config` names, or the thread's latest; `None` if absent."""

    @abstractmethod
    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first; `config=None` lists every thread."""

    @abstractmethod
    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint; return the config that names it."""

    @abstractmethod
    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's pending writes against the checkpoint `config` names."""

    # --- concrete --------------------------------------------------------------------

    def delete_thread(self, thread_id: str) -> None:
        raise UnsupportedOperation(f"{type(self).__name__} does not implement delete_thread")

    # --- threads and retention -------------------------------------------------------

    ttl: float | None = None
    clock: Callable[[], float] = staticmethod(time.time)  # type: ignore[assignment]
    _sweeper: Sweeper | None = None

    def _init_retention(
        self,
        ttl: float | timedelta | None,
        sweep_interval: float | timedelta | None,
        clock: Callable[[], float] | None,
    ) -> None:
        """Set TTL and clock; start the background sweeper only if asked for."""
        self.ttl = seconds(ttl, "ttl")
        if clock is not None:
            self.clock = clock
        interval = seconds(sweep_interval, "sweep_interval")
        if interval is not None and self.ttl is None:
            raise ConfigError("sweep_interval needs a ttl: pass ttl=... as well")
        self._sweeper = Sweeper(self.sweep, interval) if interval is not None else None

    def _expiry_cutoff(self, now: float | None) -> float | None:
        if self.ttl is None:
            return None
        return (self.clock() if now is None else now) - self.ttl

    def list_threads(
        self,
        *,
        filter: dict[str, Any] | None = None,
        updated_after: float | datetime | None = None,
        updated_before: float | datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> ThreadPage:
        """Thread summaries, most recently updated first, one page at a time."""
        raise UnsupportedOperation(f"{type(self).__name__} does not implement list_threads")

    def thread_info(self, thread_id: str) -> ThreadInfo | None:
        """The summary of one thread, or None if it has no checkpoints."""
        raise UnsupportedOperation(f"{type(self).__name__} does not implement thread_info")

    def has_thread(self, thread_id: str) -> bool:
        """Does the thread have any checkpoint? A cheap index lookup."""
        return self.thread_info(thread_id) is not None

    def sweep(self, *, now: float | None = None) -> int:
        """Delete every thread untouched for longer than `ttl`; return how many went."""
        raise UnsupportedOperation(f"{type(self).__name__} does not implement sweep")

    def vacuum(self) -> None:
        """Give freed storage back to the system. Nothing to do for memory."""

    def storage_report(self, thread_id: str | None = None) -> StorageReport:
        """Stored bytes per thread and per channel (one thread, or all)."""
        raise UnsupportedOperation(f"{type(self).__name__} does not implement storage_report")

    def get_pending_writes(self, config: RunnableConfig) -> list[PendingWrite]:
        """The pending writes of the checkpoint `config` names (latest if no id)."""
        tup = self.get_tuple(config)
        return list(tup.pending_writes or []) if tup else []

    def get_next_version(self, current: str | int | float | None, channel: None = None) -> str:
        return next_version(current)

    def close(self) -> None:
        """Release what the saver holds (and stop the sweeper). Safe to call twice."""
        if self._sweeper is not None:
            self._sweeper.stop()

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self: T) -> T:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- async: one hop per operation ------------------------------------------------

    async def _run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run one whole sync operation off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _list_pages(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[list[CheckpointTuple]]:
        """`list` in pages; `alist` fetches one page per hop. Backends page natively."""
        yield [*self.list(config, filter=filter, before=before, limit=limit)]

    async def aclose(self) -> None:
        await self._run(self.close)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._run(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        pages = self._list_pages(config, filter=filter, before=before, limit=limit)
        while (page := await self._run(next, pages, None)) is not None:
            for tup in page:
                yield tup

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._run(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._run(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._run(self.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._run(self.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._run(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        keep_last: int | None = None,
        older_than: float | datetime | timedelta | None = None,
    ) -> None:
        await self._run(self.prune, thread_ids, strategy=strategy, keep_last=keep_last, older_than=older_than)

    async def alist_threads(self, **kwargs: Any) -> ThreadPage:
        return await self._run(self.list_threads, **kwargs)

    async def athread_info(self, thread_id: str) -> ThreadInfo | None:
        return await self._run(self.thread_info, thread_id)

    async def ahas_thread(self, thread_id: str) -> bool:
        return await self._run(self.has_thread, thread_id)

    async def asweep(self, *, now: float | None = None) -> int:
        return await self._run(self.sweep, now=now)

    async def avacuum(self) -> None:
        await self._run(self.vacuum)

    async def astorage_report(self, thread_id: str | None = None) -> StorageReport:
        return await self._run(self.storage_report, thread_id)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        return await self._run(self.get_delta_channel_history, config=config, channels=channels)

    async def aget_pending_writes(self, config: RunnableConfig) -> list[PendingWrite]:
        return await self._run(self.get_pending_writes, config)
