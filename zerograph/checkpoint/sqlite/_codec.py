"""Compact storage of channel values that grow every step.

A channel such as `messages` gets a new version at every step, equal to the previous
list plus a message or two. Stored whole, a thread's storage grows with the square of
its length (langgraph#7586). Here a new version that extends a recent version of the
same channel is stored as its tail only:

    stored = len(head) (1 byte) + head + tail

where `head` is the new value's container header (msgpack array/map/str header: the
length changed) and `tail` is what follows the base version's payload. Decoding is
`head + base_payload + tail`, byte for byte what the serializer produced, so this works
for any serializer and is invisible to readers.

A thread that trims its list (a sliding window, `new = old[k:] + added`) does not extend
the previous version, but its payload starts somewhere inside the previous payload. That
version is stored as a sliding tail, with `skip`, the bytes of the base payload it drops
(4 bytes, big-endian):

    stored = len(head) (1 byte) + head + skip + tail,  decoded: head + base_payload[skip:] + tail

Both are pure byte-level deltas, checked with a memcmp when encoding, so element
boundaries do not matter. Every `FULL_EVERY`-th version of a chain is stored whole, so
one read resolves at most `FULL_EVERY` rows. Whole bodies of `COMPRESS_MIN` bytes or
more, and tails of `TAIL_COMPRESS_MIN` or more, are zlib-compressed when that saves at
least an eighth.

`enc` bits, stored per blob row: `ZLIB` (body is compressed), `TAIL` (body extends the
row whose version is in `base`), `SKIP` (with `TAIL` only: the body starts with `skip`).
`decode` refuses any other combination with `ValueError`, never guessing.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from typing import NamedTuple

ZLIB = 1
TAIL = 2
SKIP = 4
KNOWN = ZLIB | TAIL | SKIP
FULL_EVERY = 16
COMPRESS_MIN = 256
# A tail is usually a message or two: compressing it saves a few hundred bytes, and
# every read of the chain would pay a zlib call per row for them.
TAIL_COMPRESS_MIN = 1024
ZLIB_LEVEL = 1  # fast; most of the saving comes from not storing history twice
PROBE = 64  # bytes of the new payload looked up in the base payload, for SKIP
TRIES = 8  # occurrences of the probe checked; about how many elements a window drops


class Recent(NamedTuple):
    """The last version this process wrote of one channel: a base for the next, and a
    read of that version that skips decoding when the stored row is still this one."""

    version: str
    type: str
    data: bytes  # what the serializer produced
    depth: int  # how many TAIL rows lead back to a whole copy
    enc: int  # what was stored: enc, base version and body
    base: str | None
    body: bytes

    def stored_as(self, version: str, enc: int, base: str | None, body: bytes | None) -> bool:
        return self.version == version and self.enc == enc and self.base == base and self.body == body


def header_len(first: int) -> int | None:
    """Length of a msgpack map/array/str header from its first byte; None for others."""
    if 0x80 <= first <= 0xBF:  # fixmap, fixarray, fixstr
        return 1
    return {0xD9: 2, 0xDA: 3, 0xDC: 3, 0xDE: 3, 0xDB: 5, 0xDD: 5, 0xDF: 5}.get(first)


def encode(data: bytes, base: Recent | None) -> tuple[int, str | None, bytes, int]:
    """How to store `data`: `(enc, base_version, body, depth)`."""
    enc, base_version, depth, body = 0, None, 0, data
    if base is not None and data and base.data and base.depth + 1 < FULL_EVERY:
        hn, ho = header_len(data[0]), header_len(base.data[0])
        if hn is not None and ho is not None:
            skip = _overlap(data, hn, base.data, ho)
            if skip is not None:
                tail = data[hn + len(base.data) - ho - skip :]
                if 2 * len(tail) < len(data):
                    head = bytes([hn]) + data[:hn]
                    body = head + tail if skip == 0 else head + skip.to_bytes(4, "big") + tail
                    enc, base_version, depth = TAIL | (SKIP if skip else 0), base.version, base.depth + 1
    if len(body) >= (TAIL_COMPRESS_MIN if enc & TAIL else COMPRESS_MIN):
        packed = zlib.compress(body, ZLIB_LEVEL)
        if len(packed) <= len(body) - len(body) // 8:
            body, enc = packed, enc | ZLIB
    return enc, base_version, body, depth


def _overlap(data: bytes, hn: int, base: bytes, ho: int) -> int | None:
    """The smallest `skip` such that the new payload `data[hn:]` starts with the base
    payload `base[ho + skip:]` (0: it extends the base), or None. Candidates are where
    the new payload's first bytes occur in the base payload, at most `TRIES` of them;
    each is checked with a memcmp. The probe is no longer than half the new payload:
    a shorter overlap leaves a tail too long to be worth storing."""
    payload = memoryview(base)[ho:]
    if len(data) - hn >= len(payload) and data.startswith(payload, hn):
        return 0
    probe = data[hn : hn + min(PROBE, (len(data) - hn) // 2)]
    pos = base.find(probe, ho + 1) if probe else -1
    for _ in range(TRIES):
        if pos < 0:
            return None
        if data.startswith(payload[pos - ho :], hn):
            return pos - ho if pos - ho < 1 << 32 else None
        pos = base.find(probe, pos + 1)
    return None


class Piece(NamedTuple):
    """One stored row, decompressed and checked: a whole value (`whole`), or how a
    version changes its base (`head`, `skip`, `tail`)."""

    whole: bytes | None
    head: bytes = b""
    skip: int = 0
    tail: bytes = b""


def piece(enc: int, body: bytes) -> Piece:
    """Parse a stored body; `ValueError` for anything this version cannot read exactly."""
    if enc & ~KNOWN or (enc & SKIP and not enc & TAIL):
        raise ValueError(f"unknown encoding {enc} (written by a newer zerograph?)")
    if not isinstance(body, bytes):
        raise ValueError(f"the stored value is {type(body).__name__}, not bytes")
    if enc & ZLIB:
        try:
            body = zlib.decompress(body)
        except zlib.error as exc:
            raise ValueError(f"the stored value does not decompress: {exc}") from None
    if not enc & TAIL:
        return Piece(body)
    hn = body[0] if body else 0
    start = 1 + hn + (4 if enc & SKIP else 0)
    if not hn or len(body) < start or header_len(body[1]) != hn:
        raise ValueError("the stored value is truncated or its header is not a container's")
    return Piece(None, body[1 : 1 + hn], int.from_bytes(body[1 + hn : start], "big"), body[start:])


def assemble(bottom: bytes | None, chain: list[Piece]) -> bytes:
    """The bytes of the newest version of a chain: `bottom` (a whole value) with the
    tails in `chain` (oldest first) applied, in one copy.

    Level by level, `payload_k = payload_(k-1)[skip_k:] + tail_k`; since every skip is
    checked against the payload it applies to, that is `(payload_0 + tail_1 + ... +
    tail_n)[skip_1 + ... + skip_n:]`, joined once instead of once per level.
    """
    if not chain:
        if bottom is None:
            raise ValueError("the stored value is missing")
        return bottom
    if bottom is None:
        raise ValueError("the stored value extends a base version that is missing")
    ho = header_len(bottom[0]) if bottom else None
    if ho is None:
        raise ValueError("the base version of a stored value is not a container")
    parts: list[bytes | memoryview] = [memoryview(bottom)[ho:]]
    length, drop = len(bottom) - ho, 0
    for p in chain:
        if p.skip > length:
            raise ValueError(f"the stored value skips {p.skip} bytes of a shorter base version")
        length += len(p.tail) - p.skip
        drop += p.skip
        parts.append(p.tail)
    first = 0
    while drop:  # drop the skipped bytes from the front, without copying
        if drop >= len(parts[first]):
            drop -= len(parts[first])
            first += 1
        else:
            parts[first] = memoryview(parts[first])[drop:]
            drop = 0
    return b"".join([chain[-1].head, *parts[first:]])


def decode(enc: int, body: bytes, base_data: bytes | None) -> bytes:
    """The serializer's bytes back from a stored body (and its base's decoded bytes);
    `ValueError` for anything this version cannot read exactly."""
    p = piece(enc, body)
    return p.whole if p.whole is not None else assemble(base_data, [p])


class RecentValues:
    """An LRU of the last written version per (thread key, ns, channel), bounded in bytes.

    Only a base the current write transaction has checked is still stored is used, so
    a stale entry (deleted or pruned elsewhere) costs a whole copy, never a broken chain.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._items: OrderedDict[tuple[int, str, str], Recent] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes

    def get(self, key: tuple[int, str, str]) -> Recent | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def peek(self, key: tuple[int, str, str]) -> Recent | None:
        """`get` for readers, who hold no lock: one dict read, no reordering."""
        return self._items.get(key)

    def put(self, key: tuple[int, str, str], item: Recent) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= len(old.data)
        if len(item.data) > self._max // 4:
            return
        self._items[key] = item
        self._bytes += len(item.data)
        while self._bytes > self._max:
            _, evicted = self._items.popitem(last=False)
            self._bytes -= len(evicted.data)

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
