"""What only the Redis savers have: the key layout (escaping, one slot per thread), TTL
expiry, atomic writes under concurrent readers, byte accounting, client ownership and
event loops. Real servers (tests/redis_servers.py); faults are in test_redis_faults.py."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import redis_servers
from tests.contract.conftest import checkpoint, config

redis = pytest.importorskip("redis") if redis_servers.available() or not redis_servers.IN_CI else None

from zerograph.checkpoint.redis import AsyncRedisSaver, RedisSaver
from zerograph.checkpoint.redis._keys import (
    ThreadKeys,
    escape_key_part,
    field,
    runs_key,
    threads_key,
    unfield,
)
from zerograph.checkpoint.redis.saver import close_client
from zerograph.errors import ConfigError, CorruptDataError, UnsupportedOperation

SERVERS = ["redis", "redis-cluster"]


def prefix() -> str:
    return f"zgr{uuid.uuid4().hex[:10]}"


def url_of(server: str) -> str:
    return redis_servers.cluster_url() if server == "redis-cluster" else redis_servers.standalone_url()


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest) -> str:
    redis_servers.require()
    return request.param


@pytest.fixture
def saver(server: str) -> Iterator[RedisSaver]:
    s = RedisSaver.from_url(url_of(server), cluster=server == "redis-cluster", key_prefix=prefix())
    yield s
    s.close()


def step(saver: Any, thread_id: str, ns: str, parent: str | None, values: dict, version: int) -> dict:
    versions = {ch: f"{version:032}.0" for ch in values}
    return saver.put(config(thread_id, ns, parent), checkpoint(values, versions), {"step": version}, versions)


def keys_in_server(saver: RedisSaver) -> list[bytes]:
    """Every key under the saver's prefix, on every node."""
    client = saver.client
    pattern = f"{saver.key_prefix}:*"
    if hasattr(client, "get_primaries"):
        out: list[bytes] = []
        for node in client.get_primaries():
            out += list(client.scan_iter(match=pattern, target_nodes=node))
        return out
    return list(client.scan_iter(match=pattern))


# --- the key layout ------------------------------------------------------------------


@given(st.lists(st.text(max_size=12), min_size=2, max_size=6, unique=True))
@settings(max_examples=300, deadline=None)
def test_key_escaping_is_injective_and_braceless(ids: list[str]) -> None:
    """Distinct thread ids give distinct key parts without ':', '{', '}'."""
    parts = [escape_key_part(i) for i in ids]
    assert len(set(parts)) == len(parts)
    assert not any(c in p for p in parts for c in ":{}") and all(parts)


@given(st.lists(st.text(max_size=8), min_size=1, max_size=4), st.lists(st.text(max_size=8), min_size=1, max_size=4))
@settings(max_examples=300, deadline=None)
def test_fields_round_trip_and_keep_order(a: list[str], b: list[str]) -> None:
    """F(...) decodes back to its parts, and compares like the part tuples do."""
    assert unfield(field(*a)) == a
    if len(a) == len(b):
        assert (field(*a) < field(*b)) == (a < b)


def test_adversarial_ids_never_share_keys(saver: RedisSaver) -> None:
    """Thread ids and namespaces full of separators, braces, NULs and 100 KB stay apart:
    plainredis's ("x", "y:z") / ("x:y", "z") collision cannot happen."""
    cases = [
        ("x", "y:z"), ("x:y", "z"), ("", ""), ("%", ""), ("%25", ""), ("{a}", "b}{"), ("a}", "{"),
        ("t\x00", "n\x00"), ("t", "\x00n"), ("t\x01\x00", "\x01"), ("t", "\x01\x01"), ("sp ace", "tab\t"),
        ("ünï✓", "名前:空間"), ("x" * 100_000, "sub:" + "y" * 1000),
    ]
    heads = {}
    for n, (thread_id, ns) in enumerate(cases):
        heads[(thread_id, ns)] = step(saver, thread_id, ns, None, {"v": n, "who": [thread_id[:20], ns[:20]]}, 1)
    for n, (thread_id, ns) in enumerate(cases):
        tup = saver.get_tuple(config(thread_id, ns))
        assert tup.config == heads[(thread_id, ns)]
        assert tup.checkpoint["channel_values"] == {"v": n, "who": [thread_id[:20], ns[:20]]}
        got = [(t.config["configurable"]["checkpoint_ns"], t.checkpoint["channel_values"]["v"]) for t in saver.list({"configurable": {"thread_id": thread_id}})]
        assert sorted(got) == sorted((cns, m) for m, (t, cns) in enumerate(cases) if t == thread_id)
    everything = {(t.config["configurable"]["thread_id"], t.config["configurable"]["checkpoint_ns"]) for t in saver.list(None)}
    assert everything == set(cases)
    assert {i.thread_id for i in saver.list_threads(limit=100)} == {t for t, _ in cases}
    saver.delete_thread("x")
    assert saver.get_tuple(config("x:y", "z")) is not None and saver.get_tuple(config("x", "y:z")) is None


