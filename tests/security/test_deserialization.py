"""Deserialization is strict by default: a stored row that names a callable, or is a
pickle, is refused with a clear error and the code it names never runs; LangGraph's own
types and the types a user allows round-trip.

The attacks (docs/security.md, USERS.md §6):
- CVE-2026-28277: a msgpack extension names `module, name, args`; LangGraph's default
  decoder imports and calls it.
- CVE-2025-64439: a legacy "json" row with `{"lc": 2, "type": "constructor"}` does the same.
- CVE-2026-27794: a "pickle" row runs whatever its `__reduce__` says.
- langgraph#7066: a blocked or broken type silently becomes its raw payload (a dict).

Each payload is first shown to run code under LangGraph's permissive settings (so the
payload is real), then refused by zerograph, with a canary file as the witness.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import ipaddress
import json
import pathlib
import pickle
import re
import shlex
import sqlite3
import sys
import uuid
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import ormsgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    HumanMessageChunk,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.types import Command, Interrupt, Overwrite, Send
from pydantic import BaseModel

from tests.conftest import BACKENDS, make_saver
from tests.contract.conftest import checkpoint, config
from zerograph.errors import ConfigError, CorruptDataError
from zerograph.serde import (
    DisallowedTypeError,
    RefusedDataError,
    StrictSerializer,
    default_serializer,
    strict_serializer,
)

GADGET = "tests.security._gadget"
NEVER_IMPORTED = "tests.security._never_imported"


# --- user types a test allows ------------------------------------------------------------


class Ticket(BaseModel):
    title: str
    tags: list[str] = []


class Status(enum.Enum):
    OPEN = "open"
    DONE = "done"


@dataclasses.dataclass
class Order:
    sku: str
    qty: int
    when: datetime.date | None = None


class Point(NamedTuple):
    x: int
    y: int


USER_TYPES = [Ticket, Status, Order, Point]


# --- payloads --------------------------------------------------------------------------


def ext(code: int, *fields: Any) -> bytes:
    """A stored msgpack value that is one extension object of `code` holding `fields`."""
    return ormsgpack.packb(ormsgpack.Ext(code, ormsgpack.packb(fields)))


def exec_code(canary: Path) -> str:
    return f"__import__('pathlib').Path({str(canary)!r}).write_text('the payload ran')"


def msgpack_payloads(canary: Path) -> dict[str, bytes]:
    """The msgpack extension shape of CVE-2026-28277, once per extension code."""
    c = str(canary)
    return {
        "ctor-single-exec": ext(0, "builtins", "exec", exec_code(canary)),
        "ctor-single-os-system": ext(0, "os", "system", f"printf 'the payload ran' > {shlex.quote(c)}"),
        "ctor-pos-gadget": ext(1, GADGET, "touch", [c]),
        "ctor-kw-gadget": ext(2, GADGET, "Canary", {"path": c}),
        "method-gadget": ext(3, GADGET, "Canary", c, "create"),
        "pydantic-v1-gadget": ext(4, GADGET, "Canary", {"path": c}),
        "pydantic-v2-gadget": ext(5, GADGET, "Canary", {"path": c}, "model_validate_json"),
        # the exploit nested inside an allowed LangGraph type, and inside a delta snapshot
        "nested-in-interrupt": ormsgpack.packb(
            ormsgpack.Ext(
                2,
                ormsgpack.packb(
                    ("langgraph.types", "Interrupt", {"value": ormsgpack.Ext(0, ormsgpack.packb(("builtins", "exec", exec_code(canary)))), "id": "i"})
                ),
            )
        ),
        "nested-in-delta-snapshot": ormsgpack.packb(
            ormsgpack.Ext(7, ormsgpack.packb([ormsgpack.Ext(2, ormsgpack.packb((GADGET, "Canary", {"path": c})))]))
        ),
    }


# payloads that LangGraph's permissive decoder (its default without LANGGRAPH_STRICT_MSGPACK) runs
LIVE_UNDER_LANGGRAPH = [
    "ctor-single-exec",
    "ctor-single-os-system",
    "ctor-pos-gadget",
    "ctor-kw-gadget",
    "pydantic-v1-gadget",
    "pydantic-v2-gadget",
    "nested-in-interrupt",
    "nested-in-delta-snapshot",
]
PAYLOAD_NAMES = [*LIVE_UNDER_LANGGRAPH, "method-gadget"]


def lc2_payloads(canary: Path) -> dict[str, bytes]:
    """The json `lc: 2` constructor shape of CVE-2025-64439."""
    return {
        "lc2-exec": json.dumps(
            {"lc": 2, "type": "constructor", "id": ["builtins", "exec"], "args": [exec_code(canary)]}
        ).encode(),
        "lc2-gadget": json.dumps(
            {"lc": 2, "type": "constructor", "id": [*GADGET.split("."), "Canary"], "kwargs": {"path": str(canary)}}
        ).encode(),
        "lc2-nested": json.dumps(
            {"messages": [{"lc": 2, "type": "constructor", "id": ["builtins", "exec"], "args": [exec_code(canary)]}]}
        ).encode(),
    }


class _Pickled:
    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> Any:
        return (exec, (exec_code(self.canary),))


def pickle_payload(canary: Path) -> bytes:
    """The pickle-fallback shape of CVE-2026-27794."""
    return pickle.dumps(_Pickled(canary))


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "canary"
    yield path
    sys.modules.pop(NEVER_IMPORTED, None)


def permissive_langgraph() -> JsonPlusSerializer:
    """LangGraph's default decoder (LANGGRAPH_STRICT_MSGPACK unset), made explicit."""
    return JsonPlusSerializer(allowed_msgpack_modules=True)


