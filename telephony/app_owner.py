"""Which backend node handles the Stasis application: a lease in Redis.

Asterisk gives an ARI application to the newest websocket that asks for it, so two nodes that
both connect take the calls from each other. Only the holder of `<prefix>ari:owner:<app>`
connects; the other nodes stand by and try to take the lease every `ttl / 3` seconds, so one
of them becomes the owner within about `ttl` seconds of the owner's death. The value names the
holder's node (readiness and logs show who owns the application).

Redis trouble is not a change of owner: an owner that cannot reach Redis keeps handling calls
(nobody else can take the lease meanwhile), and a standby stays a standby. Only a lease that
another node holds makes an owner step down.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# 1: still ours (renewed); 2: it had expired and we took it again; 0: another node holds it.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class OwnershipLost(RuntimeError):
    """Another node holds the application's lease now: this node must stop handling calls."""


class AppOwnership:
    def __init__(self, redis: aioredis.Redis, key_prefix: str, app: str, node_id: str, *,
                 ttl: float = 6.0, timeout: float = 1.0) -> None:
        self._redis = redis
        self.key = f"{key_prefix}ari:owner:{app}"
        self.node_id = node_id
        self.ttl = ttl
        self.timeout = timeout
        self._token = f"{node_id}:{uuid.uuid4().hex}"
        self.owned = False

    async def _claim(self) -> int:
        async with asyncio.timeout(self.timeout):
            result = await self._redis.eval(
                _RENEW, 1, self.key, self._token, str(int(self.ttl * 1000)))
        return int(result)

    async def acquire(self) -> bool:
        """Take the lease if it is free (or already ours: a restarted reader keeps it)."""
        try:
            self.owned = await self._claim() != 0
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("application lease unavailable", extra={"error": str(exc) or type(exc).__name__})
            return False
        return self.owned

    async def holder(self) -> str | None:
        """The node that owns the application, or None (no owner, or Redis unreachable)."""
        try:
            async with asyncio.timeout(self.timeout):
                value = await self._redis.get(self.key)
        except (RedisError, OSError, TimeoutError):
            return None
        if value is None:
            return None
        text = value.decode() if isinstance(value, bytes) else str(value)
        return text.rsplit(":", 1)[0]

    async def wait_until_owned(self) -> None:
        """Stand by until this node holds the lease."""
        while not await self.acquire():
            await asyncio.sleep(self.ttl / 3)
        log.info("this node now owns the ARI application", extra={"node": self.node_id})

    async def keep(self) -> None:
        """Renew the lease until it is lost to another node (raises OwnershipLost)."""
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                result = await self._claim()
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("application lease not renewed; still handling calls",
                            extra={"error": str(exc) or type(exc).__name__})
                continue
            if result == 0:
                self.owned = False
                raise OwnershipLost(f"another node owns {self.key}")

    async def release(self) -> None:
        self.owned = False
        try:
            async with asyncio.timeout(self.timeout):
                await self._redis.eval(_RELEASE, 1, self.key, self._token)
        except (RedisError, OSError, TimeoutError):
            pass  # it expires on its own