def test_checkpoint_ids_with_separators(saver: RedisSaver) -> None:
    """Checkpoint ids are data too: NUL, \\x01, ':' and '%' in ids keep order and identity."""
    ids = ["a", "a\x00", "a\x00b", "a\x01", "a:b", "a%", "b"]
    parent = None
    for n, cid in enumerate(ids):
        cp = checkpoint({"n": n}, {"n": f"{n + 1}"}, id=cid)
        saver.put(config("t", "", parent), cp, {}, {"n": f"{n + 1}"})
        saver.put_writes(config("t", "", cid), [("w", cid)], f"task{cid}")
        parent = cid
    listed = [(t.config["configurable"]["checkpoint_id"], t.pending_writes) for t in saver.list(config("t"))]
    assert listed == [(cid, [(f"task{cid}", "w", cid)]) for cid in sorted(ids, reverse=True)]
    before = [t.config["configurable"]["checkpoint_id"] for t in saver.list(config("t"), before={"configurable": {"checkpoint_id": "a\x01"}})]
    assert before == ["a\x00b", "a\x00", "a"]
    assert saver.get_tuple(config("t", "", "a\x00")).checkpoint["channel_values"] == {"n": 1}


def test_every_key_of_a_thread_is_in_one_slot(saver: RedisSaver, server: str) -> None:
    """All keys a thread owns hash to one cluster slot, whatever the thread id."""
    for thread_id in ["plain", "", "{tag}", "a}b{c", "x:y", "\x00", "x" * 5000]:
        cfg = step(saver, thread_id, "sub:1", None, {"a": 1}, 1)
        saver.put_writes(cfg, [("a", 2)], "task")
        keys = ThreadKeys.of(saver.key_prefix, thread_id).all
        slots = {saver.client.keyslot(k) if hasattr(saver.client, "keyslot") else redis.cluster.key_slot(k.encode()) for k in keys}
        assert len(slots) == 1
    mine = keys_in_server(saver)
    assert threads_key(saver.key_prefix).encode() in mine


def test_prefix_is_validated() -> None:
    """A key prefix with braces would put every thread in one slot: refused."""
    client = redis.Redis()
    try:
        for bad in ("a{b}", "", "sp ace", "%"):
            with pytest.raises(ConfigError, match="key_prefix"):
                RedisSaver(client, key_prefix=bad)
    finally:
        client.close()


# --- values stored once, byte accounting ---------------------------------------------


def test_channel_values_are_stored_once_per_version(saver: RedisSaver) -> None:
    """An unchanged channel is not stored again: one blob per (ns, channel, version)."""
    big = "x" * 10_000
    parent = None
    versions = {"big": "1"}
    for i in range(10):
        versions = {**versions, "n": f"{i + 1}"}
        new = {"n": versions["n"], **({"big": "1"} if i == 0 else {})}
        parent = saver.put(config("t", "", parent), checkpoint({"big": big, "n": i}, dict(versions)), {}, new)["configurable"]["checkpoint_id"]
    blobs = saver.client.hkeys(ThreadKeys.of(saver.key_prefix, "t").bl)
    assert sorted(unfield(b)[1] for b in blobs) == ["big"] + ["n"] * 10
    assert all(t.checkpoint["channel_values"]["big"] == big for t in saver.list(config("t")))
    assert saver.thread_info("t").bytes < 10_000 + 10 * 1_000