# --- the payloads are real -----------------------------------------------------------------


@pytest.mark.parametrize("name", LIVE_UNDER_LANGGRAPH)
def test_msgpack_payload_runs_code_under_langgraph_permissive_default(name: str, canary: Path) -> None:
    """Control: each msgpack payload does run code under LangGraph's permissive decoder."""
    permissive_langgraph().loads_typed(("msgpack", msgpack_payloads(canary)[name]))
    assert canary.read_text() == "the payload ran"


@pytest.mark.parametrize("name", ["lc2-exec", "lc2-gadget", "lc2-nested"])
def test_lc2_payload_runs_code_when_langgraph_json_modules_allowed(name: str, canary: Path) -> None:
    """Control: the `lc: 2` payloads run code under LangGraph with json revival on."""
    JsonPlusSerializer(allowed_json_modules=True).loads_typed(("json", lc2_payloads(canary)[name]))
    assert canary.read_text() == "the payload ran"


def test_pickle_payload_runs_code_under_langgraph_pickle_fallback(canary: Path) -> None:
    """Control: the pickle payload runs code when LangGraph's pickle fallback is on."""
    JsonPlusSerializer(pickle_fallback=True).loads_typed(("pickle", pickle_payload(canary)))
    assert canary.read_text() == "the payload ran"


# --- refused by zerograph ----------------------------------------------------------------


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_cve_2026_28277_msgpack_callable_is_refused(name: str, canary: Path) -> None:
    """A msgpack extension naming a callable raises RefusedDataError; nothing runs."""
    with pytest.raises(RefusedDataError, match="refused"):
        default_serializer().loads_typed(("msgpack", msgpack_payloads(canary)[name]))
    assert not canary.exists()


@pytest.mark.parametrize("name", ["lc2-exec", "lc2-gadget", "lc2-nested"])
def test_cve_2025_64439_lc2_constructor_is_refused(name: str, canary: Path) -> None:
    """A json `lc: 2` constructor naming a callable raises RefusedDataError; nothing runs."""
    with pytest.raises(RefusedDataError, match="refused to load a stored"):
        default_serializer().loads_typed(("json", lc2_payloads(canary)[name]))
    assert not canary.exists()


def test_cve_2026_27794_pickle_is_refused(canary: Path) -> None:
    """A "pickle" row is refused outright, whatever it holds."""
    with pytest.raises(RefusedDataError, match="pickle"):
        default_serializer().loads_typed(("pickle", pickle_payload(canary)))
    assert not canary.exists()


