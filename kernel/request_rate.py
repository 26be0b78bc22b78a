"""How often one client may ask a public route at all, whatever the answer: a fixed window per
client address in Redis (shared by every node), one namespace per route family. The public
progress lookup uses it so a script cannot sweep ticket numbers even with right-looking guesses
(its wrong answers are limited separately and more tightly: `accounts.throttle.SignInThrottle`
in its own namespace); the public knowledge search so that nobody can mirror it by the second.
Redis down: the request is refused (503) rather than left unlimited."""

from __future__ import annotations

from datetime import timedelta

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from kernel.errors import Throttled, Unavailable

# KEYS: the client's counter. ARGV: limit, window (ms). Returns 0, or the ms until the window ends.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if count > tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
  return ttl
end
return 0
"""

TOO_MANY_REQUESTS = "查询过于频繁，请{minutes}分钟后再试。"


class RequestRate:
    def __init__(self, redis: aioredis.Redis, key_prefix: str, per_window: int, window: timedelta, *,
                 namespace: str = "public-lookup") -> None:
        self._prefix = f"{key_prefix}{namespace}:rate:"
        self._limit = per_window
        self._window_ms = int(window.total_seconds() * 1000)
        self._hit = redis.register_script(_HIT)

    async def hit(self, address: str) -> None:
        """Count a request from `address`, or raise Throttled once it has asked too often."""
        try:
            wait_ms = int(await self._hit(keys=[f"{self._prefix}{address}"], args=[self._limit, self._window_ms]))
        except RedisError as exc:
            raise Unavailable(f"public request limits unavailable (Redis): {exc}", namespace=self._prefix) from exc
        if wait_ms > 0:
            seconds = max(1, -(-wait_ms // 1000))
            raise Throttled(TOO_MANY_REQUESTS.format(minutes=max(1, -(-seconds // 60))),
                            retry_after=seconds, address=address)
