"""The knowledge admin's page in a real browser (Debian's Chromium, headless), served by the
whole backend (real SQLite and Redis) with the seed articles and more put in through the API:
a unit's draft edited twice, an article past its review date, one whose title is hostile markup.

An agent is refused the page and the list; the knowledge admin lands on the page, opens an
article with the keyboard, compares two versions side by side, edits it and saves with
Ctrl+Enter, publishes it, retires another with a reason, writes a new one from N; a unit's
staff see only their own unit's articles. Screenshots go to HOTLINE_SHOTS_DIR (default var/shots).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.browser_harness import wait_for
from tests.e2e.test_oversight_page import HOUSING, URBAN
from tests.e2e.test_pages_sign_in import browser, new_page  # noqa: F401  (the browser fixture)
from tests.page_sign_in import WAIT_MS, refused_the_page, sign_in
from tests.staff_session import StaffSession, staff_site
from tests.workbench_walk import shot

HOSTILE = "<img src=x onerror=\"window.pwned=1\"><b>加粗</b></script>"


@dataclass
class Site:
    base: str
    lift_id: str


def article(title: str, wording: str, review_by: str = "2027-06-30", **more: Any) -> dict[str, Any]:
    return {"title": title, "approved_wording": wording, "body": f"依据：{title}相关政策文件。",
            "keywords": [title[:4]], "review_by": review_by, **more}


@pytest.fixture
async def site(tmp_path: Path, sqlite_url: str, redis_key_prefix: str,
               redis_client: aioredis.Redis) -> AsyncIterator[Site]:
    async with staff_site(tmp_path, sqlite_url, redis_key_prefix, (
            ("zhi", "kb_admin", None, "知识库管理员赵"), ("zhang", "unit", HOUSING, "住建局张"),
            ("li", "agent", None, "话务员李娜"))) as (base, _):
        admin, housing = await StaffSession.open(base, "zhi"), await StaffSession.open(base, "zhang")
        try:
            lift = (await housing.call("POST", "/api/kb/articles", article(
                "老旧小区加装电梯补贴", "既有住宅加装电梯，每部补贴15万元，向街道办事处申请。"), 201))["article"]
            lift = (await housing.call("PUT", f"/api/kb/articles/{lift['id']}", article(
                "老旧小区加装电梯补贴", "既有住宅加装电梯，每部补贴20万元，向所在街道办事处申请。",
                expected_version=1, change_note="按2026年新政策提高补贴标准")))["article"]
            # Published, then its review date moved back: what a year without review looks like.
            stalls = article("占道经营投诉处理", "占道经营由城管部门处理，一般3个工作日内到场。", owner_unit=URBAN)
            made = (await admin.call("POST", "/api/kb/articles", stalls, 201))["article"]
            await admin.call("POST", f"/api/kb/articles/{made['id']}/publish", {"expected_version": 1})
            await admin.call("PUT", f"/api/kb/articles/{made['id']}", {
                **stalls, "review_by": "2026-11-30", "expected_version": 2, "change_note": "复核日期按原文件"})
            await admin.call("POST", "/api/kb/articles", article(
                f"夜间施工噪音{HOSTILE}", f"夜间施工须持证。{HOSTILE}", owner_unit=URBAN), 201)
        finally:
            await admin.close()
            await housing.close()
        yield Site(base, lift["id"])


async def test_an_agent_is_refused_the_knowledge_page_and_the_article_list(site: Site, browser: Any) -> None:
    problems: list[str] = []
    context, page = await new_page(browser, problems)
    await refused_the_page(page, site.base, "/", "li", "/knowledge", "知识库")
    assert await page.evaluate("fetch('/api/kb/articles').then(r => r.status)") == 403
    await context.close()


async def test_the_knowledge_admin_compares_edits_publishes_retires_and_writes_with_the_keyboard(
    site: Site, browser: Any,
) -> None:
    problems: list[str] = []
    context, page = await new_page(browser, problems)
    await sign_in(page, site.base, "/knowledge", "zhi")
    await page.wait_for_selector("#articles tr", timeout=WAIT_MS)
    articles = await page.inner_text("#articles")
    assert "老旧小区加装电梯补贴" in articles and "草稿" in articles and "已发布" in articles
    assert HOSTILE in articles
    assert "占道经营投诉处理" in await page.inner_text("#stale")
    assert await page.evaluate("window.pwned === undefined")
    assert await page.evaluate("document.querySelectorAll('main img, main b').length") == 0

    # Enter opens the article: its two versions side by side, the changed wording marked.
    row = f"#articles tr[data-task-id='{site.lift_id}']"
    await page.focus(row)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#versions .changed", timeout=WAIT_MS)
    changed = await page.eval_on_selector_all("#versions .changed", "cells => cells.map(c => c.textContent)")
    assert "既有住宅加装电梯，每部补贴15万元，向街道办事处申请。" in changed
    assert "既有住宅加装电梯，每部补贴20万元，向所在街道办事处申请。" in changed
    assert "按2026年新政策提高补贴标准" in await page.inner_text("#versions")
    await shot(page, "knowledge")

    # Edit and save with Ctrl+Enter: a third version; without a note it is said next to it.
    await page.fill("#wording", "既有住宅加装电梯，每部补贴20万元；申请材料见市住建局网站。")
    await page.focus("#wording")
    await page.keyboard.press("Control+Enter")
    assert await page.text_content("[data-error-for=change_note]") == "请填写修改说明。"
    await page.keyboard.type("补充申请材料说明")
    await page.keyboard.press("Control+Enter")
    await wait_for(page, "document.getElementById('article-facts').innerText.includes('第 3 版')", timeout=WAIT_MS)
    await page.click("#publish")
    await wait_for(page, "document.getElementById('article-facts').innerText.includes('已发布')", timeout=WAIT_MS)

    # The hostile article opens as text, and is retired with a reason.
    await page.focus("#articles tr:has(td:text('夜间施工噪音'))")
    await page.keyboard.press("Enter")
    await wait_for(page, "document.getElementById('wording').value.includes('</script>')", timeout=WAIT_MS)
    await page.click("#retire")
    assert await page.text_content("#status-error") == "请填写下架原因。"
    await page.keyboard.type("政策已废止")
    await page.click("#retire")
    await wait_for(page, "document.getElementById('article-facts').innerText.includes('已下架')", timeout=WAIT_MS)
    assert await page.evaluate("document.querySelectorAll('main img, main b').length") == 0

    # N writes a new one, saved as a draft with Ctrl+Enter.
    await page.focus("#articles tr")
    await page.keyboard.press("n")
    assert await page.evaluate("document.activeElement.id") == "title"
    await page.keyboard.type("灵活就业人员社保缴费")
    await page.select_option("#owner", "city-hrss")
    await page.fill("#wording", "灵活就业人员可在户籍地或居住地社保经办机构办理参保，按月或按年缴费。")
    await page.fill("#body", "依据市人社局关于灵活就业人员参加职工养老保险的通知。")
    await page.fill("#review-by", "2027-12-31")
    await page.focus("#body")
    await page.keyboard.press("Control+Enter")
    await wait_for(page, "document.getElementById('detail-title').textContent === '灵活就业人员社保缴费'",
                   timeout=WAIT_MS)
    assert "草稿" in await page.inner_text("#article-facts")
    assert problems == []
    await context.close()


async def test_a_units_staff_see_only_their_own_units_articles(site: Site, browser: Any) -> None:
    problems: list[str] = []
    context, page = await new_page(browser, problems)
    await sign_in(page, site.base, "/knowledge", "zhang")
    await page.wait_for_selector("#articles tr", timeout=WAIT_MS)
    units = await page.eval_on_selector_all("#articles tr td:nth-child(2)",
                                            "cells => [...new Set(cells.map(c => c.textContent))]")
    assert units == ["市住房和城乡建设局"]
    assert await page.is_hidden("#unit-box")
    await shot(page, "knowledge-unit")
    assert problems == []
    await context.close()
