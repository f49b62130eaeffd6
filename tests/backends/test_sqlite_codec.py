"""Growing and sliding channels stored as tails of earlier versions: exact round trips,
bounded chains, and no broken chain after pruning, copying, deleting or restarting."""

from __future__ import annotations

import os
import sqlite3
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ormsgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.contract.conftest import checkpoint, config
from zerograph.checkpoint.sqlite import SqliteSaver
from zerograph.checkpoint.sqlite import _codec as codec
from zerograph.errors import CorruptDataError


def grow(
    saver: SqliteSaver,
    thread_id: str,
    steps: int,
    *,
    start: int = 0,
    parent: str | None = None,
    window: int | None = None,
) -> list[dict]:
    """A channel that gains one ~300-byte item per step, the way a message list does;
    with `window`, only the last `window` items are kept (a trimming agent). Checkpoint
    `i` belongs to run `run-{i // 10}`."""

    def item(i: int) -> str:
        return f"item {i} " + "lorem ipsum dolor sit amet " * 10

    values: list[str] = [item(i) for i in range(start)][-window if window else 0 :]
    version = None
    out = []
    for i in range(start, start + steps):
        values = (values + [item(i)])[-window if window else 0 :]
        version = saver.get_next_version(version, None)
        metadata = {"step": i, "run_id": f"run-{i // 10}"}
        cfg = saver.put(config(thread_id, "", parent), checkpoint({"log": values, "n": i}, {"log": version, "n": version}), metadata, {"log": version, "n": version})
        parent = cfg["configurable"]["checkpoint_id"]
        out.append((cfg, list(values)))
    return out


def rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT version, enc, base, length(value) FROM blobs WHERE channel = 'log' ORDER BY version").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "make",
    [
        lambda n: list(range(n)),
        lambda n: {f"k{i}": i for i in range(n)},
        lambda n: "abc" * n,
        lambda n: [["nested", i] for i in range(n * 40)],
    ],
    ids=["array", "map", "str", "array32"],
)
def test_codec_round_trips_growing_containers(make) -> None:
    """Each new version decodes to exactly the serializer's bytes."""
    base = None
    for n in [0, 1, 2, 15, 16, 17, 300, 70000 // 40 + 1, 70000 // 40 + 5]:
        data = ormsgpack.packb(make(n))
        enc, base_version, body, depth = codec.encode(data, base)
        base_data = base.data if base is not None and enc & codec.TAIL else None
        assert codec.decode(enc, body, base_data) == data
        assert base_version == (base.version if enc & codec.TAIL else None)
        base = codec.Recent(str(n), "msgpack", data, depth, enc, base_version, body)


def test_codec_leaves_other_values_whole() -> None:
    """Scalars, shrinking values, unrelated values, and windows whose new part is at least
    half of the value are stored whole."""
    base = codec.Recent("1", "msgpack", ormsgpack.packb(list(range(100))), 0, 0, None, b"")
    for value in [
        42,
        list(range(50)),  # a prefix of the base: not a window of it
        list(range(1, 200)),  # slides by one, but 172 of its 274 bytes are new
        list(range(50, 150)),  # half of it is new
        list(range(10, 50)) + ["x"],  # found in the base, but the base goes on differently
        os.urandom(1000),
    ]:
        data = ormsgpack.packb(value)
        enc, base_version, body, _ = codec.encode(data, base)
        assert not enc & codec.TAIL and base_version is None
        assert codec.decode(enc, body, None) == data


def store_chain(values: list[Any]) -> list[tuple[int, int]]:
    """Encode `values` (msgpack-packed unless already bytes) in order, each against the
    one before (as the saver does); after each step decode the new version from the
    stored bodies alone and compare it byte for byte, and all of them again at the end.
    Return `(enc, depth)` per version."""
    stored: dict[int, tuple[int, int | None, bytes]] = {}

    def read(version: int) -> bytes:
        enc, base, body = stored[version]
        return codec.decode(enc, body, read(base) if base is not None else None)

    recent, out, expected = None, [], []
    for i, value in enumerate(values):
        data = value if isinstance(value, bytes) else ormsgpack.packb(value)
        enc, base, body, depth = codec.encode(data, recent)
        assert bool(enc & codec.TAIL) == (base is not None) and depth < codec.FULL_EVERY
        assert not enc & codec.SKIP or enc & codec.TAIL
        stored[i] = (enc, None if base is None else int(base), body)
        expected.append(data)
        assert read(i) == data
        recent = codec.Recent(str(i), "msgpack", data, depth, enc, base, body)
        out.append((enc, depth))
    assert [read(v) for v in stored] == expected
    return out


def scrambled(i: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz012345"[(i * 2654435761 % 2**32) >> 27]


@pytest.mark.parametrize(
    "make",
    [
        lambda lo, hi: list(range(lo, hi)),
        lambda lo, hi: {f"k{i}": i for i in range(lo, hi)},
        lambda lo, hi: "".join(scrambled(i) for i in range(lo, hi)),
        lambda lo, hi: [["nested", i] for i in range(lo, hi)],
    ],
    ids=["array", "map", "str", "nested"],
)
def test_codec_round_trips_sliding_windows(make: Callable[[int, int], Any]) -> None:
    """A window that drops two elements per step and ends up one shorter, the same
    length, or longer, with sizes crossing every msgpack header size (fixarray/fixmap
    15 -> 16, fixstr 31 -> 32, str8 255 -> 256, 16-bit -> 32-bit at 65536, and back),
    is stored as sliding tails that decode to exactly the serializer's bytes."""
    lo, windows = 0, []
    for boundary in [16, 32, 256, 65536]:
        for k, size in enumerate([boundary - 2, boundary - 1, boundary, boundary + 1, boundary - 1, boundary + 2]):
            windows.append((k > 0, lo, lo + size))  # the first of a group jumps in size
            lo += 2
    stored = store_chain([make(a, b) for _, a, b in windows])
    for i, (slides, a, b) in enumerate(windows):
        if slides and stored[i - 1][1] < codec.FULL_EVERY - 1:  # not a chain's forced whole copy
            assert stored[i][0] & codec.SKIP, f"window {a}:{b} was not stored as a sliding tail"


@pytest.mark.parametrize("drop", [1, 2, 3, 5, 8, 12])
def test_codec_slides_over_look_alike_elements(drop: int) -> None:
    """Elements whose first bytes are all the same: the probe occurs at every element,
    and each occurrence is checked until the one that matches. Windows dropping up to 8
    such elements at once slide; one dropping more may be stored whole, but is still
    read exactly."""

    def item(i: int) -> dict:
        return {"type": "ai", "content": "the same words every time " * 4, "id": f"{i:08d}"}

    old = [item(i) for i in range(40)]
    new = old[drop:] + [item(40 + j) for j in range(3)]
    (_, _), (enc, _) = store_chain([old, new])
    if drop <= 8:
        assert enc & codec.SKIP


def test_codec_a_window_with_little_of_the_base_left_is_whole() -> None:
    """Dropping everything (or keeping too little) falls back to a whole copy."""
    old = [f"old message {i} " * 5 for i in range(20)]
    for new in [
        [],
        ["fresh"],
        [f"new message {i} " * 5 for i in range(20)],
        old[-1:] + [f"new message {i} " * 5 for i in range(3)],
    ]:
        (_, _), (enc, _) = store_chain([old, new])
        assert not enc & codec.TAIL


def test_codec_long_windowed_chain_is_byte_identical() -> None:
    """300 versions of a message list trimmed to its last 20, one to three messages
    added per step, in the saver's serializer: every version decodes byte for byte at
    every step, chains stay under FULL_EVERY, and all but the whole copies slide."""
    from langchain_core.messages import AIMessage, HumanMessage

    serde = SqliteSaver(":memory:").serde
    messages: list[Any] = [HumanMessage(content=f"earlier {i}", id=f"earlier-{i}") for i in range(10)]
    values = []
    for step in range(300):
        for j in range(1 + step % 3):
            if j % 2:
                messages.append(AIMessage(content=f"answer {step}.{j} " * (1 + step % 7), id=f"ai-{step}-{j}"))
            else:
                messages.append(HumanMessage(content=f"question {step}.{j}", id=f"human-{step}-{j}"))
        messages = messages[-20:]
        values.append(serde.dumps_typed(messages)[1])
    stored = store_chain(values)
    whole = [i for i, (enc, _) in enumerate(stored) if not enc & codec.TAIL]
    assert whole[:2] == [0, codec.FULL_EVERY] and len(whole) <= 300 // codec.FULL_EVERY + 3
    slid = [i for i, (enc, _) in enumerate(stored) if enc & codec.SKIP]
    assert len(slid) >= 300 - len(whole) - 10


ELEMENTS = st.one_of(st.integers(-(2**40), 2**40), st.text(max_size=40), st.binary(max_size=40), st.booleans())


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    old=st.one_of(
        st.lists(ELEMENTS, min_size=8, max_size=60),
        st.text(min_size=20, max_size=300),
        st.dictionaries(st.text(max_size=8), ELEMENTS, min_size=8, max_size=30),
    ),
    drop=st.one_of(st.integers(0, 6), st.integers(0, 70)),  # mostly a window, sometimes everything
    added=st.lists(ELEMENTS, max_size=4),
    depth=st.integers(0, codec.FULL_EVERY - 1),
)
def test_codec_round_trips_any_window(old: Any, drop: int, added: list[Any], depth: int) -> None:
    """Any value after any other, windowed or not, decodes to exactly its bytes, and its
    chain never reaches FULL_EVERY."""
    if isinstance(old, list):
        new: Any = old[drop:] + added
    elif isinstance(old, str):
        new = old[drop:] + "".join(map(str, added))
    else:
        new = dict(list(old.items())[drop:] + [(f"added {i}", v) for i, v in enumerate(added)])
    data, base_data = ormsgpack.packb(new), ormsgpack.packb(old)
    enc, base_version, body, new_depth = codec.encode(data, codec.Recent("b", "msgpack", base_data, depth, 0, None, b""))
    assert codec.decode(enc, body, base_data if enc & codec.TAIL else None) == data
    assert new_depth == (depth + 1 if enc & codec.TAIL else 0) < codec.FULL_EVERY
    assert (base_version == "b") == bool(enc & codec.TAIL)


def test_codec_decode_rejects_what_it_cannot_read() -> None:
    """Unknown bits, SKIP without TAIL, a skip past the base, a truncated or malformed
    body: ValueError, never wrong bytes."""
    old, new = ormsgpack.packb(list(range(100))), ormsgpack.packb(list(range(5, 105)))
    enc, _, body, _ = codec.encode(new, codec.Recent("1", "msgpack", old, 0, 0, None, b""))
    assert enc == codec.TAIL | codec.SKIP and codec.decode(enc, body, old) == new
    skip_end = 1 + body[0] + 4
    zipped = zlib.compress(body)
    assert codec.decode(enc | codec.ZLIB, zipped, old) == new
    for bad_enc, bad_body, base in [
        (enc | 8, body, old),  # a bit this version does not know
        (codec.SKIP, body, old),  # SKIP without TAIL
        (codec.SKIP | codec.ZLIB, zipped, old),
        (enc, body, ormsgpack.packb(list(range(4)))),  # skips 5 bytes of a 4-byte payload
        (enc, body[:1] + body[1:skip_end - 4] + (2**32 - 1).to_bytes(4, "big") + body[skip_end:], old),
        (enc, body[: skip_end - 1], old),  # truncated inside the skip
        (enc, body[:1], old),  # truncated inside the header
        (enc, b"", old),
        (codec.TAIL, b"", old),
        (enc, b"\x01\x05" + body[2:], old),  # the header is not a container's
        (enc, body[:1] + b"\xc4" + body[2:], old),  # nor is this one (bin8), of the right length
        (enc, bytes([0]) + body[1:], old),
        (enc, body, None),  # the base is missing
        (enc, body, b""),
        (enc, body, ormsgpack.packb(42)),  # the base is not a container
        (enc | codec.ZLIB, zipped[:-3], old),  # truncated compressed body
        (codec.ZLIB, b"not zlib", None),
    ]:
        with pytest.raises(ValueError):
            codec.decode(bad_enc, bad_body, base)


WINDOWS = pytest.mark.parametrize("window", [None, 5], ids=["growing", "window"])


def assert_reads_back(path: Path, thread_id: str, history: list[Any]) -> None:
    """Every checkpoint of `history` reads back equal, by `list()` and by `get_tuple`,
    through a new saver (nothing cached: every value is decoded from its rows)."""
    with SqliteSaver(path) as saver:
        listed = {t.config["configurable"]["checkpoint_id"]: t for t in saver.list(config(thread_id))}
        assert set(listed) == {cfg["configurable"]["checkpoint_id"] for cfg, _ in history}
        for cfg, values in history:
            assert listed[cfg["configurable"]["checkpoint_id"]].checkpoint["channel_values"]["log"] == values
    with SqliteSaver(path) as saver:
        for cfg, values in history:
            assert saver.get_tuple(cfg).checkpoint["channel_values"]["log"] == values


@WINDOWS
def test_chains_are_bounded(tmp_path: Path, window: int | None) -> None:
    """A long thread stores tails (sliding ones for a window), with a whole copy every
    FULL_EVERY versions."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        history = grow(saver, "t", 100, window=window)
        for cfg, values in history:
            assert saver.get_tuple(cfg).checkpoint["channel_values"]["log"] == values
        listed = {t.config["configurable"]["checkpoint_id"]: t for t in saver.list(config("t"))}
        for cfg, values in history:
            assert listed[cfg["configurable"]["checkpoint_id"]].checkpoint["channel_values"]["log"] == values
    assert_reads_back(path, "t", history)
    stored = rows(path)
    whole = [r for r in stored if not r[1] & codec.TAIL]
    assert len(stored) == 100 and 100 // codec.FULL_EVERY <= len(whole) <= 100 // codec.FULL_EVERY + 2
    slid = [i for i, r in enumerate(stored) if r[1] & codec.SKIP]
    if window:  # from the first trimmed version on, every tail slides
        assert slid == [i for i, r in enumerate(stored) if r[1] & codec.TAIL and i >= window]
    else:
        assert slid == []
    naive = sum(len(ormsgpack.packb(v)) for _, v in history)
    # growing: history is not stored twice (quadratic naive size); a window of 5 keeps
    # about one new item in 5 (tails under TAIL_COMPRESS_MIN are not compressed)
    assert sum(r[3] for r in stored) < (naive / 4 if window else naive / 10)


@WINDOWS
def test_prune_keeps_the_chain_a_kept_value_needs(tmp_path: Path, window: int | None) -> None:
    """Pruning to the newest checkpoint keeps the bases its tail-encoded value needs."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        history = grow(saver, "t", 40, window=window)
        saver.prune(["t"])
        (only,) = list(saver.list(config("t")))
        assert only.checkpoint["channel_values"]["log"] == history[-1][1]
        saver.delete_for_runs(["nothing"])
        assert saver.get_tuple(config("t")).checkpoint["channel_values"]["log"] == history[-1][1]
    assert_reads_back(path, "t", history[-1:])
    assert len(rows(path)) < 40


@WINDOWS
def test_delete_for_runs_keeps_the_chains_survivors_need(tmp_path: Path, window: int | None) -> None:
    """Deleting runs whose values are bases of later values keeps those bases, drops
    what no survivor needs, and the thread goes on growing from the cached base."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        history = grow(saver, "t", 45, window=window)
        saver.delete_for_runs(["run-0", "run-1", "run-3"])
        kept = [h for i, h in enumerate(history) if i // 10 in (2, 4)]
        assert len(rows(path)) < 45
        more = grow(saver, "t", 5, start=45, parent=history[-1][0]["configurable"]["checkpoint_id"], window=window)
    assert rows(path)[-1][1] & codec.TAIL
    assert_reads_back(path, "t", kept + more)


@WINDOWS
def test_copy_and_restart_keep_values(tmp_path: Path, window: int | None) -> None:
    """A copied thread and a new saver (cold cache) read and extend the same values."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        history = grow(saver, "t", 20, window=window)
        saver.copy_thread("t", "copy")
        assert saver.get_tuple(config("copy")).checkpoint["channel_values"]["log"] == history[-1][1]
    copied = [({"configurable": {**cfg["configurable"], "thread_id": "copy"}}, values) for cfg, values in history]
    assert_reads_back(path, "copy", copied)
    with SqliteSaver(path) as saver:  # nothing cached: the next version is stored whole
        parent = history[-1][0]["configurable"]["checkpoint_id"]
        more = grow(saver, "t", 5, start=20, parent=parent, window=window)
        assert saver.get_tuple(config("t")).checkpoint["channel_values"]["log"] == more[-1][1]
        saver.delete_thread("copy")
        assert saver.get_tuple(config("t", "", history[3][0]["configurable"]["checkpoint_id"])).checkpoint["channel_values"]["log"] == history[3][1]
    assert_reads_back(path, "t", history + more)


def test_a_base_deleted_elsewhere_is_not_referenced(tmp_path: Path) -> None:
    """If another process removed the cached base, the next version is stored whole."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        history = grow(saver, "t", 3)
        other = sqlite3.connect(path)
        other.execute("DELETE FROM blobs WHERE channel = 'log'")
        other.commit()
        other.close()
        more = grow(saver, "t", 1, start=3, parent=history[-1][0]["configurable"]["checkpoint_id"])
        assert saver.get_tuple(config("t")).checkpoint["channel_values"]["log"] == more[-1][1]


def test_a_missing_base_is_a_clear_error(tmp_path: Path) -> None:
    """A tail whose base row vanished raises CorruptDataError, not garbage."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        grow(saver, "t", 3)
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM blobs WHERE channel = 'log' AND enc & 2 = 0")
    conn.commit()
    conn.close()
    with SqliteSaver(path) as saver, pytest.raises(CorruptDataError, match="log"):
        saver.get_tuple(config("t"))


def test_a_chain_that_loops_is_a_clear_error(tmp_path: Path) -> None:
    """Two tails that name each other as base (a damaged file) end the read with
    CorruptDataError instead of walking forever."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        grow(saver, "t", 4)
    conn = sqlite3.connect(path)
    tails = conn.execute("SELECT version, base FROM blobs WHERE channel = 'log' AND enc & 2 ORDER BY version").fetchall()
    first, second = tails[0][0], tails[1][0]
    conn.execute("UPDATE blobs SET base = ? WHERE channel = 'log' AND version = ?", (second, first))
    conn.commit()
    conn.close()
    with SqliteSaver(path) as saver, pytest.raises(CorruptDataError, match="longer than"):
        saver.get_tuple(config("t"))


def talk(saver: SqliteSaver, thread_id: str, steps: int, *, keep: int = 20) -> list[Any]:
    """A chat that adds a question and an answer (langchain-core messages) per step and
    keeps the last `keep` messages, the way trim_messages or RemoveMessage do."""
    from langchain_core.messages import AIMessage, HumanMessage

    messages: list[Any] = []
    version = parent = None
    out = []
    for i in range(steps):
        messages = messages + [
            HumanMessage(content=f"question {i}: " + "why? " * (i % 5), id=f"human-{i}"),
            AIMessage(content=f"answer {i}: " + "because. " * (1 + i % 9), id=f"ai-{i}"),
        ]
        messages = messages[-keep:]
        version = saver.get_next_version(version, None)
        cfg = saver.put(config(thread_id, "", parent), checkpoint({"messages": messages}, {"messages": version}), {"step": i}, {"messages": version})
        parent = cfg["configurable"]["checkpoint_id"]
        out.append((cfg, list(messages)))
    return out


def test_a_windowed_message_thread_stores_sliding_tails(tmp_path: Path) -> None:
    """60 steps keeping the last 20 messages: from the first trim on, versions are sliding
    tails of the one before, chains end at a whole copy within FULL_EVERY rows, and every
    checkpoint reads back equal through a new saver."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        history = talk(saver, "t", 60)
        naive = sum(len(saver.serde.dumps_typed(messages)[1]) for _, messages in history)
    conn = sqlite3.connect(path)
    stored = conn.execute(
        "SELECT version, enc, base, length(value) FROM blobs WHERE channel = 'messages' ORDER BY version"
    ).fetchall()
    conn.close()
    base_of = {version: base for version, _, base, _ in stored}
    for version, *_ in stored:
        length = 1
        while base_of[version] is not None:
            version, length = base_of[version], length + 1
        assert length <= codec.FULL_EVERY
    whole = [r for r in stored if not r[1] & codec.TAIL]
    slid = [r for r in stored if r[1] & codec.SKIP]
    assert len(stored) == 60 and len(whole) <= 60 // codec.FULL_EVERY + 2
    assert len(slid) >= 60 - 10 - len(whole)  # the list is trimmed from step 10 on
    assert sum(r[3] for r in stored) < naive / 8
    with SqliteSaver(path) as saver:
        listed = {
            t.config["configurable"]["checkpoint_id"]: t.checkpoint["channel_values"]["messages"]
            for t in saver.list(config("t"))
        }
        assert listed == {cfg["configurable"]["checkpoint_id"]: messages for cfg, messages in history}
    with SqliteSaver(path) as saver:
        for cfg, messages in history:
            assert saver.get_tuple(cfg).checkpoint["channel_values"]["messages"] == messages


@pytest.mark.parametrize(
    "corrupt",
    [
        "UPDATE blobs SET enc = enc | 8 WHERE rowid = ?",
        "UPDATE blobs SET enc = enc & ~2 WHERE rowid = ?",
        "UPDATE blobs SET enc = 6, value = X'0195ffffffff' WHERE rowid = ?",
        "UPDATE blobs SET enc = 6, value = X'0195ff' WHERE rowid = ?",
        "UPDATE blobs SET value = substr(value, 1, length(value) - 3) WHERE rowid = ?",
        "UPDATE blobs SET value = NULL WHERE rowid = ?",
        "UPDATE blobs SET value = 'text' WHERE rowid = ?",
        "UPDATE blobs SET value = 42 WHERE rowid = ?",
    ],
    ids=["unknown-bit", "skip-without-tail", "skip-past-base", "truncated-skip", "truncated", "null", "text", "integer"],
)
def test_a_corrupt_sliding_row_is_a_clear_error(tmp_path: Path, corrupt: str) -> None:
    """A sliding tail that cannot be read exactly raises CorruptDataError naming the
    channel, through a new saver and through the one that wrote it."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        grow(saver, "t", 12, window=5)
        conn = sqlite3.connect(path)
        rowid, enc = conn.execute(
            "SELECT rowid, enc FROM blobs WHERE channel = 'log' ORDER BY version DESC LIMIT 1"
        ).fetchone()
        assert enc & codec.SKIP
        conn.execute(corrupt, (rowid,))
        conn.commit()
        conn.close()
        with pytest.raises(CorruptDataError, match="log"):
            saver.get_tuple(config("t"))
    with SqliteSaver(path) as saver, pytest.raises(CorruptDataError, match="log"):
        saver.get_tuple(config("t"))


def test_reading_back_what_this_process_just_wrote_skips_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The latest version of a channel this process wrote is served from memory, but
    only while the stored row is byte for byte the one written."""
    path = tmp_path / "db.sqlite"
    decodes: list[codec.Piece] = []
    real_piece = codec.piece

    def spy(*args: object) -> codec.Piece:
        decodes.append(real_piece(*args))  # type: ignore[arg-type]
        return decodes[-1]

    monkeypatch.setattr(codec, "piece", spy)
    logs = lambda: [  # noqa: E731 - rows of the log channel (a list; its tails) parsed
        p for p in decodes if p.whole is None or isinstance(ormsgpack.unpackb(p.whole), list)
    ]
    with SqliteSaver(path) as saver:
        (cfg, values), = grow(saver, "t", 20)[-1:]
        decodes.clear()
        assert saver.get_tuple(config("t")).checkpoint["channel_values"]["log"] == values
        assert logs() == [], "the log channel was decoded again"
        # another writer replaces the row's body: the memory no longer applies
        version = saver.get_tuple(config("t")).checkpoint["channel_versions"]["log"]
        other = sqlite3.connect(path)
        whole = ormsgpack.packb(["replaced"])
        other.execute(
            "UPDATE blobs SET enc = 0, base = NULL, value = ? WHERE channel = 'log' AND version = ?",
            (whole, str(version)),
        )
        other.commit()
        other.close()
        assert saver.get_tuple(config("t")).checkpoint["channel_values"]["log"] == ["replaced"]
        assert logs()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4)), min_size=1, max_size=40), st.integers(0, 2**16))
