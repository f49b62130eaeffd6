"""Connections, transactions and locking for the SQLite savers.

- A file database gets one connection per OS thread (`threading.local`), all in WAL
  mode with `synchronous` as configured and a `busy_timeout`. Reads run in a deferred
  transaction (a consistent snapshot, never blocked by a writer). Writes take an
  in-process lock first, so threads of one process queue cheaply instead of spinning
  in SQLite's busy handler, then `BEGIN IMMEDIATE`, so a second *process* waits up to
  the timeout for the write lock rather than failing half-way through a transaction
  ("database is locked" on upgrade from a deferred read: langgraph#8136).
- After `fork()` the child drops the parent's connections (never using or closing
  them) and opens its own.
- `:memory:` (and a caller's connection to a temporary database) cannot be shared by
  several connections, so it is one connection behind one re-entrant lock.
- Nothing is held between calls: `list()` fetches a page inside a transaction and yields
  it after the transaction ends, so calling the saver inside a `list()` loop is safe.
- Every `sqlite3` error leaves through `_translate`, as a zerograph `StorageError`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zerograph.checkpoint.sqlite._codec import RecentValues
from zerograph.checkpoint.sqlite._schema import (
    CONNECTION_PRAGMAS,
    FILE_PRAGMAS_BEFORE_TABLES,
    migrate,
)
from zerograph.errors import CorruptDataError, SaverClosedError, SchemaError, StorageError, StorageTimeout

SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024  # truncate the WAL back to this after a checkpoint


class Database:
    """Where a saver's connections live; shared by shallow copies of the saver."""

    def __init__(
        self,
        target: str | Path | sqlite3.Connection,
        *,
        timeout: float,
        synchronous: str,
    ) -> None:
        if synchronous.upper() not in SYNCHRONOUS_LEVELS:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS_LEVELS}, got {synchronous!r}")
        if timeout < 0:
            raise ValueError(f"timeout must be >= 0 seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self.synchronous = synchronous.upper()
        self._shared: sqlite3.Connection | None = None
        self._owns_shared = True
        if isinstance(target, sqlite3.Connection):
            path = _file_of(target)
            if path is None:  # the caller's in-memory database: use it, never close it
                self._shared = target
                self._owns_shared = False
                target.isolation_level = None  # the saver issues BEGIN/COMMIT itself
            self.path = path or ":memory:"
        else:
            self.path = os.fspath(target)
            if self.path in ("", ":memory:") or "mode=memory" in self.path:
                self._shared = self._connect()
        self.in_memory = self._shared is not None
        self._lock = threading.RLock()  # guards the shared connection, or serializes writers
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._ready = False
        self._closed = False
        # last written version per (thread, ns, channel): bases for tail-encoded values
        self.recent = RecentValues()

    # --- connections -------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        uri = self.path.startswith("file:")
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,
                uri=uri,
            )
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot open the SQLite database {self.path!r}: {exc}. Check that its "
                "directory exists and is writable, and that the path is not a directory."
            ) from exc
        try:
            if self.path not in ("", ":memory:") and "mode=memory" not in self.path:
                # One thread of this process at a time: on a new file, switching to WAL
                # needs an exclusive lock and SQLite answers "locked" at once, without
                # its busy handler, when another connection is doing the same.
                with self._lock:
                    self._open_file(conn)
            conn.execute(f"PRAGMA synchronous={self.synchronous}")  # validated above
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000):d}")
            for name, value in CONNECTION_PRAGMAS.items():
                conn.execute(f"PRAGMA {name}={value}")  # module constants
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            conn.close()
            if isinstance(exc, UnicodeDecodeError):
                raise CorruptDataError(f"the SQLite database {self.path!r} is damaged ({exc})") from exc
            raise _translate(exc, self.path) from exc
        return conn

    def _open_file(self, conn: sqlite3.Connection) -> None:
        # Only on a new, empty file, before WAL writes its header (setting
        # auto_vacuum on an existing file rewrites its header, even to the same value).
        if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
            for name, value in FILE_PRAGMAS_BEFORE_TABLES.items():
                conn.execute(f"PRAGMA {name}={value}")  # module constants
        deadline = time.monotonic() + self.timeout
        while True:  # another *process* may be switching the same new file to WAL
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT:d}")

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise SaverClosedError("this saver was closed; create a new one")
        if self._shared is not None:
            return self._shared
        if os.getpid() != self._pid:
            # Forked: the parent's connections must not be used (or closed) here.
            self._pid = os.getpid()
            self._local = threading.local()
            self._opened = []
            self._lock = threading.RLock()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    def setup(self) -> None:
        """Create or upgrade the schema once per saver; cheap after the first call."""
        if self._ready:
            return
        conn = self._connection()
        with self._lock:
            if self._ready:
                return
            try:
                migrate(conn)
            except SchemaError:
                raise
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
            self._ready = True

    # --- transactions ------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for one operation."""
        self.setup()
        conn = self._connection()
        if self._shared is not None:
            with self._lock, _translated(self.path):
                yield conn
            return
        with _translated(self.path):
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction: all of it commits, or none of it."""
        self.setup()
        conn = self._connection()
        with self._lock, _translated(self.path):
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # SQLite already rolled back on e.g. SQLITE_FULL
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def maintenance(self) -> Iterator[sqlite3.Connection]:
        """The write lock without a transaction, for PRAGMAs that manage their own
        (incremental_vacuum, wal_checkpoint, VACUUM)."""
        self.setup()
        conn = self._connection()
        with self._lock, _translated(self.path):
            yield conn

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._lock:
            if self._shared is not None:
                conns = [self._shared] if self._owns_shared else []
            else:
                conns = list(self._opened)
            self._opened = []
        if os.getpid() == self._pid:
            for conn in conns:
                if conn is not None:
                    conn.close()


def _file_of(conn: sqlite3.Connection) -> str | None:
    """The file behind a caller's connection, or None for an in-memory/temporary one."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return file or None
    return None


@contextmanager
def _translated(path: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise _translate(exc, path) from exc
    except UnicodeDecodeError as exc:  # a damaged page under a TEXT column
        raise CorruptDataError(f"the SQLite database {path!r} holds damaged text ({exc})") from exc


def _translate(exc: sqlite3.Error, path: str) -> StorageError:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return StorageTimeout(
            f"the SQLite database {path!r} stayed locked by another writer past the "
            f"busy timeout ({text}); raise `timeout=` or shorten the other writer's "
            "transactions"
        )
    if "file is not a database" in text:
        return SchemaError(f"{path!r} is not a SQLite database ({text}); nothing was changed")
    if "readonly" in text or "read-only" in text:
        return StorageError(f"the SQLite database {path!r} is read-only ({text})")
    if "disk is full" in text or "database or disk is full" in text:
        return StorageError(f"no space left for the SQLite database {path!r} ({text}); nothing was written")
    return StorageError(f"SQLite error on {path!r}: {text}")
