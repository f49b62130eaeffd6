"""With encryption on, a plaintext or tampered row is refused, and what is stored is
ciphertext.

LangGraph's `EncryptedSerializer` loads any row whose type has no `+cipher` suffix as
plaintext, with no integrity check (langgraph#8938): someone who can write the database
can swap in an unencrypted row (and, combined with CVE-2026-28277, a row that runs code).
`zerograph.serde.StrictEncryptedSerializer` refuses such rows.

Every test runs with two ciphers: LangGraph's AES-EAX helper (needs pycryptodome) and
`HmacStreamCipher` below, a stdlib-only authenticated cipher used only here so the
refusal logic is exercised even where pycryptodome is not installed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import Command, interrupt

from tests.conftest import BACKENDS, make_saver
from tests.contract.conftest import checkpoint, config
from zerograph.checkpoint.sqlite import SqliteSaver
from zerograph.errors import ConfigError, CorruptDataError
from zerograph.serde import (
    RefusedDataError,
    StrictEncryptedSerializer,
    default_serializer,
    encrypted_serializer,
)

try:
    import Crypto  # noqa: F401  (pycryptodome)

    HAVE_AES = True
except ImportError:
    HAVE_AES = False

KEY = b"0123456789abcdef0123456789abcdef"
OTHER_KEY = b"fedcba9876543210fedcba9876543210"
SECRET = "zz-secret-marker-7f3a"


class HmacStreamCipher:
    """Test-only authenticated cipher: SHAKE-256 keystream, HMAC-SHA256 tag over
    nonce + ciphertext (encrypt-then-MAC). `decrypt` raises on any change."""

    def __init__(self, key: bytes) -> None:
        self.enc_key = hashlib.sha256(b"enc" + key).digest()
        self.mac_key = hashlib.sha256(b"mac" + key).digest()

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(16)
        stream = hashlib.shake_256(self.enc_key + nonce).digest(len(plaintext))
        ct = bytes(a ^ b for a, b in zip(plaintext, stream))
        tag = hmac.digest(self.mac_key, nonce + ct, "sha256")
        return "hmacx", nonce + tag + ct

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        if ciphername != "hmacx":
            raise ValueError(f"unsupported cipher {ciphername!r}")
        nonce, tag, ct = ciphertext[:16], ciphertext[16:48], ciphertext[48:]
        if not hmac.compare_digest(tag, hmac.digest(self.mac_key, nonce + ct, "sha256")):
            raise ValueError("MAC check failed")
        stream = hashlib.shake_256(self.enc_key + nonce).digest(len(ct))
        return bytes(a ^ b for a, b in zip(ct, stream))


needs_aes = pytest.mark.skipif(not HAVE_AES, reason="pycryptodome is not installed: pip install pycryptodome")


@pytest.fixture(params=[pytest.param("aes-eax", marks=needs_aes), "hmac-stream"])
def make_serde(request: pytest.FixtureRequest) -> Any:
    """A factory: key -> zerograph's encrypted serializer with that key."""
    if request.param == "aes-eax":
        return lambda key=KEY, **kw: encrypted_serializer(key=key, **kw)
    return lambda key=KEY, **kw: encrypted_serializer(HmacStreamCipher(key), **kw)


