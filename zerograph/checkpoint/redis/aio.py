"""`AsyncRedisSaver`: the Redis saver on `redis.asyncio`, for `ainvoke` / `astream`.

The same operations as `RedisSaver` (`_ops.py`), run by the async driver on the event
loop that awaits them. Its sync methods run the same operations on a sync client: one
it creates itself (`from_url`) or the `sync_client` you pass; without one they raise.

An asyncio connection belongs to the loop that opened it. The saver remembers that
loop: if it is later used from another loop (tests often make one loop per test), a
client it owns is replaced by a fresh one (the old one's sockets closed); and `close()`
works from sync code, even after that loop has been closed. A client you pass in must
be used from one loop, as redis-py requires.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol

from zerograph.checkpoint.redis._base import RedisSaverBase, check_client
from zerograph.checkpoint.redis._driver import AsyncDriver, Op, SyncDriver
from zerograph.checkpoint.redis.saver import client_options, close_client
from zerograph.errors import ConfigError, UnsupportedOperation

__all__ = ["AsyncRedisSaver"]


class AsyncRedisSaver(RedisSaverBase):
    """A LangGraph checkpoint saver on Redis with `redis.asyncio`.

    Args:
        client: A `redis.asyncio.Redis` or `redis.asyncio.cluster.RedisCluster`
            (`decode_responses=False`); not closed by the saver.
        sync_client: Optionally, a sync client to the same server, used by the sync
            methods (and the background sweeper).
        key_prefix, ttl, sweep_interval, clock, serde: as for `RedisSaver`.
    """

    def __init__(
        self,
        client: Any,
        *,
        sync_client: Any = None,
        key_prefix: str = "zerograph",
        ttl: float | timedelta | None = None,
        sweep_interval: float | timedelta | None = None,
        clock: Callable[[], float] | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        check_client(client)
        if sync_client is not None:
            check_client(sync_client)
        self._client = client
        self._owns_client = False
        self._driver = AsyncDriver(client)
        self._sync_client = sync_client
        self._make_sync: Callable[[], Any] | None = None
        self._make_async: Callable[[], Any] | None = None
        self._owns_sync = False
        self._loop: asyncio.AbstractEventLoop | None = None
        if sweep_interval is not None and sync_client is None:
            raise ConfigError(
                "AsyncRedisSaver's background sweeper needs a sync client: use from_url(...) "
                "or pass sync_client=redis.Redis(...)"
            )
        super().__init__(key_prefix=key_prefix, ttl=ttl, sweep_interval=sweep_interval, clock=clock, serde=serde)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        cluster: bool = False,
        ttl: float | timedelta | None = None,
        key_prefix: str = "zerograph",
        sweep_interval: float | timedelta | None = None,
        clock: Callable[[], float] | None = None,
        serde: SerializerProtocol | None = None,
        **client_kwargs: Any,
    ) -> AsyncRedisSaver:
        """A saver owning its clients: `async with AsyncRedisSaver.from_url(url) as saver:`.

        The asyncio client connects lazily, on the loop of the first call. A sync client
        for the sync methods is made the first time one is used.
        """
        import redis
        import redis.asyncio as aredis

        opts = client_options(client_kwargs, cluster=cluster, asyncio_client=True)
        sync_opts = client_options(client_kwargs, cluster=cluster, asyncio_client=False)
        if cluster:
            from redis.asyncio.cluster import RedisCluster as AsyncCluster
            from redis.cluster import RedisCluster

            make_async: Callable[[], Any] = functools.partial(AsyncCluster.from_url, url, **opts)
            make_sync: Callable[[], Any] = functools.partial(RedisCluster.from_url, url, **sync_opts)
        else:
            make_async = functools.partial(aredis.Redis.from_url, url, **opts)
            make_sync = functools.partial(redis.Redis.from_url, url, **sync_opts)
        client = make_async()
        sync_client = make_sync() if sweep_interval is not None else None
        saver = cls(
            client, sync_client=sync_client, key_prefix=key_prefix, ttl=ttl,
            sweep_interval=sweep_interval, clock=clock, serde=serde,
        )
        saver._owns_client = True
        saver._owns_sync = True
        saver._make_sync = make_sync
        saver._make_async = make_async
        return saver

    @property
    def client(self) -> Any:
        """The `redis.asyncio` client the saver uses."""
        return self._client

    # --- drivers -------------------------------------------------------------------------

    async def _async(self, op: Op) -> Any:
        self._life.enter(type(self).__name__)
        try:
            loop = asyncio.get_running_loop()
            if loop is not self._loop:
                if self._loop is not None and self._owns_client and self._make_async is not None:
                    # Its connections belong to the old loop: close them and start afresh
                    # (a cluster client would otherwise be re-initialised in place).
                    _drop_connections(self._client, self._loop)
                    self._client = self._make_async()
                    self._driver = AsyncDriver(self._client)
                self._loop = loop
            return await self._driver.run(op)
        finally:
            self._life.leave()

    def _sync(self, op: Op) -> Any:
        self._life.enter(type(self).__name__)
        try:
            if self._sync_client is None:
                if self._make_sync is None:
                    raise UnsupportedOperation(
                        "this AsyncRedisSaver has no sync client: await the a* method instead, "
                        "or pass sync_client=redis.Redis(...) (from_url makes one for you)"
                    )
                self._sync_client = self._make_sync()
            return SyncDriver(self._sync_client).run(op)
        finally:
            self._life.leave()

    async def asetup(self) -> None:
        """Check the server answers. Nothing to create: keys appear as they are written."""
        await self._async(_ping())

    def setup(self) -> None:
        self._sync(_ping())

    # --- closing -------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop the sweeper, let running operations finish, close owned clients."""
        RedisSaverBase.close(self)  # the sweeper
        if not self._life.close(timeout=0):
            return
        deadline = asyncio.get_running_loop().time() + 30
        while self._life.inflight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)  # other tasks on this loop finish their operations
        self._close_sync_client()
        if self._owns_client:
            loop = asyncio.get_running_loop()
            if self._loop is not None and self._loop is not loop:
                _drop_connections(self._client, self._loop)
            await _aclose(self._client)

    def close(self) -> None:
        """Close from sync code, wherever the client's loop is (running, stopped, closed)."""
        RedisSaverBase.close(self)
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        # Wait for running operations unless they need this very thread's loop to finish.
        if not self._life.close(timeout=0 if loop is not None and loop is running else 30):
            return
        self._close_sync_client()
        if not self._owns_client:
            return
        if loop is None or loop.is_closed() or loop is running:
            _drop_connections(self._client, loop)
        elif loop.is_running():  # another thread runs it
            asyncio.run_coroutine_threadsafe(_aclose(self._client), loop).result(timeout=30)
        else:
            loop.run_until_complete(_aclose(self._client))

    def _close_sync_client(self) -> None:
        if self._sync_client is not None and self._owns_sync:
            close_client(self._sync_client)
            self._sync_client = None


