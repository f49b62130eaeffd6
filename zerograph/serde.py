"""zerograph's serializers: LangGraph's wire format, strict about what a stored row may build.

Every zerograph saver built with `serde=None` uses `default_serializer()`, a
`StrictSerializer`. It writes exactly what LangGraph's `JsonPlusSerializer` writes
(msgpack with the same extension codes), so rows stay readable by LangGraph, but it
*loads* differently:

- A stored value can only rebuild the types on an allowlist: LangGraph's own
  `SAFE_MSGPACK_TYPES` (datetimes, UUIDs, sets, langchain-core messages and documents,
  `Send`, `Interrupt`, `Command`, ...) plus the types you pass as `allow=[...]`. A row
  naming anything else (`os.system`, `builtins.exec`, ...: CVE-2026-28277) raises
  `RefusedDataError`; nothing named in it is imported or called.
- Nothing degrades silently. LangGraph's strict mode returns a blocked type's raw
  payload (a dict where your model was, langgraph#7066); this serializer raises, and it
  raises when an allowed type cannot be rebuilt too.
- No pickle, ever (CVE-2026-27794), and the legacy `"json"` format revives only allowed
  types: no `lc: 2` constructor of an arbitrary callable (CVE-2025-64439), no `lc: 1`
  secret read from the environment.
- It checks on the way in as well: storing a value whose type would be refused on load
  raises `DisallowedTypeError` at `put` time, naming every such type and how to allow
  it, instead of writing a row you cannot read back.

The decoder is zerograph's own, for two reasons LangGraph's cannot be wrapped: its
extension hook catches every exception (so a refusal cannot escape it) and answers a
blocked or broken type with the raw payload. The encoder, the extension codes and the
allowlists are LangGraph's.

`StrictEncryptedSerializer` adds a cipher (LangGraph's `CipherProtocol`; AES-EAX through
`from_pycryptodome_aes`, the same rows `EncryptedSerializer` writes) and refuses a row
that is not encrypted or fails authentication, where LangGraph's `EncryptedSerializer`
quietly loads plaintext (langgraph#8938).

```python
from dataclasses import dataclass

from zerograph.checkpoint.memory import InMemorySaver
from zerograph.serde import strict_serializer


@dataclass
class Order:
    sku: str
    qty: int


saver = InMemorySaver(serde=strict_serializer(allow=[Order]))
```
"""

from __future__ import annotations

import copy
import importlib
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

import ormsgpack
from langgraph.checkpoint.serde._msgpack import SAFE_MSGPACK_METHODS, SAFE_MSGPACK_TYPES
from langgraph.checkpoint.serde.base import CipherProtocol
from langgraph.checkpoint.serde.jsonplus import (
    EXT_CONSTRUCTOR_KW_ARGS,
    EXT_CONSTRUCTOR_POS_ARGS,
    EXT_CONSTRUCTOR_SINGLE_ARG,
    EXT_DELTA_SNAPSHOT,
    EXT_METHOD_SINGLE_ARG,
    EXT_NUMPY_ARRAY,
    EXT_PYDANTIC_V1,
    EXT_PYDANTIC_V2,
    JsonPlusSerializer,
    _msgpack_default,
    _msgpack_enc,
)
from langgraph.checkpoint.serde.jsonplus import _option as _PACK_OPTIONS
from langgraph.checkpoint.serde.types import _DeltaSnapshot

from zerograph._encode_memo import EncodeMemo
from zerograph._fast_models import FastModels
from zerograph.errors import ConfigError, CorruptDataError, DisallowedTypeError, RefusedDataError

__all__ = [
    "SAFE_TYPES",
    "AllowEntry",
    "DisallowedTypeError",
    "encrypts",
    "RefusedDataError",
    "StrictEncryptedSerializer",
    "StrictSerializer",
    "default_serializer",
    "encrypted_serializer",
    "strict_serializer",
]

AllowEntry = type | tuple[str, str]
TypeKey = tuple[str, str]

