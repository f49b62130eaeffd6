"""With an encrypting serializer the SQLite saver writes no plaintext metadata index;
filters, list_threads and delete_for_runs still work on the decrypted metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import BACKENDS, make_saver
from tests.contract.conftest import Driver, Timeline, config
from zerograph.checkpoint.sqlite import SqliteSaver
from zerograph.errors import ConfigError
from zerograph.serde import encrypted_serializer, encrypts, strict_serializer

pytest.importorskip("Crypto.Cipher.AES", reason="the encryption extra (pycryptodome) is not installed")
KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "user-f4e9c1-very-secret"


def fill(saver: SqliteSaver) -> Timeline:
    drv = Driver(saver, "sync")
    for n in range(5):
        line = Timeline(drv, f"t{n}")
        line.step({"a": n}, metadata={"user": SECRET if n % 2 else "other"}, run_id=f"run-{n}")
        line.step({"a": n + 1}, metadata={"user": SECRET if n % 2 else "other"}, run_id=f"run-{n}")
    return line


def test_encrypts_detects_the_serializer() -> None:
    """Ciphertext is marked `type+cipher`; the strict plain serializer is not."""
    assert encrypts(encrypted_serializer(key=KEY))
    assert not encrypts(strict_serializer())


def test_no_plaintext_index_and_filters_still_work(tmp_path: Path) -> None:
    """Metadata never reaches the file in plaintext; every filter answers as before."""
    path = tmp_path / "enc.db"
    with SqliteSaver(path, serde=encrypted_serializer(key=KEY)) as saver:
        fill(saver)
        assert {t.config["configurable"]["thread_id"] for t in saver.list(None, filter={"user": SECRET})} == {"t1", "t3"}
        assert len(list(saver.list(None, filter={"user": SECRET}, limit=3))) == 3
        assert len(list(saver.list(config("t1"), filter={"missing": None}))) == 2
        assert [t.thread_id for t in saver.list_threads(filter={"user": SECRET}, limit=1)] == ["t3"]
        page = saver.list_threads(filter={"user": SECRET}, limit=1)
        assert [t.thread_id for t in saver.list_threads(filter={"user": SECRET}, cursor=page.next_cursor)] == ["t1"]
        saver.delete_for_runs(["run-3"])
        assert not saver.has_thread("t3") and saver.has_thread("t1")
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert SECRET.encode() not in data and b"run-1" not in data


def test_plain_index_is_opt_in(tmp_path: Path) -> None:
    """metadata_index='plain' keeps the fast index, and the metadata readable, on request."""
    path = tmp_path / "plain.db"
    with SqliteSaver(path, serde=encrypted_serializer(key=KEY), metadata_index="plain") as saver:
        fill(saver)
        assert len(list(saver.list(None, filter={"user": SECRET}))) == 4
    assert SECRET.encode() in b"".join(p.read_bytes() for p in tmp_path.iterdir())
    with pytest.raises(ConfigError, match="metadata_index"):
        SqliteSaver(":memory:", metadata_index="sometimes")


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_ids_are_not_stored_in_plaintext_when_encrypting(backend: str, tmp_path: Path) -> None:
    """With encryption on, a run id appears nowhere in the store, and delete_for_runs works."""
    run = "run-7f3a9c-plaintext-marker"
    saver = make_saver(backend, "sync", tmp_path, serde=encrypted_serializer(key=KEY))
    try:
        drv = Driver(saver, "sync")
        Timeline(drv, "t1").step({"a": 1}, run_id=run)
        Timeline(drv, "t2").step({"a": 2}, run_id="other-run")
        if backend.startswith("redis"):
            client = saver._client  # the saver's own client: dump every key and value
            nodes = client.get_nodes() if hasattr(client, "get_nodes") else [None]
            dump = b""
            for node in nodes:
                keys = client.keys("*", target_nodes=node) if node is not None else client.keys("*")
                for key in keys:
                    dump += key + repr(client.dump(key)).encode()
        elif backend == "sqlite-file":
            saver._db._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            dump = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
        else:
            dump = b""  # in-memory stores: nothing on disk
        assert dump or backend in ("memory", "sqlite-memory")
        assert run.encode() not in dump
        saver.delete_for_runs([run])
        assert not saver.has_thread("t1") and saver.has_thread("t2")
    finally:
        saver.close()
