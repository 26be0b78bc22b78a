"""Acceptance: a real call's recording, read by a supervisor over HTTP and found in the audit.

The whole backend as `hotline run` builds it, in this process, on real Asterisk, Redis and
SQLite. A SIPp caller dials 12345 and hangs up; the supervisor lists the call, reads the first
kilobyte of its recording (206) and then all of it (a WAV as long as the call, sealed on disk), and finds both
reads in `GET /api/audit`; an agent who was not on the call is refused (403, audited) and so is
a handling unit.
"""

from __future__ import annotations

import asyncio
import io
import uuid
import wave
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from aiohttp.test_utils import TestClient

from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import caller_audio_wav, speech_call_scenario
from kernel.sealed_files import MAGIC
from tests.asterisk_harness import whole_app_on

pytestmark = pytest.mark.asterisk

CALLER = "13812340001"
HOLD_MS = 5000


@pytest.fixture
async def backend(asterisk: AsteriskSandbox, sqlite_url: str, redis_key_prefix: str,
                  redis_client) -> AsyncIterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    async with whole_app_on(asterisk, sqlite_url, redis_key_prefix, HOTLINE_CALL_FLOW_GREETING="sound:beep",
                            HOTLINE_SUPERVISION_ENABLED="false") as (client, bearer):
        yield client, {"supervisor": bearer("supervisor", "sup1"), "agent": bearer("agent", "a9"),
                       "unit": bearer("unit", "zhang", "city-housing")}


async def place_call(asterisk: AsteriskSandbox) -> tuple[int, str]:
    wav = asterisk.write_sipp_file("recordings-caller.wav", caller_audio_wav())
    scenario = asterisk.write_sipp_file(f"rec-{uuid.uuid4().hex[:6]}.xml",
                                        speech_call_scenario(wav, hold_ms=HOLD_MS, loops=-1))
    return await asterisk.run_sipp("-sf", scenario, "-s", "12345", "-m", "1", "-set", "caller", CALLER,
                                   timeout=60 + HOLD_MS / 1000)


async def test_a_supervisor_plays_a_real_calls_recording_and_the_reads_are_audited(
    backend: tuple[TestClient, dict[str, dict[str, str]]], asterisk: AsteriskSandbox,
) -> None:
    client, people = backend
    code, out = await place_call(asterisk)
    assert code == 0, out[-2000:]

    # The call record is written just after the hang-up (the recording is closed first).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        response = await client.get("/api/calls", headers=people["supervisor"], params={"caller": CALLER})
        assert response.status == 200, await response.text()
        found = (await response.json())["calls"]
        if found or loop.time() > deadline:
            break
        await asyncio.sleep(0.2)
    assert len(found) == 1, found
    call = found[0]
    assert call["caller_number"] == CALLER and call["has_recording"] and call["may_hear"]
    assert call["tickets"], "the call's draft ticket is listed with it"
    recording = f"/api/calls/{call['call_id']}/recording"

    partial = await client.get(recording, headers={**people["supervisor"], "Range": "bytes=0-1023"})
    assert partial.status == 206
    assert len(await partial.read()) == 1024
    assert partial.headers["Accept-Ranges"] == "bytes"
    assert partial.headers["Content-Range"].startswith("bytes 0-1023/")
    assert partial.headers["Cache-Control"] == "no-store"
    assert partial.headers["Content-Type"] == "audio/wav"

    whole = await client.get(recording, headers=people["supervisor"])
    assert whole.status == 200
    data = await whole.read()
    assert len(data) == int(partial.headers["Content-Range"].rsplit("/", 1)[1])
    with wave.open(io.BytesIO(data)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    talk = (datetime.fromisoformat(call["ended_at"]) - datetime.fromisoformat(call["answered_at"])).total_seconds()
    assert abs(seconds - talk) <= 1.0, f"recording {seconds:.2f}s vs call {talk:.2f}s"
    assert abs(seconds - HOLD_MS / 1000) <= 1.5
    # Sealed at rest once the call ended (kernel/sealed_files.py): no plain WAV of it is left.
    kept = [p for p in asterisk.recording_dir.rglob(f"*{call['call_id']}*") if p.is_file()]
    assert [p.name for p in kept] == [f"call-{call['call_id']}.wav.sealed"], kept
    assert kept[0].read_bytes().startswith(MAGIC) and kept[0].read_bytes()[44:1068] != data[44:1068]

    assert (await client.get(recording, headers=people["agent"])).status == 403
    assert (await client.get(recording, headers=people["unit"])).status in (403, 404)

    response = await client.get("/api/audit", headers=people["supervisor"],
                                params={"call_id": call["call_id"], "kind": "recording"})
    assert response.status == 200
    reads = [(r["actor"], r["allowed"], r["detail"].split(";")[0])
             for r in reversed((await response.json())["records"])]
    assert reads == [("sup1", True, "bytes=0-1023"), ("sup1", True, "full file"),
                     ("a9", False, "full file"), ("zhang", False, "full file")]