def _ping() -> Op:
    yield [("PING",)]


async def _aclose(client: Any) -> None:
    close = getattr(client, "aclose", None) or client.close
    await close()


def _connections(client: Any) -> list[Any]:
    """Every open connection of a `redis.asyncio` client or cluster client."""
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        return [*getattr(pool, "_available_connections", ()), *getattr(pool, "_in_use_connections", ())]
    conns = []
    manager = getattr(client, "nodes_manager", None)
    nodes = [*getattr(manager, "nodes_cache", {}).values(), *getattr(manager, "startup_nodes", {}).values()]
    for node in nodes:
        conns += list(getattr(node, "_connections", ()))
    return conns


def _drop_connections(client: Any, loop: asyncio.AbstractEventLoop | None) -> None:
    """Close a client's sockets synchronously; they reconnect on next use.

    On a live loop, closing the transport is enough. On a closed loop the transport can
    no longer schedule its own close, so the socket is closed directly (else Python
    warns about an unclosed socket and transport when they are collected).
    """
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for conn in _connections(client):
        writer = getattr(conn, "_writer", None)
        if writer is None:
            continue
        transport = writer.transport
        if loop is not None and loop is running:
            transport.close()  # the loop closes the socket on its next iteration
        else:  # nobody will run that loop's callbacks: close the socket here
            sock = getattr(transport, "_sock", None)
            if sock is not None:
                if loop is not None and not loop.is_closed():
                    loop._remove_reader(sock.fileno())  # type: ignore[attr-defined]
                sock.close()
                transport._sock = None
            transport._closing = True
        conn._reader = conn._writer = None
    if hasattr(client, "_initialize"):  # an asyncio cluster client: set up again on next use
        client._initialize = True
