"""A citizen's data exported on their request (PIPL 第四十五条), on SQLite and PostgreSQL: an
auditor gets every ticket (with its events), call (with its transcript) and
recording of the number, and nothing of another caller's; every other role is refused; each
export and each refusal is one audit row; a bad body is 400. The CLI gives the same, audited.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel import openapi
from kernel.access_policy import AccessKind
from kernel.audit import AccessAudit, AuditQuery
from kernel.database import open_database
from kernel.http_edge import new_app
from kernel.roles import Actor, Role
from recordings.plugin import RecordingsDeps
from recordings.plugin import install as install_recordings
from recordings.store import CallStore
from tests.auth_tokens import bearer, with_test_signer
from tests.data_keys import TEST_KEYS
from tests.recording_files import insert_call, write_wav
from tickets.model import Caller, Channel
from tickets.store import TicketStore
from tickets.workflow import Register

CALLER = "13812345678"
OTHER = "13700001111"
T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Exports:
    client: TestClient
    audit: AccessAudit
    ticket_no: str
    call_id: str

    async def ask(self, headers: dict[str, str], body: object) -> tuple[int, dict[str, object]]:
        response = await self.client.post("/api/citizen-exports", headers=headers, json=body)
        return response.status, await response.json()


@pytest.fixture
async def exports(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Exports]:
    call_id = await insert_call(engine, caller=CALLER, started_at=T0, seconds=2.0, agent_id="a7",
                                recording=write_wav(tmp_path / "call-a.wav", 2.0),
                                lines=(("caller", 0.1, 1.2, "小区路灯不亮"),))
    await insert_call(engine, caller=OTHER, started_at=T0 + timedelta(hours=1), seconds=1.0, agent_id=None,
                      recording=None, lines=(("caller", 0.1, 0.9, "别人的事"),))
    store = TicketStore(engine, "N01")
    ticket, _ = await store.register(Register(ticket_no="", channel=Channel.PHONE, caller=Caller(number=CALLER),
                                              summary="路灯不亮"), Actor("a7", Role.AGENT), call_id=call_id)
    await store.register(Register(ticket_no="", channel=Channel.PHONE, caller=Caller(number=OTHER),
                                  summary="别人的事"), Actor("a7", Role.AGENT))
    audit = AccessAudit(engine)
    app = with_test_signer(new_app())
    install_recordings(app, RecordingsDeps(CallStore(engine), audit, TEST_KEYS))
    openapi.install(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield Exports(client, audit, ticket.ticket_no, call_id)


@pytest.mark.parametrize("role", ["auditor"])
async def test_an_auditor_exports_all_of_one_callers_data(exports: Exports, role: str) -> None:
    status, body = await exports.ask(bearer(role, "shen"), {"caller_number": "+86 138-1234-5678"})
    assert status == 200, body
    assert body["caller_number"] == CALLER
    (ticket,) = body["tickets"]  # type: ignore[misc]
    assert ticket["ticket_no"] == exports.ticket_no and ticket["summary"] == "路灯不亮"
    assert [event["type"] for event in ticket["events"]] == ["TicketRegistered"]
    (call,) = body["calls"]  # type: ignore[misc]
    assert call["call_id"] == exports.call_id and [s["text"] for s in call["transcript"]] == ["小区路灯不亮"]
    assert body["recordings"] == [{"call_id": exports.call_id, "seconds": 2.0,
                                   "url": f"/api/calls/{exports.call_id}/recording"}]
    assert "别人的事" not in json.dumps(body, ensure_ascii=False)
    (row,) = await exports.audit.search(AuditQuery(kind=AccessKind.EXPORT))
    assert (row.actor, row.role, row.allowed, row.caller_number) == ("shen", role, True, CALLER)
    assert exports.ticket_no in row.detail


@pytest.mark.parametrize("role", ["admin", "supervisor", "agent", "dispatcher", "unit", "system"])
async def test_other_roles_are_refused_and_the_attempt_audited(exports: Exports, role: str) -> None:
    status, body = await exports.ask(bearer(role, "li", "city-housing" if role == "unit" else None),
                                     {"caller_number": CALLER})
    assert status == 403, body
    (row,) = await exports.audit.search(AuditQuery(kind=AccessKind.EXPORT))
    assert (row.actor, row.allowed) == ("li", False)


async def test_a_bad_request_is_400_and_nobody_unsigned_gets_anything(exports: Exports) -> None:
    for body in ({}, {"caller_number": "abc"}, {"caller_number": CALLER, "more": 1}, [CALLER]):
        status, answer = await exports.ask(bearer("auditor", "shen"), body)
        assert status == 400, (body, answer)
    status, _ = await exports.ask({}, {"caller_number": CALLER})
    assert status == 401


async def test_the_cli_prints_the_export_and_audits_it(sqlite_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")} | {
        "HOTLINE_DATABASE_URL": sqlite_url, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "hotline.cli", "migrate"], env=env, check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "hotline.cli", "export-caller", CALLER], env=env,
                          check=True, capture_output=True, text=True)
    assert json.loads(done.stdout)["caller_number"] == CALLER
    engine = await open_database(sqlite_url)
    try:
        rows = await AccessAudit(engine).search(AuditQuery(kind=AccessKind.EXPORT))
    finally:
        await engine.dispose()
    assert [(r.actor.split(":")[0], r.role, r.allowed, r.caller_number) for r in rows] == [
        ("cli", "operator", True, CALLER)]