# What a stored row may rebuild without being asked: LangGraph's own list, which holds
# every type LangGraph stores while running a graph (messages, Send, Interrupt,
# Command, ...), checked by running real graphs in tests/test_graphs.py.
SAFE_TYPES: frozenset[TypeKey] = frozenset(
    (key[0], key[1]) for key in SAFE_MSGPACK_TYPES if len(key) == 2
)

_UNPACK_OPTIONS = ormsgpack.OPT_NON_STR_KEYS
# msgpack's extension markers (fixext 1-16, ext 8/16/32): bytes without any of them
# hold no extension, so the write-time check can skip them without decoding.
_EXT_MARKERS = bytes((0xC7, 0xC8, 0xC9, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8))
_PLAIN_TYPES = ("null", "bytes", "bytearray")
_DOCS = "see docs/security.md"


# --- allowlists ------------------------------------------------------------------------


def _key(entry: Any) -> TypeKey:
    if isinstance(entry, type):
        return (entry.__module__, entry.__name__)
    if (
        isinstance(entry, tuple)
        and len(entry) == 2
        and all(isinstance(part, str) and part for part in entry)
    ):
        return (entry[0], entry[1])
    raise ConfigError(
        f"allow entries must be classes or ('module', 'Name') tuples, got {entry!r}"
    )


def _keys(allow: Iterable[Any]) -> frozenset[TypeKey]:
    if isinstance(allow, (str, bytes, type)) or (
        isinstance(allow, tuple) and len(allow) == 2 and all(isinstance(p, str) for p in allow)
    ):
        raise ConfigError(f"allow must be a list of classes or ('module', 'Name') tuples, got {allow!r}")
    return frozenset(_key(entry) for entry in allow)


def _dotted(key: tuple[str, ...]) -> str:
    return ".".join(key)


def _refusal(key: TypeKey) -> RefusedDataError:
    return RefusedDataError(
        f"refused to load a stored {_dotted(key)}: it is not on the serializer's "
        "allowlist, so nothing it names was imported or called. If it is a data class of "
        "yours (pydantic model, dataclass, enum), allow it: serde=zerograph.serde."
        f"strict_serializer(allow=[({key[0]!r}, {key[1]!r})]). A function or builtin is "
        f"never a stored type: then the row was forged ({_DOCS})"
    )


# --- decoding ----------------------------------------------------------------------------


