"""Anti-abuse on real calls: a repeat caller through real Asterisk is educated, then restricted,
and still leaves a message that becomes a ticket; the FastAGI path screens from a real dialplan."""

from __future__ import annotations

import asyncio
import tomllib
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from abuse.limiter import AbuseScreen
from abuse.policy_file import DEFAULT_POLICY_FILE, policy_from_mapping
from devtools.sandbox import AsteriskSandbox, ensure_rootfs, free_tcp_port
from devtools.sipp_scenarios import (
    caller_audio_wav,
    hung_up_by_hotline_scenario,
    speech_call_scenario,
)
from kernel.schema import calls, tickets
from telephony.ari.models import ChannelEvent, PlaybackEvent
from telephony.ari.rest import AriRest
from telephony.fastagi import FastAgiScreenServer

pytestmark = pytest.mark.asterisk


def strict_policy() -> Any:
    """The shipped policy with the short window tightened so a test can climb the ladder."""
    raw = tomllib.loads(DEFAULT_POLICY_FILE.read_text(encoding="utf-8"))
    raw["levels"]["warn"]["calls_short"] = 2
    raw["levels"]["senior_queue"]["calls_short"] = 3
    raw["levels"]["restrict"]["calls_short"] = 4
    return policy_from_mapping(raw)


async def call(asterisk: AsteriskSandbox, caller: str, hold_ms: int, service: str = "12345",
               wait_for_hotline_hangup: bool = False) -> None:
    wav = asterisk.write_sipp_file("caller-audio.wav", caller_audio_wav())
    xml = (hung_up_by_hotline_scenario(wav, timeout_ms=hold_ms) if wait_for_hotline_hangup
           else speech_call_scenario(wav, hold_ms=hold_ms, loops=-1))
    scenario = asterisk.write_sipp_file(f"abuse-{uuid.uuid4().hex[:6]}.xml", xml)
    code, out = await asterisk.run_sipp("-sf", scenario, "-s", service, "-m", "1",
                                        "-set", "caller", caller)
    assert code == 0, out[-1500:]


async def test_repeat_caller_is_warned_then_restricted_and_can_leave_a_message(
    asterisk: AsteriskSandbox, in_process_bridge, ari_observer: list[object], redis_client,
    redis_key_prefix: str,
) -> None:
    screen = AbuseScreen(redis_client, strict_policy(), key_prefix=redis_key_prefix)
    bridge = await in_process_bridge(asterisk, screen=screen, message_max_seconds=3.0)
    number = "13700000042"
    for _ in range(3):
        await call(asterisk, number, hold_ms=2500)
    # The restricted caller does not hang up: the bridge ends the message after its maximum.
    await call(asterisk, number, hold_ms=20000, wait_for_hotline_hangup=True)

    finished = [await asyncio.wait_for(bridge.finished.get(), 20) for _ in range(4)]
    levels = [record.screen_level for record, _ in finished]
    assert levels == ["allow", "warn", "senior_queue", "restrict"]
    assert [record.queue for record, _ in finished] == ["general", "general", "senior", "general"]
    restricted = finished[3][0]
    assert restricted.duration_seconds < 10, "the message was not ended after its maximum"

    # Prompts as ARI saw them, per call's bridge.
    def played(bridge_id: str) -> list[str]:
        return [e.media_uri for e in ari_observer if isinstance(e, PlaybackEvent)
                and e.type == "PlaybackStarted" and e.target_uri == f"bridge:{bridge_id}"]

    assert "sound:hotline/abuse-warning" not in played(finished[0][0].bridge_id or "")
    assert "sound:hotline/abuse-warning" in played(finished[1][0].bridge_id or "")
    assert "sound:hotline/abuse-restricted" in played(restricted.bridge_id or "")
    assert "sound:hotline/leave-message" in played(restricted.bridge_id or "")

    # Every call became a ticket; the restricted one as a left message, with its recording.
    async with bridge.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = (await conn.execute(select(tickets.c.origin, calls.c.screen_level, calls.c.recording_seconds)
                                   .join(calls, calls.c.id == tickets.c.call_id))).all()
    assert sorted(r.origin for r in rows) == ["call", "call", "call", "message"]
    assert all(r.recording_seconds and r.recording_seconds > 1 for r in rows)

    # ... and every decision is in the audit.
    history = await screen.history(number)
    assert len([h for h in history if h.event == "decision"]) == 4


async def test_fastagi_screens_a_call_from_a_real_dialplan(
    redis_client, redis_key_prefix: str,
) -> None:
    screen = AbuseScreen(redis_client, strict_policy(), key_prefix=redis_key_prefix)
    port = free_tcp_port()
    dialplan = "\n".join([
        f"exten => 12347,1,AGI(agi://127.0.0.1:{port}/screen,secret=agi-test-secret)",
        " same => n,UserEvent(HotlineScreen,level: ${HOTLINE_SCREEN},prompt: ${HOTLINE_SCREEN_PROMPT})",
        " same => n,Answer()",
        " same => n,Wait(0.5)",
        " same => n,Hangup()",
    ])
    sandbox = AsteriskSandbox(ensure_rootfs(), extra_dialplan=dialplan)
    sandbox.start()
    from telephony.ari.events import AriEventStream

    events: list[object] = []
    stream = AriEventStream(sandbox.ari_url, sandbox.ari_user, sandbox.ari_password,
                            "hotline-observer", subscribe_all=True)

    async def collect() -> None:
        async for event in stream.events():
            events.append(event)

    collector = asyncio.create_task(collect())
    # The caller id the dialplan claims is confirmed on the call's own channel, over ARI.
    rest = AriRest(sandbox.ari_url, sandbox.ari_user, sandbox.ari_password, "hotline-observer")
    try:
        async with FastAgiScreenServer(screen, port=port, secret="agi-test-secret", channels=rest):
            await asyncio.wait_for(stream.connected.wait(), 10)
            for _ in range(2):
                await call(sandbox, "13700000043", hold_ms=10000, service="12347",
                           wait_for_hotline_hangup=True)
            await asyncio.sleep(0.5)
    finally:
        collector.cancel()
        await rest.close()
        sandbox.remove()
    user_events = [e.raw for e in events if isinstance(e, ChannelEvent)
                   and e.type == "ChannelUserevent" and e.raw.get("eventname") == "HotlineScreen"]
    levels = [e["userevent"]["level"] for e in user_events]
    assert levels == ["allow", "warn"], user_events
    assert user_events[1]["userevent"]["prompt"] == "hotline/abuse-warning"
    assert len(await screen.history("13700000043")) >= 2


async def test_calls_go_on_when_the_screens_redis_is_down(
    asterisk: AsteriskSandbox, in_process_bridge,
) -> None:
    import redis.asyncio as aioredis

    dead = aioredis.from_url(f"redis://127.0.0.1:{free_tcp_port()}/0", socket_connect_timeout=0.2,
                             socket_timeout=0.2)
    screen = AbuseScreen(dead, strict_policy(), key_prefix="hotline-test-dead:")
    bridge = await in_process_bridge(asterisk, screen=screen)
    for _ in range(2):
        await call(asterisk, "13700000044", hold_ms=2000)
    finished = [await asyncio.wait_for(bridge.finished.get(), 20) for _ in range(2)]
    assert [record.screen_level for record, _ in finished] == ["allow", "allow"]
    assert all(ticket_no for _, ticket_no in finished)
    assert screen.stats.fail_open == 2
    await dead.aclose()
