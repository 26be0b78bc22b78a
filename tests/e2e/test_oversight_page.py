"""The supervisor's 督办 page in a real browser (Debian's Chromium, headless), served by the
whole backend (real SQLite and Redis), with realistic data put in through the API: tickets
flagged for supervision (one escalated to media, one whose words are hostile markup), a caller
restricted by the anti-abuse screen, a month of queued calls and closed tickets.

A dispatcher is refused the page and its list; the supervisor opens a flagged ticket with the
keyboard and escalates it one level with E, a reason and Enter; opens the restricted caller, reads
the screening records behind the measure and lifts it with a reason; the month's charts are
drawn. Screenshots go to HOTLINE_SHOTS_DIR (default var/shots).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import insert

from abuse.limiter import AbuseScreen
from abuse.policy_file import policy_from_mapping
from kernel.clock import HOTLINE_TZ
from kernel.database import create_engine
from kernel.roles import Actor, Role
from kernel.schema import calls
from supervision.job import SCANNER
from tests.browser_harness import wait_for
from tests.e2e.test_pages_sign_in import browser, new_page  # noqa: F401  (the browser fixture)
from tests.page_sign_in import WAIT_MS, refused_the_page, sign_in
from tests.staff_session import StaffSession, staff_site
from tests.workbench_walk import shot
from tickets.model import (
    Caller,
    Channel,
    EscalationGround,
    SupervisionFlagKind,
    SupervisionLevel,
    TicketType,
)
from tickets.store import TicketStore
from tickets.workflow import Classify, Dispatch, Escalate, FlagForSupervision, Register, Sign

HOUSING, URBAN = "city-housing", "city-urban-management"
HOSTILE = "<img src=x onerror=\"window.pwned=1\"><b>加粗</b></script>"
RESTRICTED = "13800138000"
#: The screen's ladder for the test: the fourth call in a short while is restricted.
POLICY = policy_from_mapping({"levels": {"warn": {"calls_short": 2}, "senior_queue": {"calls_short": 3},
                                         "restrict": {"calls_short": 4}}})


@dataclass
class Site:
    base: str


async def ticket(staff: StaffSession, number: str, summary: str, content: str, unit: str) -> dict[str, Any]:
    """A ticket as the desk and the dispatcher leave it: registered, classified, dispatched."""
    made = (await staff.call("POST", "/api/tickets", {"channel": "phone", "caller": {"number": number},
                                                      "summary": summary}, 201))["ticket"]
    made = await staff.command(made, "classify", ticket_type="complaint", summary=summary, content=content,
                               location="东城区幸福小区")
    return await staff.command(made, "dispatch", lead_unit=unit)


class Moment:
    """A clock the test moves: the tickets' history happens over the past days."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


async def aged_supervised_tickets(url: str) -> None:
    """Three tickets under supervision for days, as the workflow leaves them: taken in, dispatched,
    signed, past their deadline, flagged by the scanner; one escalated to media two days ago."""
    moment = Moment()
    engine = create_engine(url)
    try:
        await _age(TicketStore(engine, "T01", clock=moment), moment)
    finally:
        await engine.dispose()


async def _age(store: TicketStore, moment: Moment) -> None:
    now = datetime.now(UTC)
    agent, dispatcher, scanner = Actor("li", Role.AGENT), Actor("pai", Role.DISPATCHER), SCANNER
    for days, number, summary, content, unit, kind in (
            (11, "13812345678", "小区电梯停运三天物业不修",
             "来电人反映幸福小区3号楼电梯停运三天，物业公司一直不修，老人上下楼困难。", HOUSING,
             SupervisionFlagKind.OVERDUE),
            (8, "13987654321", f"占道经营反复投诉{HOSTILE}", f"幸福路早市占道经营，多次投诉未解决。{HOSTILE}", URBAN,
             SupervisionFlagKind.REPEATED),
            (6, "13700001111", "夜间施工噪音扰民", "幸福路工地每晚施工到凌晨两点，多名居民反映。", URBAN,
             SupervisionFlagKind.CLUSTERED)):
        start = moment.at = now - timedelta(days=days, hours=3)
        made, _ = await store.register(Register(ticket_no="", channel=Channel.PHONE, caller=Caller(number=number),
                                                summary=summary), agent)
        no = made.ticket_no
        made, _ = await store.transition(no, Classify(ticket_type=TicketType.COMPLAINT, summary=summary,
                                                      content=content, location="东城区幸福小区"), agent, made.version)
        made, _ = await store.transition(no, Dispatch(lead_unit=unit, sign_deadline=start + timedelta(days=1),
                                                      deadline=start + timedelta(days=5)), dispatcher, made.version)
        moment.at = start + timedelta(hours=2)
        staff = Actor({HOUSING: "zhang", URBAN: "wang"}[unit], Role.UNIT, unit)
        made, _ = await store.transition(no, Sign(), staff, made.version)
        moment.at = start + timedelta(days=5, hours=1)
        made, _ = await store.transition(no, FlagForSupervision(kind=kind, reason="督办扫描"), scanner, made.version)
        if kind is SupervisionFlagKind.OVERDUE:
            moment.at = now - timedelta(days=2)
            await store.transition(no, Escalate(to_level=SupervisionLevel.MEDIA,
                                                ground=EscalationGround.UNRESOLVED_AFTER_HOTLINE,
                                                reason="经热线督办一周仍未解决，转媒体监督"),
                                   Actor("zhou", Role.SUPERVISOR), made.version)


