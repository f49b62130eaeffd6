"""Threads as a first-class thing: summaries, paging cursors, retention settings, the
background sweeper, and storage reports. Pure types and helpers; backends fill them.

- `ThreadInfo` is what `list_threads` / `thread_info` return, served from a per-thread
  index (never from checkpoint blobs).
- `list_threads` orders by last update, newest first, and pages with an opaque cursor
  holding `(updated_at, thread_id)`: a thread that is not written during paging appears
  exactly once; a thread written meanwhile moves to the front and is not repeated.
- Retention: `ttl` removes threads untouched for longer than it, at `sweep()` time or on
  an opt-in background interval (`Sweeper`). `clock` is injectable for tests.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from zerograph.errors import ConfigError

__all__ = [
    "StorageReport",
    "Sweeper",
    "ThreadInfo",
    "ThreadPage",
    "decode_cursor",
    "encode_cursor",
    "seconds",
    "timestamp",
]

logger = logging.getLogger("zerograph")

DEFAULT_THREAD_PAGE = 100
# How long a deleted thread's tombstone refuses late writes from its old timeline.
DEFAULT_TOMBSTONE_TTL = 7 * 24 * 3600.0


@dataclass(frozen=True)
class ThreadInfo:
    """A summary of one thread, read from the thread index.

    `metadata` is the newest root-namespace checkpoint's metadata; `bytes` counts the
    stored payload (checkpoints, metadata, channel values, pending writes) as stored.
    Times are Unix seconds from the saver's clock.
    """

    thread_id: str
    created_at: float
    updated_at: float
    checkpoints: int
    namespaces: tuple[str, ...]
    latest_checkpoint_id: str | None
    metadata: dict[str, Any]
    bytes: int


@dataclass(frozen=True)
class ThreadPage:
    """One page of `list_threads`; pass `next_cursor` back for the next page (None: done)."""

    threads: list[ThreadInfo]
    next_cursor: str | None

    def __iter__(self) -> Iterator[ThreadInfo]:
        return iter(self.threads)

    def __len__(self) -> int:
        return len(self.threads)


@dataclass(frozen=True)
class StorageReport:
    """Where the bytes are: per thread, and per channel (values + pending writes)."""

    total_bytes: int
    by_thread: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, int] = field(default_factory=dict)
    checkpoint_bytes: int = 0  # checkpoint rows + metadata, outside any channel


def seconds(value: float | int | timedelta | None, name: str) -> float | None:
    """A duration in seconds from a number or a timedelta; None stays None."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds or a timedelta, got {value!r}")
    return float(value)


def timestamp(value: float | int | datetime | None, name: str) -> float | None:
    """Unix seconds from a number or an aware/naive (taken as local) datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be Unix seconds or a datetime, got {value!r}")
    return float(value)


def check_page_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"limit must be an int >= 1, got {limit!r}")
    return limit


def encode_cursor(updated_at: float, thread_id: str) -> str:
    raw = json.dumps([updated_at, thread_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str | None) -> tuple[float, str] | None:
    """The `(updated_at, thread_id)` a cursor resumes after; ConfigError if it is not ours."""
    if cursor is None:
        return None
    try:
        updated_at, thread_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if isinstance(updated_at, (int, float)) and isinstance(thread_id, str):
            return float(updated_at), thread_id
    except (ValueError, TypeError, AttributeError):
        pass
    raise ConfigError("cursor is not one list_threads returned; pass next_cursor back unchanged")


class Sweeper:
    """Calls `sweep()` every `interval` seconds on a daemon thread until stopped."""

    def __init__(self, sweep: Callable[[], int], interval: float) -> None:
        self._sweep = sweep
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="zerograph-sweeper", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._sweep()
            except Exception:  # keep sweeping; the error is the user's to see in logs
                logger.exception("zerograph: background sweep failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
