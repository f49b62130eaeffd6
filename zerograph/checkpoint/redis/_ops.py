"""The Redis saver's logic, written once: every operation is a generator of batches.

A method here returns an operation (`Op`): it yields lists of commands, gets the
replies, and returns the result. `RedisSaver` runs operations with the sync driver,
`AsyncRedisSaver` with the async one (see `_driver.py`). No I/O happens here.

Reads are plain pipelines, yet a reader never sees a checkpoint without its values or
writes, even while prune, delete or TTL expiry runs: see `hydrate`. The delta-history
walk, which spans many checkpoints, checks the thread's `epoch` (bumped by deletions)
instead and starts over if it moved.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.serde.types import TASKS

from zerograph.checkpoint.base import (
    Ancestor,
    CheckpointTuple,
    DeltaChannelHistory,
    Target,
    assemble_delta_history,
    checkpoint_config,
    metadata_matches,
    sort_writes,
)
from zerograph.checkpoint.redis._driver import Call, Op
from zerograph.checkpoint.redis._keys import (
    ThreadKeys,
    field,
    pack,
    prefix_of,
    run_member,
    runs_key,
    threads_key,
    unfield,
    unpack,
    upper,
)
from zerograph.checkpoint.redis._scripts import INDEX, PUT, PUT_WRITES
from zerograph.checkpoint.threads import DEFAULT_TOMBSTONE_TTL
from zerograph.errors import CorruptDataError, StorageError, ZerographError

logger = logging.getLogger("zerograph")

PAGE = 64  # checkpoints per list() page
ANCESTOR_CHUNK = 64  # ancestors fetched per round trip in the delta-history walk
THREAD_CHUNK = 256  # threads per pipeline when listing across threads
MERGE_PAGE = 16  # per-thread lookahead in list(None)
READ_RETRIES = 5


def _b(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode()


def _text(value: Any) -> Any:
    """A reply as str (bytes decoded); None and other values unchanged."""
    return value.decode() if isinstance(value, bytes) else value


def _hash(reply: Any) -> dict[bytes, bytes]:
    """HGETALL reply as a dict (RESP2 callbacks give a dict, raw replies a flat list)."""
    if isinstance(reply, dict):
        return {(_b(k) or b""): v for k, v in reply.items()}
    it = iter(reply or [])
    return dict(zip(it, it))


def _epoch(reply: Any) -> bytes | None:
    return _b(reply)


@dataclass
class Row:
    """One checkpoint as read: decoded later, values and writes fetched for survivors."""

    thread_id: str
    ns: str
    cid: str
    cp: bytes
    md: bytes
    write_fields: list[bytes]


class Ops:
    """Builds operations for one key prefix, serializer, TTL and clock."""

    def __init__(self, saver: Any) -> None:
        self.saver = saver  # for serde, prefix, ttl and clock (shared with with_allowlist clones)

    # --- small helpers ---------------------------------------------------------------

    @property
    def prefix(self) -> str:
        return self.saver.key_prefix

    def keys(self, thread_id: str) -> ThreadKeys:
        return ThreadKeys.of(self.prefix, thread_id)

    def now(self) -> float:
        return float(self.saver.clock())

    def ttl_ms(self) -> int:
        return int(self.saver.ttl * 1000) if self.saver.ttl else 0

    @staticmethod
    def tomb_ms() -> int:
        return int(DEFAULT_TOMBSTONE_TTL * 1000)

    def loads(self, typed: Sequence[Any], what: str) -> Any:
        try:
            return self.saver.serde.loads_typed((_text(typed[0]), typed[1] or b""))
        except ZerographError:  # e.g. the strict serializer refusing a type: say so as is
            raise
        except Exception as exc:
            raise CorruptDataError(f"{what} could not be decoded: {exc}") from exc

    def dumps(self, value: Any) -> bytes:
        return pack(*self.saver.serde.dumps_typed(value))

    def index_cmds(self, thread_id: str, now: float, run: str | None) -> list[Any]:
        """Register a thread (and a run of it) in the global indexes: idempotent."""
        ttl = self.ttl_ms()
        cmds: list[Any] = [Call(INDEX, [threads_key(self.prefix)], [ttl, repr(now), thread_id])]
        if run is not None:
            cmds.append(Call(INDEX, [runs_key(self.prefix)], [ttl, 0, run_member(run, thread_id)]))
        return cmds

    def unindex(self, thread_id: str, runs: Iterable[str] = ()) -> Op:
        """Drop a thread that is gone from the global indexes, safely against a writer
        that recreates it meanwhile: remove, then look again and restore if it is back
        (writers index a thread they create *after* creating it)."""
        keys = self.keys(thread_id)
        yield [("ZREM", threads_key(self.prefix), thread_id)] + [
            ("ZREM", runs_key(self.prefix), run_member(r, thread_id)) for r in dict.fromkeys(runs)
        ]
        updated, members = yield [("HGET", keys.head, "updated"), ("ZRANGE", keys.ru, 0, -1)]
        if updated is not None:
            back = {unfield(m)[0] for m in members}
            restore = [("ZADD", threads_key(self.prefix), updated, thread_id)]
            restore += [("ZADD", runs_key(self.prefix), 0, run_member(r, thread_id)) for r in back]
            yield restore

    # --- writes ----------------------------------------------------------------------

    def put(
        self, target: Target, ns: str, cid: str, cp: bytes, md: bytes, run: str | None, blobs: list[bytes]
    ) -> Op:
        keys, now = self.keys(target.thread_id), self.now()
        args = [
            repr(now), self.ttl_ms(), self.tomb_ms(), "1" if target.checkpoint_id is None and ns == "" else "0",
            field(ns, cid), cp, md, field(cid, ns), field(ns, cid), ns,
            field(run, ns, cid) if run is not None else b"", *blobs,
        ]
        side = self.index_cmds(target.thread_id, now, run)
        (status, created), *_ = yield [Call(PUT, keys.all, args), *side]
        if status == -1:
            logger.warning("zerograph: dropped a late put for deleted thread %r", target.thread_id)
            yield from self.unindex(target.thread_id, [run] if run is not None else [])
        elif created == 1:
            yield side  # a new thread: index it again now that it surely exists

    def put_writes(self, target: Target, ns: str, rows: list[tuple[bytes, bytes, bool]]) -> Op:
        keys, now = self.keys(target.thread_id), self.now()
        args: list[Any] = [repr(now), self.ttl_ms(), self.tomb_ms()]
        for f, rec, overwrite in rows:
            args += [f, rec, "1" if overwrite else "0"]
        side = self.index_cmds(target.thread_id, now, None)
        (status, created), *_ = yield [Call(PUT_WRITES, keys.all, args), *side]
        if status == -1:
            logger.warning("zerograph: dropped a late put_writes for deleted thread %r", target.thread_id)
            yield from self.unindex(target.thread_id)
        elif created == 1:
            yield side

    # --- loading checkpoints ---------------------------------------------------------

    def fetch_rows(self, items: Sequence[tuple[str, str, str]]) -> Generator[Any, Any, list[Row]]:
        """Checkpoint and metadata records of `(thread, ns, id)` items (missing ones
        dropped), with the fields of their pending writes."""
        batch: list[Any] = []
        for thread_id, ns, cid in items:
            keys, f = self.keys(thread_id), field(ns, cid)
            p = prefix_of(ns, cid)
            batch += [("HGET", keys.cp, f), ("HGET", keys.md, f), ("ZRANGEBYLEX", keys.wi, b"[" + p, b"(" + upper(p))]
        replies = yield batch
        rows = []
        for n, (thread_id, ns, cid) in enumerate(items):
            cp, md, wf = replies[3 * n : 3 * n + 3]
            if cp is not None and md is not None:
                rows.append(Row(thread_id, ns, cid, cp, md, list(wf or [])))
        return rows

    def hydrate(
        self, rows: list[Row], filter: dict[str, Any] | None = None
    ) -> Generator[Any, Any, list[CheckpointTuple]]:
        """Build tuples for rows (after the metadata filter): values and writes in one
        round trip. A checkpoint deleted meanwhile (prune, delete, TTL) is left out.

        Why that is enough: values and writes are only ever deleted with the checkpoints
        that use them (blob collection backs off if a checkpoint was written since it
        looked), so a checkpoint record that still exists *after* its values and writes
        were read had all of them."""
        decoded = []
        for row in rows:
            where = f"checkpoint {row.cid!r} of thread {row.thread_id!r} (ns {row.ns!r})"
            mtype, mbytes, parent, _run = unpack(row.md, f"metadata record of {where}")[:4]
            metadata = self.loads((mtype, mbytes), f"metadata of {where}")
            if filter and not metadata_matches(metadata, filter):
                continue
            checkpoint = self.loads(unpack(row.cp, f"record of {where}"), where)
            decoded.append((row, checkpoint, metadata, _text(parent), where))
        if not decoded:
            return []
        batch: list[Any] = []
        spans = []
        for row, checkpoint, _, _, _ in decoded:
            keys = self.keys(row.thread_id)
            versions = checkpoint["channel_versions"]
            chans = list(versions)
            if chans:
                batch.append(("HMGET", keys.bl, *(field(row.ns, ch, str(versions[ch])) for ch in chans)))
            if row.write_fields:
                batch.append(("HMGET", keys.wr, *row.write_fields))
            spans.append((chans, bool(chans), bool(row.write_fields)))
        batch += [("HEXISTS", self.keys(r.thread_id).cp, field(r.ns, r.cid)) for r, *_ in decoded]
        replies = yield batch
        still = replies[len(replies) - len(decoded) :]
        out: list[CheckpointTuple] = []
        pos = 0
        for (row, checkpoint, metadata, parent, where), (chans, has_blobs, has_writes), alive in zip(decoded, spans, still):
            blobs = replies[pos] if has_blobs else []
            pos += has_blobs
            writes = replies[pos] if has_writes else []
            pos += has_writes
            if not alive:
                continue
            values = {}
            for ch, blob in zip(chans, blobs):
                if blob is not None:
                    values[ch] = self.loads(unpack(blob, f"value of {ch!r}"), f"channel {ch!r} of {where}")
            recs = [unpack(w, f"write of {where}") for w in writes if w is not None]
            if checkpoint.get("v", 4) < 4 and parent:
                sends = yield from self._parent_sends(row, parent)
                if sends:
                    values[TASKS] = sends
                    versions = checkpoint["channel_versions"]
                    versions[TASKS] = max(versions.values()) if versions else self.saver.get_next_version(None)
            checkpoint["channel_values"] = values
            ordered = sort_writes(recs, key=lambda w: (_text(w[4]), _text(w[0]), w[5]))
            out.append(
                CheckpointTuple(
                    config=checkpoint_config(row.thread_id, row.ns, row.cid),
                    checkpoint=checkpoint,
                    metadata=metadata,
                    parent_config=checkpoint_config(row.thread_id, row.ns, parent) if parent else None,
                    pending_writes=[
                        (_text(t), _text(ch), self.loads((wt, wb), f"write of task {_text(t)!r} to {where}"))
                        for t, ch, wt, wb, _, _ in ordered
                    ],
                )
            )
        return out

    def _parent_sends(self, row: Row, parent: str) -> Generator[Any, Any, list[Any]]:
        """Pre-v4 checkpoints kept pending sends as the parent's `__pregel_tasks` writes."""
        keys, p = self.keys(row.thread_id), prefix_of(row.ns, parent)
        (fields,) = yield [("ZRANGEBYLEX", keys.wi, b"[" + p, b"(" + upper(p))]
        if not fields:
            return []
        (recs,) = yield [("HMGET", keys.wr, *fields)]
        rows = [unpack(r, "pending send") for r in recs if r is not None]
        ordered = sort_writes([r for r in rows if _text(r[1]) == TASKS], key=lambda w: (_text(w[4]), _text(w[0]), w[5]))
        return [self.loads((w[2], w[3]), "pending send") for w in ordered]

    def load(
        self, items: Sequence[tuple[str, str, str]], filter: dict[str, Any] | None = None
    ) -> Generator[Any, Any, list[CheckpointTuple]]:
        """Tuples for `(thread, ns, id)` items, in the given order; missing ones dropped."""
        rows = yield from self.fetch_rows(items)
        return (yield from self.hydrate(rows, filter))

    # --- reads -----------------------------------------------------------------------

    def latest_cmd(self, keys: ThreadKeys, ns: str) -> tuple[Any, ...]:
        p = prefix_of(ns)
        return ("ZREVRANGEBYLEX", keys.ns, b"(" + upper(p), b"[" + p, "LIMIT", 0, 1)

    def get_tuple(self, target: Target) -> Op:
        ns = target.checkpoint_ns or ""
        for _ in range(READ_RETRIES):
            cid = target.checkpoint_id
            if cid is None:
                (latest,) = yield [self.latest_cmd(self.keys(target.thread_id), ns)]
                if not latest:
                    return None
                cid = unfield(latest[0])[1]
            got = yield from self.load([(target.thread_id, ns, cid)])
            if got or target.checkpoint_id is not None:
                return got[0] if got else None
        return None

    def list_page(self, state: ListState) -> Generator[Any, Any, list[CheckpointTuple]]:
        """The next page of `list()`; `state` remembers where the previous one ended."""
        if state.thread_id is None:
            return (yield from self._merged_page(state))
        keys = self.keys(state.thread_id)
        page: list[CheckpointTuple] = []
        while not state.done and not page:
            want = PAGE if state.remaining is None else min(PAGE, state.remaining)
            if want <= 0:
                state.done = True
                break
            if state.checkpoint_id is not None:  # one id, maybe in several namespaces
                p = prefix_of(state.checkpoint_id)
                lo, hi, zkey = b"[" + p, b"(" + upper(p), keys.id
                state.done = True
            elif state.ns is not None:
                p = prefix_of(state.ns)
                lo, zkey = b"[" + p, keys.ns
                hi = b"(" + (field(state.ns, state.before) if state.before is not None else upper(p))
            else:
                lo, zkey = b"-", keys.id
                hi = b"(" + prefix_of(state.before) if state.before is not None else b"+"
            if state.cursor is not None:
                hi = b"(" + state.cursor
            (members,) = yield [("ZREVRANGEBYLEX", zkey, hi, lo, "LIMIT", 0, PAGE)]
            if len(members) < PAGE:
                state.done = True
            if members:
                state.cursor = members[-1]
            items = []
            for m in members:
                a, b = unfield(m)
                ns, cid = (a, b) if zkey == keys.ns else (b, a)
                if state.checkpoint_id is not None and state.ns is not None and ns != state.ns:
                    continue
                if state.before is not None and not cid < state.before:
                    continue
                items.append((state.thread_id, ns, cid))
            page = yield from self.load(items, state.filter)
            page = page[:want]
            if state.remaining is not None:
                state.remaining -= len(page)
        return page

    def _merged_page(self, state: ListState) -> Generator[Any, Any, list[CheckpointTuple]]:
        """A page of `list(None)`: every thread's checkpoints merged, newest id first."""
        if state.merge is None:
            state.merge = yield from self._start_merge(state)
        merge = state.merge
        page: list[CheckpointTuple] = []
        while not page and (merge.heap or merge.refill):
            want = PAGE if state.remaining is None else min(PAGE, state.remaining)
            if want <= 0:
                merge.heap.clear()
                break
            items: list[tuple[str, str, str]] = []
            while merge.heap and len(items) < PAGE:
                if merge.refill:
                    yield from self._refill(merge, state)
                    continue
                cid, thread_id, ns = merge.pop()
                items.append((thread_id, ns, cid))
            if merge.refill and not merge.heap:
                yield from self._refill(merge, state)
            tuples = yield from self.load(items, state.filter)
            page = tuples[:want]
            if state.remaining is not None:
                state.remaining -= len(page)
        return page

    def _start_merge(self, state: ListState) -> Generator[Any, Any, Merge]:
        threads: list[str] = []
        cursor = 0
        while True:
            (reply,) = yield [("ZSCAN", threads_key(self.prefix), cursor, "COUNT", 1000)]
            cursor, chunk = reply
            threads += [_text(m) for m, _ in _pairs(chunk)]
            if int(cursor) == 0:
                break
        merge = Merge()
        merge.refill = list(dict.fromkeys(threads))
        yield from self._refill(merge, state)
        return merge

    def _refill(self, merge: Merge, state: ListState) -> Generator[Any, Any, None]:
        todo, merge.refill = merge.refill, []
        dead = []
        for start in range(0, len(todo), THREAD_CHUNK):
            chunk = todo[start : start + THREAD_CHUNK]
            batch = []
            for thread_id in chunk:
                keys = self.keys(thread_id)
                hi = merge.cursors.get(thread_id)
                if hi is None:
                    hi = b"(" + prefix_of(state.before) if state.before is not None else b"+"
                batch += [("ZREVRANGEBYLEX", keys.id, hi, b"-", "LIMIT", 0, MERGE_PAGE), ("EXISTS", keys.head)]
            replies = yield batch
            for n, thread_id in enumerate(chunk):
                members, exists = replies[2 * n], replies[2 * n + 1]
                if not members and not exists and thread_id not in merge.cursors:
                    dead.append(thread_id)
                if members:
                    merge.cursors[thread_id] = b"(" + members[-1]
                    merge.add(thread_id, [tuple(unfield(m)) for m in members], more=len(members) == MERGE_PAGE)
        for thread_id in dead:  # expired or deleted: forget it
            yield from self.unindex(thread_id)

    # --- delta channel history -------------------------------------------------------

    def delta_history(self, target: Target, channels: Sequence[str]) -> Generator[Any, Any, dict[str, DeltaChannelHistory]]:
        if not channels:
            return {}
        wanted = list(dict.fromkeys(channels))
        ns = target.checkpoint_ns or ""
        keys = self.keys(target.thread_id)
        for _ in range(READ_RETRIES):
            result = yield from self._walk(target, keys, ns, wanted)
            if result is not None:
                return assemble_delta_history(channels, iter(result))
        raise StorageError("the thread kept being pruned while its history was read; try again")

    def _walk(self, target: Target, keys: ThreadKeys, ns: str, wanted: list[str]) -> Generator[Any, Any, list[Ancestor] | None]:
        cid = target.checkpoint_id
        if cid is None:
            (latest,) = yield [self.latest_cmd(keys, ns)]
            if not latest:
                return []
            cid = unfield(latest[0])[1]
        epoch, md = yield [("HGET", keys.head, "epoch"), ("HGET", keys.md, field(ns, cid))]
        if md is None:
            return []
        cur = _text(unpack(md, "metadata record")[2])
        ancestors: list[Ancestor] = []
        remaining, seen = set(wanted), set()
        while cur is not None and remaining and cur not in seen:
            # Ancestors usually sort just below their child: fetch a run of ids below
            # `cur` and follow parent links through it; a fork just costs another chunk.
            p = prefix_of(ns)
            (members,) = yield [("ZREVRANGEBYLEX", keys.ns, b"[" + field(ns, cur), b"[" + p, "LIMIT", 0, ANCESTOR_CHUNK)]
            ids = [unfield(m)[1] for m in members]
            if cur not in ids:
                ids = [cur]
            batch: list[Any] = []
            for c in ids:
                f, wp = field(ns, c), prefix_of(ns, c)
                batch += [("HGET", keys.md, f), ("HGET", keys.cp, f), ("ZRANGEBYLEX", keys.wi, b"[" + wp, b"(" + upper(wp))]
            replies = yield batch
            found = {c: replies[3 * n : 3 * n + 3] for n, c in enumerate(ids) if replies[3 * n] is not None}
            chain = []
            while cur is not None and cur in found and cur not in seen and remaining:
                seen.add(cur)
                md_rec, cp_rec, wfields = found[cur]
                versions = self.loads(unpack(cp_rec, "checkpoint record"), f"checkpoint {cur!r}")["channel_versions"]
                chain.append((cur, versions, list(wfields or [])))
                cur = _text(unpack(md_rec, "metadata record")[2])
                # channels seeded here stop being needed further up (blobs checked below)
            if not chain:
                return ancestors
            batch = []
            for _, versions, wfields in chain:
                chans = [ch for ch in wanted if ch in versions]
                if chans:
                    batch.append(("HMGET", keys.bl, *(field(ns, ch, str(versions[ch])) for ch in chans)))
                if wfields:
                    batch.append(("HMGET", keys.wr, *wfields))
            batch.append(("HGET", keys.head, "epoch"))
            replies = yield batch
            if _epoch(replies[-1]) != _epoch(epoch):
                return None
            pos = 0
            for _, versions, wfields in chain:
                chans = [ch for ch in wanted if ch in versions]
                blobs = replies[pos] if chans else []
                pos += bool(chans)
                recs = replies[pos] if wfields else []
                pos += bool(wfields)
                values: dict[str, Callable[[], Any]] = {}
                for ch, blob in zip(chans, blobs):
                    if blob is not None:
                        values[ch] = lambda b=blob, ch=ch: self.loads(unpack(b, "value"), f"channel {ch!r}")
                writes = []
                for rec in recs:
                    if rec is None:
                        continue
                    t, ch, wt, wb, path, idx = unpack(rec, "write")
                    if _text(ch) in wanted:
                        load = lambda wt=wt, wb=wb: self.loads((wt, wb), "pending write")
                        writes.append((_text(t), _text(ch), load, _text(path), idx))
                ancestors.append(Ancestor(values, writes))
                remaining -= set(values)
        return ancestors