def test_pickle_is_never_written() -> None:
    """A value msgpack cannot encode is an error, never a pickle fallback."""
    with pytest.raises(TypeError, match="cannot store this dict: .*function"):
        default_serializer().dumps_typed({"f": lambda: 1})


def test_refused_module_is_never_imported(canary: Path) -> None:
    """Refusal happens before import: a module named by a forged row stays unimported."""
    sys.modules.pop(NEVER_IMPORTED, None)
    for code in (0, 1, 2, 4, 5):
        with pytest.raises(RefusedDataError):
            default_serializer().loads_typed(("msgpack", ext(code, NEVER_IMPORTED, "IMPORTED", {})))
    assert NEVER_IMPORTED not in sys.modules


def test_lc1_secret_and_foreign_constructor_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """lc:1 rows may only rebuild messages/documents: no secrets from the environment,
    no prompt templates or other langchain classes."""
    monkeypatch.setenv("ZEROGRAPH_TEST_SECRET", "hunter2")
    secret = json.dumps({"k": {"lc": 1, "type": "secret", "id": ["ZEROGRAPH_TEST_SECRET"]}}).encode()
    with pytest.raises(RefusedDataError, match="secret"):
        default_serializer().loads_typed(("json", secret))
    template = {
        "lc": 1,
        "type": "constructor",
        "id": ["langchain", "prompts", "prompt", "PromptTemplate"],
        "kwargs": {"template": "{x}", "input_variables": ["x"]},
    }
    with pytest.raises(RefusedDataError, match="PromptTemplate"):
        default_serializer().loads_typed(("json", json.dumps(template).encode()))


def test_lc1_legacy_messages_still_load() -> None:
    """Old "json" rows holding lc:1 messages (pre-msgpack LangGraph) still load."""
    from langchain_core.load import dumpd

    row = json.dumps({"messages": [dumpd(HumanMessage("hi", id="1")), dumpd(AIMessage("yo", id="2"))]})
    assert default_serializer().loads_typed(("json", row.encode())) == {
        "messages": [HumanMessage("hi", id="1"), AIMessage("yo", id="2")]
    }


def test_lc2_allowed_type_loads() -> None:
    """An lc:2 envelope of an allowed type (a LangGraph message) is rebuilt."""
    row = {"lc": 2, "type": "constructor", "id": ["langchain_core", "messages", "human", "HumanMessage"], "kwargs": {"content": "hi"}}
    assert default_serializer().loads_typed(("json", json.dumps(row).encode())) == HumanMessage("hi")


@pytest.mark.parametrize("code", [8, 42, 127])
def test_unknown_extension_code_is_an_error(code: int) -> None:
    """An extension code LangGraph never writes is an error, not a silent None."""
    with pytest.raises(CorruptDataError, match=f"extension code {code}"):
        default_serializer().loads_typed(("msgpack", ormsgpack.packb(ormsgpack.Ext(code, b"\x90"))))


@pytest.mark.parametrize(
    "payload",
    [ext(0, "uuid"), ext(0, 1, 2, 3), ormsgpack.packb(ormsgpack.Ext(0, b"\xc1")), ext(1, "pathlib", "Path", "notalist"), ext(2, "datetime", "timedelta", [1])],
    ids=["too-short", "names-not-str", "bad-msgpack", "pos-args-not-list", "kw-args-not-dict"],
)
def test_malformed_extension_is_an_error(payload: bytes) -> None:
    """A malformed extension of an allowed type raises CorruptDataError."""
    with pytest.raises(CorruptDataError):
        default_serializer().loads_typed(("msgpack", payload))


def test_unknown_serialization_type_is_an_error() -> None:
    """A row type no serializer writes is a CorruptDataError."""
    with pytest.raises(CorruptDataError, match="unknown serialization type"):
        default_serializer().loads_typed(("yaml", b"x: 1"))


# --- nothing degrades silently (langgraph#7066) --------------------------------------------


