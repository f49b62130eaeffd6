"""Stateful property test: random operation sequences run against every zerograph saver
and LangGraph's reference `InMemorySaver`, with the results compared after each step.

Operations: `put` (new thread, continue, fork from an older checkpoint, subgraph
namespace, cleared channels), `put_writes` (ordinary and special channels, retries of
the same task), `get_tuple` (latest, by id, unknown id), `list` (every config shape,
metadata filters, `before`, `limit`), `delete_thread` (and a fresh start afterwards).
An invariant compares everything each saver holds after every step.

Where LangGraph's reference saver leaves order unspecified (listing across namespaces or
threads, which it groups by thread), zerograph's newest-first order is checked against
the reference's set of results instead.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver as ReferenceSaver

from zerograph.checkpoint.memory import InMemorySaver
from zerograph.checkpoint.sqlite import AsyncSqliteSaver, SqliteSaver

THREADS = ["t1", "t2", "t3"]
NAMESPACES = ["", "sub:1"]
CHANNELS = ["a", "b", "c"]
WRITE_CHANNELS = ["a", "b", "__error__", "__interrupt__", "__scheduled__"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["x", "y", "", "ü"]))
values = st.recursive(
    st.one_of(scalars, st.builds(HumanMessage, st.sampled_from(["hi", "yo"]), id=st.sampled_from(["1", "2"])), st.just(AIMessage("ok", id="3"))),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["k", "l"]), inner, max_size=2)),
    max_leaves=5,
)
metadata = st.dictionaries(st.sampled_from(["source", "step", "user", "flag"]), st.one_of(scalars, st.dictionaries(st.just("n"), scalars, max_size=1)), max_size=3)


def _cfg(thread: str, ns: str | None = "", cid: str | None = None, **extra: Any) -> dict:
    configurable: dict[str, Any] = {"thread_id": thread, **extra}
    if ns is not None:
        configurable["checkpoint_ns"] = ns
    if cid is not None:
        configurable["checkpoint_id"] = cid
    return {"configurable": configurable}


def _key(config: dict | None) -> tuple | None:
    if config is None:
        return None
    c = config["configurable"]
    return (c["thread_id"], c.get("checkpoint_ns", ""), c["checkpoint_id"])


def _norm(tup: Any) -> tuple | None:
    if tup is None:
        return None
    return (_key(tup.config), tup.checkpoint, tup.metadata, _key(tup.parent_config), [tuple(w) for w in tup.pending_writes])


class Savers:
    """The savers under test, called the same way (sync, or `a*` on a private loop)."""

    def __init__(self, root: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.savers: dict[str, tuple[Any, bool]] = {
            "memory": (InMemorySaver(), False),
            "sqlite-file": (SqliteSaver(root / "sync.db"), False),
            "sqlite-memory": (SqliteSaver(":memory:"), False),
            "sqlite-file-async": (AsyncSqliteSaver(root / "async.db"), True),
        }

    def call(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        out = {}
        for label, (saver, is_async) in self.savers.items():
            if is_async:
                out[label] = self.loop.run_until_complete(getattr(saver, "a" + name)(*args, **kwargs))
            else:
                out[label] = getattr(saver, name)(*args, **kwargs)
        return out

    def list(self, *args: Any, **kwargs: Any) -> dict[str, list[Any]]:
        out = {}
        for label, (saver, is_async) in self.savers.items():
            if is_async:

                async def collect(saver: Any = saver) -> list[Any]:
                    return [t async for t in saver.alist(*args, **kwargs)]

                out[label] = self.loop.run_until_complete(collect())
            else:
                out[label] = list(saver.list(*args, **kwargs))
        return out

    def close(self) -> None:
        for saver, _ in self.savers.values():
            saver.close()
        self.loop.close()


class SaverMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="zg-stateful-"))
        self.ref = ReferenceSaver()
        self.under_test = Savers(self.root)
        self.next_id = 0
        self.next_version = 0
        # what the model knows: checkpoint ids (and their versions) per live thread and namespace
        self.live: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
        self.deleted: set[str] = set()
        self.all_ids: list[str] = []

    def teardown(self) -> None:
        self.under_test.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- helpers ------------------------------------------------------------------------

    def _checkpoints(self) -> list[tuple[str, str, str]]:
        return [(t, ns, cid) for t, by_ns in self.live.items() for ns, ids in by_ns.items() for cid in ids]

    def _same(self, label: str, expected: Any, got: dict[str, Any]) -> None:
        for name, value in got.items():
            assert value == expected, f"{label}: {name} differs from LangGraph's InMemorySaver\n{value!r}\n!=\n{expected!r}"

    # --- rules --------------------------------------------------------------------------

    @rule(
        thread=st.sampled_from(THREADS),
        ns=st.sampled_from(NAMESPACES),
        parent_pick=st.one_of(st.none(), st.integers(0, 50)),
        changes=st.dictionaries(st.sampled_from(CHANNELS), st.one_of(values, st.just("<absent>")), max_size=3),
        meta=metadata,
        extra_configurable=st.sampled_from([{}, {"user_id": "u1"}, {"run_id": "r1"}]),
    )
    def put(self, thread: str, ns: str, parent_pick: int | None, changes: dict, meta: dict, extra_configurable: dict) -> None:
        """A checkpoint: fresh, continuing the head, or forking an older one."""
        existing = self.live.get(thread, {}).get(ns, {})
        if thread in self.deleted and (ns != "" or parent_pick is not None):
            return  # a deleted thread only comes back with a fresh root put (langgraph#7206)
        parent = None
        if parent_pick is not None and existing:
            ids = sorted(existing)
            parent = ids[-1] if parent_pick >= len(ids) else ids[parent_pick]
        versions = dict(existing[parent]) if parent else {}
        new_versions = {}
        for ch in changes:
            self.next_version += 1
            versions[ch] = new_versions[ch] = f"{self.next_version:032}.0"
        self.next_id += 1
        cid = f"00000000-0000-6000-8000-{self.next_id:012x}"
        # the values a reader sees: the newest stored value of each channel
        channel_values = {}
        for ch in versions:
            if ch in changes:
                if changes[ch] != "<absent>":
                    channel_values[ch] = changes[ch]
            elif parent is not None:
                parent_values = self.ref.get_tuple(_cfg(thread, ns, parent)).checkpoint["channel_values"]
                if ch in parent_values:
                    channel_values[ch] = parent_values[ch]
        cp = {
            "v": 4,
            "id": cid,
            "ts": "2026-06-01T00:00:00+00:00",
            "channel_values": channel_values,
            "channel_versions": versions,
            "versions_seen": {"node": {ch: v for ch, v in versions.items()}},
            "updated_channels": sorted(new_versions),
        }
        config = _cfg(thread, ns, parent, **extra_configurable)
        expected = self.ref.put(config, cp, dict(meta), new_versions)
        got = self.under_test.call("put", config, cp, dict(meta), new_versions)
        self._same("put", expected, got)
        self.deleted.discard(thread)
        self.live.setdefault(thread, {}).setdefault(ns, {})[cid] = versions
        self.all_ids.append(cid)

    @rule(
        thread=st.sampled_from(THREADS),
        ns=st.sampled_from(NAMESPACES),
        changes=st.dictionaries(st.sampled_from(CHANNELS), values, min_size=1, max_size=2),
        meta=metadata,
    )
    def extend(self, thread: str, ns: str, changes: dict, meta: dict) -> None:
        """The common case, drawn more often: continue a namespace's newest checkpoint."""
        self.put(thread, ns, 10_000, changes, meta, {})

    @precondition(lambda self: self.live)
    @rule(
        pick=st.integers(0, 10_000),
        task=st.sampled_from(["task-1", "task-2"]),
        path=st.sampled_from(["", "~p, 1", "~p, 0"]),
        writes=st.lists(st.tuples(st.sampled_from(WRITE_CHANNELS), values), min_size=1, max_size=3),
    )
    def put_writes(self, pick: int, task: str, path: str, writes: list) -> None:
        """Pending writes to an existing checkpoint; a retry of the same task included."""
        thread, ns, cid = self._checkpoints()[pick % len(self._checkpoints())]
        config = _cfg(thread, ns, cid)
        self.ref.put_writes(config, writes, task, path)
        self.under_test.call("put_writes", config, writes, task, path)

    @rule(
        thread=st.sampled_from(THREADS),
        ns=st.sampled_from(NAMESPACES),
        which=st.sampled_from(["latest", "existing", "unknown"]),
        pick=st.integers(0, 10_000),
    )
    def get_tuple(self, thread: str, ns: str, which: str, pick: int) -> None:
        cid = None
        if which == "existing" and self.all_ids:
            cid = self.all_ids[pick % len(self.all_ids)]
        elif which == "unknown":
            cid = "ffffffff-0000-6000-8000-000000000000"
        config = _cfg(thread, ns, cid)
        self._same("get_tuple", _norm(self.ref.get_tuple(config)), {k: _norm(v) for k, v in self.under_test.call("get_tuple", config).items()})

    @rule(
        scope=st.sampled_from(["all", "thread", "thread-ns", "thread-ns-id"]),
        thread=st.sampled_from(THREADS),
        ns=st.sampled_from(NAMESPACES),
        pick=st.integers(0, 10_000),
        filter_=st.one_of(st.none(), metadata, st.just("from-existing")),
        before=st.booleans(),
        limit=st.one_of(st.none(), st.integers(0, 4)),
    )
    def list(self, scope: str, thread: str, ns: str, pick: int, filter_: Any, before: bool, limit: int | None) -> None:
        config = {
            "all": None,
            "thread": _cfg(thread, None),
            "thread-ns": _cfg(thread, ns),
            "thread-ns-id": _cfg(thread, ns, self.all_ids[pick % len(self.all_ids)] if self.all_ids else None),
        }[scope]
        if filter_ == "from-existing":
            tuples = list(self.ref.list(None))
            filter_ = dict(list(tuples[pick % len(tuples)].metadata.items())[:2]) if tuples else None
        before_cfg = _cfg(thread, ns, self.all_ids[(pick * 7) % len(self.all_ids)]) if before and self.all_ids else None
        kwargs = {"filter": filter_, "before": before_cfg}
        ordered = scope in ("thread-ns", "thread-ns-id")
        if ordered:
            expected = [_norm(t) for t in self.ref.list(config, limit=limit, **kwargs)]
        else:
            # across namespaces / threads: newest first over the reference's full result
            everything = sorted((_norm(t) for t in self.ref.list(config, **kwargs)), key=lambda n: n[0][2], reverse=True)
            expected = everything if limit is None else everything[:limit]
        got = {k: [_norm(t) for t in v] for k, v in self.under_test.list(config, limit=limit, **kwargs).items()}
        self._same(f"list({scope}, filter={filter_!r}, before={before}, limit={limit})", expected, got)

    @rule(thread=st.sampled_from(THREADS), really=st.integers(0, 2))
    def delete_thread(self, thread: str, really: int) -> None:
        if really:
            return  # drawn as often as the others, but deleting a third of the time keeps threads around
        self.ref.delete_thread(thread)
        self.under_test.call("delete_thread", thread)
        if thread in self.live:
            del self.live[thread]
            self.deleted.add(thread)

    # --- after every step --------------------------------------------------------------

    @invariant()
    def everything_matches(self) -> None:
        """Each saver holds exactly what the reference holds, checkpoint by checkpoint."""
        expected = sorted((_norm(t) for t in self.ref.list(None)), key=lambda n: n[0])
        got = {k: sorted((_norm(t) for t in v), key=lambda n: n[0]) for k, v in self.under_test.list(None).items()}
        self._same("stored state", expected, got)


SaverMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_savers_match_langgraph_reference = SaverMachine.TestCase
