"""`RedisSaver`: LangGraph checkpoints in Redis (or Valkey, or a managed service, or a
Redis Cluster) with redis-py's sync client. Core commands and a few Lua scripts only:
no RedisJSON, no RediSearch. The key layout is in `_keys.py`, the logic in `_ops.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol

from zerograph.checkpoint.redis._base import RedisSaverBase, check_client
from zerograph.checkpoint.redis._driver import Op, SyncDriver

__all__ = ["RedisSaver", "client_options", "close_client"]


def client_options(kwargs: dict[str, Any], *, cluster: bool, asyncio_client: bool) -> dict[str, Any]:
    """Defaults for clients the saver creates: bytes replies, bounded timeouts and a
    short bounded retry (safe: every zerograph write is idempotent)."""
    opts = {"socket_connect_timeout": 5.0, "socket_timeout": 30.0, **kwargs, "decode_responses": False}
    if not cluster and "retry" not in opts:
        if asyncio_client:
            from redis.asyncio.retry import Retry
        else:
            from redis.retry import Retry  # type: ignore[assignment]
        from redis.backoff import ExponentialBackoff
        from redis.exceptions import ConnectionError, TimeoutError

        opts["retry"] = Retry(ExponentialBackoff(cap=0.5, base=0.05), 3)
        opts.setdefault("retry_on_error", [ConnectionError, TimeoutError])
    return opts


def _ping() -> Op:
    yield [("PING",)]


def close_client(client: Any) -> None:
    """Close a sync client the saver created, sockets included.

    `RedisCluster.from_url` builds each node's client on a pool it passes in, and
    redis-py's `close()` leaves such pools connected: disconnect them explicitly.
    """
    manager = getattr(client, "nodes_manager", None)
    if manager is not None:
        nodes = [*manager.nodes_cache.values(), *manager.startup_nodes.values()]
        for node in nodes:
            if node.redis_connection is not None:
                node.redis_connection.connection_pool.disconnect()
    client.close()


class RedisSaver(RedisSaverBase):
    """A LangGraph checkpoint saver on Redis, with redis-py's sync client.

    Args:
        client: A `redis.Redis` or `redis.cluster.RedisCluster` (with
            `decode_responses=False`). The saver does not close a client it was given;
            use `from_url` for one it owns.
        key_prefix: The first part of every key, so several savers (or apps) can share
            a database.
        ttl: Seconds (or a timedelta). Every key a thread has expires this long after
            the thread's last write, all at the same moment; `sweep()` also removes
            threads idle this long by the saver's clock and cleans the thread index.
        sweep_interval: With `ttl`, run `sweep()` on a background thread this often.
        clock: Returns Unix seconds (thread times); injectable for tests.
        serde: The serializer; LangGraph's `JsonPlusSerializer` by default.

    Its `a*` methods run the sync ones in a worker thread, so it also works under
    asyncio; `AsyncRedisSaver` uses `redis.asyncio` instead.
    """

    def __init__(
        self,
        client: Any,
        *,
        key_prefix: str = "zerograph",
        ttl: float | timedelta | None = None,
        sweep_interval: float | timedelta | None = None,
        clock: Callable[[], float] | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        check_client(client)
        self._client = client
        self._owns_client = False
        self._driver = SyncDriver(client)
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
    ) -> RedisSaver:
        """A saver that owns its client (closed by `close()` / the `with` block).

        `url` is a `redis://` / `rediss://` / `unix://` URL; `cluster=True` connects to a
        Redis Cluster through that node. Extra keyword arguments go to redis-py.
        """
        import redis

        opts = client_options(client_kwargs, cluster=cluster, asyncio_client=False)
        if cluster:
            from redis.cluster import RedisCluster

            client: Any = RedisCluster.from_url(url, **opts)
        else:
            client = redis.Redis.from_url(url, **opts)
        saver = cls(client, key_prefix=key_prefix, ttl=ttl, sweep_interval=sweep_interval, clock=clock, serde=serde)
        saver._owns_client = True
        return saver

    @property
    def client(self) -> Any:
        """The redis-py client the saver uses."""
        return self._client

    def setup(self) -> None:
        """Check the server answers. Nothing to create: keys appear as they are written."""
        self._sync(_ping())

    def close(self) -> None:
        """Stop the sweeper, wait for running operations, close an owned client."""
        super().close()
        if self._life.close() and self._owns_client:
            close_client(self._client)

    def _sync(self, op: Op) -> Any:
        self._life.enter(type(self).__name__)
        try:
            return self._driver.run(op)
        finally:
            self._life.leave()

    async def _async(self, op: Op) -> Any:
        return await asyncio.to_thread(self._sync, op)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    async def asetup(self) -> None:
        await asyncio.to_thread(self.setup)
