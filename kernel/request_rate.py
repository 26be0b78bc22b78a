"""How often one client may ask a public route at all, whatever the answer: a fixed window per
client address in Redis (shared by every node), one namespace per route family. The public
progress lookup uses it so a script cannot sweep ticket numbers even with right-looking guesses
(its wrong answers are limited separately and more tightly: `accounts.throttle.SignInThrottle`
in its own namespace); the public knowledge search so that nobody can mirror it by the second;
the public disclosure so that one client cannot take a node's time from calls and staff.
Redis down: refused (503) or let through, per limit (`fail_open`). The address is the peer's
(`kernel.audit.client_address`): a proxy in front is one client unless made the peer.

Each node also counts on its own, in memory, and refuses a client past the limit without asking
Redis. Why: a crowd is exactly when Redis answers late, and a limit that fails open then was no
limit at all (bench/bench_disclosure_load.py: 200 concurrent requests from one address at a
limit of 60 a minute got 4,471 answers, Redis timing out under the crowd). With the node's own
count, one node never serves one client more than the limit per window, Redis or not; Redis
keeps the limit across nodes when it answers. The node's count needs no cleaning beyond the
current window, so it stays as small as the number of clients of one window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from kernel.audit import client_address
from kernel.errors import Throttled, Unavailable

log = logging.getLogger(__name__)

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
    """`per_window` requests of one client address per fixed `window`, in `namespace`.

    `fail_open`: with Redis away, let the request through (and log) instead of refusing it
    (503). The progress lookup fails closed (its limit is what keeps ticket numbers from being
    swept); the cached public disclosure fails open (its limit protects capacity, not secrets)."""

    def __init__(self, redis: aioredis.Redis, key_prefix: str, per_window: int, window: timedelta, *,
                 namespace: str = "public-lookup", fail_open: bool = False, timeout: float = 0.25,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._prefix = f"{key_prefix}ratelimit:{namespace}:"
        self._limit = per_window
        self._window_ms = int(window.total_seconds() * 1000)
        self._hit = redis.register_script(_HIT)
        self._fail_open = fail_open
        self._timeout = timeout
        self._monotonic = monotonic  # the node's own windows' clock (seconds)
        self._window_seen: int | None = None  # the node's own window, and its counts
        self._seen: dict[str, int] = {}

    async def check(self, request: web.Request) -> None:
        """Count `request` against its client's window (`kernel.audit.client_address`)."""
        await self.hit(client_address(request) or "unknown")

    def _count_here(self, address: str) -> None:
        """This node's own count of `address` in the current window; Throttled past the limit."""
        now_ms = int(self._monotonic() * 1000)
        window = now_ms // self._window_ms
        if window != self._window_seen:
            self._window_seen, self._seen = window, {}
        count = self._seen.get(address, 0) + 1
        self._seen[address] = count
        if count > self._limit:
            seconds = max(1, -(-((window + 1) * self._window_ms - now_ms) // 1000))
            raise Throttled(TOO_MANY_REQUESTS.format(minutes=max(1, -(-seconds // 60))),
                            retry_after=seconds, address=address)

    async def hit(self, address: str) -> None:
        """Count a request from `address`, or raise Throttled once it has asked too often."""
        self._count_here(address)
        try:
            async with asyncio.timeout(self._timeout):
                wait_ms = int(await self._hit(keys=[f"{self._prefix}{address}"],
                                              args=[self._limit, self._window_ms]))
        except (RedisError, OSError, TimeoutError) as exc:
            if self._fail_open:
                log.warning("request not counted: Redis did not answer",
                            extra={"namespace": self._prefix, "error": str(exc)})
                return
            raise Unavailable(f"public request limits unavailable (Redis): {exc}",
                              namespace=self._prefix) from exc
        if wait_ms > 0:
            seconds = max(1, -(-wait_ms // 1000))
            raise Throttled(TOO_MANY_REQUESTS.format(minutes=max(1, -(-seconds // 60))),
                            retry_after=seconds, address=address)
