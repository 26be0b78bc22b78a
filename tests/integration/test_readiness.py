"""Faults inside the service do not stop calls being answered, and readiness says what they are.

A real bridge process behind an ARI proxy that slips malformed events into the real Asterisk's
event stream, with corrupt entries in its call mirror (as after an upgrade or a bad write).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from devtools.sandbox import AsteriskSandbox
from tests.ari_proxy import AriProxy
from tests.asterisk_harness import BridgeProcess
from tests.conftest import REDIS_URL
from tests.integration.test_call_to_ticket import (
    _wait_for_tickets,
    assert_recorded_like_the_call,
    place_call,
)

pytestmark = pytest.mark.asterisk

MALFORMED = (
    '{"type": "StasisStart", "application": "hotline"}',  # no channel
    "[1, 2, 3]",  # not an object
    '{"type": "StasisEnd", "timestamp": "yesterday", "channel": {"id": "x"}}',
    '{"type": "ChannelDestroyed", "application": "hotline", "channel": {"id": 42}}',  # a number
)
CORRUPT = {"corrupt-not-json": "{not json", "corrupt-missing-fields": '{"call_id": "x"}'}


async def _readyz(bridge: BridgeProcess, *, staff: bool = True) -> tuple[int, dict[str, Any]]:
    """`/readyz` as the hotline's monitoring reads it (a `system` token), or anonymously."""
    headers = bridge.staff_headers() if staff else {}
    async with aiohttp.ClientSession() as session, \
            session.get(f"http://127.0.0.1:{bridge.http_port}/readyz", headers=headers) as reply:
        return reply.status, await reply.json()


async def _wait_for_readiness(bridge: BridgeProcess, condition: Any, timeout: float = 20.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    body: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        status, body = await _readyz(bridge)
        if condition(status, body):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"readiness never matched: {body}")


async def test_malformed_events_and_corrupt_mirror_entries_are_reported_and_calls_still_answered(
    asterisk: AsteriskSandbox, sqlite_url: str, bridge_factory, redis_key_prefix: str
) -> None:
    client = aioredis.from_url(REDIS_URL)
    proxy = AriProxy(asterisk.ari_url)
    await proxy.start()
    try:
        await client.hset(f"{redis_key_prefix}calls:active:N01", mapping=CORRUPT)
        bridge = await bridge_factory(asterisk, sqlite_url, redis_prefix=redis_key_prefix,
                                      env_overrides={"HOTLINE_ARI_URL": proxy.url})
        body = await _wait_for_readiness(bridge, lambda status, body: status == 200
                                         and "call_mirror" in body["faults"])
        assert set(body["faults"]["call_mirror"]["unreadable"]) == set(CORRUPT)
        assert all(body["checks"][name]["ok"] for name in ("ari", "database", "redis", "tasks"))

        await asyncio.wait_for(proxy.event_clients.wait(), 10)
        for message in MALFORMED:
            assert await proxy.inject(message) == 1
        body = await _wait_for_readiness(bridge, lambda status, body: status == 200
                                         and body["faults"].get("ari_events", {}).get("malformed") == 3
                                         and "ari_event_handling" in body["faults"])
        assert body["checks"]["tasks"]["ok"], body

        code, out = await place_call(asterisk, "13700001234", hold_ms=4000)
        assert code == 0, out[-2000:]
        call_rows, ticket_rows = await _wait_for_tickets(sqlite_url, 1)
        assert len(call_rows) == len(ticket_rows) == 1, bridge.log_tail()
        assert call_rows[0]["end_reason"] != "message_while_backend_away"
        assert_recorded_like_the_call(call_rows[0], 4000)

        # The fault lasts while the entries do: removed, readiness no longer reports them.
        await client.hdel(f"{redis_key_prefix}calls:active:N01", *CORRUPT)
        await _wait_for_readiness(bridge,
                                  lambda status, body: "call_mirror" not in body["faults"])
    finally:
        await proxy.aclose()
        await client.aclose()


async def test_readiness_names_the_dependency_that_is_missing(
    asterisk: AsteriskSandbox, sqlite_url: str, bridge_factory, redis_key_prefix: str
) -> None:
    bridge = await bridge_factory(asterisk, sqlite_url, redis_prefix=redis_key_prefix)
    # The bridge is live (/health) as soon as it serves HTTP; it is ready once its ARI event
    # socket is connected, a moment later (longer on a busy machine): wait for that, bounded.
    body = await _wait_for_readiness(bridge, lambda status, body: status == 200)
    assert body["status"] == "ready", body
    async with aiohttp.ClientSession() as session, \
            session.get(f"http://127.0.0.1:{bridge.http_port}/healthz") as reply:
        assert reply.status == 200
    asterisk.stop()
    body = await _wait_for_readiness(bridge, lambda status, body: status == 503)
    assert body["status"] == "not_ready" and not body["checks"]["ari"]["ok"]
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    # Anyone else learns the status only: the checks' text is the staff's (issue 25).
    assert await _readyz(bridge, staff=False) == (503, {"status": "not_ready"})
