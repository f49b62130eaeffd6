"""The serializer's two fast paths give exactly what the slow ones give.

- Decoding: langchain-core messages are rebuilt without re-running their validators
  (`zerograph._fast_models`); the object must be the one `cls(**fields)` returns.
- Encoding: pydantic models are looked up by content in an `EncodeMemo` before
  `model_dump()` runs; the bytes must be LangGraph's, and the allowlist check must hold
  for every value stored, memoized or not.
"""

from __future__ import annotations

import datetime
import enum
import threading
from typing import Any

import pytest
from langchain_core import messages as lc_messages
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel, computed_field, field_serializer

from zerograph import _fast_models
from zerograph._encode_memo import EncodeMemo, memoizable
from zerograph.errors import DisallowedTypeError, RefusedDataError
from zerograph.serde import StrictSerializer, default_serializer, strict_serializer

MESSAGE_CLASSES = sorted(
    (
        cls
        for cls in vars(lc_messages).values()
        if isinstance(cls, type) and issubclass(cls, BaseMessage)
    ),
    key=lambda c: c.__name__,
)


def rich(cls: type[BaseMessage]) -> BaseMessage:
    """An instance with every field it has set to something other than its default."""
    fields: dict[str, Any] = {
        "content": [{"type": "text", "text": "héllo"}, "plain"],
        "additional_kwargs": {"a": [1, 2.5, True, None], "nested": {"k": "v"}},
        "response_metadata": {"model_name": "m", "n": 3},
        "name": "someone",
        "id": "msg-1",
    }
    extra = {
        "tool_call_id": "call_1", "artifact": {"rows": [1, 2]}, "status": "error", "role": "critic",
        "tool_calls": [{"name": "search", "args": {"q": "x"}, "id": "call_1", "type": "tool_call"}],
        "invalid_tool_calls": [{"name": "bad", "args": "{", "id": "call_2", "error": "json",
                                "type": "invalid_tool_call"}],
        "usage_metadata": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7,
                           "input_token_details": {"cache_read": 1}},
        "tool_call_chunks": [{"name": "search", "args": '{"q": "x"}', "id": "call_1", "index": 0,
                              "type": "tool_call_chunk"}],
        "chunk_position": None,
    }
    fields.update({k: v for k, v in extra.items() if k in cls.model_fields})
    if cls.__name__ == "RemoveMessage":
        return cls(id="msg-1")
    if cls is BaseMessage or cls.__name__ == "BaseMessageChunk":
        return HumanMessage(**fields)
    return cls(**fields)


