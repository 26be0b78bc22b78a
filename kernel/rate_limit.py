"""Per-client request limits on the public routes, counted in Redis (shared by every node).

Routes that need no credential (the public disclosure) can be asked for by anyone, as fast as
they like; one client must not take a node's time from calls and staff (issue 25). Each client
address may make `per_minute` requests per fixed one-minute window to the routes that call
`check`; past it, `Throttled` (429 with `Retry-After`) until the window ends. The address is the
peer's (`kernel.audit.client_address`): a proxy in front is one client unless it is made the
peer for each of its clients.

Redis away: the request is let through (fail open) and logged: the public routes are cheap now
(the disclosure is cached) and must stay up; the limit protects capacity, not secrets.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from kernel.audit import client_address
from kernel.errors import Throttled

log = logging.getLogger(__name__)

# KEYS: the client's counter. ARGV: limit, window (ms). 0: counted; else ms until the window ends.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if count > tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) ttl = tonumber(ARGV[2]) end
  return ttl
end
return 0
"""

WINDOW_MS = 60_000


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, key_prefix: str, per_minute: int, *, name: str = "public",
                 timeout: float = 0.25) -> None:
        self._count = redis.register_script(_COUNT)
        self._prefix = f"{key_prefix}ratelimit:{name}:"
        self.per_minute = per_minute
        self.timeout = timeout

    async def check(self, request: web.Request) -> None:
        """Count this request against its client's window; `Throttled` past the limit."""
        client = client_address(request) or "unknown"
        try:
            async with asyncio.timeout(self.timeout):
                wait_ms = int(await self._count(keys=[self._prefix + client], args=[self.per_minute, WINDOW_MS]))
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("rate limit not counted: Redis did not answer", extra={"error": str(exc)})
            return
        if wait_ms > 0:
            raise Throttled("请求过于频繁，请稍后再试", retry_after=max(1, -(-wait_ms // 1000)), client=client)
