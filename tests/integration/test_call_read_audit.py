"""Acceptance (issue 22): after a full call, every read of the caller's data is in the audit
exactly once per read.

The whole backend as `hotline run` builds it, in this process, on real Asterisk, Redis, SQLite
and live Vosk. A supervisor watches the floor's live feed while a SIPp caller speaks Mandarin to
12345 and hangs up (the supervisor lists the live calls meanwhile); the call is recorded and becomes a
draft ticket. Then people read the caller's data every way the hotline serves it (the call list
searched by the number, the call
with its transcript, the recording, the ticket, the caller's history, the anti-abuse history, a
reveal of the number, the audit itself as an auditor and as a CSV export), and some are refused
(an agent who was not on the call, a handling unit). Every request is written down as it is
made; the audit must then hold exactly one row per request, nothing more, and its rows must name
the caller (their number, call or ticket). The test watches the database directly, so that
waiting for the call record is no read of the API.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import speech_call_scenario
from kernel.audit import AccessAudit, AccessRecord, AuditQuery
from kernel.database import open_database
from kernel.privacy import mask_phone
from recordings.store import CallFilter, CallStore, CallSummary
from tests.asr_fixtures import AsrLanguage
from tests.asterisk_harness import whole_app_on
from tests.integration.test_backend_away import _wait_until_set_up
from tests.integration.test_live_transcription_call import caller_audio

pytestmark = pytest.mark.asterisk

CALLER = "13812340077"


@dataclass
class Reads:
    """The reads of the caller's data this test makes: (actor, kind, allowed) per request."""

    client: TestClient
    headers: dict[str, dict[str, str]]
    made: list[tuple[str, str, bool]] = field(default_factory=list)

    async def read(self, who: str, kind: str, method: str, path: str, *, allowed: bool = True,
                   **kwargs: Any) -> Any:
        """One request by `who`; its audit row is expected to say `kind` and `allowed`."""
        async with self.client.request(method, path, headers={**self.headers[who], **kwargs.pop("headers", {})},
                                       **kwargs) as response:
            body = await response.read()
            assert (response.status < 400) == allowed, (who, path, response.status, body[:300])
        self.made.append((who, kind, allowed))
        return json.loads(body) if response.content_type == "application/json" else body


@pytest.fixture
async def backend(asterisk: AsteriskSandbox, sqlite_url: str, redis_key_prefix: str, redis_client: Any,
                  asr_language: AsrLanguage, tmp_path: Path) -> AsyncIterator[tuple[TestClient, Reads]]:
    async with whole_app_on(
        asterisk, sqlite_url, redis_key_prefix, HOTLINE_CALL_FLOW_GREETING="sound:beep",
        HOTLINE_SUPERVISION_ENABLED="false", HOTLINE_CALLBACK_ENABLED="false",
        HOTLINE_ASR_MODEL_PATH=str(asr_language.model_path), HOTLINE_ASR_SPOOL_DIR=str(tmp_path / "asr-spool"),
        # About the audit, not ASR capacity: a busy machine may fall a few seconds behind.
        HOTLINE_ASR_MAX_LAG_SECONDS="20",
    ) as (client, bearer):
        yield client, Reads(client, {
            "sup1": bearer("supervisor", "sup1"), "a9": bearer("agent", "a9"),
            "zhang": bearer("unit", "zhang", "city-housing"), "aud1": bearer("auditor", "aud1")})