def _rows(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


def _store(path: Path, serde: Any) -> dict[str, Any]:
    """Two checkpoints of thread 'victim' and one of 'bystander', with writes."""
    with SqliteSaver(path, serde=serde) as saver:
        first = saver.put(config("victim"), checkpoint({"a": SECRET}, {"a": "1"}), {"note": SECRET}, {"a": "1"})
        saver.put_writes(first, [("a", SECRET)], "task")
        second = saver.put(first, checkpoint({"a": "two"}, {"a": "2"}), {}, {"a": "2"})
        other = saver.put(config("bystander"), checkpoint({"a": "fine"}, {"a": "1"}), {}, {"a": "1"})
    return {"first": first, "second": second, "other": other}


# --- plaintext refused -------------------------------------------------------------------


def test_langgraph_encrypted_serializer_loads_plaintext_rows() -> None:
    """Control (langgraph#8938): LangGraph's EncryptedSerializer accepts an unencrypted row."""
    lg = EncryptedSerializer(HmacStreamCipher(KEY), JsonPlusSerializer())
    assert lg.loads_typed(JsonPlusSerializer().dumps_typed({"forged": True})) == {"forged": True}


def test_plaintext_value_is_refused(make_serde: Any) -> None:
    """Every unencrypted row type (msgpack, json, null, bytes, pickle) is refused."""
    serde = make_serde()
    for typed in [
        default_serializer().dumps_typed({"forged": True}),
        ("json", b'{"forged": true}'),
        ("null", b""),
        ("bytes", b"raw"),
        ("pickle", b"\x80\x04N."),
    ]:
        with pytest.raises(RefusedDataError, match="not encrypted"):
            serde.loads_typed(typed)


def test_plaintext_row_in_an_encrypted_sqlite_file_is_refused(make_serde: Any, tmp_path: Path) -> None:
    """A checkpoint written without encryption into an encrypted saver's file is refused,
    naming thread and checkpoint; the encrypted checkpoints still load."""
    path = tmp_path / "enc.db"
    ids = _store(path, make_serde())
    with SqliteSaver(path) as plain:  # someone with file access, no key
        forged = plain.put(ids["second"], checkpoint({"a": "forged"}, {"a": "3"}), {}, {"a": "3"})
    with SqliteSaver(path, serde=make_serde()) as saver:
        with pytest.raises(CorruptDataError, match="victim") as info:
            saver.get_tuple(forged)
        assert forged["configurable"]["checkpoint_id"] in str(info.value)
        assert isinstance(info.value.__cause__, RefusedDataError)
        assert saver.get_tuple(ids["first"]).checkpoint["channel_values"] == {"a": SECRET}
        assert saver.get_tuple(ids["other"]).checkpoint["channel_values"] == {"a": "fine"}


def test_plaintext_pending_write_is_refused(make_serde: Any, tmp_path: Path) -> None:
    """A pending write injected without encryption is refused, not handed to the graph."""
    path = tmp_path / "enc.db"
    ids = _store(path, make_serde())
    with SqliteSaver(path) as plain:
        plain.put_writes(ids["second"], [("__resume__", "forged")], "attacker")
    with SqliteSaver(path, serde=make_serde()) as saver, pytest.raises(CorruptDataError, match="attacker"):
        saver.get_tuple(ids["second"])


# --- tampering refused -------------------------------------------------------------------


TAMPER = {
    "checkpoint": "UPDATE checkpoints SET checkpoint = {fn}(checkpoint) WHERE checkpoint_id = ?",
    "metadata": "UPDATE checkpoints SET metadata = {fn}(metadata) WHERE checkpoint_id = ?",
    "blob": "UPDATE blobs SET value = {fn}(value) WHERE version = '1' AND tid = (SELECT tid FROM checkpoints WHERE checkpoint_id = ?)",
    "write": "UPDATE writes SET value = {fn}(value) WHERE checkpoint_id = ?",
}


def _flip_last_byte(value: bytes) -> bytes:
    return value[:-1] + bytes([value[-1] ^ 0x01])


@pytest.mark.parametrize("where", list(TAMPER))
def test_tampered_ciphertext_is_refused(make_serde: Any, where: str, tmp_path: Path) -> None:
    """One flipped bit in any stored ciphertext fails authentication: CorruptDataError
    naming the thread and checkpoint; the other thread is untouched."""
    path = tmp_path / "enc.db"
    ids = _store(path, make_serde())
    cid = ids["first"]["configurable"]["checkpoint_id"]
    with _rows(path) as conn:
        conn.create_function("flip", 1, _flip_last_byte)
        assert conn.execute(TAMPER[where].format(fn="flip"), (cid,)).rowcount == 1
    conn.close()
    with SqliteSaver(path, serde=make_serde()) as saver:
        with pytest.raises(CorruptDataError, match="victim") as info:
            saver.get_tuple(ids["first"])
        assert cid in str(info.value)
        assert isinstance(info.value.__cause__, RefusedDataError)
        assert "failed decryption" in str(info.value.__cause__)
        assert saver.get_tuple(ids["other"]).checkpoint["channel_values"] == {"a": "fine"}


def test_swapped_type_tag_is_refused(make_serde: Any, tmp_path: Path) -> None:
    """Relabelling an encrypted value's type (msgpack+x -> json+x) is an error, not data."""
    path = tmp_path / "enc.db"
    ids = _store(path, make_serde())
    with _rows(path) as conn:
        conn.execute("UPDATE blobs SET type = replace(type, 'msgpack+', 'json+')")
    conn.close()
    with SqliteSaver(path, serde=make_serde()) as saver, pytest.raises(CorruptDataError, match="victim"):
        saver.get_tuple(ids["first"])


def test_wrong_key_is_refused(make_serde: Any, tmp_path: Path) -> None:
    """Rows written with one key do not load with another."""
    path = tmp_path / "enc.db"
    ids = _store(path, make_serde())
    with SqliteSaver(path, serde=make_serde(OTHER_KEY)) as saver:
        with pytest.raises(CorruptDataError) as info:
            saver.get_tuple(ids["first"])
        assert isinstance(info.value.__cause__, RefusedDataError)


def test_encrypted_rows_need_a_key(make_serde: Any, tmp_path: Path) -> None:
    """A saver without the cipher refuses encrypted rows with a message naming the fix."""
    path = tmp_path / "enc.db"
    ids = _store(path, make_serde())
    with SqliteSaver(path) as saver:
        with pytest.raises(CorruptDataError) as info:
            saver.get_tuple(ids["first"])
        assert "encrypted_serializer" in str(info.value.__cause__)


# --- what is on disk -----------------------------------------------------------------------


def _disk_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))