def test_byte_counter_matches_a_recount(saver: RedisSaver) -> None:
    """thread_info().bytes (kept by the write scripts) equals a full recount after puts,
    re-puts, special-write overwrites, prune, delete_for_runs and copy."""
    line = []
    parent = None
    for i in range(8):
        cfg = saver.put(
            config("t", "", parent, run_id=f"r{i % 3}"), checkpoint({"a": "v" * i, "b": [i]}, {"a": f"{i + 1}", "b": f"{i + 1}"}),
            {}, {"a": f"{i + 1}", "b": f"{i + 1}"},
        )
        saver.put_writes(cfg, [("a", "w" * i), ("__interrupt__", "first")], "task")
        saver.put_writes(cfg, [("a", "ignored"), ("__interrupt__", "second, longer")], "task")
        line.append(cfg)
        parent = cfg["configurable"]["checkpoint_id"]
    saver.put(config("t", "", None), checkpoint({"a": "re"}, {"a": "1"}, id=parent), {"again": True}, {"a": "1"})

    def check(*threads: str) -> None:
        report = saver.storage_report()
        for t in threads:
            assert saver.thread_info(t).bytes == report.by_thread[t]
            assert saver.storage_report(t).total_bytes == report.by_thread[t]

    check("t")
    saver.copy_thread("t", "u")
    check("t", "u")
    saver.delete_for_runs(["r1"])
    check("t", "u")
    saver.prune(["t"], keep_last=2)
    check("t", "u")
    assert saver.storage_report().by_thread.keys() == {"t", "u"}


# --- TTL -----------------------------------------------------------------------------


def test_ttl_is_on_every_key_and_refreshed_by_every_write(server: str) -> None:
    """Every key of a thread (and the indexes) carries the TTL; a write renews all of
    them, old blobs included, so they expire together."""
    with RedisSaver.from_url(url_of(server), cluster=server == "redis-cluster", key_prefix=prefix(), ttl=30) as saver:
        cfg = step(saver, "t", "", None, {"a": 1, "b": "kept"}, 1)
        saver.put_writes(cfg, [("a", 2)], "task", "~p")
        step(saver, "t", "sub:1", None, {"s": 1}, 1)
        with RedisSaver.from_url(url_of(server), cluster=server == "redis-cluster", key_prefix=saver.key_prefix, ttl=300) as longer:
            step(longer, "t", "", cfg["configurable"]["checkpoint_id"], {"a": 3}, 2)  # 'b' untouched
        keys = keys_in_server(saver)
        thread_keys = [k for k in keys if b"{t}" in k]
        assert len(thread_keys) >= 10
        ttls = {k: saver.client.pttl(k) for k in keys}
        tomb = ThreadKeys.of(saver.key_prefix, "t").tomb.encode()
        assert all(250_000 < ttls[k] <= 300_000 for k in keys if k != tomb), ttls  # renewed by the last write
        per_thread = {round(ttls[k] / 1000) for k in thread_keys if k != tomb}
        assert len(per_thread) == 1  # one expiry for the whole thread
        # the tombstone outlives the thread, to refuse its late writes after expiry
        assert ttls[tomb] > 300_000 + 24 * 3600 * 1000


def test_expired_thread_is_gone_whole_and_stays_gone(server: str) -> None:
    """After the TTL the thread has no key left, readers never saw half of it, list(None)
    forgets it, and a late write from its old timeline is refused."""
    with RedisSaver.from_url(url_of(server), cluster=server == "redis-cluster", key_prefix=prefix(), ttl=0.6) as saver:
        keep = RedisSaver.from_url(url_of(server), cluster=server == "redis-cluster", key_prefix=saver.key_prefix)
        step(keep, "forever", "", None, {"a": 1}, 1)
        keep.close()
        parent = None
        for i in range(5):
            cfg = step(saver, "t", "", parent, {"a": i, "b": [i] * 100}, i + 1)
            saver.put_writes(cfg, [("a", i)], "task")
            parent = cfg["configurable"]["checkpoint_id"]
        seen_whole = seen_none = 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            tup = saver.get_tuple(config("t"))
            if tup is None:
                seen_none += 1
                break
            assert set(tup.checkpoint["channel_values"]) == {"a", "b"} and tup.pending_writes == [("task", "a", 4)]
            seen_whole += 1
        assert seen_whole and seen_none
        assert [k for k in keys_in_server(saver) if b"{t}" in k and not k.endswith(b":x")] == []
        assert {t.config["configurable"]["thread_id"] for t in saver.list(None)} == {"forever"}
        assert saver.client.zscore(threads_key(saver.key_prefix), "t") is None  # forgotten
        saver.put(cfg, checkpoint({"a": 9}, {"a": "9"}), {}, {"a": "9"})  # continues the dead timeline
        assert saver.get_tuple(config("t")) is None
        step(saver, "t", "", None, {"a": "new"}, 1)  # a fresh start is allowed
        assert saver.get_tuple(config("t")).checkpoint["channel_values"] == {"a": "new"}


