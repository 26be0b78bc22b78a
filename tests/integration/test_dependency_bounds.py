"""A dependency that does not answer costs a call at most a short wait, and the application's
lease moves between nodes only when its owner is gone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from call_queue.acd import AcdStore
from kernel.errors import Unavailable
from telephony.active_call import ActiveCall
from telephony.app_owner import AppOwnership, OwnershipLost
from telephony.call_state import CallStateStore


@pytest.fixture
async def blackholed_redis() -> AsyncIterator[aioredis.Redis]:
    """A Redis that accepts connections and never answers (a dead host behind a live socket)."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=2,
                               socket_timeout=2)
    try:
        yield client
    finally:
        await client.aclose()
        for writer in held:
            writer.transport.abort()
        server.close()
        await server.wait_closed()


async def test_a_blackholed_redis_costs_a_call_set_up_one_short_wait(
    blackholed_redis: aioredis.Redis
) -> None:
    state = CallStateStore(blackholed_redis, "bounds:", owner="N01", timeout=0.5)
    call = ActiveCall(call_id="c1", channel_id="ch1", caller_number="13800138000",
                      caller_name="", dialed_number="12345", started_at=datetime.now(UTC))
    started = time.monotonic()
    for step in ("answered", "bridged", "recording", "screened", "greeted", "prompted", "queued"):
        call.steps_done.append(step)
        await state.save(call)
    elapsed = time.monotonic() - started
    # Seven set-up steps: one bounded wait, then the mirror is not waited for.
    assert elapsed < 1.0, f"{elapsed:.2f}s of silence before the greeting"
    assert state.calls["ch1"].steps_done[-1] == "queued" and state.mirror_paused


async def test_the_lease_stays_with_its_owner_and_passes_only_when_it_is_gone(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    first = AppOwnership(redis_client, redis_key_prefix, "hotline", "N01", ttl=0.6)
    second = AppOwnership(redis_client, redis_key_prefix, "hotline", "N02", ttl=0.6)
    assert await first.acquire() and not await second.acquire()
    assert await first.acquire(), "a restarted reader of the owner keeps its lease"
    assert await second.holder() == "N01"

    await first.release()  # the owner is gone (a kill -9 would let the lease expire)
    assert await second.acquire() and await first.holder() == "N02"
    with pytest.raises(OwnershipLost):
        await asyncio.wait_for(first.keep(), 5)
    assert not first.owned


async def test_a_blackholed_redis_costs_the_queue_one_bounded_wait_then_none(
    blackholed_redis: aioredis.Redis
) -> None:
    acd = AcdStore(blackholed_redis, "bounds:", timeout=0.5, pause=60.0)
    with pytest.raises(Unavailable) as first:
        await acd.enqueue("c1", "general")
    assert acd.paused and "not asked" not in str(first.value.context.get("cause"))
    for work in (acd.dequeue("c1"), acd.position("c1"), acd.claim_next_offer(), acd.agent("a1")):
        with pytest.raises(Unavailable) as skipped:
            await work
        assert "not asked" in str(skipped.value.context["cause"]), "Redis was waited for again"
