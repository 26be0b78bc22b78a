"""The confidential relay's codes over HTTP, on SQLite and PostgreSQL: dispatch of a
confidential caller's ticket issues one; the ticket's unit reads it (never the number), other
units cannot; staff issue a fresh one, which revokes the old; a wrong code locks out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kernel.audit import AccessAudit
from kernel.database import open_database
from kernel.http_edge import new_app
from kernel.roles import Actor, Role
from tests.auth_tokens import bearer, with_test_signer
from tickets.deadlines import load_calendar
from tickets.dispatch import load_catalogue
from tickets.evidence_store import EvidenceStore
from tickets.model import Caller, Channel, TicketType
from tickets.plugin import TicketDeps, install
from tickets.relay import RelayService
from tickets.store import TicketStore
from tickets.workflow import Classify, Dispatch, Register

AGENT = Actor("agent7", Role.AGENT)
HOUSING = bearer("unit", "zhang", "city-housing")
ECOLOGY = bearer("unit", "li", "city-ecology")
DISPATCHER = bearer("dispatcher", "disp1")
CITIZEN = "13700003333"


@pytest.fixture
async def relay_api(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[TestClient, Any, str]]:
    engine = await open_database(database_url)
    store = TicketStore(engine, "T01")
    relay = RelayService(engine, store, AccessAudit(engine), max_failures=2)
    app = with_test_signer(new_app())
    install(app, TicketDeps(store, load_catalogue(), load_calendar(),
                            EvidenceStore(tmp_path / "evidence", 1 << 20), AccessAudit(engine),
                            relay=relay, relay_number="12346"))
    ticket, _ = await store.register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number=CITIZEN, confidential=True),
        summary="举报", content="请不要透露我的身份"), AGENT)
    no = ticket.ticket_no
    await store.transition(no, Classify(ticket_type=TicketType.REPORT, summary="举报"), AGENT, 1)
    await store.transition(no, Dispatch(lead_unit="city-housing", deadline=store.now() + timedelta(days=5),
                                        sign_deadline=store.now() + timedelta(days=1)),
                           Actor("disp1", Role.DISPATCHER), 2)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, relay, no
    await engine.dispose()


async def test_the_units_code_is_issued_at_dispatch_and_only_its_unit_reads_it(relay_api) -> None:
    client, _, no = relay_api
    response = await client.get(f"/api/tickets/{no}/relay-code", headers=HOUSING)
    body = await response.text()
    assert response.status == 200 and CITIZEN not in body
    code = (await response.json())["relay_code"]["code"]
    assert len(code) == 8 and code.isdigit()
    other = await client.get(f"/api/tickets/{no}/relay-code", headers=ECOLOGY)
    assert other.status == 404
    assert (await client.post(f"/api/tickets/{no}/relay-code", headers=HOUSING)).status == 403


async def test_a_fresh_code_revokes_the_old_one(relay_api) -> None:
    client, relay, no = relay_api
    old = (await (await client.get(f"/api/tickets/{no}/relay-code", headers=HOUSING)).json())["relay_code"]["code"]
    issued = await client.post(f"/api/tickets/{no}/relay-code", headers=DISPATCHER)
    assert issued.status == 201
    new = (await issued.json())["relay_code"]["code"]
    grant, outcome = await relay.open(old, "05390000001")
    assert grant is None and outcome == "wrong_code"
    grant, outcome = await relay.open(new, "05390000002")
    assert grant is not None and grant.citizen_number == CITIZEN and outcome == "accepted"
    grant2, outcome = await relay.open(new, "05390000002")  # in use: once only
    assert grant2 is None and outcome == "wrong_code"
    await relay.release_code(grant.code_id)
    again, outcome = await relay.open(new, "05390000003")
    assert again is not None and outcome == "accepted"


async def test_wrong_codes_lock_the_calling_number_out(relay_api) -> None:
    client, relay, no = relay_api
    code = (await (await client.get(f"/api/tickets/{no}/relay-code", headers=HOUSING)).json())["relay_code"]["code"]
    for _ in range(2):
        assert (await relay.open("00000000", "05390000009"))[1] == "wrong_code"
    assert (await relay.open(code, "05390000009"))[1] == "locked_out"
    assert (await relay.open(code, "05390000010"))[1] == "accepted"  # another number is not