async def handled(staff: StaffSession, unit: StaffSession, summary: str, lead: str, *, satisfied: bool) -> None:
    """A ticket signed, answered and called back: the unit's month has figures."""
    made = await ticket(staff, "13911112222", summary, f"{summary}，请尽快处理。", lead)
    made = await unit.command(made, "sign")
    made = await unit.command(made, "feedback", result="已到现场处理完毕，并电话告知来电人。")
    await staff.command(made, "callback", satisfaction="satisfied" if satisfied else "unsatisfied",
                        reasonable=not satisfied, reason="" if satisfied else "问题仍未解决")


async def month_of_calls(url: str) -> None:
    """Queued calls in this month (Beijing time), from 08:00 to 21:00: most answered within
    15 s, the evening ones slower, some callers giving up at the busy hours."""
    start = datetime.now(HOTLINE_TZ).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for hour in range(8, 22):
                for n in range(6):
                    waited = 3.0 + n * (2.5 if hour < 17 else 6.0)
                    answered = not (hour in (9, 10, 19) and n >= 4)
                    started = start + timedelta(hours=hour, minutes=n * 7)
                    call_id = str(uuid.uuid4())
                    await conn.execute(insert(calls).values(
                        id=call_id, channel_id=f"chan-{call_id}", caller_number=f"1390000{hour:02d}{n:02d}",
                        node_id="N01", started_at=started,
                        answered_at=started + timedelta(seconds=waited) if answered else None,
                        ended_at=started + timedelta(seconds=waited + 120), end_reason="caller_hangup",
                        agent_id="li" if answered else None, queue_seconds=waited))
    finally:
        await engine.dispose()


@pytest.fixture
async def site(tmp_path: Path, sqlite_url: str, redis_key_prefix: str,
               redis_client: aioredis.Redis) -> AsyncIterator[Site]:
    async with staff_site(tmp_path, sqlite_url, redis_key_prefix, (
            ("zhou", "supervisor", None, "班长周敏"), ("pai", "dispatcher", None, "派单员王"),
            ("zhang", "unit", HOUSING, "住建局张"), ("wang", "unit", URBAN, "城管局王"))) as (base, settings):
        sup, housing, urban = (await StaffSession.open(base, "zhou"), await StaffSession.open(base, "zhang"),
                               await StaffSession.open(base, "wang"))
        try:
            await aged_supervised_tickets(settings.database.url)
            for summary, unit, lead, satisfied in (("供暖温度不达标", housing, HOUSING, True),
                                                   ("楼道灯不亮", housing, HOUSING, True),
                                                   ("路边垃圾堆积", urban, URBAN, True),
                                                   ("井盖缺失", urban, URBAN, False)):
                await handled(sup, unit, summary, lead, satisfied=satisfied)
        finally:
            for staff in (sup, housing, urban):
                await staff.close()
        screen = AbuseScreen(redis_client, POLICY, key_prefix=redis_key_prefix, decision_timeout=2.0)
        for _ in range(4):
            await screen.decide(RESTRICTED)
        await month_of_calls(settings.database.url)
        yield Site(base)


async def test_a_dispatcher_is_refused_the_oversight_page_and_its_list(site: Site, browser: Any) -> None:
    problems: list[str] = []
    context, page = await new_page(browser, problems)
    await refused_the_page(page, site.base, "/dispatch", "pai", "/oversight", "督办")
    assert await page.evaluate("fetch('/api/workbench/supervision').then(r => r.status)") == 403
    assert await page.evaluate("fetch('/api/statistics/hotline').then(r => r.status)") == 403
    assert problems == []
    await context.close()