class _Decoder:
    """One msgpack decode with the allowlist. ormsgpack swallows whatever an ext hook
    raises (it reports `ValueError('ext_hook failed')`), so the hook keeps the first
    real error and `run` raises that one."""

    def __init__(
        self,
        allowed: frozenset[TypeKey],
        resolve: Callable[[TypeKey], Any],
        fast: FastModels,
    ) -> None:
        self.allowed = allowed
        self.resolve = resolve
        self.fast = fast
        self.error: BaseException | None = None

    def run(self, data: bytes) -> Any:
        try:
            return ormsgpack.unpackb(data, ext_hook=self.hook, option=_UNPACK_OPTIONS)
        except Exception as exc:
            if self.error is None:
                raise CorruptDataError(f"stored msgpack could not be decoded: {exc}") from exc
        raise self.error  # outside the except: keeps the hook error's own cause

    def unpack(self, data: bytes) -> Any:
        return ormsgpack.unpackb(data, ext_hook=self.hook, option=_UNPACK_OPTIONS)

    def hook(self, code: int, data: bytes) -> Any:
        try:
            if code == EXT_PYDANTIC_V2:  # most stored objects: messages
                tup = ormsgpack.unpackb(data, ext_hook=self.hook, option=_UNPACK_OPTIONS)
                if (
                    type(tup) is list
                    and len(tup) >= 3
                    and type(tup[0]) is str
                    and type(tup[1]) is str
                    and type(tup[2]) is dict
                ):
                    # a class this serializer already allowed and checked (FastModels)
                    make = self.fast.makers.get((tup[0], tup[1]))
                    if make is not None:
                        obj = make(tup[2])
                        if obj is not None:
                            return obj
                return self._rebuild(code, tup)
            return self._build(code, data)
        except BaseException as exc:
            if self.error is None:  # the innermost failure; outer hooks see ormsgpack's
                if isinstance(exc, CorruptDataError) or not isinstance(exc, Exception):
                    self.error = exc
                else:
                    self.error = CorruptDataError(f"stored msgpack could not be decoded: {exc}")
                    self.error.__cause__ = exc
            raise

    def _build(self, code: int, data: bytes) -> Any:
        if code == EXT_DELTA_SNAPSHOT:
            return _DeltaSnapshot(self.unpack(data))
        if code == EXT_NUMPY_ARRAY:
            return _numpy_array(self.unpack(data))
        if code not in _CONSTRUCTOR_CODES:
            raise CorruptDataError(f"stored msgpack holds an unknown extension code {code}")
        return self._rebuild(code, self.unpack(data))

    def _rebuild(self, code: int, tup: Any) -> Any:
        """An object from a decoded `(module, name, arg[, method])` extension."""
        if (
            not isinstance(tup, (list, tuple))
            or len(tup) < (4 if code == EXT_METHOD_SINGLE_ARG else 3)
            or not isinstance(tup[0], str)
            or not isinstance(tup[1], str)
        ):
            raise CorruptDataError(f"stored msgpack extension {code} is malformed")
        key: TypeKey = (tup[0], tup[1])
        arg = tup[2]
        if code == EXT_METHOD_SINGLE_ARG:
            if not isinstance(tup[3], str) or (key[0], key[1], tup[3]) not in SAFE_MSGPACK_METHODS:
                raise RefusedDataError(
                    f"refused to load a stored call of {_dotted(key)}.{tup[3]}: only "
                    f"{sorted(_dotted(m) for m in SAFE_MSGPACK_METHODS)} may be called ({_DOCS})"
                )
        elif key not in self.allowed:
            raise _refusal(key)
        cls = self.resolve(key)
        try:
            if code == EXT_CONSTRUCTOR_SINGLE_ARG:
                return cls(arg)
            if code == EXT_CONSTRUCTOR_POS_ARGS:
                if not isinstance(arg, (list, tuple)):
                    raise TypeError("positional arguments are not a list")
                if key == ("langgraph.types", "Send") and len(arg) == 3:
                    return cls(arg[0], arg[1], timeout=arg[2])
                return cls(*arg)
            if code == EXT_METHOD_SINGLE_ARG:
                return getattr(cls, tup[3])(arg)
            if code == EXT_PYDANTIC_V2 and isinstance(arg, dict):
                obj = self.fast.load(cls, arg, key)  # what cls(**arg) returns, unvalidated
                if obj is not None:
                    return obj
            if not isinstance(arg, dict) or not all(isinstance(k, str) for k in arg):
                raise TypeError("keyword arguments are not a dict of str")
            if code == EXT_CONSTRUCTOR_KW_ARGS:
                return cls(**arg)
            # pydantic: validate, else rebuild unvalidated as LangGraph does (a model
            # whose validators reject their own dump still loads)
            try:
                return cls(**arg)
            except Exception:  # noqa: BLE001 - any validation failure: rebuild unvalidated
                return (cls.model_construct if code == EXT_PYDANTIC_V2 else cls.construct)(**arg)
        except Exception as exc:
            raise CorruptDataError(
                f"a stored {_dotted(key)} could not be rebuilt ({type(exc).__name__}: {exc})"
            ) from exc


_CONSTRUCTOR_CODES = {
    EXT_CONSTRUCTOR_SINGLE_ARG,
    EXT_CONSTRUCTOR_POS_ARGS,
    EXT_CONSTRUCTOR_KW_ARGS,
    EXT_METHOD_SINGLE_ARG,
    EXT_PYDANTIC_V1,
    EXT_PYDANTIC_V2,
}


