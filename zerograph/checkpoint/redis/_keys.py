"""Where the Redis savers keep things: key names, field/member encodings, records.

Every key of one thread carries the thread as a Redis Cluster hash tag, so all of a
thread's keys live in one slot and every per-thread script or pipeline is single-slot:

| key                          | type | holds                                                       |
|------------------------------|------|-------------------------------------------------------------|
| `P:{T}:h`                    | hash | `created`, `updated` (saver clock), `rev` (bumped by every change to the checkpoint set), `epoch` (bumped by deletions), `bytes` (stored payload) |
| `P:{T}:cp`                   | hash | `F(ns, id)` -> checkpoint without channel values            |
| `P:{T}:md`                   | hash | `F(ns, id)` -> metadata, parent id, run id                   |
| `P:{T}:bl`                   | hash | `F(ns, channel, version)` -> one channel value (once per version) |
| `P:{T}:wr`                   | hash | `F(ns, id, task_id, idx)` -> pending write (+ task_path)     |
| `P:{T}:id`                   | zset | `F(id, ns)`, score 0: the thread's checkpoints in id order   |
| `P:{T}:ns`                   | zset | `F(ns, id)`, score 0: each namespace's checkpoints in id order |
| `P:{T}:wi`                   | zset | the `wr` fields, score 0: one checkpoint's writes by range   |
| `P:{T}:ru`                   | zset | `F(run_id, ns, id)`, score 0: checkpoints by run             |
| `P:{T}:nc`                   | hash | namespace -> number of checkpoints in it                    |
| `P:{T}:x`                    | string | tombstone: the thread was deleted (or, with a TTL, lived) recently |
| `P:threads`                  | zset | thread id, score = last write (saver clock): `list_threads`, `list(None)`, `sweep` |
| `P:runs`                     | zset | `F(run_id) + "\\0" + thread id`, score 0: `delete_for_runs`  |

`P` is the key prefix; `T` is the thread id percent-escaped (`%`, `:`, `{`, `}`, space
and control characters become `%XX`; the empty id becomes a lone `%`, which no other id
produces), so a tag never contains `}` and two thread ids never share a key.

Inside a thread's hashes and sorted sets, a composite name `F(a, b, ...)` joins the
parts with NUL after an order-preserving escape of each part (NUL -> `\\1\\1`,
`\\1` -> `\\1\\2`). It is injective, and because the escape preserves order, a
`ZRANGEBYLEX` over `F(id, ns)` returns checkpoints in checkpoint-id order, and
`F(ns, ...)` prefixes select one namespace.

The two global sorted sets live in their own slots; they are written by separate
idempotent commands after the thread's own write, and readers tolerate stale entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import ormsgpack

from zerograph.errors import ConfigError, CorruptDataError

__all__ = ["ThreadKeys", "escape_key_part", "field", "pack", "unfield", "unpack", "upper"]

_KEY_UNSAFE = re.compile(r"[%:{}\x00-\x20\x7f]")

# Sorted-set range bounds: every encoded part is UTF-8 text, which never holds 0xff.
HIGH = b"\xff"


def escape_key_part(part: str) -> str:
    """Percent-escape a key component: injective, and free of `:`, `{`, `}`."""
    if part == "":
        return "%"
    return _KEY_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", part)


def _lex(part: str) -> bytes:
    return part.encode("utf-8").replace(b"\x01", b"\x01\x02").replace(b"\x00", b"\x01\x01")


def _unlex(raw: bytes) -> str:
    out = bytearray()
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == 1:
            out.append(raw[i + 1] - 1)
            i += 2
        else:
            out.append(b)
            i += 1
    return out.decode("utf-8")


def field(*parts: str) -> bytes:
    """`F(a, b, ...)`: an injective, order-preserving composite name."""
    return b"\x00".join(_lex(p) for p in parts)


def unfield(raw: bytes) -> list[str]:
    """The parts `field` joined."""
    return [_unlex(p) for p in raw.split(b"\x00")]


def prefix_of(*parts: str) -> bytes:
    """The lex range start of every `field(*parts, ...)` with more parts after these."""
    return field(*parts) + b"\x00"


def upper(prefix: bytes) -> bytes:
    """An exclusive upper bound for members starting with `prefix`."""
    return prefix + HIGH


def pack(*items: Any) -> bytes:
    """A record: a msgpack array of str / bytes / int / None. Never an object."""
    return ormsgpack.packb(list(items))


def unpack(raw: bytes, what: str) -> list[Any]:
    try:
        value = ormsgpack.unpackb(raw)
    except Exception as exc:
        raise CorruptDataError(f"{what} could not be decoded: {exc}") from exc
    if not isinstance(value, list):
        raise CorruptDataError(f"{what} is not a zerograph record")
    return value


def check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not prefix or _KEY_UNSAFE.search(prefix.replace(":", "")):
        raise ConfigError(
            f"key_prefix must be a non-empty str without braces, '%', spaces or control "
            f"characters, got {prefix!r}"
        )
    return prefix


@dataclass(frozen=True)
class ThreadKeys:
    """Every key of one thread (all in one hash slot)."""

    thread_id: str
    head: str
    cp: str
    md: str
    bl: str
    wr: str
    id: str
    ns: str
    wi: str
    ru: str
    nc: str
    tomb: str

    @classmethod
    def of(cls, prefix: str, thread_id: str) -> ThreadKeys:
        base = f"{prefix}:{{{escape_key_part(thread_id)}}}:"
        return cls(
            thread_id,
            *(base + k for k in ("h", "cp", "md", "bl", "wr", "id", "ns", "wi", "ru", "nc", "x")),
        )

    @property
    def all(self) -> list[str]:
        """The keys a write script receives (the order the scripts index them by)."""
        return [self.head, self.cp, self.md, self.bl, self.wr, self.id, self.ns, self.wi, self.ru, self.nc, self.tomb]


def threads_key(prefix: str) -> str:
    return f"{prefix}:threads"


def runs_key(prefix: str) -> str:
    return f"{prefix}:runs"


def run_member(run_id: str, thread_id: str) -> bytes:
    """A `P:runs` member: the escaped run, NUL, then the raw thread id (the last part)."""
    return prefix_of(run_id) + thread_id.encode("utf-8")


def run_member_thread(member: bytes, run_id: str) -> str:
    return member[len(prefix_of(run_id)) :].decode("utf-8")
