"""Thread-level operations of the Redis savers, as generators of batches (see `_ops.py`):
delete (with a tombstone), delete_for_runs, copy, prune, sweep, list_threads,
thread_info and storage reports.

Anything that removes part of a thread reads it, decides in Python (`plan_prune`), then
runs a script that deletes the chosen checkpoints and their writes. Blobs are shared
between checkpoints, so the script deletes the ones the caller found unreferenced only
if no checkpoint was written since the read (the thread's `rev`); otherwise it reads
again and retries that part (a busy thread's leftovers go at its next prune).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from langgraph.checkpoint.serde.types import TASKS

from zerograph.checkpoint.base import (
    CheckpointNode,
    PrunePlan,
    checkpoint_time,
    metadata_matches,
    plan_prune,
    unseeded_channels,
)
from zerograph.checkpoint.redis._driver import Call, Op
from zerograph.checkpoint.redis._keys import (
    field,
    prefix_of,
    run_member_thread,
    runs_key,
    threads_key,
    unfield,
    unpack,
    upper,
)
from zerograph.checkpoint.redis._ops import Ops, _hash, _pairs, _text
from zerograph.checkpoint.redis._scripts import COPY, DELETE, DROP
from zerograph.checkpoint.threads import StorageReport, ThreadInfo
from zerograph.errors import ConfigError, StorageError

CAS_RETRIES = 10
SCAN = 1000


class Snapshot:
    """A thread's checkpoints as read at one `rev`, decoded lazily."""

    def __init__(self, ops: Ops, thread_id: str, rev: Any, cp: dict[bytes, bytes], md: dict[bytes, bytes], blobs: list[bytes]) -> None:
        self.ops, self.thread_id, self.rev = ops, thread_id, rev
        self.cp, self.md, self.blob_fields = cp, md, blobs
        self.ids = {f: tuple(unfield(f)) for f in cp if f in md}  # F(ns, id) -> (ns, id)

    def checkpoint(self, f: bytes) -> dict[str, Any]:
        return self.ops.loads(unpack(self.cp[f], "checkpoint record"), f"checkpoint {self.ids[f][1]!r}")

    def meta(self, f: bytes) -> tuple[dict[str, Any], str | None, str | None]:
        mtype, mbytes, parent, run = unpack(self.md[f], "metadata record")[:4]
        return self.ops.loads((mtype, mbytes), f"metadata of {self.ids[f][1]!r}"), _text(parent), _text(run)