def _numpy_array(meta: Any) -> Any:
    """A numpy array, as LangGraph stores it; never an object array (those hold pointers)."""
    try:
        import numpy as np  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise CorruptDataError("a stored numpy array needs numpy: pip install numpy") from None
    try:
        dtype_str, shape, order, buf = meta
        dtype = np.dtype(dtype_str)
        if dtype.hasobject:
            raise RefusedDataError(f"refused a stored numpy array of object dtype {dtype_str!r}")
        return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)
    except RefusedDataError:
        raise
    except Exception as exc:
        raise CorruptDataError(f"a stored numpy array could not be rebuilt: {exc}") from exc


def _may_hold_ext(data: bytes) -> bool:
    """False if `data` cannot contain a msgpack extension: none of the bytes that start
    one (fixext 1-16, ext 8/16/32) occurs anywhere in it."""
    return len(data.translate(None, _EXT_MARKERS)) != len(data)  # one C pass


class _Scan:
    """The write-time check: which types in an encoded value would `_Decoder` refuse?
    Reads names only; builds and calls nothing."""

    def __init__(self, allowed: frozenset[TypeKey]) -> None:
        self.allowed = allowed
        self.refused: set[str] = set()

    def check(self, data: bytes) -> None:
        if _may_hold_ext(data):
            ormsgpack.unpackb(data, ext_hook=self.hook, option=_UNPACK_OPTIONS)

    def hook(self, code: int, data: bytes) -> None:
        if code == EXT_DELTA_SNAPSHOT:
            self.check(data)
        elif code in _CONSTRUCTOR_CODES:
            tup = ormsgpack.unpackb(data, ext_hook=self.hook, option=_UNPACK_OPTIONS)
            key = (tup[0], tup[1])
            if code == EXT_METHOD_SINGLE_ARG:
                if (key[0], key[1], tup[3]) not in SAFE_MSGPACK_METHODS:
                    self.refused.add(f"{_dotted(key)}.{tup[3]}")
            elif key not in self.allowed:
                self.refused.add(_dotted(key))
        elif code != EXT_NUMPY_ARRAY:
            self.refused.add(f"msgpack extension {code}")


# --- encoding ----------------------------------------------------------------------------


class _Encoder:
    """One msgpack encode, byte for byte LangGraph's (its extension hook and options),
    with two additions: pydantic models are looked up in the serializer's `EncodeMemo`
    by content before `model_dump()` runs, and every extension written is checked
    against the allowlist (`refused` names what `_Decoder` would refuse)."""

    def __init__(self, allowed: frozenset[TypeKey], memo: EncodeMemo, check: bool) -> None:
        self.allowed = allowed
        self.memo = memo
        self.check = check  # memo entries are always checked; other extensions only if asked
        self.refused: set[str] = set()

    def default(self, obj: Any) -> Any:
        key = self.memo.key(obj)
        if key is None:
            ext = _msgpack_default(obj)
            if self.check and isinstance(ext, ormsgpack.Ext):
                self._check(ormsgpack.packb(ext))
            return ext
        payload = self.memo.get(key)
        if payload is None:
            cls = obj.__class__
            # LangGraph's pydantic v2 branch of _msgpack_default, keeping the payload
            payload = _msgpack_enc((cls.__module__, cls.__name__, obj.model_dump(), "model_validate_json"))
            if self._check(payload, (cls.__module__, cls.__name__)):
                self.memo.put(key, payload)  # only what passed the check is ever reused
        return ormsgpack.Ext(EXT_PYDANTIC_V2, payload)

    def _check(self, data: bytes, key: TypeKey | None = None) -> bool:
        scan = _Scan(self.allowed)
        scan.check(data)
        if key is not None and key not in self.allowed:
            scan.refused.add(_dotted(key))
        self.refused |= scan.refused
        return not scan.refused


# --- the serializers -------------------------------------------------------------------


