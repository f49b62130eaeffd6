"""Two small drivers that run the operations of `_ops.py` against redis-py.

An operation is a generator: it yields a batch (a list of commands) and is resumed with
the list of replies, until it returns its result. The sync driver sends each batch as
one redis-py pipeline; the async driver does the same with `redis.asyncio`. That is
all the I/O there is, so the sync and async savers cannot drift apart.

A batch is one non-transactional pipeline (one round trip; on a cluster, one per node,
in parallel). Atomicity comes from the scripts in `_scripts.py`, never from the batch.

Errors: a lost connection or a timeout becomes `StorageError` / `StorageTimeout`, raised
`from` redis-py's error, after redis-py's own retries (every zerograph write is
idempotent, so those retries never apply a write twice). A batch that only reads is
retried once more after a reconnect.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from zerograph.checkpoint.redis._scripts import Script
from zerograph.errors import StorageError, StorageTimeout

__all__ = ["AsyncDriver", "Call", "Cmd", "Op", "SyncDriver"]

Cmd = tuple[Any, ...]


class Call:
    """A script call in a batch: `EVALSHA` with its keys (all in one slot) and args."""

    __slots__ = ("args", "keys", "script")

    def __init__(self, script: Script, keys: list[str], args: list[Any]) -> None:
        self.script, self.keys, self.args = script, keys, args

    def evalsha(self) -> Cmd:
        return ("EVALSHA", self.script.sha, len(self.keys), *self.keys, *self.args)

    def eval(self) -> Cmd:
        return ("EVAL", self.script.source, len(self.keys), *self.keys, *self.args)


Batch = list[Any]  # of Cmd | Call
Op = Generator[Batch, list[Any], Any]

READ_ONLY = frozenset(
    {
        "GET", "EXISTS", "HEXISTS", "HGET", "HMGET", "HGETALL", "HKEYS", "HLEN", "ZCARD", "ZRANGE",
        "ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZSCAN", "ZSCORE",
        "PING",
    }
)


def _is_read_only(batch: Batch) -> bool:
    return all(not isinstance(c, Call) and str(c[0]).upper() in READ_ONLY for c in batch)


def _no_script(exc: BaseException) -> bool:
    from redis.exceptions import NoScriptError

    return isinstance(exc, NoScriptError) or "NOSCRIPT" in str(exc)


def _raise(exc: BaseException, where: str) -> None:
    from redis import exceptions as rex

    if isinstance(exc, rex.TimeoutError):
        raise StorageTimeout(
            f"Redis did not answer in time ({where}): {exc}. A write may or may not have "
            "been applied; zerograph's writes are idempotent, so retrying it is safe."
        ) from exc
    if isinstance(exc, rex.ConnectionError):
        raise StorageError(
            f"lost the connection to Redis ({where}): {exc}. A write may or may not have "
            "been applied; zerograph's writes are idempotent, so retrying it is safe."
        ) from exc
    if isinstance(exc, rex.RedisError):
        raise StorageError(f"Redis refused a command ({where}): {exc}") from exc
    raise exc


def _check(batch: Batch, replies: list[Any]) -> tuple[list[int], Any]:
    """Indexes of script calls that hit NOSCRIPT, and the first other error."""
    retry, error = [], None
    for i, (cmd, reply) in enumerate(zip(batch, replies)):
        if isinstance(reply, BaseException):
            if isinstance(cmd, Call) and _no_script(reply):
                retry.append(i)
            elif error is None:
                error = reply
    return retry, error


def _where(client: Any) -> str:
    try:
        kw = client.connection_pool.connection_kwargs
        return f"{kw.get('host', '?')}:{kw.get('port', '?')}"
    except AttributeError:
        return type(client).__name__


class SyncDriver:
    def __init__(self, client: Any) -> None:
        self.client = client

    def run(self, op: Op) -> Any:
        try:
            batch = next(op)
            while True:
                batch = op.send(self.execute(batch))
        except StopIteration as stop:
            return stop.value

    def execute(self, batch: Batch) -> list[Any]:
        if not batch:
            return []
        attempts = 2 if _is_read_only(batch) else 1
        for attempt in range(attempts):
            try:
                return self._once(batch)
            except Exception as exc:  # noqa: BLE001 - mapped below
                from redis import exceptions as rex

                if attempt + 1 < attempts and isinstance(exc, rex.ConnectionError):
                    time.sleep(0.05)
                    continue
                _raise(exc, _where(self.client))
        raise AssertionError("unreachable")

    def _once(self, batch: Batch) -> list[Any]:
        cluster = hasattr(self.client, "get_node_from_key")
        with self.client.pipeline(transaction=False) as pipe:
            for cmd in batch:
                if isinstance(cmd, Call) and cluster:
                    # Name the node: redis-py's sync cluster pipeline would otherwise ask
                    # the server for an EVALSHA's keys (COMMAND GETKEYS), a round trip each.
                    pipe.execute_command(*cmd.evalsha(), target_nodes=self.client.get_node_from_key(cmd.keys[0]))
                else:
                    pipe.execute_command(*(cmd.evalsha() if isinstance(cmd, Call) else cmd))
            replies = list(pipe.execute(raise_on_error=False))
        retry, error = _check(batch, replies)
        for i in retry:  # the script is not cached on that server (yet): EVAL caches it
            replies[i] = self.client.execute_command(*batch[i].eval())
        if error is not None:
            raise error
        return replies


class AsyncDriver:
    def __init__(self, client: Any) -> None:
        self.client = client

    async def run(self, op: Op) -> Any:
        try:
            batch = next(op)
            while True:
                batch = op.send(await self.execute(batch))
        except StopIteration as stop:
            return stop.value

    async def execute(self, batch: Batch) -> list[Any]:
        import asyncio

        if not batch:
            return []
        attempts = 2 if _is_read_only(batch) else 1
        for attempt in range(attempts):
            try:
                return await self._once(batch)
            except Exception as exc:  # noqa: BLE001 - mapped below
                from redis import exceptions as rex

                if attempt + 1 < attempts and isinstance(exc, rex.ConnectionError):
                    await asyncio.sleep(0.05)
                    continue
                _raise(exc, _where(self.client))
        raise AssertionError("unreachable")

    async def _once(self, batch: Batch) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        try:
            for cmd in batch:
                pipe.execute_command(*(cmd.evalsha() if isinstance(cmd, Call) else cmd))
            replies = list(await pipe.execute(raise_on_error=False))
        finally:
            reset = pipe.reset()
            if reset is not None:
                await reset
        retry, error = _check(batch, replies)
        for i in retry:
            replies[i] = await self.client.execute_command(*batch[i].eval())
        if error is not None:
            raise error
        return replies
