"""The Lua scripts behind every write. Each touches the keys of ONE thread (one slot).

Why scripts and not MULTI/EXEC: a write here is conditional (a deleted thread refuses
late writes; prune and sweep must not act on a thread that changed since they read it;
copy must not overwrite a thread that has checkpoints), it keeps byte counters exact
(`HSTRLEN` of what it replaces), and it must be atomic on Redis Cluster with every
redis-py >= 5 (cluster pipelines only gained transactions in redis-py 6.1). A script
is all of that in one round trip, on Redis >= 6, Valkey and managed services alike.

Every script is idempotent: running it twice leaves the same state as once (HSETNX,
HSET of the same bytes, ZADD, counters derived from what is replaced). So a write that
a dropped connection left in doubt is safe to retry, which redis-py does by itself.

KEYS are `ThreadKeys.all`: 1 head, 2 cp, 3 md, 4 bl, 5 wr, 6 id, 7 ns, 8 wi, 9 ru, 10 nc,
11 tombstone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["COPY", "DELETE", "DROP", "INDEX", "PUT", "PUT_WRITES", "Script"]


@dataclass(frozen=True)
class Script:
    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


_TOUCH = """
-- With a TTL, every key of the thread gets the same absolute expiry (server time) on
-- every write, so the thread expires whole, to the millisecond; the tombstone outlives
-- it to refuse late writes.
local function touch(now, ttl, tomb_ms)
  if ttl > 0 then
    local t = redis.call('TIME')
    local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ttl
    for i = 1, 10 do redis.call('PEXPIREAT', KEYS[i], at) end
    redis.call('SET', KEYS[11], now)
    redis.call('PEXPIREAT', KEYS[11], at + tomb_ms)
  end
end

-- A write to a thread that does not exist: refused if the thread was deleted and this
-- write continues its old timeline (fresh ~= '1'); otherwise the thread starts here.
local function open(now, fresh, ttl)
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
  if fresh ~= '1' and redis.call('EXISTS', KEYS[11]) == 1 then return -1 end
  if ttl == 0 then redis.call('DEL', KEYS[11]) end
  redis.call('HSET', KEYS[1], 'created', now, 'rev', 0, 'epoch', 0, 'bytes', 0)
  return 1
end
"""

# ARGV: now, ttl_ms, tomb_ms, fresh, F(ns,id), checkpoint, metadata, F(id,ns), F(ns,id),
#       ns, run member ('' if none), then (blob field, blob) pairs.
PUT = Script(
    "put",
    _TOUCH
    + """
local now, ttl, tomb_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local created = open(now, ARGV[4], ttl)
if created == -1 then return {-1, 0} end
local f = ARGV[5]
local delta = #ARGV[6] + #ARGV[7] - redis.call('HSTRLEN', KEYS[2], f) - redis.call('HSTRLEN', KEYS[3], f)
if redis.call('HSET', KEYS[2], f, ARGV[6]) == 1 then
  redis.call('ZADD', KEYS[6], 0, ARGV[8])
  redis.call('ZADD', KEYS[7], 0, ARGV[9])
  redis.call('HINCRBY', KEYS[10], ARGV[10], 1)
end
redis.call('HSET', KEYS[3], f, ARGV[7])
if ARGV[11] ~= '' then redis.call('ZADD', KEYS[9], 0, ARGV[11]) end
for i = 12, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[4], ARGV[i], ARGV[i + 1]) == 1 then delta = delta + #ARGV[i + 1] end
end
redis.call('HSET', KEYS[1], 'updated', now)
redis.call('HINCRBY', KEYS[1], 'bytes', delta)
redis.call('HINCRBY', KEYS[1], 'rev', 1)
touch(now, ttl, tomb_ms)
return {1, created}
""",
)

# ARGV: now, ttl_ms, tomb_ms, then (write field, write, '1' overwrite | '0' keep first).
PUT_WRITES = Script(
    "put_writes",
    _TOUCH
    + """
local now, ttl, tomb_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local created = open(now, '0', ttl)
if created == -1 then return {-1, 0} end
local delta = 0
for i = 4, #ARGV, 3 do
  local f, v = ARGV[i], ARGV[i + 1]
  if ARGV[i + 2] == '1' then
    delta = delta + #v - redis.call('HSTRLEN', KEYS[5], f)
    redis.call('HSET', KEYS[5], f, v)
  elseif redis.call('HSETNX', KEYS[5], f, v) == 1 then
    delta = delta + #v
  end
  redis.call('ZADD', KEYS[8], 0, f)
