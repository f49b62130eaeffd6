"""No user-supplied string reaches SQL text or a Redis key unescaped, and no id can reach
another thread's rows.

The attacks (docs/security.md, USERS.md §6):
- CVE-2025-67644: LangGraph's SqliteSaver pasted metadata filter *keys* into SQL, so
  `list(filter={"x') OR 1=1 --": ...})` rewrote the query.
- CVE-2025-8709: filter operators in LangGraph's SqliteStore were trusted.
- CVE-2026-27022: a RediSearch query built from a thread id escaped thread isolation.
Beyond those: ids with LIKE/GLOB wildcards (`%`, `_`, `*`), key separators (`:`, `{`),
NUL (truncation), 100 KB, and `limit` of the wrong type.

Every test runs on every backend in `tests.conftest.BACKENDS`; the SQL-text test records
the exact text of every statement the SQLite savers prepare.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conftest import BACKENDS, make_saver
from tests.contract.conftest import checkpoint, config
from zerograph.errors import ConfigError

MARK = "ZQX"  # in every attack string below, so SQL text can be searched for it
ATTACK_IDS = [
    "%",
    "_",
    "*",
    ":",
    "{",
    "}",
    "a%",
    "a_",
    "a*",
    "a?",
    "a[b]",
    "a:b",
    "{a}",
    "a}:x:{b",
    "a\x00",
    "a\x00b",
    "\x00",
    "",
    " a",
    "a'",
    "a' OR '1'='1",
    "a'); DELETE FROM checkpoints; --",
    'a" OR "1"="1',
    "a\\",
    "ü%ñ",
    "x" * 100_000,
]
VICTIM_IDS = ["a", "ab", "aa", "a b", "b", "ax", "a:b:c", "x" * 99_999, "x" * 100_001]


def _every_id() -> list[str]:
    ids = VICTIM_IDS + ATTACK_IDS
    assert len(set(ids)) == len(ids)
    return ids


@pytest.fixture
def sync_saver(backend: str, tmp_path: Path) -> Iterator[Any]:
    saver = make_saver(backend, "sync", tmp_path)
    yield saver
    saver.close()


def _put(saver: Any, thread_id: str, value: Any, ns: str = "", metadata: dict | None = None, parent: str | None = None) -> dict:
    version = saver.get_next_version(None, None)
    return saver.put(config(thread_id, ns, parent), checkpoint({"v": value}, {"v": version}), metadata or {}, {"v": version})


def _values(saver: Any, thread_id: str) -> list[Any]:
    return [t.checkpoint["channel_values"]["v"] for t in saver.list(config(thread_id))]


@pytest.mark.parametrize("backend", BACKENDS)
def test_adversarial_thread_ids_are_isolated(sync_saver: Any) -> None:
    """Each of ~35 ids (wildcards, separators, NUL, quotes, 100 KB) reads, lists and deletes
    only its own rows; deleting each attack id leaves every other thread whole."""
    saver = sync_saver
    ids = _every_id()
    for n, tid in enumerate(ids):
        cfg = _put(saver, tid, n)
        saver.put_writes(cfg, [("v", f"w{n}")], f"task-{n}")
    for n, tid in enumerate(ids):
        got = saver.get_tuple(config(tid))
        assert got.config["configurable"]["thread_id"] == tid
        assert got.checkpoint["channel_values"] == {"v": n}
        assert got.pending_writes == [(f"task-{n}", "v", f"w{n}")]
        assert _values(saver, tid) == [n]
        assert saver.has_thread(tid)
    assert sorted(t.checkpoint["channel_values"]["v"] for t in saver.list(None)) == list(range(len(ids)))
    alive = dict(enumerate(ids))
    for tid in ATTACK_IDS:
        saver.delete_thread(tid)
        del alive[ids.index(tid)]
        assert saver.get_tuple(config(tid)) is None
        for n, other in alive.items():
            assert _values(saver, other) == [n], (tid, other)


@pytest.mark.parametrize("backend", BACKENDS)
def test_adversarial_ids_in_thread_operations_touch_only_their_thread(sync_saver: Any) -> None:
    """copy_thread, prune, delete_for_runs, thread_info and storage_report with attack ids
    act on exactly the named thread."""
    saver = sync_saver
    for n, tid in enumerate(VICTIM_IDS):
        _put(saver, tid, n, metadata={"run_id": f"run-{n}"})
    before = {tid: _values(saver, tid) for tid in VICTIM_IDS}
    # attack strings as run ids too (LangGraph strips NUL from metadata, so not those)
    runs = {tid: tid if "\x00" not in tid else f"nul-{n}" for n, tid in enumerate(ATTACK_IDS)}
    for tid in ATTACK_IDS:
        first = _put(saver, tid, "old", metadata={"run_id": runs[tid]})
        _put(saver, tid, "new", parent=first["configurable"]["checkpoint_id"], metadata={"run_id": runs[tid]})
    for tid in ATTACK_IDS:
        saver.copy_thread(tid, tid + "-copy")
        assert _values(saver, tid + "-copy") == ["new", "old"]
        saver.prune([tid], keep_last=1)
        assert _values(saver, tid) == ["new"]
        assert saver.thread_info(tid).thread_id == tid
        report = saver.storage_report(tid)
        assert set(report.by_thread) == {tid}
    assert {tid: _values(saver, tid) for tid in VICTIM_IDS} == before
    saver.delete_for_runs(list(runs.values()))  # an attack thread's run: it and its copy
    for tid in ATTACK_IDS:
        assert _values(saver, tid) == [] and _values(saver, tid + "-copy") == []
    assert {tid: _values(saver, tid) for tid in VICTIM_IDS} == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_adversarial_namespaces_are_isolated(sync_saver: Any) -> None:
    """Attack strings as checkpoint_ns: each namespace lists and loads only its own checkpoint."""
    saver = sync_saver
    namespaces = ["", "child", "child:1", *[ns for ns in ATTACK_IDS if ns != ""]]
    for n, ns in enumerate(namespaces):
        _put(saver, "t", n, ns=ns)
    for n, ns in enumerate(namespaces):
        listed = list(saver.list(config("t", ns)))
        assert [t.checkpoint["channel_values"]["v"] for t in listed] == [n], repr(ns[:20])
        assert listed[0].config["configurable"]["checkpoint_ns"] == ns
        assert saver.get_tuple(config("t", ns)).checkpoint["channel_values"] == {"v": n}
    assert len(list(saver.list({"configurable": {"thread_id": "t"}}))) == len(namespaces)


FILTER_KEY_ATTACKS = [
    "source') OR 1=1 --",
    "source\") OR 1=1 --",
    "x') IS NULL OR ('1'='1",
    "$.source",
    "source.nested",
    "step = 1 OR 1",
    "%",
    "_",
    "*",
    "",
    "\x00",
    "k" * 100_000,
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_cve_2025_67644_filter_key_injection_matches_nothing(sync_saver: Any) -> None:
    """Filter keys that rewrote LangGraph's SQL are plain keys here: they match only
    metadata that has exactly that key with that value."""
    saver = sync_saver
    _put(saver, "t", 0, metadata={"source": "loop", "step": 1, "nested": {"a": 1}})
    _put(saver, "t", 1, metadata={"source": "input", "step": 2})
    holder = _put(saver, "t", 2, metadata={FILTER_KEY_ATTACKS[0]: "v"})
    for key in FILTER_KEY_ATTACKS:
        expected = [holder["configurable"]["checkpoint_id"]] if key == FILTER_KEY_ATTACKS[0] else []
        for cfg in (config("t"), None):
            got = [t.config["configurable"]["checkpoint_id"] for t in saver.list(cfg, filter={key: "v"})]
            assert got == expected, repr(key[:30])
        assert list(saver.list(config("t"), filter={key: 1})) == []
    assert list(saver.list(config("t"), filter={"nested.a": 1})) == []
    assert len(list(saver.list(config("t"), filter={"source": "loop", "step": 1}))) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_cve_2025_8709_operator_shaped_filter_values_are_literals(sync_saver: Any) -> None:
    """Filter values are compared for equality, never interpreted: operators, wildcards
    and quotes match nothing unless stored verbatim."""
    saver = sync_saver
    _put(saver, "t", 0, metadata={"user": "alice", "n": 1})
    literal = _put(saver, "t", 1, metadata={"user": {"$ne": None}})
    for value in ["%", "_lice", "a%", "*", "' OR '1'='1", "alice' --", {"$ne": "x"}, {"$gt": 0}, ["alice"], "ALICE"]:
        assert list(saver.list(config("t"), filter={"user": value})) == [], value
        assert list(saver.list(None, filter={"user": value})) == [], value
        assert list(saver.list_threads(filter={"user": value})) == [], value
    matched = list(saver.list(config("t"), filter={"user": {"$ne": None}}))
    assert [t.config for t in matched] == [literal]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("limit", ["1; DROP TABLE checkpoints", "5", 1.5, True, -1, [1], b"1", object()])
def test_limit_of_the_wrong_type_is_a_config_error(sync_saver: Any, limit: Any) -> None:
    """A non-int (or negative) limit is a ConfigError before any query; data is intact."""
    saver = sync_saver
    _put(saver, "t", 0)
    with pytest.raises(ConfigError, match="limit"):
        list(saver.list(config("t"), limit=limit))
    with pytest.raises(ConfigError, match="limit"):
        saver.list_threads(limit=limit)
    assert _values(saver, "t") == [0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_string_filter_keys_and_ids_are_config_errors(sync_saver: Any) -> None:
    """Filter keys and checkpoint ids must be str: anything else is a ConfigError."""
    saver = sync_saver
    _put(saver, "t", 0)
    for bad_filter in [{1: "x"}, {None: "x"}, {("a",): 1}, ["source"], "source"]:
        with pytest.raises(ConfigError):
            list(saver.list(config("t"), filter=bad_filter))
    for bad_id in [1, ["a"], {"x": 1}]:
        with pytest.raises(ConfigError):
            saver.get_tuple(config("t", "", bad_id))
        with pytest.raises(ConfigError):
            list(saver.list(config("t"), before={"configurable": {"checkpoint_id": bad_id}}))
    assert _values(saver, "t") == [0]


# --- SQL text -------------------------------------------------------------------------------


class RecordingConnection(sqlite3.Connection):
    """Records the text of every statement (before binding), as SQLite sees it prepared."""

    texts: ClassVar[list[str]] = []

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        RecordingConnection.texts.append(sql)
        return super().execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        RecordingConnection.texts.append(sql)
        return super().executemany(sql, *args)

    def executescript(self, sql: str) -> sqlite3.Cursor:  # type: ignore[override]
        RecordingConnection.texts.append(sql)
        return super().executescript(sql)

    def cursor(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # type: ignore[override]
        raise AssertionError("the savers are expected to run SQL through Connection.execute")


@pytest.fixture
def recorded_sql(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQLite connection opened during the test records its statements."""
    real_connect = sqlite3.connect
    RecordingConnection.texts = []

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs.setdefault("factory", RecordingConnection)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    return RecordingConnection.texts


