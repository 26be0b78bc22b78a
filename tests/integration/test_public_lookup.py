"""The public progress lookup (临沂条例第十条、第二十四条; 北京条例第八条、第三十二条), on SQLite and
PostgreSQL with real Redis: the ticket number plus the caller's number or the ticket's lookup
code gives the status, the handling unit's name and the result, nothing else; wrong answers
(a wrong number and no such ticket read the same) are limited per ticket and per address."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.throttle import SignInThrottle, ThrottleLimits
from kernel.database import open_database
from kernel.http_edge import new_app
from kernel.metrics import Metrics
from kernel.request_rate import RequestRate
from kernel.schema import lookup_codes
from public_lookup.codes import LookupCodes
from public_lookup.plugin import LookupDeps, install
from public_lookup.service import ProgressLookup
from tests.auth_tokens import bearer, with_test_signer
from tests.ticket_steps import dispatched, handled, registered
from tickets.dispatch import load_catalogue
from tickets.store import TicketStore

CITIZEN = "13700003333"
OTHER = "13900001111"
RESULT = "已联系供水公司抢修，下午三点恢复供水。"
HOUSING = "市住房和城乡建设局"
KEY = b"public-lookup-test-key"
FAILURES_PER_TICKET = 3


@dataclass
class Lookup:
    client: TestClient
    store: TicketStore
    no: str
    engine: AsyncEngine
    metrics: Metrics


@pytest.fixture
async def lookup(database_url: str, redis_client: aioredis.Redis, redis_key_prefix: str) -> AsyncIterator[Lookup]:
    engine = await open_database(database_url)
    store = TicketStore(engine, "T01")
    catalogue = load_catalogue()
    codes = LookupCodes(engine, KEY)
    failures = SignInThrottle(redis_client, redis_key_prefix, ThrottleLimits(
        per_account=FAILURES_PER_TICKET, per_address=10, window=timedelta(minutes=10)), namespace="public-lookup")
    rate = RequestRate(redis_client, redis_key_prefix, 50, timedelta(minutes=1))
    names = {code: unit.name for code, unit in catalogue.units.items()}
    app = with_test_signer(new_app())
    metrics = Metrics()
    install(app, LookupDeps(ProgressLookup(store, codes, failures, rate, names, metrics), codes, store))
    no = await registered(store, CITIZEN, summary="张三家停水", content="我叫张三，住5号楼302，停水两天")
    await dispatched(store, no, "city-housing")
    await handled(store, no, "city-housing", RESULT)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield Lookup(client, store, no, engine, metrics)
    await engine.dispose()


async def ask(client: TestClient, **body: str | None) -> tuple[int, dict, str]:
    response = await client.post("/api/public/progress", json=body)
    text = await response.text()
    return response.status, await response.json(), text


async def test_right_number_shows_status_unit_and_result_only(lookup: Lookup) -> None:
    status, body, text = await ask(lookup.client, ticket_no=lookup.no, caller_number="+86 137-0000-3333")
    assert status == 200
    assert body["progress"] == {"ticket_no": lookup.no, "status": "closed", "status_title": "已办结",
                                "unit_name": HOUSING, "result": RESULT}
    for private in (CITIZEN, "3333", "张三", "5号楼", "停水两天", "agent7", "disp1"):
        assert private not in text


async def test_a_code_issued_by_staff_opens_the_lookup_and_a_new_code_replaces_it(lookup: Lookup) -> None:
    dispatcher = bearer("dispatcher", "disp1")
    issued = await lookup.client.post(f"/api/tickets/{lookup.no}/lookup-code", headers=dispatcher)
    assert issued.status == 201
    first = (await issued.json())["code"]
    assert len(first) == 6 and first.isdigit()
    async with lookup.engine.connect() as conn:
        stored = (await conn.execute(select(lookup_codes))).one()
    assert first not in stored.code_hash and stored.ticket_no == lookup.no
    status, body, _ = await ask(lookup.client, ticket_no=lookup.no, code=first)
    assert status == 200 and body["progress"]["unit_name"] == HOUSING
    second = (await (await lookup.client.post(f"/api/tickets/{lookup.no}/lookup-code",
                                               headers=dispatcher)).json())["code"]
    if second != first:
        assert (await ask(lookup.client, ticket_no=lookup.no, code=first))[0] == 404
    assert (await ask(lookup.client, ticket_no=lookup.no, code=second))[0] == 200


async def test_an_agent_issues_codes_only_for_tickets_they_worked_on(lookup: Lookup) -> None:
    stranger = await lookup.client.post(f"/api/tickets/{lookup.no}/lookup-code", headers=bearer("agent", "agent9"))
    assert stranger.status == 404
    own = await lookup.client.post(f"/api/tickets/{lookup.no}/lookup-code", headers=bearer("agent", "agent7"))
    assert own.status == 201
    unit = await lookup.client.post(f"/api/tickets/{lookup.no}/lookup-code",
                                    headers=bearer("unit", "zhang", "city-housing"))
    assert unit.status == 403


async def test_wrong_number_and_unknown_ticket_read_the_same(lookup: Lookup) -> None:
    wrong = await ask(lookup.client, ticket_no=lookup.no, caller_number=OTHER)
    unknown = await ask(lookup.client, ticket_no="20261207-T01-99999", caller_number=CITIZEN)
    assert wrong[0] == unknown[0] == 404
    assert wrong[1] == unknown[1] == {"error": "lookup_refused",
                                      "message": "工单号或验证信息不正确，请核对后再试。多次输入错误将暂停查询。"}


async def test_wrong_answers_lock_the_ticket_even_against_the_right_number(lookup: Lookup) -> None:
    for _ in range(FAILURES_PER_TICKET):
        assert (await ask(lookup.client, ticket_no=lookup.no, caller_number=OTHER))[0] == 404
    status, body, _ = await ask(lookup.client, ticket_no=lookup.no, caller_number=CITIZEN)
    assert status == 429 and body["error"] == "throttled"
    assert body["message"].startswith("验证错误次数过多")
    count = lookup.metrics.registry.get_sample_value
    assert count("hotline_public_lookups_total", {"answer": "refused"}) == FAILURES_PER_TICKET
    assert count("hotline_public_lookups_total", {"answer": "locked"}) == 1


async def test_guesses_across_tickets_are_limited_per_address(lookup: Lookup) -> None:
    answers = [(await ask(lookup.client, ticket_no=f"20261207-T01-{n:05d}", caller_number=CITIZEN))[0]
               for n in range(100, 111)]
    assert answers[:10] == [404] * 10 and answers[10] == 429


async def test_a_confidential_ticket_shows_nothing_personal(lookup: Lookup) -> None:
    no = await registered(lookup.store, "13600006666", confidential=True, summary="举报李四", content="李四在楼下违建")
    await dispatched(lookup.store, no, "city-housing")
    status, body, text = await ask(lookup.client, ticket_no=no, caller_number="13600006666")
    assert status == 200
    assert body["progress"] == {"ticket_no": no, "status": "dispatched", "status_title": "已转交承办单位",
                                "unit_name": HOUSING, "result": None}
    assert "李四" not in text and "6666" not in text


async def test_the_public_page_needs_no_sign_in_and_carries_the_security_headers(lookup: Lookup) -> None:
    page = await lookup.client.get("/progress")
    assert page.status == 200
    assert "办理进度查询" in await page.text()
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    script = await lookup.client.get("/public/progress.js")
    assert script.status == 200 and "textContent" in await script.text()


async def test_the_hotlines_guide_is_public_and_names_the_channels_and_the_emergency_lines(lookup: Lookup) -> None:
    response = await lookup.client.get("/guide")
    page = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    for said in ("12345", "110", "119", "120", "122", 'href="/progress"', 'href="/kb"', "回访", "保密"):
        assert said in page