def test_langgraph_strict_mode_degrades_a_blocked_model_to_a_dict() -> None:
    """Control: LangGraph's strict mode answers a blocked type with its raw payload."""
    typed = JsonPlusSerializer().dumps_typed(Ticket(title="t"))
    assert JsonPlusSerializer(allowed_msgpack_modules=None).loads_typed(typed) == {"title": "t", "tags": []}


def test_blocked_type_raises_instead_of_degrading() -> None:
    """zerograph raises for a type that is not allowed, naming it and the fix."""
    typed = JsonPlusSerializer().dumps_typed({"ticket": Ticket(title="t")})
    with pytest.raises(RefusedDataError) as info:
        default_serializer().loads_typed(typed)
    assert "test_deserialization.Ticket" in str(info.value)
    assert "strict_serializer(allow=[" in str(info.value)


def test_allowed_type_that_moved_raises_instead_of_degrading() -> None:
    """An allowed type that can no longer be imported (renamed, moved) is an error."""
    serde = strict_serializer(allow=[("tests.security.no_such_module", "Gone")])
    with pytest.raises(CorruptDataError, match="cannot be imported"):
        serde.loads_typed(("msgpack", ext(2, "tests.security.no_such_module", "Gone", {"a": 1})))


def test_allowed_type_that_cannot_be_rebuilt_raises() -> None:
    """An allowed type whose constructor rejects the stored arguments is an error."""
    with pytest.raises(CorruptDataError, match="could not be rebuilt"):
        default_serializer().loads_typed(("msgpack", ext(0, "uuid", "UUID", "not-a-uuid")))


# --- refused at store time -------------------------------------------------------------


def test_storing_a_type_that_would_be_refused_fails_before_writing() -> None:
    """A value holding a non-allowed type is refused at dumps time, naming every such type."""
    with pytest.raises(DisallowedTypeError) as info:
        default_serializer().dumps_typed({"a": [Ticket(title="t")], "b": {"c": Status.OPEN}})
    message = str(info.value)
    assert "test_deserialization.Ticket" in message and "test_deserialization.Status" in message
    assert isinstance(info.value, ConfigError)


@pytest.mark.parametrize(
    "value",
    [
        Interrupt(value=Ticket(title="t"), id="i"),
        Send("node", {"arg": [Order("s", 1)]}),
        Command(update={"k": Point(1, 2)}),
        _DeltaSnapshot([Status.OPEN]),
        HumanMessage("hi", additional_kwargs={"when": datetime.date(2026, 1, 1), "status": Status.OPEN}),
    ],
    ids=["in-interrupt", "in-send", "in-command", "in-delta-snapshot", "in-message-kwargs"],
)
def test_a_disallowed_type_nested_in_an_allowed_one_is_refused_at_store_time(value: Any) -> None:
    """The store-time check sees types nested inside LangGraph's own (Interrupt, Send,
    Command, snapshots, messages), where a user model usually ends up."""
    with pytest.raises(DisallowedTypeError):
        default_serializer().dumps_typed({"v": value})
    assert strict_serializer(allow=USER_TYPES).dumps_typed({"v": value})[0] == "msgpack"


@pytest.mark.parametrize("backend", BACKENDS)
def test_put_of_a_disallowed_type_stores_nothing(backend: str, tmp_path: Path) -> None:
    """Through a saver: the put raises and the thread's history is unchanged."""
    saver = make_saver(backend, "sync", tmp_path)
    try:
        first = saver.put(config("t"), checkpoint({"a": 1}, {"a": "1"}), {}, {"a": "1"})
        with pytest.raises(DisallowedTypeError):
            saver.put(first, checkpoint({"a": Ticket(title="x")}, {"a": "2"}), {}, {"a": "2"})
        with pytest.raises(DisallowedTypeError):
            saver.put_writes(first, [("a", 1), ("b", Order("s", 1))], "task")
        assert [t.config for t in saver.list(config("t"))] == [first]
        assert saver.get_tuple(config("t")).pending_writes == []
    finally:
        saver.close()


def test_check_writes_can_be_turned_off() -> None:
    """check_writes=False stores what LangGraph would, and the refusal moves to load time."""
    serde = strict_serializer(check_writes=False)
    typed = serde.dumps_typed(Ticket(title="t"))
    assert typed == JsonPlusSerializer().dumps_typed(Ticket(title="t"))
    with pytest.raises(RefusedDataError):
        serde.loads_typed(typed)