def test_sweep_forgets_threads_that_expired_on_their_own(server: str) -> None:
    """Natively expired threads leave index entries; sweep() and list_threads skip them."""
    clock = [1000.0]
    with RedisSaver.from_url(url_of(server), cluster=server == "redis-cluster", key_prefix=prefix(), ttl=0.3, clock=lambda: clock[0]) as saver:
        for n in range(5):
            step(saver, f"t{n}", "", None, {"a": n}, 1)
        time.sleep(0.5)
        assert saver.list_threads().threads == []
        clock[0] += 10
        assert saver.sweep() == 0  # nothing left to delete, only index entries to forget
        assert saver.client.zcard(threads_key(saver.key_prefix)) == 0


# --- atomicity under concurrency -----------------------------------------------------


def test_readers_never_see_a_checkpoint_without_its_values(saver: RedisSaver) -> None:
    """While one thread writes and another prunes, readers always get whole checkpoints."""
    stop = threading.Event()
    errors: list[BaseException] = []
    seen = [0]

    def reader() -> None:
        try:
            while not stop.is_set():
                for tup in saver.list(config("t"), limit=5):
                    values = tup.checkpoint["channel_values"]
                    assert set(values) == {"a", "b", "c"}, values
                    assert values["b"] == ["x" * 50] * values["a"]
                    seen[0] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def pruner() -> None:
        try:
            while not stop.is_set():
                saver.prune(["t"], keep_last=3)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    parent = step(saver, "t", "", None, {"a": 0, "b": [], "c": "const"}, 1)["configurable"]["checkpoint_id"]
    workers = [threading.Thread(target=reader), threading.Thread(target=reader), threading.Thread(target=pruner)]
    for w in workers:
        w.start()
    try:
        for i in range(1, 120):
            versions = {"a": f"{i + 1:032}.0", "b": f"{i + 1:032}.0", "c": f"{1:032}.0"}
            cfg = saver.put(
                config("t", "", parent), checkpoint({"a": i, "b": ["x" * 50] * i, "c": "const"}, versions),
                {}, {"a": versions["a"], "b": versions["b"]},
            )
            parent = cfg["configurable"]["checkpoint_id"]
    finally:
        stop.set()
        for w in workers:
            w.join(30)
    assert not errors, errors[0]
    assert seen[0] > 0
    saver.prune(["t"], keep_last=3)
    assert len(list(saver.list(config("t")))) == 3


def test_put_writes_from_parallel_tasks_all_land(saver: RedisSaver) -> None:
    """Pregel's worker threads write concurrently: every write is kept, once."""
    cfg = step(saver, "t", "", None, {"a": 1}, 1)
    def work(n: int) -> None:
        for i in range(20):
            saver.put_writes(cfg, [("a", (n, i)), ("b", n)], f"task-{n}-{i}", f"~p, {n}")
    workers = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    writes = saver.get_tuple(cfg).pending_writes
    assert len(writes) == 8 * 20 * 2 and len({(t, c) for t, c, _ in writes}) == 8 * 20 * 2


# --- clients, loops, extras ----------------------------------------------------------


def test_a_client_passed_in_is_not_closed(server: str) -> None:
    """The constructor borrows the client; from_url owns its client."""
    redis_servers.require()
    if server == "redis-cluster":
        client: Any = redis.cluster.RedisCluster.from_url(url_of(server))
    else:
        client = redis.Redis.from_url(url_of(server))
    try:
        with RedisSaver(client, key_prefix=prefix()) as saver:
            step(saver, "t", "", None, {"a": 1}, 1)
        assert client.ping()
    finally:
        close_client(client)  # RedisCluster.from_url's close() alone leaves node pools open


def test_a_decoding_client_is_refused() -> None:
    redis_servers.require()
    client = redis.Redis.from_url(redis_servers.standalone_url(), decode_responses=True)
    try:
        with pytest.raises(ConfigError, match="decode_responses"):
            RedisSaver(client)
    finally:
        client.close()


def test_async_saver_across_loops_and_sync_calls(server: str) -> None:
    """An AsyncRedisSaver survives being used from one loop after another, its sync
    methods work (from_url makes a sync client), and close() works after the loop is gone."""
    saver = AsyncRedisSaver.from_url(url_of(server), cluster=server == "redis-cluster", key_prefix=prefix())
    try:
        for n in range(3):
            asyncio.run(saver.aput(config(f"t{n}"), checkpoint({"a": n}, {"a": "1"}), {}, {"a": "1"}))
        assert asyncio.run(saver.aget_tuple(config("t1"))).checkpoint["channel_values"] == {"a": 1}
        assert saver.get_tuple(config("t2")).checkpoint["channel_values"] == {"a": 2}
        assert {t.config["configurable"]["thread_id"] for t in saver.list(None)} == {"t0", "t1", "t2"}
    finally:
        saver.close()


