"""A ticket walks through the workbench pages in a real browser (Debian's Chromium, headless),
served by the whole backend `hotline run` builds (real SQLite and Redis; no Asterisk: the call
is written as the call path writes it, with its transcript, tests/recording_files.py).

The agent's ticket (registered and classified with the agent's own session, as the desk does)
→ the dispatcher opens it from the queue with the keyboard and dispatches it with one key →
the unit's open inbox is told at once (pushed, counted), opens it (the confidential caller
masked, the relay's code shown), signs, asks for an extension with a
reason → the dispatcher approves it in the review queue → the unit gives feedback with an
evidence file uploaded in the page → the callback agent records 满意 with the key 1 → the
ticket is closed. A ticket's hostile text stays text on every page; no address carries a token.
Screenshots of each page with this data go to HOTLINE_SHOTS_DIR (default var/shots).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from kernel.clock import HOTLINE_TZ
from kernel.database import create_engine
from tests.browser_harness import wait_for
from tests.e2e.test_pages_sign_in import browser, new_page  # noqa: F401  (the browser fixture)
from tests.page_sign_in import PASSWORD, WAIT_MS, AddressLog, sign_in
from tests.recording_files import insert_call, write_wav
from tests.staff_session import staff_site
from tests.workbench_walk import (
    dispatch_with_one_key,
    give_feedback,
    open_due_callback,
    open_from_the_dispatch_queue,
    open_pushed_ticket,
    open_unit_inbox,
    record_satisfied,
    shot,
    sign_ticket,
)

UNIT = "city-housing"
HOSTILE = "<img src=x onerror=\"window.pwned=1\"><b>加粗</b>"
CALLER = "13812345678"


@dataclass
class Site:
    base: str
    settings: Any


@pytest.fixture
async def site(tmp_path: Path, sqlite_url: str, redis_key_prefix: str,
               redis_client: aioredis.Redis) -> AsyncIterator[Site]:
    async with staff_site(tmp_path, sqlite_url, redis_key_prefix, (
            ("li", "agent", None, "李娜"), ("pai", "dispatcher", None, "派单员王"),
            ("zhang", "unit", UNIT, "住建局张"), ("hui", "callback_agent", None, "回访员陈"),
            ("ban", "supervisor", None, "班长刘"))) as (base, settings):
        yield Site(base, settings)


async def agents_ticket(site: Site, tmp_path: Path) -> str:
    """What the desk does for a call: the call with its transcript, the ticket registered with
    the call and classified, in the agent's own session (cookie and CSRF token)."""
    engine = create_engine(site.settings.database.url)
    try:
        call_id = await insert_call(
            engine, caller=CALLER, started_at=datetime(2026, 12, 7, 1, 0, tzinfo=UTC), seconds=8.0, agent_id="li",
            recording=write_wav(tmp_path / "recordings" / "call.wav", 8.0),
            lines=(("caller", 0.0, 3.0, "我们小区的电梯停了三天了，物业一直不修"),
                   ("agent", 3.0, 5.0, "好的，我给您登记"), ("caller", 5.0, 8.0, HOSTILE)))
    finally:
        await engine.dispose()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{site.base}/api/session", json={"username": "li", "password": PASSWORD}) as response:
            assert response.status == 200, await response.text()
            headers = {"X-CSRF-Token": (await response.json())["csrf_token"]}
        async with http.post(f"{site.base}/api/tickets", headers=headers, json={
                "channel": "phone", "caller": {"number": CALLER, "name": "赵先生", "confidential": True},
                "call_ids": [call_id], "summary": "小区电梯停运三天物业不修"}) as response:
            assert response.status == 201, await response.text()
            ticket = (await response.json())["ticket"]
        async with http.post(f"{site.base}/api/tickets/{ticket['ticket_no']}/commands/classify", headers=headers, json={
                "expected_version": ticket["version"], "ticket_type": "complaint",
                "summary": "小区电梯停运三天物业不修", "location": "东城区幸福小区3号楼",
                "content": f"来电人反映小区电梯停运三天，物业公司一直不修。{HOSTILE}"}) as response:
            assert response.status == 200, await response.text()
    return str(ticket["ticket_no"])


