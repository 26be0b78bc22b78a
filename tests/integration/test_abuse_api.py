"""Supervisor API of the anti-abuse screen: a real aiohttp server on real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from abuse.limiter import AbuseScreen
from abuse.plugin import install
from abuse.policy_file import policy_from_mapping
from kernel.audit import AccessAudit, AccessKind, AuditQuery
from kernel.database import open_database
from kernel.http_edge import new_app
from kernel.roles import Actor, Role
from tests.auth_tokens import bearer, with_test_signer
from tickets.model import Caller, Channel
from tickets.store import TicketStore
from tickets.workflow import Register

NUMBER = "13800138000"
SUPERVISOR = bearer("supervisor", "sup1")
AGENT = bearer("agent", "agent7")
POLICY = policy_from_mapping({
    "levels": {"warn": {"calls_short": 2}, "senior_queue": {"calls_short": 3},
               "restrict": {"calls_short": 4}},
})


@pytest.fixture
async def screen(redis_client: aioredis.Redis, redis_key_prefix: str) -> AbuseScreen:
    return AbuseScreen(redis_client, POLICY, key_prefix=redis_key_prefix, decision_timeout=2.0)


@pytest.fixture
async def audit(sqlite_url: str) -> AsyncIterator[AccessAudit]:
    engine = await open_database(sqlite_url)
    yield AccessAudit(engine)
    await engine.dispose()


@pytest.fixture
async def client(screen: AbuseScreen, audit: AccessAudit) -> AsyncIterator[TestClient]:
    app = with_test_signer(new_app())
    install(app, screen, audit)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


async def restrict(screen: AbuseScreen, number: str = NUMBER) -> None:
    for _ in range(4):
        await screen.decide(number)


async def test_supervisor_lists_restricted_numbers(client: TestClient, screen: AbuseScreen) -> None:
    await restrict(screen)
    for _ in range(3):
        await screen.decide("13900139000")
    response = await client.get("/api/abuse/restricted", headers=SUPERVISOR)
    assert response.status == 200
    measures = (await response.json())["measures"]
    assert {(m["caller"], m["level"]) for m in measures} == {
        (NUMBER, "restrict"), ("13900139000", "senior_queue")
    }
    assert all(m["expires_at"] and not m["appealed"] for m in measures)


async def test_only_supervisors_may_use_the_api(client: TestClient, screen: AbuseScreen) -> None:
    await restrict(screen)
    for headers, status, code in (({}, 401, "unauthenticated"), (AGENT, 403, "permission_denied"),
                                  (bearer("unit", "zhang", "city-housing"), 403, "permission_denied")):
        response = await client.get("/api/abuse/restricted", headers=headers)
        assert response.status == status
        assert (await response.json())["error"] == code
    response = await client.post(f"/api/abuse/{NUMBER}/lift", json={"reason": "x"}, headers=AGENT)
    assert response.status == 403
    assert await screen.measure(NUMBER) is not None


async def test_lift_requires_a_reason_and_is_audited(client: TestClient, screen: AbuseScreen) -> None:
    await restrict(screen)
    for body in ({}, {"reason": "   "}, {"reason": "ok", "extra": 1}):
        response = await client.post(f"/api/abuse/{NUMBER}/lift", json=body, headers=SUPERVISOR)
        assert response.status == 400, body
        assert (await response.json())["error"] == "invalid_input"
    response = await client.post(f"/api/abuse/{NUMBER}/lift", data=b"not json", headers=SUPERVISOR)
    assert response.status == 400
    response = await client.post(f"/api/abuse/{NUMBER}/lift", json={"reason": "核实为正当诉求"},
                                 headers=SUPERVISOR)
    assert response.status == 200
    audit = (await response.json())["audit"]
    assert audit["event"] == "lift" and audit["actor"] == "sup1" and audit["note"] == "核实为正当诉求"
    assert await screen.measure(NUMBER) is None
    response = await client.post(f"/api/abuse/{NUMBER}/lift", json={"reason": "again"}, headers=SUPERVISOR)
    assert response.status == 404


async def test_extend_a_measure(client: TestClient, screen: AbuseScreen) -> None:
    await restrict(screen)
    before = await screen.measure(NUMBER)
    assert before is not None
    response = await client.post(f"/api/abuse/{NUMBER}/extend", json={"seconds": 600, "reason": "仍在骚扰"},
                                 headers=SUPERVISOR)
    assert response.status == 200
    measure = (await response.json())["measure"]
    after = await screen.measure(NUMBER)
    assert after is not None and measure["expires_at"] == after.expires_at.isoformat()
    assert (after.expires_at - before.expires_at).total_seconds() == 600
    response = await client.post(f"/api/abuse/{NUMBER}/extend", json={"seconds": 0, "reason": "x"},
                                 headers=SUPERVISOR)
    assert response.status == 400
    response = await client.post("/api/abuse/13700000000/extend", json={"seconds": 60, "reason": "x"},
                                 headers=SUPERVISOR)
    assert response.status == 404


async def test_agent_records_an_appeal_that_the_supervisor_sees(client: TestClient, screen: AbuseScreen) -> None:
    await restrict(screen)
    response = await client.post(f"/api/abuse/{NUMBER}/appeal", json={"statement": "我反映的是新问题"},
                                 headers=AGENT)
    assert response.status == 201
    assert (await response.json())["measure"]["appealed"] is True
    listed = (await (await client.get("/api/abuse/restricted", headers=SUPERVISOR)).json())["measures"]
    assert listed[0]["appealed"] is True
    history = (await (await client.get(f"/api/abuse/{NUMBER}/history", headers=SUPERVISOR)).json())["history"]
    assert history[0]["event"] == "appeal" and history[0]["actor"] == "agent7"
    assert history[0]["note"] == "我反映的是新问题"
    assert [h["level"] for h in history[1:]] == ["restrict", "senior_queue", "warn", "allow"]
    assert history[-1]["signals"]["calls_short"] == 1


async def test_history_accepts_formatted_numbers_and_bounds_the_limit(
    client: TestClient, screen: AbuseScreen
) -> None:
    await restrict(screen)
    response = await client.get("/api/abuse/+8613800138000/history?limit=2", headers=SUPERVISOR)
    assert response.status == 200
    assert len((await response.json())["history"]) == 2
    for limit in ("0", "5000", "abc"):
        response = await client.get(f"/api/abuse/{NUMBER}/history?limit={limit}", headers=SUPERVISOR)
        assert response.status == 400


async def test_every_read_of_a_callers_screening_is_audited_once(
    client: TestClient, screen: AbuseScreen, audit: AccessAudit,
) -> None:
    await restrict(screen)
    assert (await client.get(f"/api/abuse/{NUMBER}/history", headers=SUPERVISOR)).status == 200
    assert (await client.get("/api/abuse/restricted", headers=SUPERVISOR)).status == 200
    assert (await client.get(f"/api/abuse/{NUMBER}/history", headers=AGENT)).status == 403
    rows = await audit.search(AuditQuery(kind=AccessKind.ABUSE))
    assert [(r.actor, r.caller_number, r.allowed) for r in reversed(rows)] == [
        ("sup1", NUMBER, True), ("sup1", None, True)]


async def test_a_confidential_callers_number_is_kept_masked_in_the_audit(
    screen: AbuseScreen, audit: AccessAudit, sqlite_url: str,
) -> None:
    """The tickets know who is confidential (保密); the composition root tells the screen's API."""
    engine = await open_database(sqlite_url)
    tickets = TicketStore(engine, "N01")
    await tickets.register(Register(ticket_no="", channel=Channel.PHONE,
                                    caller=Caller(number=NUMBER, confidential=True), summary="举报"),
                           Actor("a7", Role.AGENT))
    app = with_test_signer(new_app())
    install(app, screen, audit, tickets.caller_is_confidential)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.get(f"/api/abuse/{NUMBER}/history", headers=SUPERVISOR)).status == 200
        assert (await client.get("/api/abuse/13900009999/history", headers=SUPERVISOR)).status == 200
    rows = await audit.search(AuditQuery(kind=AccessKind.ABUSE))
    assert [r.caller_number for r in reversed(rows)] == ["138****8000", "13900009999"]
    await engine.dispose()


async def test_redis_trouble_is_a_503_for_supervisors(redis_key_prefix: str, audit: AccessAudit) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    dead = aioredis.Redis(host="127.0.0.1", port=dead_port, socket_connect_timeout=0.2)
    app = with_test_signer(new_app())
    install(app, AbuseScreen(dead, POLICY, key_prefix=redis_key_prefix, decision_timeout=0.3), audit)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
            response = await test_client.get("/api/abuse/restricted", headers=SUPERVISOR)
            assert response.status == 503
            assert (await response.json())["error"] == "unavailable"
    finally:
        await dead.aclose()
