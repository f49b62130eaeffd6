"""Remembering how pydantic models were encoded, by content.

A checkpoint's message list is stored again at every step, one or two messages longer,
and LangGraph's encoder calls `model_dump()` on every message every time (about 4 µs a
message, then the strict serializer checks what it wrote). `EncodeMemo` maps a model's
content to the extension payload LangGraph's encoder produced for it, so an unchanged
message costs one plain msgpack pack of its field values (in Rust, no Python per field)
and a lookup.

The key is exact, never identity: the class and `ormsgpack.packb((__dict__,
__pydantic_extra__))` with every passthrough option on, so only plain data (str, int,
float, bool, None, bytes, lists, tuples, dicts with str keys) makes a key; a field holding
anything else (a nested model, a datetime, an enum, a str subclass, a dataclass) raises
and that object is encoded the ordinary way. int, float and bool encode differently, so
`1`, `1.0` and `True` never share an entry. A model mutated in place has a new key.

Only classes whose `model_dump()` is a function of those values alone are memoized:
pydantic's own `model_dump`, no model or field serializers, no computed fields.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import ormsgpack

_KEY_OPTIONS = (
    ormsgpack.OPT_PASSTHROUGH_BIG_INT
    | ormsgpack.OPT_PASSTHROUGH_DATACLASS
    | ormsgpack.OPT_PASSTHROUGH_DATETIME
    | ormsgpack.OPT_PASSTHROUGH_ENUM
    | ormsgpack.OPT_PASSTHROUGH_SUBCLASS
    | ormsgpack.OPT_PASSTHROUGH_UUID
)
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


def memoizable(cls: type) -> bool:
    """Is `model_dump()` of a `cls` instance a function of its field values alone?"""
    pydantic = sys.modules.get("pydantic")
    decorators = getattr(cls, "__pydantic_decorators__", None)
    return (
        pydantic is not None
        and decorators is not None
        and getattr(cls, "__pydantic_fields__", None) is not None
        and getattr(cls, "model_dump", None) is pydantic.BaseModel.model_dump
        and not getattr(cls, "__pydantic_root_model__", False)
        and not decorators.model_serializers
        and not decorators.field_serializers
        and not decorators.computed_fields
    )


def content_key(obj: Any) -> bytes | None:
    """The exact content of a pydantic model as bytes, or None if it holds non-plain data."""
    try:
        return ormsgpack.packb((obj.__dict__, obj.__pydantic_extra__), option=_KEY_OPTIONS)
    except (TypeError, AttributeError):  # MsgpackEncodeError is a TypeError
        return None


class EncodeMemo:
    """`(class, content key) -> payload`, bounded in bytes, oldest entry out first.

    Lookups take no lock (one dict read, atomic under the GIL); inserts and evictions do.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._items: dict[tuple[type, bytes], bytes] = {}
        self._classes: dict[type, bool] = {}
        self._bytes = 0
        self._max = max_bytes
        self._lock = threading.Lock()

    def key(self, obj: Any) -> tuple[type, bytes] | None:
        cls = type(obj)
        ok = self._classes.get(cls)
        if ok is None:
            ok = self._classes[cls] = memoizable(cls)
        if not ok:
            return None
        content = content_key(obj)
        return None if content is None else (cls, content)

    def get(self, key: tuple[type, bytes]) -> bytes | None:
        return self._items.get(key)

    def put(self, key: tuple[type, bytes], payload: bytes) -> None:
        size = len(key[1]) + len(payload)
        if size > self._max // 8:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = payload
            self._bytes += size
            while self._bytes > self._max:
                oldest = next(iter(self._items))
                self._bytes -= len(oldest[1]) + len(self._items.pop(oldest))

    def __len__(self) -> int:
        return len(self._items)