class StrictSerializer(JsonPlusSerializer):
    """LangGraph's `JsonPlusSerializer` format; loads only allowed types, never pickle.

    Args:
        allow: Your own types a stored value may rebuild, as classes or
            `("module", "Name")` tuples (pydantic models, dataclasses, enums,
            namedtuples). LangGraph's own types are always allowed.
        check_writes: Refuse, at store time, a value holding a type that would be
            refused on load (`DisallowedTypeError`). On by default.

    It is a `JsonPlusSerializer`, so LangGraph's strict mode (`LANGGRAPH_STRICT_MSGPACK`)
    can add the types of a graph's state schema through `with_msgpack_allowlist`.
    """

    def __init__(self, *, allow: Iterable[AllowEntry] = (), check_writes: bool = True) -> None:
        user = _keys(allow)
        super().__init__(
            pickle_fallback=False,
            allowed_json_modules=None,
            allowed_msgpack_modules=tuple(sorted(user)) or None,
            # never used (loads_typed decodes itself); refuses everything if it ever is
            __unpack_ext_hook__=_refuse_any_ext,
        )
        self.allowed: frozenset[TypeKey] = SAFE_TYPES | user
        self.check_writes = check_writes
        self._classes: dict[TypeKey, Any] = {}
        self._fast = FastModels()
        self._memo = EncodeMemo()
        self._lc_reviver: Any = None

    def __repr__(self) -> str:
        extra = sorted(_dotted(k) for k in self.allowed - SAFE_TYPES)
        return f"{type(self).__name__}(allow={extra!r})"

    # --- allowlist -------------------------------------------------------------------

    def with_msgpack_allowlist(self, extra_allowlist: Iterable[Any]) -> StrictSerializer:
        """A copy that also allows `extra_allowlist` (what LangGraph's strict mode calls)."""
        extra = frozenset(
            (k.__module__, k.__name__) if isinstance(k, type) else (k[0], k[1])
            for k in extra_allowlist
            if isinstance(k, type) or (isinstance(k, tuple) and len(k) == 2)
        )
        if extra <= self.allowed:
            return self
        clone = copy.copy(self)
        clone.allowed = self.allowed | extra
        clone._classes = {}
        clone._fast = FastModels()
        clone._memo = EncodeMemo()  # entries were checked against the old allowlist only
        return clone

    def _resolve(self, key: TypeKey) -> Any:
        """Import an allowed type; only ever called with a key on the allowlist."""
        cls = self._classes.get(key)
        if cls is None:
            try:
                cls = getattr(importlib.import_module(key[0]), key[1])
            except Exception as exc:
                raise CorruptDataError(
                    f"the stored type {_dotted(key)} is allowed but cannot be imported "
                    f"({type(exc).__name__}: {exc}); was it renamed or moved?"
                ) from exc
            self._classes[key] = cls
        return cls

    # --- SerializerProtocol ----------------------------------------------------------

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if obj is None or isinstance(obj, (bytes, bytearray)):
            return super().dumps_typed(obj)
        encoder = _Encoder(self.allowed, self._memo, self.check_writes)
        try:
            typed = ("msgpack", ormsgpack.packb(obj, default=encoder.default, option=_PACK_OPTIONS))
        except TypeError as exc:  # ormsgpack.MsgpackEncodeError is a TypeError
            raise TypeError(
                f"cannot store this {type(obj).__name__}: {exc}. Store plain data, or a "
                f"pydantic model / dataclass / enum you allow ({_DOCS})"
            ) from exc
        if self.check_writes and encoder.refused:
            names = sorted(encoder.refused)
            raise DisallowedTypeError(
                f"refusing to store {', '.join(names)}: the serializer would refuse to "
                "load it back. Allow your own types: serde=zerograph.serde."
                f"strict_serializer(allow=[{', '.join(repr(tuple(n.rsplit('.', 1))) for n in names)}]) "
                f"({_DOCS})"
            )
        return typed

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        type_, payload = data
        if type_ == "msgpack":
            return _Decoder(self.allowed, self._resolve, self._fast).run(payload)
        if type_ in _PLAIN_TYPES:
            return super().loads_typed(data)
        if type_ == "json":
            return json.loads(payload, object_hook=self._revive_json)
        if type_ == "pickle":
            raise RefusedDataError(
                "refused to load a pickled value: unpickling runs code the row chooses "
                f"(CVE-2026-27794); zerograph never reads pickle ({_DOCS})"
            )
        if "+" in type_:
            raise RefusedDataError(
                f"this value is encrypted ({type_!r}) but the saver's serializer has no "
                "key: configure serde=zerograph.serde.encrypted_serializer(...) with the "
                f"key it was written with ({_DOCS})"
            )
        raise CorruptDataError(f"unknown serialization type {type_!r}")

    # --- legacy "json" rows ----------------------------------------------------------

    def _revive_json(self, value: dict[str, Any]) -> Any:
        """`object_hook` for the pre-msgpack format: revive allowed types, refuse other
        LangChain envelopes, leave plain dicts alone."""
        lc, kind = value.get("lc"), value.get("type")
        if lc not in (1, 2) or kind not in ("constructor", "secret", "not_implemented"):
            return value
        ident = value.get("id")
        if not isinstance(ident, list) or not ident or not all(isinstance(p, str) for p in ident):
            raise CorruptDataError(f"stored json envelope has a malformed id: {ident!r}")
        if kind != "constructor":
            raise RefusedDataError(
                f"refused a stored lc:{lc} {kind!r} envelope ({_dotted(tuple(ident))}): "
                f"zerograph never reads secrets or placeholders from a row ({_DOCS})"
            )
        if lc == 2:
            key: TypeKey = (".".join(ident[:-1]), ident[-1])
            if key not in self.allowed:
                raise _refusal(key)
            cls = self._resolve(key)
            args, kwargs = value.get("args") or [], value.get("kwargs") or {}
            try:
                return cls(*args, **kwargs)
            except Exception as exc:
                raise CorruptDataError(f"a stored {_dotted(key)} could not be rebuilt: {exc}") from exc
        try:
            return self._lc1_reviver()(value)
        except ValueError as exc:
            raise RefusedDataError(
                f"refused a stored lc:1 constructor {_dotted(tuple(ident))}: {exc}"
            ) from exc

    def _lc1_reviver(self) -> Any:
        """langchain-core's own reviver, limited to message and document classes."""
        if self._lc_reviver is None:
            from langchain_core.load.load import Reviver

            self._lc_reviver = Reviver(
                allowed_objects=[
                    self._resolve(k) for k in sorted(SAFE_TYPES) if k[0].startswith("langchain_core.")
                ],
                secrets_from_env=False,
            )
        return self._lc_reviver


