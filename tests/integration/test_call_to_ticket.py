"""Walking skeleton: a real SIP call into real Asterisk is answered, recorded and becomes a ticket."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import caller_audio_wav, speech_call_scenario
from kernel.schema import calls, tickets
from telephony.recording_length import wav_seconds
from tests.conftest import REDIS_URL
from tests.recording_files import plain_recording

pytestmark = pytest.mark.asterisk


async def _rows(engine: AsyncEngine) -> tuple[list, list]:
    # Tickets first, then calls: the intake commits both in one transaction, so a ticket seen
    # means its call is visible to every later read. The other order raced in CI: pysqlite does
    # not BEGIN before a SELECT, so the two reads were not one snapshot, and a commit landing
    # between them showed the ticket without its call.
    async with engine.connect() as conn, conn.begin():
        ticket_rows = (await conn.execute(select(tickets))).mappings().all()
        call_rows = (await conn.execute(select(calls))).mappings().all()
    return list(call_rows), list(ticket_rows)


async def _wait_for_tickets(database_url: str, count: int, timeout: float = 20.0) -> tuple[list, list]:
    engine = create_async_engine(database_url)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            call_rows, ticket_rows = await _rows(engine)
            if len(ticket_rows) >= count or asyncio.get_running_loop().time() > deadline:
                return call_rows, ticket_rows
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def place_call(asterisk: AsteriskSandbox, caller: str, hold_ms: int) -> tuple[int, str]:
    """Call 12345 from `caller`, sending audio for the whole call, and hang up after hold_ms."""
    wav = asterisk.write_sipp_file("caller-audio.wav", caller_audio_wav())
    scenario = asterisk.write_sipp_file(f"call-{uuid.uuid4().hex[:6]}.xml",
                                        speech_call_scenario(wav, hold_ms=hold_ms, loops=-1))
    return await asterisk.run_sipp("-sf", scenario, "-s", "12345", "-m", "1",
                                   "-set", "caller", caller, timeout=60 + hold_ms / 1000)


def assert_recorded_like_the_call(call: dict, hold_ms: int) -> None:
    assert call["answered_at"] is not None, "the call was not answered"
    talk = (call["ended_at"] - call["answered_at"]).total_seconds()
    assert abs(talk - hold_ms / 1000) < 1.5, f"talk time {talk:.2f}s vs SIPp hold {hold_ms} ms"
    path = Path(call["recording_path"])
    assert path.exists() and path.stat().st_size > 1000, f"no recording at {path}"
    with plain_recording(path, call.get("recording_sha256")) as plain:  # sealed by `hotline run`
        seconds = wav_seconds(plain)
    assert seconds is not None
    assert abs(seconds - talk) <= 1.0, f"recording {seconds:.2f}s vs call {talk:.2f}s"
    assert call["recording_seconds"] == pytest.approx(seconds, abs=0.05)


async def test_sip_call_is_answered_recorded_and_becomes_a_draft_ticket(
    asterisk: AsteriskSandbox, database_url: str, bridge_factory
) -> None:
    bridge = await bridge_factory(asterisk, database_url)
    code, out = await place_call(asterisk, "13812345678", hold_ms=4000)
    assert code == 0, out[-2000:]

    call_rows, ticket_rows = await _wait_for_tickets(database_url, 1)
    assert len(call_rows) == 1 and len(ticket_rows) == 1, bridge.log_tail()
    call, ticket = call_rows[0], ticket_rows[0]
    assert call["caller_number"] == "13812345678"
    assert ticket["caller_number"] == "13812345678"
    assert ticket["status"] == "draft"
    assert ticket["call_id"] == call["id"]
    assert call["channel_id"] and call["bridge_id"]
    assert call["started_at"] <= call["answered_at"] <= call["ended_at"]
    assert_recorded_like_the_call(call, 4000)


async def test_call_survives_a_bridge_crash_and_is_recorded_once(
    asterisk: AsteriskSandbox, sqlite_url: str, bridge_factory, redis_key_prefix: str
) -> None:
    bridge = await bridge_factory(asterisk, sqlite_url, redis_prefix=redis_key_prefix)
    hold_ms = 9000
    call_task = asyncio.create_task(place_call(asterisk, "13912340000", hold_ms=hold_ms))

    # Wait until the bridge has fully set the call up (greeting started), then crash it.
    client = aioredis.from_url(REDIS_URL)
    try:
        for _ in range(100):
            state = await client.hgetall(f"{redis_key_prefix}calls:active:N01")
            if state and b"greeted" in next(iter(state.values())):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"call never set up: {bridge.log_tail()}")
    finally:
        await client.aclose()
    bridge.kill()
    await asyncio.sleep(1.5)
    assert not call_task.done(), "the call dropped when the bridge died"
    await bridge.start()

    code, out = await call_task
    assert code == 0, out[-2000:]
    call_rows, ticket_rows = await _wait_for_tickets(sqlite_url, 1)
    await asyncio.sleep(1.0)  # a duplicate write, if any, would land now
    call_rows, ticket_rows = await _wait_for_tickets(sqlite_url, 1)
    assert len(call_rows) == 1, call_rows
    assert len(ticket_rows) == 1, ticket_rows
    assert call_rows[0]["caller_number"] == "13912340000"
    assert_recorded_like_the_call(call_rows[0], hold_ms)
