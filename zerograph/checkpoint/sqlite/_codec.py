"""Compact storage of channel values that grow every step.

A channel such as `messages` gets a new version at every step, equal to the previous
list plus a message or two. Stored whole, a thread's storage grows with the square of
its length (langgraph#7586). Here a new version that extends a recent version of the
same channel is stored as its tail only:

    stored = len(head) (1 byte) + head + tail

where `head` is the new value's container header (msgpack array/map/str header: the
length changed) and `tail` is what follows the base version's payload. Decoding is
`head + base_payload + tail`, byte for byte what the serializer produced, so this works
for any serializer and is invisible to readers. Every `FULL_EVERY`-th version of a chain
is stored whole, so one read resolves at most `FULL_EVERY` rows. Bodies (whole or
tails) of `COMPRESS_MIN` bytes or more are zlib-compressed when that saves at least an
eighth.

`enc` bits, stored per blob row: `ZLIB` (body is compressed), `TAIL` (body extends the
row whose version is in `base`).
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from typing import NamedTuple

ZLIB = 1
TAIL = 2
FULL_EVERY = 16
COMPRESS_MIN = 256
ZLIB_LEVEL = 1  # fast; most of the saving comes from not storing history twice


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
            n = len(base.data) - ho
            if len(data) - hn >= n and data.startswith(memoryview(base.data)[ho:], hn):  # memcmp
                tail = data[hn + n :]
                if 2 * len(tail) < len(data):
                    body = bytes([hn]) + data[:hn] + tail
                    enc, base_version, depth = TAIL, base.version, base.depth + 1
    if len(body) >= COMPRESS_MIN:
        packed = zlib.compress(body, ZLIB_LEVEL)
        if len(packed) <= len(body) - len(body) // 8:
            body, enc = packed, enc | ZLIB
    return enc, base_version, body, depth


def decode(enc: int, body: bytes, base_data: bytes | None) -> bytes:
    """The serializer's bytes back from a stored body (and its base's decoded bytes)."""
    if enc & ZLIB:
        body = zlib.decompress(body)
    if not enc & TAIL:
        return body
    if base_data is None:
        raise ValueError("the stored value extends a base version that is missing")
    hn = body[0]
    ho = header_len(base_data[0])
    if ho is None:
        raise ValueError("the base version of a stored value is not a container")
    return body[1 : 1 + hn] + base_data[ho:] + body[1 + hn :]


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
