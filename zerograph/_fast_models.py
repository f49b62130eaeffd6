"""Rebuilding stored langchain-core messages without validating them a second time.

A stored message is the `model_dump()` of a message pydantic already validated.
LangGraph's decoder rebuilds it by calling the class (`AIMessage(**fields)`), which runs
every validator again: about 13 µs a message, most of the time a read of a long thread
takes. When the stored fields are exactly the class's fields, in the class's order, the
result of that call is known in advance: the same field values, the same fields marked
as set, no extras, no private state. `FastModels` makes that object directly (about
1 µs), as pydantic's `model_construct` does.

Only for classes where that is the same object (`qualifies`): langchain-core message
classes whose fields hold plain data only (str, numbers, lists, dicts, typed dicts of
those: no nested models or dataclasses a validator would rebuild from a dict), with no
private attributes and no `model_post_init`. Any other class, and any stored field
list that is not the class's own (an older or newer langchain-core, extra fields), takes
the validating path, and so does every class whose first object, built both ways, does
not come out the same. tests/test_fast_serde.py checks every message class of the
installed langchain-core against the validating path.
"""

from __future__ import annotations

import copy
import sys
import types
import typing
from typing import Any, Callable

import typing_extensions as tx

_set = object.__setattr__
_PLAIN = (str, int, float, bool, bytes, type(None), dict, list, tuple)
_WRAPPERS = {typing.Union, types.UnionType, typing.Annotated, tx.Annotated, typing.Required, tx.Required,
             typing.NotRequired, tx.NotRequired, list, dict, tuple}


def qualifies(cls: Any) -> tuple[str, ...] | None:
    """The field names, in order, if `FastModels` may rebuild `cls`; else None."""
    base = getattr(sys.modules.get("langchain_core.messages.base"), "BaseMessage", None)
    if base is None or not isinstance(cls, type) or not issubclass(cls, base):
        return None
    fields = getattr(cls, "__pydantic_fields__", None)
    if (
        not fields
        or cls.__private_attributes__
        or cls.__pydantic_post_init__ is not None
        or getattr(cls, "__pydantic_root_model__", False)
        or cls.model_config.get("extra") != "allow"
        or not all(_plain(info.annotation, set()) for info in fields.values())
    ):
        return None
    return tuple(fields)


class _Shape:
    __slots__ = ("names", "fields_set")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.fields_set: frozenset[str] | None = None  # known after the first, validated, build


class FastModels:
    """Per serializer: which classes qualify, and what the validating path marks as set.

    The first object of each class is built both ways and compared (field values and
    their order, extras, private state); only if they agree does the class go fast, with
    the `model_fields_set` the validating build reported (langchain-core's `__init__`
    leaves `type` unset, for one).
    """

    def __init__(self) -> None:
        self._shapes: dict[type, _Shape | None] = {}
        # (module, name) -> `load` for that class, for classes that passed the
        # serializer's allowlist and their calibration: the decoder's shortcut
        self.makers: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {}

    def load(self, cls: Any, fields: dict[str, Any], key: tuple[str, str] | None = None) -> Any:
        """`cls(**fields)` if the fast path applies (`fields` becomes the object's own
        `__dict__`), else None: the caller validates. `key`, the allowed name `cls`
        was loaded by, is remembered in `makers` once the class is calibrated."""
        try:
            shape = self._shapes[cls]
        except KeyError:
            names = qualifies(cls)
            shape = self._shapes[cls] = None if names is None else _Shape(names)
        if shape is None or tuple(fields) != shape.names:
            return None
        if shape.fields_set is None:
            obj = self._calibrate(cls, shape, fields)
        else:
            obj = build(cls, fields, set(shape.fields_set))
        if key is not None and shape.fields_set is not None and key not in self.makers:
            self.makers[key] = _maker(cls, shape.names, shape.fields_set)
        return obj

    def _calibrate(self, cls: Any, shape: _Shape, fields: dict[str, Any]) -> Any:
        fast = build(cls, copy.deepcopy(fields), set(fields))
        try:
            slow = cls(**fields)
        except Exception:  # noqa: BLE001 - the caller's validating path reports it
            return None
        if (
            type(slow) is cls
            and list(slow.__dict__) == list(fast.__dict__)
            and slow.__dict__ == fast.__dict__
            and slow.__pydantic_extra__ == fast.__pydantic_extra__
            and slow.__pydantic_private__ == fast.__pydantic_private__
        ):
            shape.fields_set = frozenset(slow.__pydantic_fields_set__)
        else:
            self._shapes[cls] = None
        return slow


def _maker(cls: Any, names: tuple[str, ...], fields_set: frozenset[str]) -> Callable[[dict[str, Any]], Any]:
    def make(fields: dict[str, Any]) -> Any:
        if tuple(fields) != names:
            return None
        return build(cls, fields, set(fields_set))

    return make


def build(cls: Any, fields: dict[str, Any], fields_set: set[str]) -> Any:
    """An instance of `cls` whose `__dict__` is `fields`, unvalidated."""
    obj = cls.__new__(cls)
    _set(obj, "__dict__", fields)
    _set(obj, "__pydantic_fields_set__", fields_set)
    _set(obj, "__pydantic_extra__", {})
    _set(obj, "__pydantic_private__", None)
    return obj


def _plain(tp: Any, seen: set[int]) -> bool:
    """Does a field annotation admit plain data only (nothing a validator would build)?"""
    if tp is Any or tp in _PLAIN:
        return True
    origin = tx.get_origin(tp)
    if origin is typing.Literal or origin is tx.Literal:
        return True
    if origin in _WRAPPERS:
        args = tx.get_args(tp)
        if origin is typing.Annotated or origin is tx.Annotated:
            args = args[:1]
        return all(a is Ellipsis or _plain(a, seen) for a in args)
    if tx.is_typeddict(tp):
        if id(tp) in seen:
            return True
        seen.add(id(tp))
        try:
            hints = tx.get_type_hints(tp, include_extras=True)
        except Exception:  # noqa: BLE001 - an unresolvable hint: not provably plain
            return False
        return all(_plain(h, seen) for h in hints.values())
    return False
