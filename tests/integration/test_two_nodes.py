"""Two backend nodes over one Redis, one PostgreSQL and one Asterisk: one owns the ARI
application, the other stands by; kill -9 the owner during 20 live calls and none is lost."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import caller_audio_wav, speech_call_scenario
from tests.conftest import REDIS_URL
from tests.integration.test_call_to_ticket import _wait_for_tickets, assert_recorded_like_the_call
from tests.integration.test_readiness import _wait_for_readiness

pytestmark = [pytest.mark.asterisk, pytest.mark.postgres]

CALLS = 20
HOLD_MS = 30000


async def _wait_until_greeted(mirror: str, calls: int, timeout: float = 40.0) -> None:
    client = aioredis.from_url(REDIS_URL)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            state = await client.hgetall(mirror)
            greeted = sum(b"greeted" in value for value in state.values())
            if greeted >= calls:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"{calls} calls never set up in {mirror}: {greeted} of {len(state)}")
    finally:
        await client.aclose()


async def _place_calls(asterisk: AsteriskSandbox, callers: list[str]) -> tuple[int, str]:
    """All calls from one SIPp (its own media port per call), one caller number each."""
    wav = asterisk.write_sipp_file("caller-audio.wav", caller_audio_wav())
    scenario = speech_call_scenario(wav, hold_ms=HOLD_MS, loops=-1).replace(
        "[$caller]", "[field0]").replace('<Global variables="caller" />', "")
    name = asterisk.write_sipp_file("many-callers.xml", scenario)
    inf = asterisk.write_sipp_file("callers.csv", "SEQUENTIAL\n" + "".join(f"{c};\n" for c in callers))
    return await asterisk.run_sipp("-sf", name, "-inf", inf, "-s", "12345", "-m", str(len(callers)),
                                   "-l", str(len(callers)), "-r", "10", timeout=120 + HOLD_MS / 1000)


async def test_killing_the_owner_node_during_20_live_calls_loses_none(
    asterisk: AsteriskSandbox, postgres_url: str, bridge_factory, redis_key_prefix: str
) -> None:
    owner = await bridge_factory(asterisk, postgres_url, redis_prefix=redis_key_prefix,
                                 env_overrides={"HOTLINE_NODE_ID": "N01"})
    await _wait_for_readiness(owner, lambda status, body: status == 200
                              and "role" not in body["checks"]["ari"])
    standby = await bridge_factory(asterisk, postgres_url, redis_prefix=redis_key_prefix,
                                   env_overrides={"HOTLINE_NODE_ID": "N02"})
    # Ready once its ARI event socket is up (a moment after /health; longer on a busy machine).
    body = await _wait_for_readiness(standby, lambda status, body: status == 200)
    assert body["checks"]["ari"] == {"ok": True, "role": "standby", "owner": "N01"}, body

    calls = asyncio.create_task(_place_calls(asterisk, [f"13600000{i:03d}" for i in range(CALLS)]))
    await _wait_until_greeted(f"{redis_key_prefix}calls:active:N01", CALLS)
    owner.kill()
    await _wait_for_readiness(standby, lambda status, body: status == 200
                              and "role" not in body["checks"]["ari"], timeout=20)
    assert not calls.done(), "calls dropped when their node died"

    code, out = await calls
    assert code == 0, out[-2000:]  # SIPp fails unless every call completed
    call_rows, ticket_rows = await _wait_for_tickets(postgres_url, CALLS, timeout=40)
    assert len(call_rows) == CALLS and len(ticket_rows) == CALLS, standby.log_tail()
    assert len({c["channel_id"] for c in call_rows}) == CALLS
    assert sorted(t["call_id"] for t in ticket_rows) == sorted(c["id"] for c in call_rows)
    for call in call_rows:
        assert_recorded_like_the_call(call, HOLD_MS)
    await asyncio.sleep(2)  # a duplicate write, if any, would land now
    call_rows, ticket_rows = await _wait_for_tickets(postgres_url, CALLS, timeout=0)
    assert len(call_rows) == len(ticket_rows) == CALLS