async def test_the_supervisor_escalates_with_the_keyboard_lifts_a_restriction_and_reads_the_month(
    site: Site, browser: Any,
) -> None:
    problems: list[str] = []
    context, page = await new_page(browser, problems)
    await sign_in(page, site.base, "/oversight", "zhou")
    await wait_for(page, "document.querySelectorAll('#board tr').length === 3", timeout=WAIT_MS)
    await wait_for(page, "document.querySelectorAll('#unit-charts svg').length === 4", timeout=WAIT_MS)
    assert "督办" in await page.inner_text("#session-bar") and "班长席" in await page.inner_text("#session-bar")
    board = await page.inner_text("#board")
    assert "超期未办结" in board and "媒体监督" in board and "多次反映未解决" in board
    assert HOSTILE in board  # the hostile summary is text
    assert await page.evaluate("window.pwned === undefined")
    assert await page.evaluate("document.querySelectorAll('main img, main b').length") == 0
    figures = await page.inner_text("#hotline-figures")
    assert "15 秒接通率" in figures and "放弃" in figures
    await shot(page, "oversight")
    # This month has not ended: no disclosure yet, and the page says when it comes.
    assert await page.is_hidden("#disclosure-csv")
    assert "次月初发布" in await page.inner_text("#disclosure-pending")

    # The escalated ticket: Enter opens it, E goes to the ladder, Enter takes the step.
    row = "#board tr:has(td:text('媒体监督'))"
    await page.focus(row)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#ladder form", timeout=WAIT_MS)
    assert "经热线督办一周仍未解决" in await page.inner_text("#supervision-history")
    assert "督办扫描（系统）" in await page.inner_text("#supervision-history")
    steps = await page.eval_on_selector_all("#ladder h4", "hs => hs.map(h => h.textContent)")
    assert steps == ["升级至政务督查", "升级至人大、政协监督", "升级至移交纪检监察"]
    await page.keyboard.press("e")
    assert await page.evaluate("document.activeElement.name") == "reason"
    await page.keyboard.press("Enter")  # no reason: said next to the field
    assert await page.text_content("#ladder form [data-error-for=reason]") == "请填写升级理由。"
    await page.keyboard.type("经媒体监督后仍未有效解决，提请政务督查")
    await shot(page, "oversight-ladder")
    await page.keyboard.press("Enter")
    await wait_for(page, "document.querySelector('#board').innerText.includes('政务督查')", timeout=WAIT_MS)
    await wait_for(page, "document.querySelector('#supervision-history').innerText.includes('提请政务督查')",
                   timeout=WAIT_MS)

    # The hostile ticket opens as text too.
    await page.focus("#board tr:has(td:text('多次反映未解决'))")
    await page.keyboard.press("Enter")
    await wait_for(page, "document.querySelector('#ticket .ticket-content')?.innerText.includes('</script>')",
                   timeout=WAIT_MS)
    assert await page.evaluate("document.querySelectorAll('main img, main b').length") == 0

    # The restricted caller: the screening records behind the measure, then lifted with a reason.
    await page.focus(f"#restricted tr[data-task-id='{RESTRICTED}']")
    await page.keyboard.press("Enter")
    await wait_for(page, "document.querySelectorAll('#measure-history li').length === 4", timeout=WAIT_MS)
    assert "限制呼入" in await page.inner_text("#measure-facts")
    assert "短时内来电 4" in await page.inner_text("#measure-history")
    assert "短时内来电达到 4 次" in await page.inner_text("#restricted")
    # Extended by a day, an appeal recorded (each with Enter in its field), then lifted.
    before = await page.inner_text("#measure-facts")
    await page.select_option("#extend-seconds", "86400")
    await page.focus("#extend-reason")
    await page.keyboard.press("Enter")  # no reason: said next to the field
    assert await page.text_content("#extend-form [data-error-for=reason]") == "请填写理由。"
    await page.keyboard.type("当日仍在反复拨打")
    await page.keyboard.press("Enter")
    await wait_for(page, "document.querySelector('#measure-history').innerText.includes('延长限制')", timeout=WAIT_MS)
    assert await page.inner_text("#measure-facts") != before
    await page.fill("#appeal-statement", "来电人称反映的是新发生的漏水问题，并非重复来电。")
    await page.click("#appeal")
    await wait_for(page, "document.querySelector('#measure-facts').innerText.includes('已申诉')", timeout=WAIT_MS)
    assert "已申诉" in await page.inner_text("#restricted")
    await wait_for(page, "document.querySelector('#measure-history').innerText.includes('新发生的漏水问题')",
                   timeout=WAIT_MS)
    await shot(page, "oversight-restriction")
    await page.focus("#lift-reason")
    await page.keyboard.type("来电人反映的是新问题，已核实，解除限制")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#restricted-empty:not(.hidden)", timeout=WAIT_MS)
    assert "已解除限制" in await page.inner_text("#messages")

    # Two months back (the tickets began at most 11 days ago): nothing happened, and the page says so.
    last = await page.eval_on_selector("#month option:nth-child(3)", "o => o.value")
    await page.select_option("#month", last)
    await page.wait_for_selector("#disclosure-csv:not(.hidden)", timeout=WAIT_MS)
    disclosure = await page.evaluate("fetch(document.getElementById('disclosure-csv').href).then(r => r.text())")
    assert disclosure.startswith("month,unit,received")  # an ended month: its disclosure, computed once
    await wait_for(page, "document.getElementById('units').innerText.includes('本月暂无承办单位的数据')",
                   timeout=WAIT_MS)
    assert "本月暂无数据" in await page.inner_text("#unit-charts")
    assert problems == []
    await context.close()
