"""No ticket lost when the database is away: finished calls wait in the outbox on disk and are
written, each once and with its true end time, as soon as the database answers again.

Real PostgreSQL behind a TCP proxy that the test cuts for ~20 s while calls end (the server
itself keeps serving the other tests), real Asterisk, real SIPp calls, a real `hotline run`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import suppress
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import speech_call_scenario
from kernel.schema import transcript_segments
from tests.asr_fixtures import AsrLanguage
from tests.integration.test_backend_away import _wait_until_set_up
from tests.integration.test_call_to_ticket import (
    _wait_for_tickets,
    assert_recorded_like_the_call,
    place_call,
)
from tests.integration.test_live_transcription_call import caller_audio
from tests.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.asterisk, pytest.mark.postgres]

HOLDS_MS = (5000, 7000, 9000)


async def _wait_for_files(directory: Path, count: int, timeout: float = 40.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if directory.exists() and len(list(directory.glob("*.json"))) >= count:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"fewer than {count} calls in the outbox {directory}")


async def test_calls_ending_while_postgres_is_unreachable_become_tickets_once_with_true_end_times(
    asterisk: AsteriskSandbox, postgres_url: str, bridge_factory, redis_key_prefix: str,
    tmp_path: Path
) -> None:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
        bridge = await bridge_factory(asterisk, proxied, redis_prefix=redis_key_prefix)
        outbox = Path(bridge.env["HOTLINE_CALL_FLOW_OUTBOX_DIR"])
        calls = [asyncio.create_task(place_call(asterisk, f"1370000000{i}", hold_ms=hold))
                 for i, hold in enumerate(HOLDS_MS)]
        await _wait_until_set_up(redis_key_prefix, len(calls))
        await proxy.cut()

        for task in calls:
            code, out = await task
            assert code == 0, out[-2000:]
        await _wait_for_files(outbox, len(calls))
        still_none, _ = await _wait_for_tickets(postgres_url, 1, timeout=0)
        assert still_none == [], "a call was written although the database was unreachable"
        await asyncio.sleep(10)  # the database stays away a while longer: nothing is dropped
        await proxy.start()

        call_rows, ticket_rows = await _wait_for_tickets(postgres_url, len(calls), timeout=30)
        assert len(call_rows) == len(calls) and len(ticket_rows) == len(calls), bridge.log_tail()
        assert len({c["channel_id"] for c in call_rows}) == len(calls)
        assert not list(outbox.glob("*.json")), "the outbox was not drained"
        by_caller = {c["caller_number"]: c for c in call_rows}
        for i, hold in enumerate(HOLDS_MS):
            # The true end time: talk time as long as SIPp held the call, not "when written".
            assert_recorded_like_the_call(by_caller[f"1370000000{i}"], hold)
        await asyncio.sleep(3)  # a second replay, if any, would land now
        call_rows, ticket_rows = await _wait_for_tickets(postgres_url, len(calls), timeout=0)
        assert len(call_rows) == len(ticket_rows) == len(calls)
    finally:
        await proxy.aclose()


async def _kept_transcript(directory: Path, timeout: float = 60.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for path in sorted(directory.glob("*.json")) if directory.exists() else []:
            with suppress(OSError, ValueError):
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("transcript"):
                    return data
        await asyncio.sleep(0.2)
    raise AssertionError(f"no transcript kept in the outbox {directory}")


async def test_a_call_ending_while_postgres_is_unreachable_keeps_its_live_transcript(
    asterisk: AsteriskSandbox, postgres_url: str, bridge_factory, redis_key_prefix: str,
    asr_language: AsrLanguage, tmp_path: Path
) -> None:
    """Real speech into a real call with live Vosk; the database goes away before the caller
    hangs up. The outbox keeps the call with its live transcript, and once the database is
    back the ticket's call has exactly those segments."""
    ulaw, pcm = caller_audio(tmp_path, asr_language, tail_seconds=1.0)
    seconds = len(pcm) / 16000
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
        bridge = await bridge_factory(asterisk, proxied, redis_prefix=redis_key_prefix, env_overrides={
            "HOTLINE_ASR_MODEL_PATH": str(asr_language.model_path),
            "HOTLINE_ASR_SPOOL_DIR": str(tmp_path / "asr-spool"),
            # This test is about the outbox keeping the live words, not ASR capacity under load
            # (bench/bench_asr.py): on a machine busy with other tests the stream may fall a few
            # seconds behind, which must not send it to post-call transcription.
            "HOTLINE_ASR_MAX_LAG_SECONDS": "20"})
        outbox = Path(bridge.env["HOTLINE_CALL_FLOW_OUTBOX_DIR"])
        wav = asterisk.write_sipp_file("outage-speech.wav", ulaw.read_bytes())
        scenario = asterisk.write_sipp_file(f"outage-{uuid.uuid4().hex[:6]}.xml",
                                            speech_call_scenario(wav, hold_ms=int((seconds + 3) * 1000)))
        call = asyncio.create_task(asterisk.run_sipp("-sf", scenario, "-s", "12345", "-m", "1",
                                                     "-set", "caller", "13700000009"))
        await _wait_until_set_up(redis_key_prefix, 1)
        await proxy.cut()
        code, out = await call
        assert code == 0, out[-2000:]

        kept = await _kept_transcript(outbox)
        heard = [s["text"] for s in kept["transcript"]["segments"] if s["speaker"] == "caller"]
        assert heard, f"the live transcript heard nothing of the caller: {kept['transcript']}"
        still_none, _ = await _wait_for_tickets(postgres_url, 1, timeout=0)
        assert still_none == [], "a call was written although the database was unreachable"
        await proxy.start()

        call_rows, ticket_rows = await _wait_for_tickets(postgres_url, 1, timeout=30)
        assert len(call_rows) == len(ticket_rows) == 1, bridge.log_tail()
        assert call_rows[0]["id"] == kept["call_id"]
        engine = create_async_engine(postgres_url)
        try:
            deadline = asyncio.get_running_loop().time() + 20
            while True:
                async with engine.connect() as conn:
                    stored = (await conn.execute(
                        select(transcript_segments.c.speaker, transcript_segments.c.text)
                        .where(transcript_segments.c.call_id == kept["call_id"])
                        .order_by(transcript_segments.c.start_seconds))).all()
                if stored or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.2)
        finally:
            await engine.dispose()
        assert [text for speaker, text in stored if speaker == "caller"] == heard
        assert not list(outbox.glob("*.json")), "the outbox was not drained"
    finally:
        await proxy.aclose()