class ThreadOps(Ops):
    # --- deleting ----------------------------------------------------------------------

    def delete(self, thread_id: str, cutoff: float | None = None) -> Generator[Any, Any, int]:
        """Delete a thread whole (tombstoned); with `cutoff`, only if idle since before it."""
        keys = self.keys(thread_id)
        args = [repr(self.now()), self.tomb_ms(), "" if cutoff is None else repr(cutoff)]
        (reply,) = yield [Call(DELETE, keys.all, args)]
        status = reply[0]
        if status == 1:
            runs = {unfield(m)[0] for m in reply[1]}
            yield from self.unindex(thread_id, runs)
            return 1
        if status == 0:  # gone already (expired): just forget the index entry
            yield from self.unindex(thread_id)
        return 0

    def snapshot(self, thread_id: str) -> Generator[Any, Any, Snapshot | None]:
        keys = self.keys(thread_id)
        rev, cp, md, blobs = yield [
            ("HGET", keys.head, "rev"), ("HGETALL", keys.cp), ("HGETALL", keys.md), ("HKEYS", keys.bl),
        ]
        if rev is None:
            return None
        return Snapshot(self, thread_id, rev, _hash(cp), _hash(md), list(blobs or []))

    def drop(self, snap: Snapshot, doomed: list[bytes]) -> Generator[Any, Any, None]:
        """Delete checkpoints (fields of `snap.cp`) with their writes, then the blobs no
        survivor references. If a checkpoint was written since `snap` was read, the blobs
        are left and collected from a fresh read (a few tries; then the next prune)."""
        done = yield from self._drop(snap, doomed)
        for _ in range(CAS_RETRIES):
            if done:
                return
            fresh = yield from self.snapshot(snap.thread_id)
            if fresh is None:
                return
            done = yield from self._drop(fresh, [])

    def _drop(self, snap: Snapshot, doomed: list[bytes]) -> Generator[Any, Any, bool]:
        live = set()
        args: list[Any] = [snap.rev, len(doomed)]
        gone = set(doomed)
        for f, (ns, cid) in snap.ids.items():
            if f in gone:
                _, _, run = snap.meta(f)
                args += [f, field(cid, ns), f, ns, prefix_of(ns, cid), field(run, ns, cid) if run is not None else b""]
            else:
                for ch, ver in snap.checkpoint(f)["channel_versions"].items():
                    live.add(field(ns, ch, str(ver)))
        dead = [b for b in snap.blob_fields if b not in live]
        if not doomed and not dead:
            return True
        ((_, collected),) = yield [Call(DROP, self.keys(snap.thread_id).all, args + dead)]
        return bool(collected)

    def delete_for_runs(self, run_ids: Sequence[str]) -> Op:
        runs = list(dict.fromkeys(str(r) for r in run_ids))
        threads: dict[str, None] = {}
        for run in runs:
            lo = prefix_of(run)
            start = b"[" + lo
            while True:
                (members,) = yield [("ZRANGEBYLEX", runs_key(self.prefix), start, b"(" + upper(lo), "LIMIT", 0, SCAN)]
                threads.update((run_member_thread(m, run), None) for m in members)
                if len(members) < SCAN:
                    break
                start = b"(" + members[-1]
        wanted = set(runs)
        for thread_id in threads:
            snap = yield from self.snapshot(thread_id)
            if snap is None:  # the thread is gone: drop its index entries
                yield from self.unindex(thread_id, runs)
                continue
            doomed = [f for f in snap.ids if snap.meta(f)[2] in wanted]
            if doomed:
                yield from self.drop(snap, doomed)

    def prune(self, thread_ids: Sequence[str], plan: PrunePlan) -> Op:
        for thread_id in dict.fromkeys(str(t) for t in thread_ids):
            if plan.keep_last is None:
                yield from self.delete(thread_id)
                continue
            snap = yield from self.snapshot(thread_id)
            if snap is None:
                continue
            nodes = yield from self._nodes(snap)
            keep = plan_prune(nodes, plan)
            doomed = [f for f, key in snap.ids.items() if key not in keep]
            if doomed:
                yield from self.drop(snap, doomed)

    def _nodes(self, snap: Snapshot) -> Generator[Any, Any, list[CheckpointNode]]:
        stored = {tuple(unfield(b)) for b in snap.blob_fields}
        decoded = {f: (snap.checkpoint(f), snap.meta(f)) for f in snap.ids}
        # pre-v4 checkpoints whose parent's __pregel_tasks writes hold their sends
        parents = {
            (snap.ids[f][0], meta[1]) for f, (cp, meta) in decoded.items() if cp.get("v", 4) < 4 and meta[1]
        }
        with_sends: set[tuple[str, str]] = set()
        keys = self.keys(snap.thread_id)
        for ns, parent in parents:
            p = prefix_of(ns, parent)
            (fields,) = yield [("ZRANGEBYLEX", keys.wi, b"[" + p, b"(" + upper(p))]
            recs = (yield [("HMGET", keys.wr, *fields)])[0] if fields else []
            if any(r is not None and _text(unpack(r, "write")[1]) == TASKS for r in recs):
                with_sends.add((ns, parent))
        nodes = []
        for f, (cp, (metadata, parent, _)) in decoded.items():
            ns, cid = snap.ids[f]
            versions = cp["channel_versions"]
            seeded = {ch for ch, ver in versions.items() if (ns, ch, str(ver)) in stored}
            nodes.append(
                CheckpointNode(
                    ns, cid, parent, cp.get("v", 4) < 4 and (ns, parent) in with_sends,
                    unseeded_channels(metadata, versions, seeded), frozenset(seeded), checkpoint_time(cp),
                )
            )
        return nodes

    def sweep(self, cutoff: float) -> Generator[Any, Any, int]:
        """Delete threads not written since before `cutoff`; forget index entries of
        threads that expired on their own."""
        count = 0
        while True:
            (doomed,) = yield [("ZRANGEBYSCORE", threads_key(self.prefix), "-inf", f"({cutoff!r}", "LIMIT", 0, SCAN)]
            if not doomed:
                return count
            progressed = False
            for member in doomed:
                thread_id = _text(member)
                deleted = yield from self.delete(thread_id, cutoff)
                count += deleted
                score = (yield [("ZSCORE", threads_key(self.prefix), thread_id)])[0]
                progressed |= score is None or float(score) >= cutoff
            if not progressed:  # every candidate was written meanwhile and not re-indexed yet
                return count

    # --- copying -----------------------------------------------------------------------

    def copy(self, src: str, dst: str) -> Op:
        if src == dst:
            raise ConfigError("copy_thread needs two different thread ids")
        s, d = self.keys(src), self.keys(dst)
        (n,) = yield [("ZCARD", d.id)]
        if n:
            raise ConfigError(f"copy_thread target {dst!r} already has checkpoints; delete it first")
        for _ in range(CAS_RETRIES):
            rev, cp, md, bl, wr, rev2 = yield [
                ("HGET", s.head, "rev"), ("HGETALL", s.cp), ("HGETALL", s.md), ("HGETALL", s.bl),
                ("HGETALL", s.wr), ("HGET", s.head, "rev"),
            ]
            if rev == rev2:
                break
        else:
            raise StorageError(f"thread {src!r} kept changing during copy_thread; try again")
        if rev is None:
            return
        cp, md, bl, wr = _hash(cp), _hash(md), _hash(bl), _hash(wr)
        ids = [tuple(unfield(f)) for f in cp if f in md]
        counts: dict[str, int] = {}
        runs, run_members = set(), []
        for ns, cid in ids:
            counts[ns] = counts.get(ns, 0) + 1
            run = _text(unpack(md[field(ns, cid)], "metadata record")[3])
            if run is not None:
                runs.add(run)
                run_members.append(field(run, ns, cid))
        now = self.now()
        args: list[Any] = [repr(now), self.ttl_ms(), self.tomb_ms()]
        for h in ({f: cp[f] for f in cp if f in md}, {f: md[f] for f in cp if f in md}, bl, wr, counts):
            args.append(len(h))
            for k, v in h.items():
                args += [k, v]
        for members in ([field(cid, ns) for ns, cid in ids], [field(ns, cid) for ns, cid in ids], list(wr), run_members):
            args.append(len(members))
            args += members
        (status,) = yield [Call(COPY, d.all, args)]
        if status == -2:
            raise ConfigError(f"copy_thread target {dst!r} already has checkpoints; delete it first")
        batch = self.index_cmds(dst, now, None)
        for run in sorted(runs):
            batch += self.index_cmds(dst, now, run)[1:]  # the run entry; the thread is above
        yield batch

    # --- listing threads ---------------------------------------------------------------

    def info_batch(self, thread_ids: list[str]) -> Generator[Any, Any, dict[str, ThreadInfo]]:
        batch: list[Any] = []
        for t in thread_ids:
            k = self.keys(t)
            batch += [("HMGET", k.head, "created", "updated", "bytes"), ("ZCARD", k.id), ("HGETALL", k.nc), self.latest_cmd(k, "")]
        replies = yield batch
        found = {}
        for n, t in enumerate(thread_ids):
            (created, updated, size), count, nc, latest = replies[4 * n : 4 * n + 4]
            if created is None or not count:
                continue
            found[t] = (created, updated, size, count, _hash(nc), unfield(latest[0])[1] if latest else None)
        with_root = [t for t, v in found.items() if v[5] is not None]
        metas = (yield [("HGET", self.keys(t).md, field("", found[t][5])) for t in with_root]) if with_root else []
        meta_of = dict(zip(with_root, metas))
        out = {}
        for t, (created, updated, size, count, nc, latest) in found.items():
            metadata: dict[str, Any] = {}
            rec = meta_of.get(t)
            if rec is not None:
                mtype, mbytes = unpack(rec, "metadata record")[:2]
                metadata = self.loads((mtype, mbytes), f"metadata of thread {t!r}")
            out[t] = ThreadInfo(
                thread_id=t,
                created_at=float(created),
                updated_at=float(updated or created),
                checkpoints=int(count),
                namespaces=tuple(sorted(_text(ns) for ns, c in nc.items() if int(c) > 0)),
                latest_checkpoint_id=latest,
                metadata=metadata,
                bytes=int(size or 0),
            )
        return out

    def thread_info(self, thread_id: str) -> Generator[Any, Any, ThreadInfo | None]:
        infos = yield from self.info_batch([thread_id])
        return infos.get(thread_id)

    def list_threads(
        self,
        filter: dict[str, Any] | None,
        lo: float | None,
        hi: float | None,
        limit: int,
        after: tuple[float, str] | None,
    ) -> Generator[Any, Any, tuple[list[ThreadInfo], float | None]]:
        """Threads by last write, newest first, after the cursor `(updated, thread)`."""
        top = "+inf" if hi is None else f"({hi!r}"
        if after is not None and (hi is None or after[0] < hi):
            top = repr(after[0])
        bottom = "-inf" if lo is None else f"({lo!r}"
        page: list[ThreadInfo] = []
        last_score = None
        offset, chunk = 0, max(2 * limit, 32)
        while len(page) < limit:
            (reply,) = yield [("ZREVRANGEBYSCORE", threads_key(self.prefix), top, bottom, "WITHSCORES", "LIMIT", offset, chunk)]
            pairs = [(_text(m), float(s)) for m, s in _pairs(reply)]
            offset += len(pairs)
            candidates = [(t, s) for t, s in pairs if after is None or (s, t) < after]
            infos = yield from self.info_batch([t for t, _ in candidates]) if candidates else _nothing()
            for t, s in candidates:
                info = infos.get(t)
                if info is None or (filter and not metadata_matches(info.metadata, filter)):
                    continue
                page.append(info)
                last_score = s
                if len(page) == limit:
                    break
            if len(pairs) < chunk:
                break
        return page, last_score

    # --- storage report ------------------------------------------------------------------

    def storage(self, thread_id: str | None) -> Generator[Any, Any, StorageReport]:
        if thread_id is not None:
            names = [str(thread_id)]
        else:
            names, cursor = [], 0
            while True:
                (reply,) = yield [("ZSCAN", threads_key(self.prefix), cursor, "COUNT", SCAN)]
                cursor, chunk = reply
                names += [_text(m) for m, _ in _pairs(chunk)]
                if int(cursor) == 0:
                    break
            names = list(dict.fromkeys(names))
        by_thread: dict[str, int] = {}
        by_channel: dict[str, int] = {}
        rows = 0
        for name in names:
            k = self.keys(name)
            exists, cp, md, bl, wr = yield [("EXISTS", k.head), ("HGETALL", k.cp), ("HGETALL", k.md), ("HGETALL", k.bl), ("HGETALL", k.wr)]
            if not exists:
                continue
            own = sum(len(v) for v in _hash(cp).values()) + sum(len(v) for v in _hash(md).values())
            total = own
            for f, v in _hash(bl).items():
                ch = unfield(f)[1]
                by_channel[ch] = by_channel.get(ch, 0) + len(v)
                total += len(v)
            for v in _hash(wr).values():
                ch = _text(unpack(v, "write")[1])
                by_channel[ch] = by_channel.get(ch, 0) + len(v)
                total += len(v)
            by_thread[name] = total
            rows += own
        return StorageReport(sum(by_thread.values()), by_thread, by_channel, rows)


def _nothing() -> Generator[Any, Any, dict[str, ThreadInfo]]:
    return {}
    yield  # pragma: no cover - makes this a generator