end
redis.call('HSET', KEYS[1], 'updated', now)
redis.call('HINCRBY', KEYS[1], 'bytes', delta)
touch(now, ttl, tomb_ms)
return {1, created}
""",
)

# Remove some checkpoints (prune, delete_for_runs) with their writes, then the blobs the
# caller found unreferenced, but those only if no checkpoint was written since the caller
# read the thread (`rev`): a new checkpoint may reference them. Returns {n, 1 | 0 = blobs
# left for another try}.
# ARGV: rev, n, then n x (F(ns,id), F(id,ns), F(ns,id), ns, writes prefix, run member | ''),
#       then the blob fields to delete.
DROP = Script(
    "drop",
    """
local gc = (redis.call('HGET', KEYS[1], 'rev') or '') == ARGV[1]
local n = tonumber(ARGV[2])
local freed, i = 0, 3
for _ = 1, n do
  local f, ns = ARGV[i], ARGV[i + 3]
  freed = freed + redis.call('HSTRLEN', KEYS[2], f) + redis.call('HSTRLEN', KEYS[3], f)
  if redis.call('HDEL', KEYS[2], f) == 1 then
    if redis.call('HINCRBY', KEYS[10], ns, -1) <= 0 then redis.call('HDEL', KEYS[10], ns) end
  end
  redis.call('HDEL', KEYS[3], f)
  redis.call('ZREM', KEYS[6], ARGV[i + 1])
  redis.call('ZREM', KEYS[7], ARGV[i + 2])
  if ARGV[i + 5] ~= '' then redis.call('ZREM', KEYS[9], ARGV[i + 5]) end
  local p = ARGV[i + 4]
  for _, w in ipairs(redis.call('ZRANGEBYLEX', KEYS[8], '[' .. p, '(' .. p .. '\\255')) do
    freed = freed + redis.call('HSTRLEN', KEYS[5], w)
    redis.call('HDEL', KEYS[5], w)
    redis.call('ZREM', KEYS[8], w)
  end
  i = i + 6
end
if gc then
  for j = i, #ARGV do
    freed = freed + redis.call('HSTRLEN', KEYS[4], ARGV[j])
    redis.call('HDEL', KEYS[4], ARGV[j])
  end
end
if n > 0 or (gc and #ARGV >= i) then
  redis.call('HINCRBY', KEYS[1], 'bytes', -freed)
  redis.call('HINCRBY', KEYS[1], 'rev', 1)
  redis.call('HINCRBY', KEYS[1], 'epoch', 1)
end
return {n, gc and 1 or 0}
""",
)

# Delete a whole thread and leave a tombstone. With a cutoff (sweep), only if the thread
# was not written at or after it. Returns {1, run members} | {0} absent | {2} touched.
# ARGV: now, tomb_ms, cutoff ('' = unconditional).
DELETE = Script(
    "delete",
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
if ARGV[3] ~= '' and tonumber(redis.call('HGET', KEYS[1], 'updated') or '0') >= tonumber(ARGV[3]) then
  return {2}
end
local runs = redis.call('ZRANGE', KEYS[9], 0, -1)
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10])
redis.call('SET', KEYS[11], ARGV[1], 'PX', ARGV[2])
return {1, runs}
""",
)

# Write a copied thread into an empty target, replacing whatever the target held.
# ARGV: now, ttl_ms, tomb_ms, then for hashes cp, md, bl, wr, nc: count + field/value
# pairs; for sorted sets id, ns, wi, ru: count + members. Returns 1, or -2 if the
# target has checkpoints.
COPY = Script(
    "copy",
    _TOUCH
    + """
if redis.call('ZCARD', KEYS[6]) > 0 then return -2 end
local now, ttl, tomb_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11])
local i, bytes = 4, 0
for _, k in ipairs({2, 3, 4, 5, 10}) do
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    redis.call('HSET', KEYS[k], ARGV[i], ARGV[i + 1])
    if k ~= 10 then bytes = bytes + #ARGV[i + 1] end
    i = i + 2
  end
end
for _, k in ipairs({6, 7, 8, 9}) do
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    redis.call('ZADD', KEYS[k], 0, ARGV[i])
    i = i + 1
  end
end
redis.call('HSET', KEYS[1], 'created', now, 'updated', now, 'rev', 1, 'epoch', 0, 'bytes', bytes)
touch(now, ttl, tomb_ms)
return 1
""",
)

# Add a member to a global index (thread list, run list). The index key expires only when
# every thread in it may have: a writer without TTL makes it persistent, a writer with a
# TTL only ever lengthens its expiry. ARGV: ttl_ms (0 = none), score, member.
INDEX = Script(
    "index",
    """
local existed = redis.call('EXISTS', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
local ttl = tonumber(ARGV[1])
if ttl == 0 then
  redis.call('PERSIST', KEYS[1])
else
  local left = redis.call('PTTL', KEYS[1])
  if existed == 0 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', KEYS[1], ttl) end
end
return 1
""",
)