async def finished_call(store: CallStore, seconds: float = 30.0) -> CallSummary:
    """The call's record, once written after the hang-up (read from the database, not the API)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not (found := await store.list_calls(CallFilter(caller=CALLER))):
        assert loop.time() < deadline, "the call was never recorded"
        await asyncio.sleep(0.2)
    (call,) = found
    return call


def about_the_caller(row: AccessRecord, call_id: str, tickets: set[str]) -> bool:
    """Whether the row names the caller: their number, their call or ticket (a list's row names
    what it listed in its detail)."""
    return (row.call_id == call_id or row.ticket_no in tickets
            or row.caller_number in (CALLER, mask_phone(CALLER)) or call_id in row.detail)


async def test_every_read_of_a_callers_data_after_a_call_is_audited_exactly_once(
    backend: tuple[TestClient, Reads], asterisk: AsteriskSandbox, asr_language: AsrLanguage,
    sqlite_url: str, tmp_path: Path, redis_key_prefix: str,
) -> None:
    client, reads = backend
    engine = await open_database(sqlite_url)
    audit, calls = AccessAudit(engine), CallStore(engine)

    # The supervisor watches the floor while the caller speaks.
    floor = await client.ws_connect("/ws/live", headers=reads.headers["sup1"])
    assert (await floor.receive_json(timeout=10))["type"] == "desk.ready"
    ulaw, pcm = caller_audio(tmp_path, asr_language, tail_seconds=1.0)
    wav = asterisk.write_sipp_file("audit-speech.wav", ulaw.read_bytes())
    scenario = asterisk.write_sipp_file(f"audit-{uuid.uuid4().hex[:6]}.xml",
                                        speech_call_scenario(wav, hold_ms=int((len(pcm) / 8000 + 3) * 1000)))
    sipp = asyncio.create_task(asterisk.run_sipp("-sf", scenario, "-s", "12345", "-m", "1",
                                                 "-set", "caller", CALLER, timeout=90))
    await _wait_until_set_up(redis_key_prefix, 1)  # watched in Redis: no read of the API
    on_the_floor = await reads.read("sup1", "call", "GET", "/api/live/calls")
    assert [c["caller_number"] for c in on_the_floor["calls"]] == [CALLER]
    code, out = await sipp
    assert code == 0, out[-2000:]
    call = await finished_call(calls)
    live: list[dict[str, Any]] = []
    while True:  # what the floor was sent of this call (the socket has no more once it is quiet)
        try:
            event = await floor.receive_json(timeout=3)
        except TimeoutError:
            break
        if event.get("call_id") == call.call_id:
            live.append(event)
    await floor.close()
    assert any(e["type"] == "asr.final" for e in live), live  # the floor saw the caller's words
    reads.made.append(("sup1", "transcript", True))  # one row for the whole socket's view of the call
    assert call.tickets, "the call became a draft ticket"
    ticket_no = call.tickets[0].ticket_no
    call_path = f"/api/calls/{call.call_id}"

    listed = await reads.read("sup1", "call", "GET", "/api/calls", params={"caller": CALLER})
    assert [c["call_id"] for c in listed["calls"]] == [call.call_id]
    detail = await reads.read("sup1", "transcript", "GET", call_path)
    assert detail["transcript"], "the stored transcript is read with the call"
    await reads.read("sup1", "recording", "GET", f"{call_path}/recording", headers={"Range": "bytes=0-1023"})
    await reads.read("sup1", "recording", "GET", f"{call_path}/recording")
    await reads.read("a9", "recording", "GET", f"{call_path}/recording", allowed=False)
    await reads.read("a9", "transcript", "GET", call_path, allowed=False)
    ticket = await reads.read("sup1", "ticket", "GET", f"/api/tickets/{ticket_no}")
    assert ticket["ticket"]["caller"]["number"] == CALLER
    await reads.read("a9", "ticket", "GET", f"/api/tickets/{ticket_no}", allowed=False)
    await reads.read("zhang", "ticket", "GET", f"/api/tickets/{ticket_no}", allowed=False)  # not its ticket: 404
    history = await reads.read("sup1", "caller_history", "GET", f"/api/callers/{CALLER}/tickets")
    assert [t["ticket_no"] for t in history["tickets"]] == [ticket_no]
    await reads.read("zhang", "caller_history", "GET", f"/api/callers/{CALLER}/tickets", allowed=False)
    await reads.read("sup1", "abuse", "GET", f"/api/abuse/{CALLER}/history")
    revealed = await reads.read("sup1", "confidential_identity", "POST", f"/api/tickets/{ticket_no}/reveal")
    assert revealed["caller_number"] == CALLER
    trail = await reads.read("aud1", "audit", "GET", "/api/audit", params={"caller": CALLER})
    assert trail["records"] and {r["caller_number"] for r in trail["records"]} == {mask_phone(CALLER)}
    await reads.read("sup1", "audit", "GET", "/api/audit", params={"call_id": call.call_id, "format": "csv"})

    rows = await audit.search(AuditQuery(limit=10_000))
    await engine.dispose()
    assert all(about_the_caller(r, call.call_id, {ticket_no}) for r in rows if r.kind.value != "audit"), rows
    written = Counter((r.actor, r.kind.value, r.allowed) for r in rows)
    expected = Counter(reads.made)
    assert written == expected, f"audit rows vs reads made: extra {written - expected}, missing {expected - written}"
    print(f"\n{len(reads.made)} reads of the caller's data, {len(rows)} audit rows")