# --- what round-trips ------------------------------------------------------------------


LANGGRAPH_VALUES = [
    HumanMessage("hi", id="h"),
    HumanMessageChunk("h", id="hc"),
    AIMessage("", id="a", tool_calls=[{"name": "add", "args": {"a": 1}, "id": "c1", "type": "tool_call"}]),
    AIMessageChunk("partial", id="ac"),
    SystemMessage("be brief", id="s"),
    ToolMessage("3", tool_call_id="c1", id="t"),
    FunctionMessage("f", name="fn", id="f"),
    ChatMessage("c", role="critic", id="c"),
    RemoveMessage(id="h"),
    Document(page_content="doc", metadata={"src": "x"}),
    Send("worker", {"n": 1}),
    Interrupt(value={"question": "ok?"}, id="i1"),
    Command(goto=[Send("w", 1)], update={"k": "v"}, resume={"i1": "yes"}),
    Overwrite([1, 2]),
    _DeltaSnapshot([HumanMessage("snap", id="d")]),
    datetime.datetime(2026, 6, 1, 12, 30, tzinfo=datetime.timezone.utc),
    datetime.date(2026, 6, 1),
    datetime.time(12, 30, 1),
    datetime.timedelta(days=1, seconds=2),
    datetime.timezone(datetime.timedelta(hours=2)),
    ZoneInfo("Europe/Paris"),
    uuid.UUID(int=7),
    decimal.Decimal("1.25"),
    {1, 2},
    frozenset({"a"}),
    collections.deque([1, 2]),
    ipaddress.IPv4Address("10.0.0.1"),
    ipaddress.IPv6Network("::/64"),
    pathlib.Path("/a/b"),
    re.compile("a+b", re.IGNORECASE),
]


@pytest.mark.parametrize("value", LANGGRAPH_VALUES, ids=lambda v: type(v).__name__)
def test_langgraph_types_round_trip(value: Any) -> None:
    """LangGraph's own types load back equal, from the same bytes LangGraph writes."""
    serde = default_serializer()
    typed = serde.dumps_typed({"v": value})
    assert typed == JsonPlusSerializer().dumps_typed({"v": value})
    assert serde.loads_typed(typed) == {"v": value}


def test_user_types_round_trip_when_allowed() -> None:
    """Allowed user types (pydantic, enum, dataclass, namedtuple) come back as themselves,
    allowed by class or by ("module", "Name")."""
    by_class = strict_serializer(allow=USER_TYPES)
    by_name = strict_serializer(allow=[(t.__module__, t.__name__) for t in USER_TYPES])
    value = {
        "ticket": Ticket(title="t", tags=["x"]),
        "status": Status.DONE,
        "order": Order("sku", 2, datetime.date(2026, 1, 2)),
        "point": Point(1, 2),
        "messages": [HumanMessage("hi", id="1")],
        "nested": {"orders": [Order("n", 1, None)], "by_status": {"open": [Status.OPEN, Point(0, 0)]}},
    }
    for serde in (by_class, by_name):
        got = serde.loads_typed(serde.dumps_typed(value))
        assert got == value
        assert type(got["ticket"]) is Ticket and type(got["order"]) is Order and type(got["point"]) is Point


@pytest.mark.parametrize("bad", [["my.module.Name"], [("only-one",)], [("a", 1)], "Ticket", Ticket, ("m", "N")])
def test_bad_allow_entries_are_a_config_error(bad: Any) -> None:
    """allow= takes a list of classes or ("module", "Name") tuples, and says so."""
    with pytest.raises(ConfigError, match="allow"):
        strict_serializer(allow=bad)


