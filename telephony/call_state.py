"""State of calls in progress (`telephony.active_call`), mirrored to Redis so a restarted bridge
can pick them up.

The process's own dictionary is the working copy; Redis is the mirror a new process reads
after a crash or restart (the ARI reconnect reconciles against it). Redis trouble never
stops a call: a failed mirror write is logged and the call goes on. Every mirror call is
bounded (`timeout`), and after one fails the mirror is not waited for during `pause` seconds,
so a Redis that does not answer costs a caller at most one short wait, not one per set-up step.
An entry that cannot be read (corrupt, or missing a field) is skipped and reported, never
fatal to the other calls' resumption; fields a newer version added are ignored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from telephony.active_call import ActiveCall

log = logging.getLogger(__name__)


class CallStateStore:
    """Redis hash `<prefix>calls:active:<owner>` of channel id -> ActiveCall JSON.

    One hash per node (`owner`): a node reconciles against its own calls only, never another
    live node's. The node that takes over the ARI application adopts the others' hashes
    (`adopt_orphans`): their owners are dead or have stepped down. Without an owner the
    single hash `<prefix>calls:active` of a one-node set-up is used.

    Entries carry callers' numbers, so the hash expires `ttl_seconds` after its last write
    (PIPL: nothing personal lingers in Redis): a live call rewrites it at every step, and a
    node that died with calls in it leaves nothing behind for longer than that.
    """

    def __init__(self, redis: aioredis.Redis, key_prefix: str, *, owner: str | None = None,
                 timeout: float = 0.5, pause: float = 5.0, ttl_seconds: int = 12 * 3600) -> None:
        self._redis = redis
        self._base = f"{key_prefix}calls:active"
        self._key = f"{self._base}:{owner}" if owner else self._base
        self._owners = f"{key_prefix}calls:owners"
        self.calls: dict[str, ActiveCall] = {}
        self.timeout = timeout
        self.pause = pause
        self.ttl_seconds = ttl_seconds
        self._skip_until = 0.0
        #: Mirror entries the last `load_mirror` could not read: channel id -> why.
        self.unreadable: dict[str, str] = {}

    async def _mirror(self, action: str, channel_id: str, write: Awaitable[object]) -> None:
        if time.monotonic() < self._skip_until:
            if asyncio.iscoroutine(write):
                write.close()
            return
        try:
            async with asyncio.timeout(self.timeout):
                await write
        except (RedisError, OSError, TimeoutError) as exc:
            self._skip_until = time.monotonic() + self.pause
            log.warning(f"call state not {action} Redis; not waiting for it for a while",
                        extra={"channel_id": channel_id, "error": str(exc) or type(exc).__name__})

    @property
    def mirror_paused(self) -> bool:
        """A mirror call failed lately: the mirror is behind until the next writes."""
        return time.monotonic() < self._skip_until

    async def save(self, call: ActiveCall) -> None:
        self.calls[call.channel_id] = call
        await self._mirror("mirrored to", call.channel_id, self._write(call))

    async def _write(self, call: ActiveCall) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key, call.channel_id, call.to_json())
            pipe.expire(self._key, self.ttl_seconds)
            await pipe.execute()

    async def forget(self, channel_id: str) -> None:
        self.calls.pop(channel_id, None)
        await self._mirror("removed from", channel_id, self._redis.hdel(self._key, channel_id))

    def by_call_id(self, call_id: str) -> ActiveCall | None:
        return next((c for c in self.calls.values() if c.call_id == call_id), None)

    async def load_mirror(self) -> dict[str, ActiveCall]:
        """Calls a previous process left in progress (merged into the working copy)."""
        try:
            async with asyncio.timeout(5 * self.timeout + 2):
                raw = await self._redis.hgetall(self._key)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("cannot read call state mirror", extra={"error": str(exc)})
            return dict(self.calls)
        unreadable: dict[str, str] = {}
        for channel_id, text in raw.items():
            key = channel_id.decode() if isinstance(channel_id, bytes) else channel_id
            if key in self.calls:
                continue
            try:
                self.calls[key] = ActiveCall.from_json(text)
            except ValueError as exc:
                unreadable[key] = str(exc)
                log.error("unreadable call state in the mirror skipped",
                          extra={"channel_id": key, "error": str(exc)})
        self.unreadable = unreadable
        return dict(self.calls)

    @property
    def key(self) -> str:
        return self._key

    async def adopt_orphans(self) -> int:
        """Move every other node's mirror entries into this node's (run by the new owner of
        the application, before it reconciles): their calls are this node's now.

        Mirrors are found through the set `<prefix>calls:owners`, where each owner enters its
        own hash here (a set, not a SCAN of the keyspace: one round trip, however big Redis
        is). The single hash of a one-node set-up is adopted too."""
        moved = 0
        await self._redis.sadd(self._owners, self._key)
        members = await self._redis.smembers(self._owners)
        keys = {m.decode() if isinstance(m, bytes) else str(m) for m in members} | {self._base}
        for key in sorted(keys - {self._key}):
            entries = await self._redis.hgetall(key)
            if entries:
                # Entries this node already has win: they are newer than a dead node's copy.
                async with self._redis.pipeline(transaction=True) as pipe:
                    for channel_id, text in entries.items():
                        pipe.hsetnx(self._key, channel_id, text)
                    pipe.expire(self._key, self.ttl_seconds)
                    pipe.delete(key)
                    await pipe.execute()
                moved += len(entries)
                log.info("calls of another node adopted", extra={"mirror": key,
                                                                  "calls": len(entries)})
            if key != self._base:
                await self._redis.srem(self._owners, key)
        return moved

    async def unreadable_entries(self) -> dict[str, str]:
        """The unreadable entries still in the mirror (an operator may have removed them)."""
        if not self.unreadable:
            return {}
        ids = list(self.unreadable)
        try:
            async with asyncio.timeout(self.timeout):
                present = await self._redis.hmget(self._key, ids)
        except (RedisError, OSError, TimeoutError):
            return dict(self.unreadable)
        self.unreadable = {i: self.unreadable[i] for i, value in zip(ids, present, strict=True)
                           if value is not None}
        return dict(self.unreadable)
