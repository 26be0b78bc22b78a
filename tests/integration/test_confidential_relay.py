"""The confidential relay (保密联络) on real Asterisk: SIPp plays the unit and the citizen.

A confidential caller's ticket is dispatched and gets a one-time code, which the unit reads on
its ticket view. The unit phones the relay number and keys the code in by DTMF (RFC 4733 from
SIPp's pcaps); the hotline calls the citizen with its own caller id and bridges the two. The
citizen's number appears in none of the SIP messages the unit's phone exchanged (SIPp's
message log) and in no API answer the unit's token gets. Wrong and expired codes are refused
and audited; too many lock the calling number out; a citizen who does not answer leaves the
code usable. After each test no channel or bridge of ours is left in Asterisk.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import (
    checked_phone_scenario,
    dtmf_pcap,
    dtmf_pcap_ms,
    relay_unit_scenario,
)
from kernel.audit import AccessAudit
from kernel.http_edge import new_app
from kernel.roles import Actor, Role
from kernel.schema import access_audit, calls, relay_codes
from telephony.settings import RelaySettings
from tests.asterisk_harness import SipPhones
from tests.auth_tokens import bearer, with_test_signer
from tests.data_keys import TEST_KEYS
from tickets.deadlines import load_calendar
from tickets.dispatch import load_catalogue
from tickets.events import RelayCallHeld
from tickets.evidence_store import EvidenceStore
from tickets.model import Caller, Channel, TicketType
from tickets.plugin import TicketDeps, install
from tickets.relay import RelayService
from tickets.store import TicketStore
from tickets.unit_directory import UnitContact, UnitDirectoryStore
from tickets.workflow import Classify, Dispatch, Register

pytestmark = pytest.mark.asterisk

AGENT = Actor("agent7", Role.AGENT)
DISPATCHER = Actor("disp1", Role.DISPATCHER)
HOUSING_TOKEN = bearer("unit", "zhang", "city-housing")
CITIZEN = "13700002222"
UNIT_PHONE = "05398881234"


async def confidential_ticket(store: TicketStore) -> str:
    ticket, _ = await store.register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number=CITIZEN, confidential=True),
        summary="举报违建", content="邻居违规搭建，请不要透露我的身份"), AGENT)
    no = ticket.ticket_no
    await store.transition(no, Classify(ticket_type=TicketType.REPORT, summary="举报违建"), AGENT, 1)
    now = store.now()
    await store.transition(no, Dispatch(lead_unit="city-housing", deadline=now + timedelta(days=5),
                                        sign_deadline=now + timedelta(days=1)), DISPATCHER, 2)
    return no


def relay_factory(made: list[RelayService], **options: Any):
    """The relay's ticket side; `UNIT_PHONE` is city-housing's line in the unit directory."""
    def make(engine: Any) -> RelayService:
        made.append(RelayService(engine, TicketStore(engine, "T01"), AccessAudit(engine),
                                 UnitDirectoryStore(engine), **options))
        return made[-1]
    return make


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Any]:
    """`start(bridge, relay)`: the ticket API on the bridge's database, as units and staff use it."""
    clients: list[TestClient] = []

    async def start(bridge: Any, relay: RelayService) -> TestClient:
        app = with_test_signer(new_app())
        install(app, TicketDeps(TicketStore(bridge.engine, "T01"), load_catalogue(), load_calendar(),
                                EvidenceStore(tmp_path / "evidence", 1 << 20, TEST_KEYS),
                                AccessAudit(bridge.engine), relay=relay, relay_number="12346"))
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


async def keyable_code(client: TestClient, no: str) -> str:
    """The code as the unit reads it on its ticket view."""
    response = await client.get(f"/api/tickets/{no}/relay-code", headers=HOUSING_TOKEN)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["relay_number"] == "12346"
    return str(answer["relay_code"]["code"])


async def relay_with_code(asterisk: AsteriskSandbox, in_process_bridge: Any, api: Any,
                          settings: RelaySettings, **options: Any) -> tuple[Any, TestClient, str, str]:
    """A backend with the relay, a unit's API client, a confidential ticket and its code."""
    made: list[RelayService] = []
    bridge = await in_process_bridge(asterisk, relay=(settings, relay_factory(made, **options)))
    client = await api(bridge, made[0])
    await UnitDirectoryStore(bridge.engine).update(UnitContact("city-housing", UNIT_PHONE), by="test")
    no = await confidential_ticket(TicketStore(bridge.engine, "T01"))
    return bridge, client, no, await keyable_code(client, no)