async def ticket_status(site: Site, no: str, username: str = "pai") -> str:
    """The ticket's status as `username` reads it ("absent": 404, no such ticket for them)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{site.base}/api/session", json={"username": username, "password": PASSWORD}) as response:
            assert response.status == 200
        async with http.get(f"{site.base}/api/tickets/{no}") as response:
            if response.status == 404:
                return "absent"
            return str((await response.json())["ticket"]["status"])


async def as_staff(site: Site, username: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One POST in a person's own session (cookie and CSRF token); its JSON answer."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{site.base}/api/session", json={"username": username, "password": PASSWORD}) as response:
            assert response.status == 200, await response.text()
            headers = {"X-CSRF-Token": (await response.json())["csrf_token"]}
        async with http.post(f"{site.base}{path}", headers=headers, json=body or {}) as response:
            assert response.status < 300, await response.text()
            return await response.json()


async def no_markup_from_the_ticket(page: Any) -> None:
    """The hostile words are on the page as text, and made no element."""
    assert await page.evaluate("window.pwned === undefined")
    assert await page.evaluate("document.querySelectorAll('main img, main b').length") == 0


async def test_a_ticket_walks_from_dispatch_to_the_unit_to_the_callback_agent_and_closes(
    site: Site, browser: Any, tmp_path: Path,
) -> None:
    no = await agents_ticket(site, tmp_path)
    problems: list[str] = []
    addresses = AddressLog()

    # The unit's inbox is open before the dispatch: the ticket must be pushed to it.
    unit_context, unit = await new_page(browser, problems)
    addresses.watch(unit)
    await open_unit_inbox(unit, site.base, "zhang")
    # The inbox loads beside the push socket: wait for its answer, not for whichever came first.
    await unit.wait_for_selector("#inbox-empty", state="visible", timeout=WAIT_MS)
    assert await unit.inner_text("#session-who") == "住建局张 · 承办单位工作人员 · 市住房和城乡建设局"

    # The dispatcher: the queue's first row has the focus; Enter opens it, D dispatches it.
    desk_context, desk = await new_page(browser, problems)
    addresses.watch(desk)
    await open_from_the_dispatch_queue(desk, site.base, "pai", no)
    await desk.wait_for_selector("#transcript li", timeout=WAIT_MS)
    assert await desk.eval_on_selector("#units input[name=lead]:checked", "e => e.value") == UNIT
    assert "电梯停了三天" in await desk.inner_text("#transcript")
    assert HOSTILE in await desk.inner_text("#ticket .ticket-content")
    await no_markup_from_the_ticket(desk)
    await shot(desk, "dispatcher")
    await dispatch_with_one_key(desk)

    # The unit is told at once: counted, marked, listed; it opens it, the caller masked.
    unit_row = await open_pushed_ticket(unit, no, "unit-inbox-pushed")
    ticket_text = await unit.inner_text("#ticket")  # a confidential (保密) caller: reached through the relay
    assert CALLER not in ticket_text and "赵先生" not in ticket_text and "保密来电人" in ticket_text
    await unit.wait_for_selector("#relay:not(.hidden)", timeout=WAIT_MS)
    assert "联络码" in await unit.inner_text("#relay") and CALLER not in await unit.inner_text("#relay")
    assert HOSTILE in await unit.inner_text("#ticket .ticket-content")
    await no_markup_from_the_ticket(unit)
    await unit.wait_for_selector("#new-count", state="hidden", timeout=WAIT_MS)
    await sign_ticket(unit)

    # 济南条例: the first contact is due within the working days after dispatch, shown with the
    # ticket; L records it (how, and what was said), Ctrl+Enter sends it.
    assert "联系诉求人时限" in await unit.inner_text("#ticket")
    await unit.keyboard.press("l")
    await unit.wait_for_selector("#method-box:not(.hidden)", timeout=WAIT_MS)
    assert await unit.text_content("#action-title") == "联系诉求人"
    await unit.select_option("#method", "phone")
    await unit.fill("#text", "已通过保密联络电话告知诉求人维修安排")
    await unit.keyboard.press("Control+Enter")
    await wait_for(unit, "document.querySelector('#ticket').innerText.includes('已于')", timeout=WAIT_MS)
    assert "联系诉求人 · " in await unit.inner_text("#ticket .history")

    # An extension, asked with a reason: the dispatcher approves it in the review queue.
    await unit.click("#actions button[data-action=request-extension]")
    await unit.click("#action-submit")  # nothing filled in: said next to the field
    assert await unit.text_content("[data-error-for=text]") == "请填写延期理由。"
    await unit.fill("#text", "需协调电梯维保单位更换主板，配件到货需一周")
    # Past the handling deadline, within the extension cap ([workflow] max_extension_days).
    asked = (datetime.now(HOTLINE_TZ) + timedelta(days=14)).strftime("%Y-%m-%dT17:00")
    await unit.fill("#requested-deadline", asked)
    await unit.click("#action-submit")  # the caller not yet told (北京条例第十五条第二项)
    assert await unit.text_content("#action-form .form-error") == "申请延期前须向诉求人说明理由。"
    await unit.check("#informed")
    await unit.click("#action-submit")
    await wait_for(unit, "document.querySelector('#ticket').innerText.includes('申请延期')", timeout=WAIT_MS)
    # The request is pushed to the dispatcher's open page.
    review = f"#reviews tr[data-ticket-no='{no}']"
    await desk.wait_for_selector(review, timeout=WAIT_MS)
    await desk.focus(review)
    await desk.keyboard.press("Enter")
    await wait_for(desk, "document.querySelector('#request .request-reason')?.textContent.includes('电梯维保')",
                                 timeout=WAIT_MS)
    await desk.click("#refuse")  # refused without a reason: said next to the field
    assert await desk.text_content("[data-error-for=reason]") == "不同意时请填写审核意见。"
    await shot(desk, "dispatcher-review")
    await desk.click("#approve")
    await desk.wait_for_selector("#review-empty:not(.hidden)", timeout=WAIT_MS)

    # Feedback with an evidence file uploaded in the page.
    # The approval is pushed too: the inbox shows the ticket back in progress.
    await wait_for(unit, f"document.querySelector(\"{unit_row}\")?.innerText.includes('办理中')",
                                 timeout=WAIT_MS)
    await unit.focus(unit_row)
    await unit.keyboard.press("Enter")
    await unit.wait_for_selector("#actions button[data-action=feedback]", timeout=WAIT_MS)
    evidence = tmp_path / "维修记录.txt"
    evidence.write_text("电梯维修记录：更换主板一块。", encoding="utf-8")
    result = "已督促物业更换电梯主板，电梯于12月9日恢复运行，已电话告知来电人。"
    await give_feedback(unit, result, evidence, "unit-ticket")

    # The callback agent: the survey is due; Enter opens it, 1 is 满意, Enter records it.
    back_context, back = await new_page(browser, problems)
    addresses.watch(back)
    await open_due_callback(back, site.base, "hui", no, result)
    await no_markup_from_the_ticket(back)
    await record_satisfied(back, "callbacks")

    assert await ticket_status(site, no) == "closed"
    assert addresses.with_tokens() == []
    assert problems == []
    for context in (unit_context, desk_context, back_context):
        await context.close()


async def test_a_return_with_evidence_uploaded_in_the_page_is_refused_by_the_dispatcher_with_a_reason(
    site: Site, browser: Any, tmp_path: Path,
) -> None:
    no = await agents_ticket(site, tmp_path)
    problems: list[str] = []
    unit_context, unit = await new_page(browser, problems)
    await open_unit_inbox(unit, site.base, "zhang")
    desk_context, desk = await new_page(browser, problems)
    await open_from_the_dispatch_queue(desk, site.base, "pai", no)
    await dispatch_with_one_key(desk)
    unit_row = await open_pushed_ticket(unit, no)
    await unit.click("#actions button[data-action=request-return]")
    await unit.fill("#text", "电梯属特种设备，归市场监管部门管理")
    await unit.click("#action-submit")  # no evidence: said next to the upload
    assert await unit.text_content("[data-error-for=attachments]") == "请上传证明材料。"
    evidence = tmp_path / "职责说明.txt"
    evidence.write_text("特种设备安全监察由市场监管部门负责。", encoding="utf-8")
    await unit.set_input_files("#files", str(evidence))
    await unit.click("#action-submit")
    await wait_for(unit, f"document.querySelector(\"{unit_row}\")?.innerText.includes('申请退回')",
                                 timeout=WAIT_MS)

    # The request is pushed to the dispatcher's open page.
    review = f"#reviews tr[data-ticket-no='{no}']"
    await desk.wait_for_selector(review, timeout=WAIT_MS)
    await desk.focus(review)
    await desk.keyboard.press("Enter")
    await desk.wait_for_selector("#request .evidence a", timeout=WAIT_MS)
    link = await desk.get_attribute("#request .evidence a", "href")
    assert await desk.text_content("#request .evidence a") == "[附件] 职责说明.txt"
    # The evidence opens in the page's session (hotline staff read every file).
    assert await desk.evaluate(f"fetch('{link}').then(r => r.text())") == "特种设备安全监察由市场监管部门负责。"
    await desk.fill("#review-reason", "电梯停运系物业管理问题，属住建部门职责")
    await shot(desk, "dispatcher-return-review")
    await desk.focus("#refuse")
    await desk.keyboard.press("Enter")
    await desk.wait_for_selector("#review-empty:not(.hidden)", timeout=WAIT_MS)
    await wait_for(unit, f"document.querySelector(\"{unit_row}\")?.innerText.includes('待签收')",
                                 timeout=WAIT_MS)
    assert problems == []
    for context in (desk_context, unit_context):
        await context.close()


async def test_the_dispatcher_closes_a_request_outside_government_duties_at_intake_with_the_keyboard(
    site: Site, browser: Any, tmp_path: Path,
) -> None:
    """北京条例第十一条第五项: a request for a market service is not dispatched; the dispatcher
    closes it at intake (X), naming the channel the caller was told of, which the workflow
    requires (said next to the form, in Chinese, when it is missing)."""
    no = await agents_ticket(site, tmp_path)
    problems: list[str] = []
    context, desk = await new_page(browser, problems)
    await open_from_the_dispatch_queue(desk, site.base, "pai", no)
    await desk.keyboard.press("x")
    assert await desk.evaluate("document.activeElement.id") == "closure-scope"
    await desk.select_option("#closure-scope", "outside_duties")
    assert "渠道" in (await desk.text_content("#closure-note-label") or "")
    await desk.click("#close-at-intake")
    await wait_for(desk, "document.querySelector('#closure-form .form-error').textContent.length > 0",
                   timeout=WAIT_MS)
    refusal = await desk.text_content("#closure-form .form-error") or ""
    assert "角色" not in refusal and "referred_to" not in refusal, refusal
    assert await ticket_status(site, no) == "draft"
    await desk.fill("#closure-note", "已告知通过电梯维保公司或物业服务合同途径解决")
    await shot(desk, "dispatcher-intake-closure")
    await desk.click("#close-at-intake")
    await desk.wait_for_selector("#queue-empty:not(.hidden)", timeout=WAIT_MS)
    assert "已不予受理办结" in (await desk.text_content("#messages") or "")
    assert await ticket_status(site, no) == "closed"
    await no_markup_from_the_ticket(desk)
    assert problems == []
    await context.close()


TITLES_FETCH = ("performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/api/workbench/titles'))"
                ".map((e) => ({transfer: e.transferSize, body: e.decodedBodySize}))")


async def test_the_pages_names_come_from_the_browsers_cache_on_the_next_page(site: Site, browser: Any) -> None:
    """Every workbench page loads the zh-CN names first; the next page opened within minutes
    takes them from the browser's cache (nothing transferred) instead of asking again."""
    problems: list[str] = []
    context, page = await new_page(browser, problems)
    await sign_in(page, site.base, "/dispatch", "pai")
    await page.wait_for_selector("#queue-empty:not(.hidden)", timeout=WAIT_MS)
    [first] = await page.evaluate(TITLES_FETCH)
    assert first["transfer"] > 0 and first["body"] > 0, first  # asked once, over the network
    await page.goto(f"{site.base}/dispatch")
    await page.wait_for_selector("#queue-empty:not(.hidden)", timeout=WAIT_MS)
    [again] = await page.evaluate(TITLES_FETCH)
    assert again == {"transfer": 0, "body": first["body"]}, again  # from the cache
    assert problems == []
    await context.close()


