"""Growing channels stored as tails of earlier versions: exact round trips, bounded
chains, and no broken chain after pruning, copying, deleting or restarting."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import ormsgpack
import pytest

from tests.contract.conftest import checkpoint, config
from zerograph.checkpoint.sqlite import SqliteSaver
from zerograph.checkpoint.sqlite import _codec as codec
from zerograph.errors import CorruptDataError


def grow(saver: SqliteSaver, thread_id: str, steps: int, *, start: int = 0, parent: str | None = None) -> list[dict]:
    """A channel that gains one ~300-byte item per step, the way a message list does."""
    values: list[str] = [f"item {i} " + "lorem ipsum dolor sit amet " * 10 for i in range(start)]
    version = None
    out = []
    for i in range(start, start + steps):
        values = values + [f"item {i} " + "lorem ipsum dolor sit amet " * 10]
        version = saver.get_next_version(version, None)
        cfg = saver.put(config(thread_id, "", parent), checkpoint({"log": values, "n": i}, {"log": version, "n": version}), {"step": i}, {"log": version, "n": version})
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
    """Scalars, shrinking values and unrelated values are stored whole."""
    base = codec.Recent("1", "msgpack", ormsgpack.packb(list(range(100))), 0, 0, None, b"")
    for value in [42, list(range(50)), list(range(1, 200)), os.urandom(1000)]:
        data = ormsgpack.packb(value)
        enc, base_version, body, _ = codec.encode(data, base)
        assert not enc & codec.TAIL and base_version is None
        assert codec.decode(enc, body, None) == data


def test_chains_are_bounded(tmp_path: Path) -> None:
    """A long thread stores tails, with a whole copy every FULL_EVERY versions."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        history = grow(saver, "t", 100)
        for cfg, values in history:
            assert saver.get_tuple(cfg).checkpoint["channel_values"]["log"] == values
        listed = {t.config["configurable"]["checkpoint_id"]: t for t in saver.list(config("t"))}
        for cfg, values in history:
            assert listed[cfg["configurable"]["checkpoint_id"]].checkpoint["channel_values"]["log"] == values
    stored = rows(path)
    whole = [r for r in stored if not r[1] & codec.TAIL]
    assert len(stored) == 100 and 100 // codec.FULL_EVERY <= len(whole) <= 100 // codec.FULL_EVERY + 2
    naive = sum(len(ormsgpack.packb(v)) for _, v in history)
    assert sum(r[3] for r in stored) < naive / 10


def test_prune_keeps_the_chain_a_kept_value_needs(tmp_path: Path) -> None:
    """Pruning to the newest checkpoint keeps the bases its tail-encoded value needs."""
    with SqliteSaver(tmp_path / "db.sqlite") as saver:
        history = grow(saver, "t", 40)
        saver.prune(["t"])
        (only,) = list(saver.list(config("t")))
        assert only.checkpoint["channel_values"]["log"] == history[-1][1]
        saver.delete_for_runs(["nothing"])
        assert saver.get_tuple(config("t")).checkpoint["channel_values"]["log"] == history[-1][1]


def test_copy_and_restart_keep_values(tmp_path: Path) -> None:
    """A copied thread and a new saver (cold cache) read and extend the same values."""
    path = tmp_path / "db.sqlite"
    with SqliteSaver(path) as saver:
        history = grow(saver, "t", 20)
        saver.copy_thread("t", "copy")
        assert saver.get_tuple(config("copy")).checkpoint["channel_values"]["log"] == history[-1][1]
    with SqliteSaver(path) as saver:  # nothing cached: the next version is stored whole
        parent = history[-1][0]["configurable"]["checkpoint_id"]
        more = grow(saver, "t", 5, start=20, parent=parent)
        assert saver.get_tuple(config("t")).checkpoint["channel_values"]["log"] == more[-1][1]
        saver.delete_thread("copy")
        assert saver.get_tuple(config("t", "", history[3][0]["configurable"]["checkpoint_id"])).checkpoint["channel_values"]["log"] == history[3][1]


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


def test_reading_back_what_this_process_just_wrote_skips_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The latest version of a channel this process wrote is served from memory, but
    only while the stored row is byte for byte the one written."""
    path = tmp_path / "db.sqlite"
    decodes: list[bytes] = []
    real_decode = codec.decode

    def spy(*args: object) -> bytes:
        decodes.append(real_decode(*args))  # type: ignore[arg-type]
        return decodes[-1]

    monkeypatch.setattr(codec, "decode", spy)
    logs = lambda: [d for d in decodes if isinstance(ormsgpack.unpackb(d), list)]  # noqa: E731
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
