"""The auditor's page in a real browser (Debian's Chromium, headless), served by the whole
backend (real SQLite and Redis), with an audit made by people working: a supervisor revealing a
confidential caller's number, a unit reading its ticket, another unit refused it, a dispatcher
reading the queue.

An agent is refused the page and the audit; the auditor lands on the page, searches with the
keyboard (a filter and Enter), pages, exports the same search as CSV, and a hostile value that
reached the audit (a ticket number searched for) is shown as text. Screenshots go to
HOTLINE_SHOTS_DIR (default var/shots).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.browser_harness import wait_for
from tests.e2e.test_oversight_page import HOUSING, URBAN, ticket
from tests.e2e.test_pages_sign_in import browser, new_page  # noqa: F401  (the browser fixture)
from tests.page_sign_in import WAIT_MS, refused_the_page, sign_in
from tests.staff_session import StaffSession, staff_site
from tests.workbench_walk import shot

#: A ticket number an auditor might paste: it is written to the audit (the search's own row).
HOSTILE = "<img src=x onerror=pwned=1></b>"


@dataclass
class Site:
    base: str
    ticket_no: str


@pytest.fixture
async def site(tmp_path: Path, sqlite_url: str, redis_key_prefix: str,
               redis_client: aioredis.Redis) -> AsyncIterator[Site]:
    async with staff_site(tmp_path, sqlite_url, redis_key_prefix, (
            ("zhou", "supervisor", None, "班长周敏"), ("pai", "dispatcher", None, "派单员王"),
            ("zhang", "unit", HOUSING, "住建局张"), ("wang", "unit", URBAN, "城管局王"),
            ("shen", "auditor", None, "审计员沈"), ("li", "agent", None, "话务员李娜"))) as (base, _):
        people = {name: await StaffSession.open(base, name) for name in ("zhou", "pai", "zhang", "wang")}
        try:
            made = await ticket(people["zhou"], "13812345678", "小区电梯停运三天物业不修",
                                "来电人反映幸福小区3号楼电梯停运三天。", HOUSING)
            no = made["ticket_no"]
            for _ in range(55):  # a supervisor working the ticket all day: more than a page of reads
                await people["zhou"].call("GET", f"/api/tickets/{no}")
            async with people["zhou"].http.post(f"{base}/api/tickets/{no}/reveal",
                                                headers={"X-CSRF-Token": people["zhou"].csrf}) as response:
                assert response.status == 200
            await people["zhang"].call("GET", f"/api/tickets/{no}")
            await people["wang"].call("GET", f"/api/tickets/{no}", status=404)  # not its unit's: refused
            await people["pai"].call("GET", "/api/workbench/dispatch-queue")
        finally:
            for staff in people.values():
                await staff.close()
        yield Site(base, no)


async def test_an_agent_is_refused_the_audit_page_and_the_audit(site: Site, browser: Any) -> None:
    problems: list[str] = []
    context, page = await new_page(browser, problems)
    await refused_the_page(page, site.base, "/", "li", "/audit", "审计")
    assert await page.evaluate("fetch('/api/audit').then(r => r.status)") == 403
    await context.close()


async def test_the_auditor_searches_with_the_keyboard_pages_and_exports(site: Site, browser: Any) -> None:
    problems: list[str] = []
    context, page = await new_page(browser, problems)
    await sign_in(page, site.base, "/audit", "shen")
    await page.wait_for_selector("#records tr", timeout=WAIT_MS)
    records = await page.inner_text("#records")
    assert "保密来电人身份" in records and "拒绝" in records and "派单员" in records
    assert "13812345678" not in records  # an auditor sees numbers masked
    assert "查看保密来电号码" in records and "拒绝原因：" in records
    assert await page.evaluate("document.activeElement.id") == "actor"
    await shot(page, "audit")

    # Who: type and Enter. Only the refused read of the other unit is left.
    await page.keyboard.type("wang")
    await page.keyboard.press("Enter")
    await wait_for(page, "document.querySelectorAll('#records tr').length === 1", timeout=WAIT_MS)
    row = await page.inner_text("#records tr")
    assert "拒绝" in row and site.ticket_no in row and "承办单位工作人员" in row
    assert "工单及办理记录；拒绝原因：工单未派给读取人的单位" in row
    csv = await page.evaluate("fetch(document.getElementById('export').href).then(r => r.text())")
    lines = csv.strip().splitlines()
    assert lines[0].lstrip("\ufeff").startswith("时间（北京时间）,操作人,角色,单位,读取内容,结果") and len(lines) == 2
    # The export words the row as the page does.
    assert ",wang,承办单位工作人员," in lines[1] and ",工单,拒绝," in lines[1] and site.ticket_no in lines[1]
    await shot(page, "audit-filtered")

    # When: a time that cannot be read is said in Chinese next to the filters.
    await page.fill("#from", "昨天")
    await page.press("#from", "Enter")
    assert "北京时间" in await page.inner_text("#search-error")
    await page.fill("#from", "2026-01-01")
    await page.press("#from", "Enter")
    await wait_for(page, "document.getElementById('search-error').textContent === ''", timeout=WAIT_MS)

    # A hostile ticket number searched for is in the audit, and shown as text.
    await page.fill("#actor", "")
    await page.fill("#ticket", HOSTILE)
    await page.press("#ticket", "Enter")
    await page.wait_for_selector("#records-empty:not(.hidden)", timeout=WAIT_MS)
    await page.fill("#ticket", "")
    await page.select_option("#kind", "audit")
    await page.press("#ticket", "Enter")
    await wait_for(page, f"document.querySelector('#records').innerText.includes({HOSTILE!r})", timeout=WAIT_MS)
    assert await page.evaluate("typeof pwned === 'undefined'")
    assert await page.evaluate("document.querySelectorAll('main img, main b').length") == 0

    # Pages of 50, newest first.
    await page.select_option("#kind", "")
    await page.press("#actor", "Enter")
    await wait_for(page, "!document.getElementById('next').disabled", timeout=WAIT_MS)
    first = await page.inner_text("#records tr:first-child")
    await page.click("#next")
    await wait_for(page, "document.getElementById('page-info').textContent.startsWith('第 51')", timeout=WAIT_MS)
    assert await page.inner_text("#records tr:first-child") != first
    assert problems == []
    await context.close()