def _pairs(reply: Any) -> list[tuple[Any, Any]]:
    """ZSCAN / WITHSCORES replies as (member, score) pairs, whatever the protocol."""
    if not reply:
        return []
    first = reply[0]
    if isinstance(first, (list, tuple)):
        return [(m, s) for m, s in reply]
    it = iter(reply)
    return list(zip(it, it))


class _Desc:
    """Heap entry ordered newest first: (checkpoint id, thread id, ns) descending."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[str, str, str]) -> None:
        self.key = key

    def __lt__(self, other: _Desc) -> bool:
        return self.key > other.key


class Merge:
    """The k-way merge state of `list(None)`: each thread's next checkpoints."""

    def __init__(self) -> None:
        self.heap: list[tuple[_Desc, str]] = []
        self.buffers: dict[str, list[tuple[str, str]]] = {}
        self.more: dict[str, bool] = {}
        self.cursors: dict[str, bytes] = {}
        self.refill: list[str] = []

    def add(self, thread_id: str, members: list[tuple[str, str]], more: bool) -> None:
        buf = self.buffers.setdefault(thread_id, [])
        empty = not buf
        buf.extend(members)  # already newest first
        self.more[thread_id] = more
        if empty and buf:
            cid, ns = buf[0]
            heapq.heappush(self.heap, (_Desc((cid, thread_id, ns)), thread_id))

    def pop(self) -> tuple[str, str, str]:
        entry, thread_id = heapq.heappop(self.heap)
        buf = self.buffers[thread_id]
        buf.pop(0)
        if buf:
            cid, ns = buf[0]
            heapq.heappush(self.heap, (_Desc((cid, thread_id, ns)), thread_id))
        elif self.more.get(thread_id):
            self.refill.append(thread_id)
        return entry.key


@dataclass
class ListState:
    thread_id: str | None
    ns: str | None
    checkpoint_id: str | None
    before: str | None
    filter: dict[str, Any] | None
    remaining: int | None
    cursor: bytes | None = None
    done: bool = False
    merge: Merge | None = None