def same_object(a: Any, b: Any, *, fields_set: bool = True) -> None:
    assert type(a) is type(b)
    assert a == b
    assert a.__dict__ == b.__dict__ and list(a.__dict__) == list(b.__dict__)
    if fields_set:  # a stored object's own set is not stored; compare loads with loads
        assert a.__pydantic_fields_set__ == b.__pydantic_fields_set__
    assert a.__pydantic_extra__ == b.__pydantic_extra__
    assert a.__pydantic_private__ == b.__pydantic_private__
    assert a.model_dump() == b.model_dump()


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
def test_every_message_class_takes_the_fast_path_and_loads_what_validation_would(
    cls: type[BaseMessage], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _fast_models.qualifies(cls) is not None, f"{cls.__name__} no longer qualifies"
    msg = rich(cls)
    data = JsonPlusSerializer().dumps_typed(msg)
    serde = default_serializer()
    first = serde.loads_typed(data)  # validated, and compared with the fast build
    built: list[Any] = []
    real_build = _fast_models.build
    monkeypatch.setattr(_fast_models, "build", lambda c, *a: built.append(c) or real_build(c, *a))
    loaded = serde.loads_typed(data)
    assert built == [type(msg)], "the fast path was not taken"
    same_object(loaded, type(msg)(**msg.model_dump()))
    same_object(loaded, first)
    same_object(loaded, msg, fields_set=False)


def test_loaded_messages_own_their_containers() -> None:
    serde = default_serializer()
    data = serde.dumps_typed([rich(AIMessage)])
    first, second = serde.loads_typed(data)[0], serde.loads_typed(data)[0]
    first.additional_kwargs["nested"]["k"] = "changed"
    first.tool_calls.append({"name": "x", "args": {}, "id": "c", "type": "tool_call"})
    assert second == rich(AIMessage)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda d: d.update(surprise=1), id="extra-field"),
        pytest.param(lambda d: d.pop("response_metadata"), id="missing-field"),
        pytest.param(lambda d: d.update(content=d.pop("content")), id="other-order"),
    ],
)
def test_a_stored_field_list_other_than_the_class_s_is_validated(edit: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An older or newer langchain-core's dump: rebuilt by calling the class."""
    msg = rich(AIMessage)
    fields = msg.model_dump()
    edit(fields)
    data = ("msgpack", _dump_ext(AIMessage, fields))
    serde = default_serializer()
    serde.loads_typed(JsonPlusSerializer().dumps_typed(rich(AIMessage)))  # AIMessage goes fast
    monkeypatch.setattr(_fast_models, "build", lambda *a: pytest.fail("fast path taken"))
    same_object(serde.loads_typed(data), AIMessage(**fields))


def test_a_class_whose_fast_build_differs_is_always_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first object of a class is built both ways; if they differ, the class is
    validated from then on."""
    serde = default_serializer()
    data = JsonPlusSerializer().dumps_typed(rich(AIMessage))
    real_build = _fast_models.build
    monkeypatch.setattr(_fast_models, "build", lambda c, f, s: real_build(c, {**f, "name": "wrong"}, s))
    for _ in range(3):
        same_object(serde.loads_typed(data), AIMessage(**rich(AIMessage).model_dump()))


def test_the_decoder_shortcut_only_knows_names_that_were_allowed_and_calibrated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the first, checked, load of a class the decoder goes straight to the fast
    build by stored name; a name is only ever added after the allowlist accepted it,
    and never for a class whose two builds differed."""
    serde = default_serializer()
    data = JsonPlusSerializer().dumps_typed(rich(AIMessage))
    assert serde._fast.makers == {}
    serde.loads_typed(data)
    assert set(serde._fast.makers) == {("langchain_core.messages.ai", "AIMessage")}
    unlisted = type("AIMessageX", (AIMessage,), {"__module__": "langchain_core.messages.ai"})
    forged = ("msgpack", _dump_ext(unlisted, rich(AIMessage).model_dump()))
    with pytest.raises(RefusedDataError, match="AIMessageX"):
        serde.loads_typed(forged)
    assert set(serde._fast.makers) == {("langchain_core.messages.ai", "AIMessage")}

    other = default_serializer()
    real_build = _fast_models.build
    monkeypatch.setattr(_fast_models, "build", lambda c, f, s: real_build(c, {**f, "name": "wrong"}, s))
    other.loads_typed(data)
    assert other._fast.makers == {}


def _dump_ext(cls: type, fields: dict[str, Any]) -> bytes:
    import ormsgpack
    from langgraph.checkpoint.serde.jsonplus import EXT_PYDANTIC_V2, _msgpack_enc

    payload = _msgpack_enc((cls.__module__, cls.__name__, fields, "model_validate_json"))
    return ormsgpack.packb(ormsgpack.Ext(EXT_PYDANTIC_V2, payload))


class Inner(BaseModel):
    x: int


class MessageWithModel(AIMessage):
    inner: Inner | None = None


class MessageWithPrivate(AIMessage):
    _cache: dict[str, Any] = {}


class MessageWithPostInit(AIMessage):
    def model_post_init(self, context: Any) -> None:
        pass


class Ticket(BaseModel):
    title: str
    n: int = 0


@pytest.mark.parametrize("cls", [MessageWithModel, MessageWithPrivate, MessageWithPostInit, Ticket, Inner])
def test_classes_whose_validation_matters_do_not_qualify(cls: type) -> None:
    assert _fast_models.qualifies(cls) is None


def test_a_nested_model_field_is_still_rebuilt_as_a_model() -> None:
    serde = strict_serializer(allow=[MessageWithModel, Inner])
    msg = MessageWithModel(content="c", inner=Inner(x=1), id="1")
    loaded = serde.loads_typed(serde.dumps_typed(msg))
    assert isinstance(loaded.inner, Inner) and loaded == msg


# --- encoding -------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"


class Note(BaseModel):
    text: str
    meta: dict[str, Any] = {}
    when: datetime.datetime | None = None
    color: Color | None = None
    inner: Inner | None = None


class Shouting(BaseModel):
    text: str

    @field_serializer("text")
    def loud(self, v: str) -> str:
        return v.upper()


class Derived(BaseModel):
    a: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def double(self) -> int:
        return 2 * self.a


ALLOWED = [Note, Color, Inner, Shouting, Derived]


def corpus() -> list[Any]:
    return [
        [rich(c) for c in MESSAGE_CLASSES],
        {"messages": [HumanMessage("hi", id="1"), AIMessage("yo", id="2")], "n": 1},
        Note(text="t", meta={"a": 1}),
        Note(text="t", meta={"a": 1.0}),
        Note(text="t", meta={"a": True}),
        Note(text="t", when=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)),
        Note(text="t", color=Color.RED, inner=Inner(x=2)),
        Shouting(text="quiet"),
        Derived(a=2),
        [Note(text="same"), Note(text="same")],
    ]