def test_values_and_writes_are_not_on_disk_in_plaintext(make_serde: Any, tmp_path: Path) -> None:
    """Control first: without encryption the marker is in the file; with it, neither
    channel values, pending writes nor the metadata column hold it."""
    plain_path, enc_path = tmp_path / "plain.db", tmp_path / "enc.db"
    _store(plain_path, None)
    assert SECRET.encode() in _disk_bytes(plain_path)
    _store(enc_path, make_serde())
    with _rows(enc_path) as conn:
        for table, column in [("checkpoints", "checkpoint"), ("checkpoints", "metadata"), ("blobs", "value"), ("writes", "value")]:
            for (value,) in conn.execute(f"SELECT {column} FROM {table}"):
                assert SECRET.encode() not in value, (table, column)
    conn.close()


def test_metadata_is_not_on_disk_in_plaintext(make_serde: Any, tmp_path: Path) -> None:
    """With encryption on, no metadata value is readable anywhere in the SQLite file."""
    path = tmp_path / "enc.db"
    _store(path, make_serde())
    assert SECRET.encode() not in _disk_bytes(path)


# --- with LangGraph -------------------------------------------------------------------------


@needs_aes
def test_rows_are_compatible_with_langgraph_encrypted_serializer() -> None:
    """Same key, same rows: LangGraph's EncryptedSerializer and zerograph's read each other."""
    ours = encrypted_serializer(key=KEY)
    theirs = EncryptedSerializer.from_pycryptodome_aes(key=KEY)
    value = {"messages": [HumanMessage("hi", id="1")], "n": 1}
    assert theirs.loads_typed(ours.dumps_typed(value)) == value
    assert ours.loads_typed(theirs.dumps_typed(value)) == value
    assert ours.dumps_typed(value)[0] == "msgpack+aes"


@needs_aes
def test_aes_key_comes_from_argument_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """key= or LANGGRAPH_AES_KEY; a wrong length or no key at all is a ConfigError."""
    monkeypatch.delenv("LANGGRAPH_AES_KEY", raising=False)
    with pytest.raises(ConfigError, match="LANGGRAPH_AES_KEY"):
        encrypted_serializer()
    with pytest.raises(ConfigError, match="16, 24 or 32"):
        encrypted_serializer(key=b"short")
    monkeypatch.setenv("LANGGRAPH_AES_KEY", KEY.decode())
    from_env = encrypted_serializer()
    assert encrypted_serializer(key=KEY).loads_typed(from_env.dumps_typed({"x": 1})) == {"x": 1}


def test_cipher_and_key_together_is_a_config_error() -> None:
    """encrypted_serializer takes a cipher or a key, not both."""
    with pytest.raises(ConfigError, match="not both"):
        encrypted_serializer(HmacStreamCipher(KEY), key=KEY)


def test_langgraph_strict_mode_allowlist_keeps_encryption(make_serde: Any, tmp_path: Path) -> None:
    """Pregel's with_allowlist (LANGGRAPH_STRICT_MSGPACK) returns a saver whose serde still
    encrypts and still refuses plaintext, now also allowing the schema's types."""
    with SqliteSaver(tmp_path / "x.db", serde=make_serde()) as saver:
        clone = saver.with_allowlist({("tests.security.test_encryption", "Anything")})
        assert isinstance(clone.serde, StrictEncryptedSerializer)
        assert ("tests.security.test_encryption", "Anything") in clone.serde.allowed
        assert clone.serde.cipher is saver.serde.cipher
        with pytest.raises(RefusedDataError, match="not encrypted"):
            clone.serde.loads_typed(default_serializer().dumps_typed({"x": 1}))


@pytest.mark.parametrize("backend", BACKENDS)
def test_graph_with_interrupt_runs_encrypted_on_every_backend(backend: str, tmp_path: Path) -> None:
    """A real graph (messages, interrupt, resume, history) runs on every saver with
    encryption on."""

    def ask(state: MessagesState) -> dict:
        answer = interrupt("name?")
        return {"messages": [AIMessage(f"hello {answer}", id="a1")]}

    builder = StateGraph(MessagesState)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    saver = make_saver(backend, "sync", tmp_path, serde=encrypted_serializer(HmacStreamCipher(KEY)))
    try:
        graph = builder.compile(checkpointer=saver)
        cfg = {"configurable": {"thread_id": "enc"}}
        graph.invoke({"messages": [HumanMessage("hi", id="h1")]}, cfg)
        assert graph.get_state(cfg).interrupts[0].value == "name?"
        out = graph.invoke(Command(resume="ada"), cfg)
        assert [m.content for m in out["messages"]] == ["hi", "hello ada"]
        assert len(list(graph.get_state_history(cfg))) >= 3
        typed = saver.serde.dumps_typed({"x": 1})
        assert typed[0] == "msgpack+hmacx"
    finally:
        saver.close()