def dial_to(phone: str) -> str:
    """The relay's dial string that reaches a SIPp phone (`PJSIP/...`) for any number."""
    return f"PJSIP/{{number}}@{phone.removeprefix('PJSIP/')}"


async def unit_calls(asterisk: AsteriskSandbox, keys: str,
                     hold_ms: int | None = None) -> tuple[int, str, str]:
    """The unit's phone calls the relay number and keys `keys` in; then talks `hold_ms` and
    hangs up, or (None) waits for the hotline to hang up. (exit code, output, SIP message log)."""
    name = f"relay-unit-{uuid.uuid4().hex[:6]}"
    pcap = asterisk.write_sipp_file(f"pcap/{name}.pcap", dtmf_pcap(keys))
    path = asterisk.write_sipp_file(f"{name}.xml", relay_unit_scenario(
        pcap, dtmf_pcap_ms(keys), hold_ms=hold_ms))
    code, out = await asterisk.run_sipp("-sf", path, "-s", "12346", "-m", "1", "-set", "caller",
                                        UNIT_PHONE, "-trace_msg", "-message_file", f"{name}.log")
    log_file = asterisk.sipp_dir() / f"{name}.log"
    return code, out, log_file.read_text(errors="replace") if log_file.exists() else ""


async def wait_until(what: str, check, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.2)


async def nothing_left(bridge: Any) -> None:
    rest = bridge.flow.rest

    async def clean() -> bool:
        state = await rest.application()
        done = all(side.footprint() == 0 for side in bridge.flow.side_calls)  # and written
        return done and not state.channel_ids and not state.bridge_ids

    await wait_until("every channel and bridge gone, the call written", clean)


async def relay_events(bridge: Any, no: str) -> list[RelayCallHeld]:
    _, events = await TicketStore(bridge.engine, "T01").get_with_events(no)
    return [e for e in events if isinstance(e, RelayCallHeld)]


async def refusals(bridge: Any) -> list[str]:
    async with bridge.engine.connect() as conn:
        rows = (await conn.execute(select(access_audit.c.detail).where(
            access_audit.c.actor == f"relay:{UNIT_PHONE}", access_audit.c.allowed.is_(False))
            .order_by(access_audit.c.id))).all()
    return [r.detail for r in rows]


async def test_a_unit_keys_the_code_and_talks_to_the_caller_without_learning_the_number(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones, api,
) -> None:
    citizen = await sip_phones.start("citizen", scenario=checked_phone_scenario(r'"12345" <sip:12345@'))
    settings = RelaySettings(dial=dial_to(citizen),
                             key_seconds=15, notice_seconds=1)
    bridge, client, no, code = await relay_with_code(asterisk, in_process_bridge, api, settings)

    exit_code, out, messages = await unit_calls(asterisk, code, hold_ms=5000)
    assert exit_code == 0, out[-1500:]

    async def written() -> bool:
        return bool(await relay_events(bridge, no))

    await wait_until("the relay call on the ticket", written)
    [held] = await relay_events(bridge, no)
    assert held.connected and held.calling_number == UNIT_PHONE and held.seconds > 2
    citizen_phone = sip_phones.processes[-1]
    assert await asyncio.wait_for(citizen_phone.wait(), 20) == 0, \
        "the citizen's phone saw no call with the hotline's caller id"

    # The unit's phone never saw the number, nor did the unit's API answers.
    assert "INVITE sip:12346@" in messages and "BYE" in messages
    assert CITIZEN not in messages and CITIZEN[-8:] not in messages
    for path in ("/api/tickets", f"/api/tickets/{no}", f"/api/tickets/{no}/relay-code"):
        response = await client.get(path, headers=HOUSING_TOKEN)
        body = await response.text()
        assert CITIZEN not in body and CITIZEN[-8:] not in body, path

    async with bridge.engine.connect() as conn:
        call = (await conn.execute(select(calls).where(calls.c.id == held.call_id))).one()
        status = await conn.scalar(select(relay_codes.c.status).where(relay_codes.c.code == code))
        audited = (await conn.execute(select(access_audit.c.caller_number).where(
            access_audit.c.actor == f"relay:{UNIT_PHONE}"))).scalars().all()
    # The audit names the call's ticket and keeps the confidential citizen's number masked.
    assert audited and CITIZEN not in audited and set(audited) == {"137****2222"}
    assert call.caller_number == UNIT_PHONE and call.dialed_number == "12346"
    assert call.recording_seconds and call.recording_seconds > 2
    assert status == "used"
    await nothing_left(bridge)