def test_a_chain_joined_in_one_pass_is_every_version_byte_for_byte(steps: list[tuple[int, int]], seed: int) -> None:
    """`assemble` joins a whole chain at once; it must give what decoding level by level
    gives, for chains that grow, slide and mix both."""
    import random

    rnd = random.Random(seed)
    value: list[Any] = [rnd.randbytes(rnd.randint(1, 40)) for _ in range(5)]
    base: codec.Recent | None = None
    chain: list[codec.Piece] = []
    bottom = b""
    for drop, add in steps:
        value = value[drop:] + [rnd.randbytes(rnd.randint(1, 40)) for _ in range(add)]
        data = ormsgpack.packb(value)
        enc, base_version, body, depth = codec.encode(data, base)
        p = codec.piece(enc, body)
        if p.whole is not None:
            bottom, chain = p.whole, []
        else:
            chain.append(p)
            assert codec.decode(enc, body, base.data if base else None) == data
        assert codec.assemble(bottom, chain) == data
        base = codec.Recent(str(len(chain)), "msgpack", data, depth, enc, base_version, body)


def test_one_pass_assembly_checks_every_skip_against_its_own_base() -> None:
    """A skip that only fits once later tails are counted is still refused."""
    whole = ormsgpack.packb([b"a" * 10])
    grow = codec.Piece(None, b"\x92", 0, ormsgpack.packb(b"b" * 10))
    too_far = codec.Piece(None, b"\x91", len(whole), ormsgpack.packb(b"c" * 10))
    with pytest.raises(ValueError, match="skips"):
        codec.assemble(whole, [too_far, grow])
    with pytest.raises(ValueError, match="missing"):
        codec.assemble(None, [grow])
