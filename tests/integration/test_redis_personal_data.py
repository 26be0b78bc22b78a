"""No citizen's data sits in Redis without an expiry (PIPL, issue 25): the keys a real call
through the whole backend (`hotline run` on real Asterisk and Redis) leaves, during the call and
after it, each expire, or hold nothing of the caller's.
"""

from __future__ import annotations

import asyncio
import re

import pytest
import redis.asyncio as aioredis

from devtools.sandbox import AsteriskSandbox
from tests.conftest import REDIS_URL
from tests.integration.test_call_to_ticket import _wait_for_tickets, place_call

pytestmark = pytest.mark.asterisk

CALLER = "13712345670"
#: Keys that may live without an expiry, and why: none may hold a caller's data (checked).
WITHOUT_EXPIRY = {
    r"calls:owners": "names of the nodes' call mirrors (node ids)",
    r"acd:.*": "the queue: agents' presence and call ids, no caller's number or name",
}


async def contents(client: aioredis.Redis, key: bytes) -> bytes:
    """A key's whole value as bytes, whatever its type (DUMP compresses, so it cannot be searched)."""
    kind = (await client.type(key)).decode()
    if kind == "string":
        parts: list[bytes] = [await client.get(key) or b""]
    elif kind == "hash":
        parts = [b for pair in (await client.hgetall(key)).items() for b in pair]
    elif kind == "set":
        parts = list(await client.smembers(key))
    elif kind == "zset":
        parts = list(await client.zrange(key, 0, -1))
    elif kind == "list":
        parts = list(await client.lrange(key, 0, -1))
    else:
        parts = [repr(await client.dump(key)).encode()]
    return b"\n".join(parts)


async def keys_and_values(client: aioredis.Redis, prefix: str) -> dict[str, tuple[int, bytes]]:
    """Every key under `prefix`: its TTL in seconds (-1: none) and its value."""
    found: dict[str, tuple[int, bytes]] = {}
    async for raw in client.scan_iter(match=f"{prefix}*", count=500):
        ttl = await client.ttl(raw)
        if ttl == -2:
            continue  # gone between the scan and now
        found[raw.decode()[len(prefix):]] = (ttl, await contents(client, raw))
    return found


def check(found: dict[str, tuple[int, bytes]]) -> None:
    for key, (ttl, dumped) in found.items():
        if ttl > 0:
            continue
        why = next((why for pattern, why in WITHOUT_EXPIRY.items() if re.fullmatch(pattern, key)), None)
        assert why is not None, f"{key} has no expiry"
        assert CALLER.encode() not in dumped and CALLER not in key, f"{key} ({why}) holds the caller's number"


async def test_a_real_call_leaves_no_personal_data_in_redis_without_an_expiry(
    asterisk: AsteriskSandbox, sqlite_url: str, bridge_factory, redis_key_prefix: str
) -> None:
    await bridge_factory(asterisk, sqlite_url, redis_prefix=redis_key_prefix)
    client = aioredis.from_url(REDIS_URL)
    try:
        call = asyncio.create_task(place_call(asterisk, CALLER, hold_ms=5000))
        during: dict[str, tuple[int, bytes]] = {}
        async with asyncio.timeout(30):
            while not any(CALLER.encode() in dumped for _, dumped in during.values()):
                await asyncio.sleep(0.1)
                during = await keys_and_values(client, redis_key_prefix)
        check(during)
        mirror = during["calls:active:N01"]
        assert 0 < mirror[0] <= 12 * 3600  # redis.personal_data_ttl_hours
        code, out = await call
        assert code == 0, out[-2000:]
        _, ticket_rows = await _wait_for_tickets(sqlite_url, 1)
        assert len(ticket_rows) == 1
        after = await keys_and_values(client, redis_key_prefix)
        check(after)
    finally:
        keys = [k async for k in client.scan_iter(match=f"{redis_key_prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