async def test_the_callback_at_an_expired_deadline_is_on_the_callback_page_and_records_the_callers_view(
    site: Site, browser: Any, tmp_path: Path,
) -> None:
    """北京条例第二十三条: the deadline expired without the unit's feedback; the supervision scan puts
    the callback on the callback agents' list (时限届满回访); the agent records what the caller
    says of the handling so far, unsatisfied: the ticket stays with the unit, under 督办."""
    no = await agents_ticket(site, tmp_path)
    deadline = datetime.now(UTC) + timedelta(seconds=3)
    ticket = (await as_staff(site, "pai", f"/api/tickets/{no}/commands/dispatch", {
        "expected_version": 2, "lead_unit": UNIT, "deadline": deadline.isoformat(),
        "sign_deadline": (deadline - timedelta(seconds=1)).isoformat()}))["ticket"]
    await as_staff(site, "zhang", f"/api/tickets/{no}/commands/sign", {"expected_version": ticket["version"]})
    await asyncio.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 0.5)
    report = await as_staff(site, "ban", "/api/supervision/scan")
    assert report["deadline_callbacks"] == [no]
    assert (await as_staff(site, "ban", "/api/supervision/scan"))["deadline_callbacks"] == []  # once

    problems: list[str] = []
    context, page = await new_page(browser, problems)
    await sign_in(page, site.base, "/callbacks", "hui")
    task = f"#tasks tr[data-ticket-no='{no}']"
    await page.wait_for_selector(task, timeout=WAIT_MS)
    assert "时限届满回访" in await page.inner_text(task)
    await page.focus(task)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#answer-form:not(.hidden)", timeout=WAIT_MS)
    assert await page.text_content("#answer-title") == "诉求人对目前办理情况的评价"
    assert await page.is_visible("#deadline-hint") and not await page.is_visible("#judgement-box")
    assert "工单继续办理" in await page.inner_text("#final")
    await page.keyboard.press("3")
    await page.fill("#answer-reason", "至今没有人来修电梯")
    await shot(page, "callbacks-at-deadline")
    await page.click("#answer-submit")
    await wait_for(page, "document.getElementById('messages').innerText.includes('回访已记录：办理中')",
                   timeout=WAIT_MS)
    await page.wait_for_selector(task, state="detached", timeout=WAIT_MS)  # done: off the list
    assert await ticket_status(site, no) == "in_progress"
    assert problems == []
    await context.close()