async def test_wrong_codes_are_refused_audited_and_lock_the_number_out(
    asterisk: AsteriskSandbox, in_process_bridge, api,
) -> None:
    settings = RelaySettings(dial="PJSIP/{number}@nowhere", key_seconds=15, notice_seconds=1,
                             tries_per_call=2)
    bridge, _client, no, code = await relay_with_code(asterisk, in_process_bridge, api, settings, max_failures=2)
    wrong = ["".join(str((int(d) + 1) % 10) for d in code), "".join(str((int(d) + 3) % 10) for d in code)]

    exit_code, out, _ = await unit_calls(asterisk, "".join(wrong))
    assert exit_code == 0, out[-1500:]  # the hotline hung up after the second wrong code
    await nothing_left(bridge)
    assert await refusals(bridge) == ["relay code wrong_code", "relay code wrong_code"]

    # Locked out: even the right code is refused now, and the citizen is not called.
    exit_code, out, _ = await unit_calls(asterisk, code)
    assert exit_code == 0, out[-1500:]
    await nothing_left(bridge)
    assert (await refusals(bridge))[-1] == "relay code locked_out"
    assert await relay_events(bridge, no) == []
    async with bridge.engine.connect() as conn:
        status = await conn.scalar(select(relay_codes.c.status).where(relay_codes.c.code == code))
    assert status == "active"


async def test_an_expired_code_is_refused(
    asterisk: AsteriskSandbox, in_process_bridge, api,
) -> None:
    settings = RelaySettings(dial="PJSIP/{number}@nowhere", key_seconds=15, notice_seconds=1,
                             tries_per_call=1)
    bridge, client, no, code = await relay_with_code(asterisk, in_process_bridge, api, settings)
    async with bridge.engine.begin() as conn:
        await conn.execute(update(relay_codes).where(relay_codes.c.code == code).values(
            expires_at=datetime.now(UTC) - timedelta(minutes=1)))

    exit_code, out, _ = await unit_calls(asterisk, code)
    assert exit_code == 0, out[-1500:]
    await nothing_left(bridge)
    assert await refusals(bridge) == ["relay code expired"]
    assert await relay_events(bridge, no) == []
    response = await client.get(f"/api/tickets/{no}/relay-code", headers=HOUSING_TOKEN)
    assert response.status == 404  # nothing left to key in: staff issue a fresh code


async def test_a_caller_who_does_not_answer_leaves_the_code_usable_and_nothing_behind(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones, api,
) -> None:
    citizen = await sip_phones.start("citizen", answer_after_ms=None)
    settings = RelaySettings(dial=dial_to(citizen),
                             ring_seconds=3, key_seconds=15, notice_seconds=1)
    bridge, _client, no, code = await relay_with_code(asterisk, in_process_bridge, api, settings)

    exit_code, out, _ = await unit_calls(asterisk, code)
    assert exit_code == 0, out[-1500:]  # the hotline said "not reached" and hung up
    await nothing_left(bridge)
    [held] = await relay_events(bridge, no)
    assert not held.connected
    async with bridge.engine.connect() as conn:
        status = await conn.scalar(select(relay_codes.c.status).where(relay_codes.c.code == code))
    assert status == "active"


async def test_a_unit_that_hangs_up_while_the_caller_rings_leaves_nothing_behind(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones, api,
) -> None:
    citizen = await sip_phones.start("citizen", answer_after_ms=None)
    settings = RelaySettings(dial=dial_to(citizen),
                             ring_seconds=30, key_seconds=15, notice_seconds=1)
    bridge, _client, no, code = await relay_with_code(asterisk, in_process_bridge, api, settings)

    exit_code, out, _ = await unit_calls(asterisk, code, hold_ms=1500)
    assert exit_code == 0, out[-1500:]
    await nothing_left(bridge)
    [held] = await relay_events(bridge, no)
    assert not held.connected