def test_async_saver_on_a_borrowed_client(server: str) -> None:
    """Built on your asyncio client: a* work, sync methods explain themselves, the client stays open."""
    import redis.asyncio as aredis
    from redis.asyncio.cluster import RedisCluster as AsyncCluster

    async def main() -> None:
        client = AsyncCluster.from_url(url_of(server)) if server == "redis-cluster" else aredis.Redis.from_url(url_of(server))
        try:
            async with AsyncRedisSaver(client, key_prefix=prefix()) as saver:
                await saver.aput(config("t"), checkpoint({"a": 1}, {"a": "1"}), {}, {"a": "1"})
                assert [t.checkpoint["channel_values"] async for t in saver.alist(None)] == [{"a": 1}]
                with pytest.raises(UnsupportedOperation, match="sync client"):
                    saver.get_tuple(config("t"))
            assert await client.ping()
        finally:
            await client.aclose()

    asyncio.run(main())


def test_forged_value_is_reported_not_run(saver: RedisSaver) -> None:
    """A value rewritten behind the saver's back raises CorruptDataError naming the channel."""
    step(saver, "t", "", None, {"a": 1}, 1)
    keys = ThreadKeys.of(saver.key_prefix, "t")
    (f,) = saver.client.hkeys(keys.bl)
    saver.client.hset(keys.bl, f, b"\xc1 not msgpack")
    with pytest.raises(CorruptDataError, match="'a'"):
        saver.get_tuple(config("t"))


def test_global_indexes_have_their_own_keys(saver: RedisSaver) -> None:
    """list(None) and delete_for_runs use two small sorted sets, not SCAN."""
    cfg = saver.put(config("t", "", None, run_id="run-1"), checkpoint({"a": 1}, {"a": "1"}), {}, {"a": "1"})
    assert saver.client.zscore(threads_key(saver.key_prefix), "t") is not None
    assert saver.client.zcard(runs_key(saver.key_prefix)) == 1
    saver.delete_for_runs(["run-1"])
    assert saver.get_tuple(cfg) is None


def test_import_without_redis_py_names_the_extra() -> None:
    """Without redis-py, importing the savers fails with the install line."""
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "try:\n    import zerograph.checkpoint.redis\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert "pip install 'zerograph[redis]'" in out.stdout


def test_missing_server_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without redis-server a Redis test is skipped with the reason, but under CI=true it
    fails: CI must never go green without having run the Redis tests."""
    monkeypatch.setattr(redis_servers.shutil, "which", lambda tool: None)
    monkeypatch.setattr(redis_servers, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="redis-server not found"):
        redis_servers.require()
    monkeypatch.setattr(redis_servers, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        redis_servers.require()


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_closed_saver_refuses_work(server: str, flavour: str) -> None:
    """After close() every operation raises SaverClosedError (a redis-py client would
    silently reconnect); closing twice is fine."""
    from zerograph.errors import SaverClosedError

    cls = AsyncRedisSaver if flavour == "async" else RedisSaver
    saver = cls.from_url(url_of(server), cluster=server == "redis-cluster", key_prefix=prefix())
    saver.put(config("t"), checkpoint({"a": 1}, {"a": "1"}), {}, {"a": "1"})
    saver.close()
    saver.close()
    with pytest.raises(SaverClosedError):
        saver.get_tuple(config("t"))
    with pytest.raises(SaverClosedError):
        asyncio.run(saver.aget_tuple(config("t")))


def test_close_waits_for_an_operation_in_flight(saver: RedisSaver) -> None:
    """close() lets a write that another thread is running finish before closing."""
    from zerograph.checkpoint.redis._driver import SyncDriver

    started, release = threading.Event(), threading.Event()
    real = SyncDriver.execute

    def slow(self: Any, batch: Any) -> Any:
        started.set()
        release.wait(10)
        return real(self, batch)

    results: list[Any] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SyncDriver, "execute", slow)
        writer = threading.Thread(target=lambda: results.append(step(saver, "t", "", None, {"a": 1}, 1)))
        writer.start()
        assert started.wait(10)
        closer = threading.Thread(target=saver.close)
        closer.start()
        time.sleep(0.2)
        assert closer.is_alive()  # waiting for the write
        release.set()
        writer.join(10)
        closer.join(10)
    assert results and not closer.is_alive()
