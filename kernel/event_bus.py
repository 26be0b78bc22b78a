"""Events out of the backend (live transcript segments, call and ticket changes) over Redis pub/sub.

Several backend nodes and desk servers share one Redis, so an event published on any node
reaches every desk. Publishing is best effort: Redis trouble is logged and counted, never
raised into a call or a transcription.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class HasDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class RedisEventBus:
    def __init__(self, redis: aioredis.Redis, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self.failures = 0

    def channel(self, topic: str) -> str:
        return f"{self._prefix}events:{topic}"

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        try:
            await self._redis.publish(self.channel(topic),
                                      json.dumps(payload, ensure_ascii=False, default=str))
        except (RedisError, OSError) as exc:
            self.failures += 1
            log.warning("event not published", extra={"topic": topic, "error": str(exc)})

    async def publish_event(self, event: HasDict) -> None:
        """Publish a domain event on the topic named by its `type` prefix (asr.segment -> asr)."""
        payload = event.to_dict()
        await self.publish(str(payload.get("type", "misc")).split(".", 1)[0], payload)


@asynccontextmanager
async def relayed(redis: aioredis.Redis, channels: Sequence[str],
                  send: Callable[[str, bytes | str], Awaitable[None]]) -> AsyncIterator[None]:
    """While the block runs, every message published on `channels` goes to `send` (a browser's
    websocket, say) with the channel it came on, in order. One subscription per block, so a
    slow reader slows only itself;
    `redis` must have no socket read timeout (a subscription waits indefinitely). A failing
    `send` ends the relay quietly (the socket closed): the block decides when to finish."""
    pubsub = redis.pubsub()
    await pubsub.subscribe(*channels)

    async def forward() -> None:
        async for message in pubsub.listen():
            if message.get("type") == "message":
                channel = message["channel"]
                await send(channel.decode() if isinstance(channel, bytes) else str(channel), message["data"])

    forwarder = asyncio.create_task(forward(), name="bus-relay")
    try:
        yield
    finally:
        forwarder.cancel()
        with suppress(asyncio.CancelledError, Exception):
            await forwarder
        await pubsub.aclose()