def _refuse_any_ext(code: int, data: bytes) -> Any:
    raise RefusedDataError(f"msgpack extension {code} refused")


class StrictEncryptedSerializer(StrictSerializer):
    """`StrictSerializer` plus a cipher; every stored value is encrypted and authenticated.

    Reads and writes the rows LangGraph's `EncryptedSerializer` does (`"msgpack+aes"`
    and so on), but refuses a row that is not encrypted (LangGraph's loads it as
    plaintext, langgraph#8938) or whose ciphertext fails the cipher's check.

    Args:
        cipher: A LangGraph `CipherProtocol`; `decrypt` must raise on a tampered
            ciphertext (an AEAD mode, as `from_pycryptodome_aes` sets up).
        allow, check_writes: As for `StrictSerializer`.
    """

    def __init__(
        self, cipher: CipherProtocol, *, allow: Iterable[AllowEntry] = (), check_writes: bool = True
    ) -> None:
        super().__init__(allow=allow, check_writes=check_writes)
        self.cipher = cipher

    @classmethod
    def from_pycryptodome_aes(
        cls, key: bytes | str | None = None, *, allow: Iterable[AllowEntry] = (), **kwargs: Any
    ) -> StrictEncryptedSerializer:
        """AES (EAX mode unless `mode=` says otherwise) via LangGraph's own helper.

        `key` is 16, 24 or 32 bytes; without it, the `LANGGRAPH_AES_KEY` environment
        variable. Needs `pip install pycryptodome`.
        """
        from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

        if isinstance(key, str):
            key = key.encode()
        if key is not None:
            if len(key) not in (16, 24, 32):
                raise ConfigError(f"an AES key must be 16, 24 or 32 bytes long, got {len(key)}")
            kwargs["key"] = key
        elif not os.environ.get("LANGGRAPH_AES_KEY"):
            raise ConfigError("pass key=... or set the LANGGRAPH_AES_KEY environment variable")
        try:
            cipher = EncryptedSerializer.from_pycryptodome_aes(**kwargs).cipher
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        return cls(cipher, allow=allow)

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        type_, plain = super().dumps_typed(obj)
        ciphername, ciphertext = self.cipher.encrypt(plain)
        return f"{type_}+{ciphername}", ciphertext

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        type_, ciphertext = data
        if "+" not in type_:
            raise RefusedDataError(
                f"refused a stored value that is not encrypted (type {type_!r}) while "
                "encryption is on: it was written without encryption, or forged. To read "
                "old plaintext rows, migrate them with a serializer without a cipher "
                f"({_DOCS})"
            )
        inner, ciphername = type_.split("+", 1)
        try:
            plain = self.cipher.decrypt(ciphername, ciphertext)
        except Exception as exc:
            raise RefusedDataError(
                f"refused a stored value that failed decryption ({type(exc).__name__}: "
                f"{exc}): it was tampered with, or written with another key ({_DOCS})"
            ) from exc
        return super().loads_typed((inner, plain))