async def complaint_about_an_agent(site: Site) -> str:
    """A caller complains about the agent of an earlier call; the agent on this call (li's own
    session) registers and classifies it as a complaint without naming anyone yet."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{site.base}/api/session", json={"username": "li", "password": PASSWORD}) as response:
            assert response.status == 200, await response.text()
            headers = {"X-CSRF-Token": (await response.json())["csrf_token"]}
        async with http.post(f"{site.base}/api/tickets", headers=headers, json={
                "channel": "phone", "caller": {"number": CALLER}, "summary": "投诉话务员态度恶劣"}) as response:
            assert response.status == 201, await response.text()
            ticket = (await response.json())["ticket"]
        async with http.post(f"{site.base}/api/tickets/{ticket['ticket_no']}/commands/classify", headers=headers, json={
                "expected_version": ticket["version"], "ticket_type": "complaint", "summary": "投诉话务员态度恶劣",
                "content": f"来电人称上次来电时话务员态度恶劣、中途挂断电话。{HOSTILE}"}) as response:
            assert response.status == 200, await response.text()
    return str(ticket["ticket_no"])


async def test_a_complaint_about_an_agent_goes_to_the_supervisors_quality_list_never_to_a_unit(
    site: Site, browser: Any,
) -> None:
    """北京条例第三十三条第一项 (服务态度恶劣粗暴), 济南条例 (投诉热线受理人员): the dispatcher
    marks the complaint as about the agent li with the keyboard (S, the 工号, Enter); it leaves
    the dispatch queue for the supervisors' quality list, which a dispatcher does not see; the
    supervisor records the finding; li can no longer read the ticket at all."""
    no = await complaint_about_an_agent(site)
    problems: list[str] = []
    context, desk = await new_page(browser, problems)
    await sign_in(desk, site.base, "/dispatch", "pai")
    await desk.wait_for_selector(f"#queue tr[data-ticket-no='{no}']", timeout=WAIT_MS)
    await desk.focus(f"#queue tr[data-ticket-no='{no}']")
    await desk.keyboard.press("Enter")
    await desk.wait_for_selector("#staff-form:not(.hidden)", timeout=WAIT_MS)
    assert await desk.evaluate("document.getElementById('quality-section').classList.contains('hidden')")
    await desk.keyboard.press("s")
    assert await desk.evaluate("document.activeElement.id") == "about-staff"
    await desk.keyboard.press("Enter")  # no 工号: said next to the field
    assert await desk.text_content("[data-error-for=about_staff]") == "请填写被投诉工作人员的工号。"
    await desk.keyboard.type("li")
    await shot(desk, "dispatcher-staff-complaint")
    await desk.keyboard.press("Enter")
    await desk.wait_for_selector("#queue-empty:not(.hidden)", timeout=WAIT_MS)
    assert "已转质检组处理" in (await desk.text_content("#messages") or "")
    assert await ticket_status(site, no) == "quality_check"
    assert await ticket_status(site, no, "li") == "absent"
    await no_markup_from_the_ticket(desk)

    # The supervisor (班长, the quality team): the complaint waits in the quality list.
    boss_context, boss = await new_page(browser, problems)
    await sign_in(boss, site.base, "/dispatch", "ban")
    row = f"#quality tr[data-ticket-no='{no}']"
    await boss.wait_for_selector(row, timeout=WAIT_MS)
    assert "li" in await boss.inner_text(row)
    await boss.focus(row)
    await boss.keyboard.press("Enter")
    await boss.wait_for_selector("#quality-form:not(.hidden)", timeout=WAIT_MS)
    assert "被投诉工作人员" in await boss.inner_text("#ticket")
    await boss.select_option("#quality-finding", "substantiated")
    await boss.fill("#quality-result", "经调听录音，投诉属实，已对当事话务员批评教育并安排服务规范培训")
    await shot(boss, "supervisor-quality-finding")
    await boss.focus("#record-finding")
    await boss.keyboard.press("Enter")
    await boss.wait_for_selector("#quality-empty:not(.hidden)", timeout=WAIT_MS)
    assert await ticket_status(site, no) == "feedback_accepted"
    await no_markup_from_the_ticket(boss)
    assert problems == []
    for page_context in (context, boss_context):
        await page_context.close()
