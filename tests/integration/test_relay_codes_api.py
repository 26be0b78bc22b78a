"""The confidential relay's codes over HTTP, on SQLite and PostgreSQL: dispatch of a
confidential caller's ticket issues one; the ticket's unit reads it (never the number), other
units cannot; staff issue a fresh one, which revokes the old; a wrong code locks out. A code
works only from a line the unit directory registers for the ticket's unit, and wrong codes
from all callers together lock every caller out, with an alert."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kernel.audit import AccessAudit
from kernel.database import open_database
from kernel.http_edge import new_app
from kernel.metrics import Metrics
from kernel.roles import Actor, Role
from tests.auth_tokens import bearer, with_test_signer
from tests.data_keys import TEST_KEYS
from tickets.deadlines import load_calendar
from tickets.dispatch import load_catalogue
from tickets.evidence_store import EvidenceStore
from tickets.model import Caller, Channel, TicketType
from tickets.plugin import TicketDeps, install
from tickets.relay import RelayService
from tickets.store import TicketStore
from tickets.unit_directory import UnitContact, UnitDirectoryStore
from tickets.workflow import Classify, Dispatch, Register

AGENT = Actor("agent7", Role.AGENT)
HOUSING = bearer("unit", "zhang", "city-housing")
ECOLOGY = bearer("unit", "li", "city-ecology")
DISPATCHER = bearer("dispatcher", "disp1")
CITIZEN = "13700003333"
#: The units' registered lines (their entries in the unit directory).
HOUSING_LINE, HOUSING_BACKUP, ECOLOGY_LINE = "0539-8100003", "05398200003", "05398100000"


@pytest.fixture
async def relay_api(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[TestClient, Any, str, Metrics]]:
    engine = await open_database(database_url)
    store = TicketStore(engine, "T01")
    directory = UnitDirectoryStore(engine)
    await directory.update(UnitContact("city-housing", HOUSING_LINE, HOUSING_BACKUP), by="test")
    await directory.update(UnitContact("city-ecology", ECOLOGY_LINE), by="test")
    metrics = Metrics()
    relay = RelayService(engine, store, AccessAudit(engine), directory, max_failures=2, metrics=metrics)
    app = with_test_signer(new_app())
    install(app, TicketDeps(store, load_catalogue(), load_calendar(),
                            EvidenceStore(tmp_path / "evidence", 1 << 20, TEST_KEYS), AccessAudit(engine),
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
        yield client, relay, no, metrics
    await engine.dispose()


async def test_the_units_code_is_issued_at_dispatch_and_only_its_unit_reads_it(relay_api) -> None:
    client, _, no, _ = relay_api
    response = await client.get(f"/api/tickets/{no}/relay-code", headers=HOUSING)
    body = await response.text()
    assert response.status == 200 and CITIZEN not in body
    code = (await response.json())["relay_code"]["code"]
    assert len(code) == 8 and code.isdigit()
    other = await client.get(f"/api/tickets/{no}/relay-code", headers=ECOLOGY)
    assert other.status == 404
    assert (await client.post(f"/api/tickets/{no}/relay-code", headers=HOUSING)).status == 403


async def test_a_fresh_code_revokes_the_old_one(relay_api) -> None:
    client, relay, no, _ = relay_api
    old = (await (await client.get(f"/api/tickets/{no}/relay-code", headers=HOUSING)).json())["relay_code"]["code"]
    issued = await client.post(f"/api/tickets/{no}/relay-code", headers=DISPATCHER)
    assert issued.status == 201
    new = (await issued.json())["relay_code"]["code"]
    grant, outcome = await relay.open(old, "05398100003")
    assert grant is None and outcome == "wrong_code"
    grant, outcome = await relay.open(new, "05398200003")
    assert grant is not None and grant.citizen_number == CITIZEN and outcome == "accepted"
    grant2, outcome = await relay.open(new, "05398200003")  # in use: once only
    assert grant2 is None and outcome == "wrong_code"
    await relay.release_code(grant.code_id)
    again, outcome = await relay.open(new, "05398100003")
    assert again is not None and outcome == "accepted"


async def test_wrong_codes_lock_the_calling_number_out(relay_api) -> None:
    client, relay, no, _ = relay_api
    code = (await (await client.get(f"/api/tickets/{no}/relay-code", headers=HOUSING)).json())["relay_code"]["code"]
    for _ in range(2):
        assert (await relay.open("00000000", "05398100003"))[1] == "wrong_code"
    assert (await relay.open(code, "05398100003"))[1] == "locked_out"
    assert (await relay.open(code, "05398200003"))[1] == "accepted"  # another number is not


async def _housing_code(client: TestClient, no: str) -> str:
    response = await client.get(f"/api/tickets/{no}/relay-code", headers=HOUSING)
    return str((await response.json())["relay_code"]["code"])


async def test_a_code_from_another_units_line_or_an_unregistered_phone_fails(relay_api) -> None:
    client, relay, no, _ = relay_api
    code = await _housing_code(client, no)
    assert await relay.open(code, "05398100000") == (None, "wrong_code")  # city-ecology's line
    assert await relay.open(code, "13912345678") == (None, "unregistered_number")
    assert await relay.open(code, "") == (None, "unregistered_number")  # withheld caller id
    grant, outcome = await relay.open(code, "05398100003")
    assert grant is not None and grant.ticket_no == no and outcome == "accepted"


async def test_wrong_codes_from_many_claimed_numbers_lock_everyone_out_with_an_alert(
    relay_api, caplog: pytest.LogCaptureFixture,
) -> None:
    """A guesser rotating spoofed caller ids never meets the per-number limit: the global one."""
    client, relay, no, metrics = relay_api
    code = await _housing_code(client, no)
    relay.max_failures, relay.global_max_failures = 100, 3
    for number in ("13912345671", "13912345672", "05398100000"):
        assert (await relay.open("12345678", number))[1] in {"wrong_code", "unregistered_number"}
    with caplog.at_level(logging.ERROR, logger="tickets.relay"):
        assert await relay.open(code, "05398100003") == (None, "locked_out")
    alerts = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "tickets.relay"]
    assert len(alerts) == 1 and getattr(alerts[0], "limit", None) == 3
    assert metrics.registry.get_sample_value("hotline_relay_global_lockouts_total") == 1  # alert rule
