"""Calls, recordings and the access audit over HTTP, on SQLite and PostgreSQL.

Who may hear what (supervisors every call, an agent their own calls, units none: the one policy,
`kernel.access_policy`), numbers masked where the reader may not hear the call and a confidential
caller's masked for everyone until a supervisor reveals it, HTTP Range on the recording, and one
audit row for every read and every refused attempt, including a caller's history read through
the tickets API, a reveal, and reading the audit itself.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel import openapi
from kernel.audit import AccessAudit
from kernel.clock import HOTLINE_TZ
from kernel.http_edge import new_app
from kernel.roles import Actor, Role
from kernel.schema import calls
from recordings.plugin import RecordingsDeps
from recordings.plugin import install as install_recordings
from recordings.store import CallStore
from tests.auth_tokens import bearer, with_test_signer
from tests.data_keys import TEST_KEYS
from tests.evidence_files import evidence_store_with
from tests.recording_files import insert_call, write_wav
from tickets.deadlines import load_calendar
from tickets.dispatch import load_catalogue
from tickets.model import Caller, Channel
from tickets.plugin import TicketDeps
from tickets.plugin import install as install_tickets
from tickets.store import TicketStore
from tickets.workflow import Register

SUPERVISOR = bearer("supervisor", "sup1")
AGENT_ON_CALL = bearer("agent", "a7")
OTHER_AGENT = bearer("agent", "a8")
UNIT = bearer("unit", "zhang", "city-housing")
AUDITOR = bearer("auditor", "shen")
T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
CALLER = "13812345678"
CONFIDENTIAL_CALLER = "13900001111"


class Desk:
    """The app under test and the calls it holds."""

    def __init__(self, client: TestClient, engine: AsyncEngine, calls: dict[str, str], ticket_no: str,
                 wav: Path) -> None:
        self.client, self.engine, self.calls, self.ticket_no, self.wav = client, engine, calls, ticket_no, wav

    async def get(self, path: str, headers: dict[str, str], **kwargs: Any) -> tuple[int, Any]:
        response = await self.client.get(path, headers=headers, **kwargs)
        body = await response.json() if response.content_type == "application/json" else await response.read()
        return response.status, body

    async def post(self, path: str, headers: dict[str, str]) -> tuple[int, Any]:
        response = await self.client.post(path, headers=headers, json={})
        return response.status, await response.json()

    async def audit(self, **query: str) -> list[dict[str, Any]]:
        status, body = await self.get("/api/audit", SUPERVISOR, params=query)
        assert status == 200, body
        return list(body["records"])


@pytest.fixture
async def desk(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Desk]:
    wav = write_wav(tmp_path / "recordings" / "call-a.wav", 3.0)
    answered = await insert_call(engine, caller=CALLER, started_at=T0, seconds=3.0, agent_id="a7", recording=wav,
                                 lines=(("caller", 0.2, 1.4, "小区路灯不亮"), ("agent", 1.6, 2.8, "好的，已记录")))
    unanswered = await insert_call(engine, caller="02088886666", started_at=T0 + timedelta(hours=1), seconds=5.0,
                                   agent_id=None, recording=write_wav(tmp_path / "recordings" / "b.wav", 1.0),
                                   end_reason="message_left")
    confidential = await insert_call(engine, caller=CONFIDENTIAL_CALLER, started_at=T0 + timedelta(hours=2),
                                     seconds=2.0, agent_id="a7", recording=None)
    tickets = TicketStore(engine, "N01")
    ticket, _ = await tickets.register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number=CALLER), summary="路灯不亮"),
        Actor("a7", Role.AGENT), call_id=answered)
    await tickets.register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number=CONFIDENTIAL_CALLER, confidential=True),
        summary="举报"), Actor("a7", Role.AGENT), call_id=confidential)
    audit = AccessAudit(engine)
    app = with_test_signer(new_app())
    install_tickets(app, TicketDeps(tickets, load_catalogue(), load_calendar(),
                                    await evidence_store_with(tmp_path / "evidence"), audit))
    install_recordings(app, RecordingsDeps(CallStore(engine), audit, TEST_KEYS))
    openapi.install(app)
    assert openapi.undocumented_routes(app) == set()
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield Desk(client, engine, {"answered": answered, "unanswered": unanswered,
                                    "confidential": confidential}, ticket.ticket_no, wav)


async def test_a_supervisor_lists_every_call_with_its_ticket_agent_and_numbers(desk: Desk) -> None:
    status, body = await desk.get("/api/calls", SUPERVISOR)
    assert status == 200, body
    listed = {c["call_id"]: c for c in body["calls"]}
    assert [c["call_id"] for c in body["calls"]] == [
        desk.calls["confidential"], desk.calls["unanswered"], desk.calls["answered"]]  # newest first
    answered = listed[desk.calls["answered"]]
    assert answered["caller_number"] == CALLER and not answered["number_masked"]
    assert answered["agents"] == ["a7"] and answered["talk_seconds"] == 3.0
    assert answered["tickets"][0]["ticket_no"] == desk.ticket_no
    assert answered["screen_level"] == "allow" and answered["may_hear"]
    # A confidential caller's number is masked in the list, for supervisors too: the list is one
    # read (one row), and the number is shown only by an explicit, audited reveal.
    assert listed[desk.calls["confidential"]]["caller_number"] == "139****1111"
    assert await desk.audit(kind="confidential_identity") == []
    (listing,) = await desk.audit(kind="call")
    assert (listing["actor"], listing["caller_number"], listing["allowed"]) == ("sup1", None, True)
    assert listing["detail"].startswith("calls list, 3 found")
    status, body = await desk.post(f"/api/calls/{desk.calls['confidential']}/reveal", SUPERVISOR)
    assert status == 200 and body["caller_number"] == CONFIDENTIAL_CALLER
    status, _ = await desk.post(f"/api/calls/{desk.calls['confidential']}/reveal", AGENT_ON_CALL)
    assert status == 403
    shown = await desk.audit(kind="confidential_identity")
    # The audit keeps a confidential number masked; the row names the call, and a search by the
    # full number finds it.
    assert [(r["actor"], r["call_id"], r["caller_number"], r["allowed"]) for r in shown] == [
        ("sup1", desk.calls["confidential"], "139****1111", True)]
    assert await desk.audit(kind="confidential_identity", caller=CONFIDENTIAL_CALLER) == shown


async def test_an_agent_sees_numbers_only_of_the_calls_they_took(desk: Desk) -> None:
    _, mine = await desk.get("/api/calls", AGENT_ON_CALL)
    _, theirs = await desk.get("/api/calls", OTHER_AGENT)
    by_id = {c["call_id"]: c for c in mine["calls"]}
    assert by_id[desk.calls["answered"]]["caller_number"] == CALLER
    # A confidential caller's number is for supervisors only, even to the agent who took the call.
    assert by_id[desk.calls["confidential"]]["caller_number"] == "139****1111"
    assert all(c["number_masked"] for c in theirs["calls"])
    assert {c["caller_number"] for c in theirs["calls"]} == {"138****5678", "020****6666", "139****1111"}
    status, _ = await desk.get("/api/calls", UNIT)
    assert status == 403


async def test_calls_are_filtered_and_paged(desk: Desk) -> None:
    async def ids(**query: str) -> list[str]:
        status, body = await desk.get("/api/calls", SUPERVISOR, params=query)
        assert status == 200, body
        return [c["call_id"] for c in body["calls"]]

    assert await ids(caller="+86 138-1234-5678") == [desk.calls["answered"]]
    assert await ids(agent="a7") == [desk.calls["confidential"], desk.calls["answered"]]
    assert await ids(ticket=desk.ticket_no) == [desk.calls["answered"]]
    assert await ids(end_reason="message_left") == [desk.calls["unanswered"]]
    assert await ids(**{"from": (T0 + timedelta(minutes=30)).isoformat(),
                        "to": (T0 + timedelta(minutes=90)).isoformat()}) == [desk.calls["unanswered"]]
    assert await ids(**{"from": "2026-12-01"}) == []  # a local (Beijing) day
    assert await ids(**{"from": "2026-11-30"}) != []
    status, first = await desk.get("/api/calls", SUPERVISOR, params={"limit": "2"})
    assert len(first["calls"]) == 2 and first["next_offset"] == 2
    _, rest = await desk.get("/api/calls", SUPERVISOR, params={"limit": "2", "offset": "2"})
    assert [c["call_id"] for c in rest["calls"]] == [desk.calls["answered"]] and rest["next_offset"] is None
    status, body = await desk.get("/api/calls", SUPERVISOR, params={"from": "2026-11-30T10:00:00"})
    assert status == 400 and "time zone" in body["message"]
    # Searching calls by a number reads that caller's history: the search's one row names them.
    assert [r["caller_number"] for r in await desk.audit(kind="call") if r["caller_number"]] == [CALLER]


async def test_the_recording_streams_with_range_and_every_read_is_audited(desk: Desk) -> None:
    call_id = desk.calls["answered"]
    whole = desk.wav.read_bytes()
    response = await desk.client.get(f"/api/calls/{call_id}/recording",
                                     headers={**SUPERVISOR, "Range": "bytes=0-1023"})
    assert response.status == 206
    assert await response.read() == whole[:1024]
    assert response.headers["Content-Range"] == f"bytes 0-1023/{len(whole)}"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "audio/wav"
    assert response.headers["Cache-Control"] == "no-store"
    response = await desk.client.get(f"/api/calls/{call_id}/recording", headers=SUPERVISOR)
    assert response.status == 200 and await response.read() == whole
    assert response.headers["Cache-Control"] == "no-store"
    response = await desk.client.get(f"/api/calls/{call_id}/recording", headers=AGENT_ON_CALL)
    assert response.status == 200
    # A token in the address is refused, even a valid one: the page's <audio> sends the cookie.
    for headers in ({}, AGENT_ON_CALL):
        response = await desk.client.get(f"/api/calls/{call_id}/recording", headers=headers,
                                         params={"access_token": AGENT_ON_CALL.token})
        assert response.status == 401 and "address" in (await response.json())["message"]

    for who in (OTHER_AGENT, UNIT):
        status, body = await desk.get(f"/api/calls/{call_id}/recording", who)
        assert status == 403, body

    reads = await desk.audit(kind="recording", call_id=call_id)
    assert [(r["actor"], r["role"], r["allowed"], r["detail"].split(";")[0]) for r in reversed(reads)] == [
        ("sup1", "supervisor", True, "bytes=0-1023"), ("sup1", "supervisor", True, "full file"),
        ("a7", "agent", True, "full file"), ("a8", "agent", False, "full file"),
        ("zhang", "unit", False, "full file")]
    assert all(r["caller_number"] == CALLER and r["ticket_no"] == desk.ticket_no for r in reads)
    assert all(r["where"] == "127.0.0.1" for r in reads)
    denied = await desk.audit(allowed="false")
    assert {r["actor"] for r in denied} == {"a8", "zhang"}
    assert "no part" in next(r["detail"] for r in denied if r["actor"] == "a8")


async def test_the_call_detail_carries_its_transcript_and_is_audited(desk: Desk) -> None:
    call_id = desk.calls["answered"]
    status, body = await desk.get(f"/api/calls/{call_id}", AGENT_ON_CALL)
    assert status == 200, body
    assert [(s["speaker"], s["start"], s["text"]) for s in body["transcript"]] == [
        ("caller", 0.2, "小区路灯不亮"), ("agent", 1.6, "好的，已记录")]
    assert [e["type"] for e in body["events"]] == ["started", "answered", "agent", "ended"]
    assert body["recording_url"] == f"/api/calls/{call_id}/recording"
    assert body["call"]["tickets"][0]["ticket_no"] == desk.ticket_no
    for who in (OTHER_AGENT, UNIT):
        status, _ = await desk.get(f"/api/calls/{call_id}", who)
        assert status == 403
    status, _ = await desk.get("/api/calls/no-such-call", SUPERVISOR)
    assert status == 404
    status, _ = await desk.get(f"/api/calls/{desk.calls['confidential']}/recording", SUPERVISOR)
    assert status == 404  # no recording
    reads = await desk.audit(kind="transcript", call_id=call_id)
    assert [(r["actor"], r["allowed"]) for r in reversed(reads)] == [("a7", True), ("a8", False), ("zhang", False)]


async def test_a_callers_history_and_a_confidential_identity_are_audited(desk: Desk) -> None:
    status, body = await desk.get(f"/api/callers/{CALLER}/tickets", AGENT_ON_CALL)
    assert status == 200 and [t["ticket_no"] for t in body["tickets"]] == [desk.ticket_no]
    status, _ = await desk.get(f"/api/callers/{CALLER}/tickets", UNIT)
    assert status == 403
    history = await desk.audit(kind="caller_history")
    assert [(r["actor"], r["caller_number"], r["allowed"]) for r in reversed(history)] == [
        ("a7", CALLER, True), ("zhang", CALLER, False)]

    _, confidential = await desk.get("/api/calls", SUPERVISOR, params={"agent": "a7", "limit": "1"})
    ticket_no = confidential["calls"][0]["tickets"][0]["ticket_no"]
    # The agent who registered it reads the ticket, the caller's number masked (one row, masked).
    status, body = await desk.get(f"/api/tickets/{ticket_no}", AGENT_ON_CALL)
    assert status == 200 and body["ticket"]["caller"]["number"] == "139****1111"
    assert CONFIDENTIAL_CALLER not in str(body)
    status, _ = await desk.get(f"/api/tickets/{ticket_no}", OTHER_AGENT)  # not theirs
    assert status == 403
    status, _ = await desk.get("/api/tickets", AGENT_ON_CALL)  # agents reach tickets by their calls
    assert status == 403
    status, _ = await desk.post(f"/api/tickets/{ticket_no}/reveal", AGENT_ON_CALL)
    assert status == 403
    status, body = await desk.post(f"/api/tickets/{ticket_no}/reveal", SUPERVISOR)
    assert status == 200 and body["caller_number"] == CONFIDENTIAL_CALLER
    reads = await desk.audit(ticket=ticket_no)
    assert [(r["actor"], r["kind"], r["caller_number"], r["allowed"]) for r in reversed(reads)] == [
        ("a7", "ticket", "139****1111", True), ("a8", "ticket", "139****1111", False),
        ("sup1", "confidential_identity", "139****1111", True)]


async def test_the_agent_who_answered_the_call_reads_its_draft_ticket(desk: Desk) -> None:
    """A finished call's draft is registered by the call path, not the agent: the agent who
    answered the call reads it as their own; another agent does not."""
    draft, _ = await TicketStore(desk.engine, "N01").register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number=CALLER), summary="通话草稿",
        call_ids=(desk.calls["answered"],)),
        Actor("intake", Role.SYSTEM), call_id=desk.calls["answered"])
    status, body = await desk.get(f"/api/tickets/{draft.ticket_no}", AGENT_ON_CALL)
    assert status == 200 and body["ticket"]["caller"]["number"] == CALLER
    status, _ = await desk.get(f"/api/tickets/{draft.ticket_no}", OTHER_AGENT)
    assert status == 403


async def test_the_audit_is_for_supervisors_and_auditors_and_exports_csv(desk: Desk) -> None:
    await desk.get(f"/api/calls/{desk.calls['answered']}/recording", OTHER_AGENT)
    status, body = await desk.get("/api/audit", AUDITOR, params={"actor": "a8"})
    assert status == 200 and [r["kind"] for r in body["records"]] == ["recording"]
    (refused,) = body["records"]
    # An auditor reads the audit and nothing it records.
    for path in ("/api/calls", f"/api/calls/{desk.calls['answered']}", f"/api/calls/{desk.calls['answered']}/recording",
                 f"/api/callers/{CALLER}/tickets"):
        status, _ = await desk.get(path, AUDITOR)
        assert status == 403, path
    for who in (AGENT_ON_CALL, UNIT):
        status, _ = await desk.get("/api/audit", who)
        assert status == 403
    # Auditors see numbers masked.
    status, body = await desk.get("/api/audit", AUDITOR, params={"kind": "recording"})
    assert status == 200 and {r["caller_number"] for r in body["records"]} == {"138****5678"}
    response = await desk.client.get("/api/audit", headers=SUPERVISOR, params={"format": "csv", "actor": "a8"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    text = await response.text()
    assert text.startswith("\ufeff")  # a spreadsheet opens it as UTF-8
    header, *rows = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    # In Chinese for the auditors, with the audit page's words and in its order.
    assert header == ["时间（北京时间）", "操作人", "角色", "单位", "读取内容", "结果", "工单号", "通话编号",
                      "来电号码", "来源地址", "详情"]
    (row,) = rows
    assert row[1:6] == ["a8", "话务员", "", "通话录音", "拒绝"] and row[7] == desk.calls["answered"]
    assert row[9] == "127.0.0.1" and row[10] == refused["detail"]
    at = datetime.fromisoformat(refused["at"]).astimezone(HOTLINE_TZ)
    assert row[0] == at.strftime("%Y-%m-%d %H:%M:%S")  # Beijing time, as the page shows it
    status, body = await desk.get("/api/audit", SUPERVISOR, params={"kind": "gossip"})
    assert status == 400 and body["error"] == "invalid_input"
    # Every read of the audit, and the export, is a row of its own.
    reads = await desk.audit(kind="audit", actor="shen")
    assert [r["detail"] for r in reads] == ["audit search, 2 rows", "audit search, 1 rows"]
    (export,) = await desk.audit(kind="audit", actor="sup1", allowed="true", limit="1", offset="1")
    assert export["detail"] == "audit export (csv), 1 rows"


async def test_the_end_reason_filter_offers_the_stored_reasons_and_finds_callers_who_gave_up(desk: Desk) -> None:
    gave_up = str(uuid.uuid4())
    async with desk.engine.begin() as conn:
        await conn.execute(insert(calls).values(
            id=gave_up, channel_id=f"chan-{gave_up}", caller_number="13955556666", node_id="N01",
            started_at=T0 + timedelta(hours=3), ended_at=T0 + timedelta(hours=3, seconds=40),
            end_reason="Normal Clearing", queue_seconds=38.0, agent_id=None))
    status, body = await desk.get("/api/calls/end-reasons", SUPERVISOR)
    assert (status, body["end_reasons"]) == (200, ["Normal Clearing", "caller_hangup", "message_left"])
    status, body = await desk.get("/api/calls", SUPERVISOR, params={"abandoned": "true"})
    assert [c["call_id"] for c in body["calls"]] == [gave_up]  # not the message left, not the answered
    status, body = await desk.get("/api/calls", SUPERVISOR, params={"end_reason": "Normal Clearing"})
    assert [c["call_id"] for c in body["calls"]] == [gave_up]
    assert (await desk.get("/api/calls", SUPERVISOR, params={"abandoned": "yes"}))[0] == 400
    assert (await desk.get("/api/calls/end-reasons", UNIT))[0] == 403