@pytest.mark.parametrize("value", corpus(), ids=lambda v: type(v).__name__)
def test_encoding_writes_langgraph_s_bytes_cold_and_warm(value: Any) -> None:
    serde = strict_serializer(allow=ALLOWED)
    expected = JsonPlusSerializer().dumps_typed(value)
    assert serde.dumps_typed(value) == expected  # cold
    assert serde.dumps_typed(value) == expected  # from the memo
    if not isinstance(value, Shouting):  # its dump is not its value (by design)
        assert serde.loads_typed(expected) == value


def test_numbers_of_different_types_never_share_an_entry() -> None:
    serde = strict_serializer(allow=ALLOWED)
    lg = JsonPlusSerializer()
    for v in (1, 1.0, True, "1", None, [1], (1,)):
        note = Note(text="t", meta={"a": v})
        assert serde.dumps_typed(note) == lg.dumps_typed(note), v


def test_a_message_changed_in_place_is_encoded_again() -> None:
    serde = default_serializer()
    msgs = [rich(AIMessage), rich(ToolMessage)]
    serde.dumps_typed(msgs)
    msgs[0].content = "edited"
    msgs[1].additional_kwargs["nested"]["k"] = "edited too"
    msgs[0].tool_calls[0]["args"]["q"] = "y"
    assert serde.dumps_typed(msgs) == JsonPlusSerializer().dumps_typed(msgs)
    assert serde.loads_typed(serde.dumps_typed(msgs)) == msgs


def test_only_models_whose_dump_is_their_fields_are_memoized() -> None:
    assert memoizable(AIMessage) and memoizable(Note)
    assert not memoizable(Shouting) and not memoizable(Derived)
    memo = EncodeMemo()
    assert memo.key(Shouting(text="x")) is None
    assert memo.key(Note(text="t", inner=Inner(x=1))) is None  # nested model: not plain
    assert memo.key(Note(text="t", color=Color.RED)) is None  # enum: not plain
    assert memo.key(Note(text="t")) is not None


def test_the_memo_is_bounded() -> None:
    memo = EncodeMemo(max_bytes=64 * 1024)
    for i in range(2000):
        key = memo.key(HumanMessage(f"message {i} " + "x" * 200, id=str(i)))
        assert key is not None
        memo.put(key, b"p" * 300)
    assert memo._bytes <= 64 * 1024
    assert 0 < len(memo) < 2000


def test_a_refused_value_is_refused_every_time() -> None:
    """What failed the check is not memoized, so a second store is checked again."""
    serde = default_serializer()
    for _ in range(2):
        with pytest.raises(DisallowedTypeError, match="Note"):
            serde.dumps_typed([HumanMessage("ok", id="1"), Note(text="t")])


def test_a_refused_nested_type_is_refused_every_time() -> None:
    serde = strict_serializer(allow=[Note])
    for _ in range(2):
        with pytest.raises(DisallowedTypeError, match="Color"):
            serde.dumps_typed(Note(text="t", color=Color.RED))


def test_memo_entries_never_outlive_the_allowlist_they_were_checked_against() -> None:
    wide = strict_serializer(allow=[Note]).with_msgpack_allowlist([Ticket])
    narrow = strict_serializer(allow=[Note])
    assert isinstance(wide, StrictSerializer) and wide is not narrow
    wide.dumps_typed(Ticket(title="t"))
    with pytest.raises(DisallowedTypeError, match="Ticket"):
        narrow.dumps_typed(Ticket(title="t"))
    base = strict_serializer(allow=[Note])
    clone = base.with_msgpack_allowlist([Ticket])
    clone.dumps_typed(Ticket(title="t"))
    with pytest.raises(DisallowedTypeError, match="Ticket"):
        base.dumps_typed(Ticket(title="t"))


def test_check_writes_turned_on_later_still_checks() -> None:
    serde = strict_serializer(check_writes=False)
    serde.dumps_typed(Ticket(title="t"))
    serde.check_writes = True
    with pytest.raises(DisallowedTypeError, match="Ticket"):
        serde.dumps_typed(Ticket(title="t"))


def test_threads_sharing_a_serializer_write_the_same_bytes() -> None:
    serde = default_serializer()
    value = [rich(c) for c in MESSAGE_CLASSES] * 5
    expected = JsonPlusSerializer().dumps_typed(value)
    results: list[Any] = []

    def work() -> None:
        for _ in range(20):
            results.append(serde.dumps_typed(value))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 160 and all(r == expected for r in results)
