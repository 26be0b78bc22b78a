"""A Redis lease so that one backend node, not every node, runs a periodic job.

`SET key token NX PX ttl` takes the lease; only the holder's token releases it (a Lua
compare-and-delete), so a node whose run outlived the lease never frees another node's lease.
If the holder dies the lease simply expires. Redis being down means no node runs the job this
round (the job is periodic and idempotent; skipping a round is harmless, running it twice at
once is not).
"""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class LeaderLease:
    def __init__(self, client: aioredis.Redis, key: str, ttl_seconds: float) -> None:
        self._client = client
        self._key = key
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._token = uuid.uuid4().hex

    @property
    def key(self) -> str:
        return self._key

    @property
    def ttl_seconds(self) -> float:
        return self._ttl_ms / 1000

    async def renew(self) -> bool:
        """Extend the lease if this holder still has it; False when it was lost."""
        try:
            return bool(await self._client.eval(_RENEW, 1, self._key, self._token, self._ttl_ms))
        except RedisError:
            return False

    async def acquire(self) -> bool:
        try:
            return bool(await self._client.set(self._key, self._token, nx=True, px=self._ttl_ms))
        except RedisError:
            return False

    async def hold(self) -> bool:
        """Keep the lease if held, take it if free: whether this holder runs the job now."""
        return await self.renew() or await self.acquire()

    async def release(self) -> None:
        try:
            await self._client.eval(_RELEASE, 1, self._key, self._token)
        except RedisError:
            pass  # it expires on its own