def _attack(s: str) -> str:
    return f"{MARK}{s}"


@pytest.mark.parametrize("backend", ["sqlite-file", "sqlite-memory"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_no_user_string_reaches_sql_text(backend: str, flavour: str, tmp_path: Path, recorded_sql: list[str]) -> None:
    """Every public operation, fed attack strings as thread id, namespace, checkpoint id,
    filter key and value, task id and path, channel, run id and copy target: none of them
    appears in the text of any statement; all travel as bound parameters."""
    import asyncio

    saver = make_saver(backend, flavour, tmp_path)
    attacks = [_attack(a) for a in ("%", "_", "*", "' OR 1=1 --", "'); DROP TABLE threads; --", "\x00", ":{x}")]
    try:
        for n, word in enumerate(attacks):
            version = saver.get_next_version(None, None)
            cp = checkpoint({word: word}, {word: version}, id=f"{uuid.UUID(int=n + 1)}{word}")
            cfg = saver.put(config(word, word), cp, {word: word, "run_id": word}, {word: version})
            saver.put_writes(cfg, [(word, word), ("__error__", word)], word, word)
            saver.get_tuple(cfg)
            saver.get_tuple(config(word, word))
            list(saver.list(config(word, word), filter={word: word, "k": None}, before=cfg, limit=3))
            list(saver.list(None, filter={word: word}))
            list(saver.list(config(word)))
            saver.get_delta_channel_history(config=cfg, channels=[word])
            saver.list_threads(filter={word: word})
            saver.thread_info(word)
            saver.has_thread(word)
            saver.storage_report(word)
            saver.copy_thread(word, word + "copy")
            saver.prune([word], keep_last=1)
            saver.delete_for_runs([word])
            saver.delete_thread(word + "copy")
            if flavour == "async":
                async def more(word: str = word, cfg: dict = cfg) -> None:
                    await saver.aget_tuple(cfg)
                    [t async for t in saver.alist(config(word), filter={word: word})]
                    await saver.adelete_thread(word)

                asyncio.run(more())
    finally:
        saver.close()
    assert len(recorded_sql) > 50
    leaked = [text for text in recorded_sql if MARK in text]
    assert leaked == []


# --- Redis keys ---------------------------------------------------------------------------


REDIS_BACKENDS = [b for b in BACKENDS if getattr(b, "values", (b,))[0] in ("redis", "redis-cluster")]
_KEY = re.compile(r"^(?P<prefix>[^{}]+):(?:\{(?P<tag>[^{}:]*)\}:[a-z]+|threads|runs)$")


def _redis_keys(backend: str, prefix: str) -> list[str]:
    from tests import redis_servers

    if backend == "redis-cluster":
        from redis.cluster import RedisCluster

        client: Any = RedisCluster.from_url(redis_servers.cluster_url())
        keys = [k.decode() for k in client.scan_iter(match=f"{prefix}:*", target_nodes=RedisCluster.PRIMARIES)]
    else:
        import redis

        client = redis.Redis.from_url(redis_servers.standalone_url())
        keys = [k.decode() for k in client.scan_iter(match=f"{prefix}:*")]
    client.close()
    return keys


@pytest.mark.skipif(not REDIS_BACKENDS, reason="no Redis backend in tests.conftest.BACKENDS")
@pytest.mark.parametrize("backend", REDIS_BACKENDS or ["redis"])
def test_cve_2026_27022_redis_keys_escape_thread_ids(backend: str, tmp_path: Path) -> None:
    """Attack ids become escaped hash tags: every key is `prefix:{tag}:kind` with no `:`,
    `{`, `}` inside the tag, and distinct ids never share a tag."""
    prefix = f"zginj{uuid.uuid4().hex[:8]}"
    saver = make_saver(backend, "sync", tmp_path, key_prefix=prefix)
    ids = [i for i in _every_id() if len(i) < 1000]
    try:
        for n, tid in enumerate(ids):
            _put(saver, tid, n, ns=tid)
        keys = _redis_keys(backend, prefix)
        tags = set()
        for key in keys:
            match = _KEY.match(key)
            assert match and match["prefix"] == prefix, repr(key)
            if match["tag"] is not None:
                tags.add(match["tag"])
        assert len(tags) == len(ids)
    finally:
        saver.close()
