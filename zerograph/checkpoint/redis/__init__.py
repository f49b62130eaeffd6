"""Redis savers: `RedisSaver` (redis-py sync) and `AsyncRedisSaver` (`redis.asyncio`).

Plain Redis >= 6, Valkey, managed services and Redis Cluster; core commands and a few
Lua scripts, no modules. Install with `pip install 'zerograph[redis]'`.
"""

try:
    import redis  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "zerograph's Redis savers need redis-py: pip install 'zerograph[redis]'"
    ) from exc

from zerograph.checkpoint.redis.aio import AsyncRedisSaver
from zerograph.checkpoint.redis.saver import RedisSaver

__all__ = ["AsyncRedisSaver", "RedisSaver"]