# --- factories ---------------------------------------------------------------------------


def encrypts(serde: Any) -> bool:
    """Does `serde` encrypt what it writes? (LangGraph marks ciphertext `type+cipher`.)"""
    try:
        return "+" in serde.dumps_typed({"zerograph": "probe"})[0]
    except Exception:
        return False


def default_serializer() -> StrictSerializer:
    """The serializer a zerograph saver uses when given `serde=None`."""
    return StrictSerializer()


def strict_serializer(
    allow: Iterable[AllowEntry] = (), *, check_writes: bool = True
) -> StrictSerializer:
    """The default serializer, also allowing your own types.

    ```python
    from enum import Enum

    from pydantic import BaseModel

    from zerograph.serde import strict_serializer


    class Status(Enum):
        OPEN = "open"


    class Ticket(BaseModel):
        title: str
        status: Status


    serde = strict_serializer(allow=[Ticket, Status])
    ticket = Ticket(title="printer", status=Status.OPEN)
    assert serde.loads_typed(serde.dumps_typed(ticket)) == ticket
    ```
    """
    return StrictSerializer(allow=allow, check_writes=check_writes)


def encrypted_serializer(
    cipher: CipherProtocol | None = None,
    *,
    key: bytes | str | None = None,
    allow: Iterable[AllowEntry] = (),
    check_writes: bool = True,
) -> StrictEncryptedSerializer:
    """A strict serializer that encrypts every value and refuses unencrypted rows.

    Pass a LangGraph `CipherProtocol`, or nothing to use AES-EAX (pycryptodome) with
    `key` or the `LANGGRAPH_AES_KEY` environment variable, as LangGraph's
    `EncryptedSerializer.from_pycryptodome_aes()` does.
    """
    if cipher is None:
        serde = StrictEncryptedSerializer.from_pycryptodome_aes(key, allow=allow)
        serde.check_writes = check_writes
        return serde
    if key is not None:
        raise ConfigError("pass either cipher= or key=, not both")
    return StrictEncryptedSerializer(cipher, allow=allow, check_writes=check_writes)