int64 = st.integers(-(2**63), 2**63 - 1)  # msgpack's integer range
json_leaf = st.one_of(
    st.none(), st.booleans(), int64, st.floats(allow_nan=False), st.text(max_size=20), st.binary(max_size=20)
)
safe_leaf = st.one_of(
    json_leaf,
    st.uuids(),
    st.datetimes(timezones=st.just(datetime.timezone.utc)),
    st.dates(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.frozensets(int64, max_size=3),
    st.builds(HumanMessage, content=st.text(max_size=10), id=st.text(min_size=1, max_size=5)),
    st.builds(Send, st.text(min_size=1, max_size=5), int64),
)
values = st.recursive(
    safe_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_strict_serializer_matches_langgraph_on_safe_data(value: Any) -> None:
    """Property: on data of safe types, zerograph writes LangGraph's bytes and reads back
    what LangGraph's own decoder reads."""
    serde = default_serializer()
    typed = serde.dumps_typed(value)
    assert typed == JsonPlusSerializer().dumps_typed(value)
    assert serde.loads_typed(typed) == permissive_langgraph().loads_typed(typed)


# --- through the savers --------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_saver_defaults_to_the_strict_serializer(backend: str, tmp_path: Path, canary: Path) -> None:
    """serde=None gives every backend zerograph's strict serializer; an explicit serde is kept."""
    saver = make_saver(backend, "sync", tmp_path)
    try:
        assert isinstance(saver.serde, StrictSerializer)
        with pytest.raises(RefusedDataError):
            saver.serde.loads_typed(("msgpack", msgpack_payloads(canary)["ctor-single-exec"]))
        assert not canary.exists()
    finally:
        saver.close()
    mine = JsonPlusSerializer()
    saver = make_saver(backend, "sync", tmp_path, serde=mine)
    try:
        assert saver.serde is mine
    finally:
        saver.close()


def _forge(path: Path, sql: str, params: tuple[Any, ...]) -> None:
    """Write a row behind the saver's back, as someone with access to the file could."""
    with sqlite3.connect(path) as conn:
        assert conn.execute(sql, params).rowcount >= 1


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_forged_sqlite_row_is_refused_and_names_its_checkpoint(name: str, tmp_path: Path, canary: Path) -> None:
    """A channel value forged in the SQLite file raises CorruptDataError naming thread,
    checkpoint and channel; its code never runs; other checkpoints and threads still load."""
    from zerograph.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "forged.db"
    with SqliteSaver(path) as saver:
        first = saver.put(config("victim"), checkpoint({"a": "ok", "evil": "x"}, {"a": "1", "evil": "1"}), {}, {"a": "1", "evil": "1"})
        second = saver.put(first, checkpoint({"a": "ok", "evil": "y"}, {"a": "1", "evil": "2"}), {}, {"evil": "2"})
        saver.put(config("bystander"), checkpoint({"a": "fine"}, {"a": "1"}), {}, {"a": "1"})
    _forge(path, "UPDATE blobs SET type = 'msgpack', value = ? WHERE channel = 'evil' AND version = '2'", (msgpack_payloads(canary)[name],))
    with SqliteSaver(path) as saver:
        with pytest.raises(CorruptDataError) as info:
            saver.get_tuple(second)
        message = str(info.value)
        assert "'victim'" in message and repr(second["configurable"]["checkpoint_id"]) in message and "'evil'" in message
        assert isinstance(info.value.__cause__, RefusedDataError)
        assert saver.get_tuple(first).checkpoint["channel_values"] == {"a": "ok", "evil": "x"}
        assert saver.get_tuple(config("bystander")).checkpoint["channel_values"] == {"a": "fine"}
        with pytest.raises(CorruptDataError):
            list(saver.list(config("victim")))
    assert not canary.exists()


@pytest.mark.parametrize("column", ["checkpoint", "metadata"])
def test_forged_lc2_and_pickle_rows_are_refused(column: str, tmp_path: Path, canary: Path) -> None:
    """The json and pickle shapes forged into a checkpoint or its metadata are refused too."""
    from zerograph.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "forged.db"
    type_column = "type" if column == "checkpoint" else "metadata_type"
    with SqliteSaver(path) as saver:
        cfg = saver.put(config("victim"), checkpoint({}, {}), {}, {})
    for type_, payload in [("json", lc2_payloads(canary)["lc2-exec"]), ("pickle", pickle_payload(canary))]:
        _forge(path, f"UPDATE checkpoints SET {type_column} = ?, {column} = ?", (type_, payload))
        with SqliteSaver(path) as saver:
            with pytest.raises(CorruptDataError, match="victim") as info:
                saver.get_tuple(cfg)
            assert isinstance(info.value.__cause__, RefusedDataError)
    assert not canary.exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_allowed_user_types_round_trip_through_every_saver(backend: str, tmp_path: Path) -> None:
    """With allow=[...], a saver stores and loads user types as themselves."""
    saver = make_saver(backend, "sync", tmp_path, serde=strict_serializer(allow=USER_TYPES))
    try:
        values = {"ticket": Ticket(title="t"), "status": Status.OPEN, "order": Order("s", 1), "point": Point(3, 4)}
        versions = {k: "1" for k in values}
        cfg = saver.put(config("u"), checkpoint(values, versions), {"status": "open"}, versions)
        saver.put_writes(cfg, [("ticket", Ticket(title="next"))], "task")
        got = saver.get_tuple(cfg)
        assert got.checkpoint["channel_values"] == values
        assert type(got.checkpoint["channel_values"]["ticket"]) is Ticket
        assert got.pending_writes == [("task", "ticket", Ticket(title="next"))]
    finally:
        saver.close()


# --- with real graphs ----------------------------------------------------------------------


class Item(BaseModel):
    name: str


class ItemState(BaseModel):
    items: list[Item] = []


def _item_graph(saver: Any) -> Any:
    from langgraph.graph import START, StateGraph

    def add(state: ItemState) -> dict:
        return {"items": [*state.items, Item(name=f"n{len(state.items)}")]}

    builder = StateGraph(ItemState)
    builder.add_node("add", add)
    builder.add_edge(START, "add")
    return builder.compile(checkpointer=saver)


@pytest.mark.parametrize("backend", BACKENDS)
def test_graph_with_an_unallowed_state_model_fails_on_first_run(backend: str, tmp_path: Path) -> None:
    """A graph storing a model nobody allowed fails on its first run with
    DisallowedTypeError naming the model; what was stored before still loads."""
    saver = make_saver(backend, "sync", tmp_path)
    try:
        graph = _item_graph(saver)
        cfg = {"configurable": {"thread_id": "g"}}
        with pytest.raises(DisallowedTypeError, match="test_deserialization.Item"):
            graph.invoke({"items": []}, cfg)
        assert graph.get_state(cfg).values == {"items": []}
    finally:
        saver.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_graph_state_models_round_trip_when_allowed(backend: str, tmp_path: Path) -> None:
    """With allow=[Item], the graph runs twice on one thread and reads models back as models."""
    saver = make_saver(backend, "sync", tmp_path, serde=strict_serializer(allow=[Item]))
    try:
        graph = _item_graph(saver)
        cfg = {"configurable": {"thread_id": "g"}}
        graph.invoke({"items": []}, cfg)
        out = graph.invoke({"items": graph.get_state(cfg).values["items"]}, cfg)
        assert out == {"items": [Item(name="n0"), Item(name="n1")]}
        assert all(type(i) is Item for i in graph.get_state(cfg).values["items"])
    finally:
        saver.close()


def test_langgraph_strict_mode_allows_the_graphs_schema_types(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With LANGGRAPH_STRICT_MSGPACK on, LangGraph hands the saver the state schema's types
    (with_allowlist): zerograph's serializer takes them, no allow= needed."""
    import langgraph._internal._serde as langgraph_serde

    monkeypatch.setattr(langgraph_serde, "STRICT_MSGPACK_ENABLED", True)
    saver = make_saver("sqlite-file", "sync", tmp_path)
    try:
        graph = _item_graph(saver)
        cfg = {"configurable": {"thread_id": "g"}}
        assert graph.invoke({"items": []}, cfg) == {"items": [Item(name="n0")]}
        assert graph.get_state(cfg).values == {"items": [Item(name="n0")]}
        assert isinstance(saver.serde, StrictSerializer) and ("tests.security.test_deserialization", "Item") not in saver.serde.allowed
    finally:
        saver.close()
