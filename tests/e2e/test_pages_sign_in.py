"""Every staff page signs in with the session cookie, in a real browser (Debian's Chromium,
headless, driven by Playwright), over real SQLite and Redis.

A page opened without a session goes to the sign-in page and comes back after it; a person
who signs in at the sign-in page lands on their role's page; each page shows only the pages the
role may open and signs out; a session that ends while a page is open sends it to the sign-in
page; no address the browser used (pages, requests, websockets, <audio>) carries a token.
The backend's telephony is replaced by quiet stand-ins here (tests/e2e/test_desk_call.py and
test_supervisor_listen.py drive the same pages with real Asterisk). Screenshots of each page
go to HOTLINE_SHOTS_DIR (default var/shots).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import plugin as accounts_plugin
from accounts.store import AccountStore
from accounts.throttle import SignInThrottle, ThrottleLimits
from agent_desk import plugin as desk_plugin
from kernel.audit import AccessAudit, AccessKind, AuditQuery
from kernel.database import open_database
from kernel.http_edge import new_app
from kernel.security_headers import allow_connections
from kernel.sessions import SessionLimits
from recordings import plugin as recordings_plugin
from recordings.store import CallStore
from tests.auth_tokens import with_test_signer
from tests.browser_harness import HEADLESS_FLAGS, chromium_executable, wait_for
from tests.conftest import REDIS_URL
from tests.data_keys import TEST_KEYS
from tests.integration.test_sign_in import QUIET_SOFTPHONE_WS, EmptyBoard, QuietDesk, QuietFloor
from tests.page_sign_in import CHEAP, WAIT_MS, AddressLog, add_person, sign_in
from tests.recording_files import insert_call, write_wav

SHOTS = Path(os.environ.get("HOTLINE_SHOTS_DIR", Path(__file__).resolve().parents[2] / "var" / "shots"))
CALLER = "13812345678"  # the caller QuietFloor shows waiting
UNITS = {"city-housing": "市住房和城乡建设局", "city-urban-management": "市城市管理局"}


@dataclass
class Site:
    base: str
    engine: AsyncEngine
    store: AccountStore
    call_id: str


@pytest.fixture
async def site(sqlite_url: str, redis_client: aioredis.Redis, redis_key_prefix: str,
               tmp_path: Path) -> AsyncIterator[Site]:
    engine = await open_database(sqlite_url)
    store = AccountStore(engine)
    audit = AccessAudit(engine)
    wav = write_wav(tmp_path / "recordings" / "call.wav", 6.0)
    call_id = await insert_call(engine, caller=CALLER, started_at=datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
                                seconds=6.0, agent_id="li", recording=wav,
                                lines=(("caller", 0.0, 2.5, "小区路灯不亮"), ("agent", 2.5, 5.0, "好的，马上登记")))
    app = with_test_signer(new_app())
    accounts_plugin.install(app, accounts_plugin.AccountsDeps(
        store, CHEAP, SignInThrottle(redis_client, redis_key_prefix, ThrottleLimits(5, 50, timedelta(minutes=15))),
        SessionLimits(idle=timedelta(minutes=30), absolute=timedelta(hours=12)), cookie_secure=True,
        socket_recheck_seconds=0.5, audit=audit, units=UNITS))
    feed = aioredis.from_url(REDIS_URL)
    desk_plugin.install(app, desk_plugin.DeskDeps(feed, redis_key_prefix, backend=QuietDesk(), close_grace_seconds=0.1,
                                                  supervisor=QuietFloor(), audit=audit, wallboard=EmptyBoard()))
    allow_connections(app, [QUIET_SOFTPHONE_WS])
    recordings_plugin.install(app, recordings_plugin.RecordingsDeps(CallStore(engine), audit, TEST_KEYS))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Site(f"http://127.0.0.1:{server.port}", engine, store, call_id)
    finally:
        await server.close()
        await feed.aclose()
        await engine.dispose()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_executable(),
            args=[*HEADLESS_FLAGS, "--autoplay-policy=no-user-gesture-required"])
        try:
            yield chromium
        finally:
            await chromium.close()


async def new_page(browser: Any, problems: list[str]) -> tuple[Any, Any]:
    """A page in a context of its own (its own cookies), its page errors and whatever the
    Content-Security-Policy refused collected."""
    context = await browser.new_context(viewport={"width": 1400, "height": 800}, locale="zh-CN")
    page = await context.new_page()
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("console", lambda m: problems.append(f"refused by the page's policy: {m.text}")
            if "Content Security Policy" in m.text else None)
    return context, page


async def nav_titles(page: Any) -> list[str]:
    return list(await page.evaluate(
        "[...document.querySelectorAll('#session-bar a, #session-bar .session-here')].map(e => e.textContent)"))


async def session_status(page: Any) -> int:
    return int(await page.evaluate("fetch('/api/session').then(r => r.status)"))


#: page, role, what a person of the role sees in its navigation, and an element the page fills
#: once it works with the session.
PAGES = (
    ("/", "agent", ["话务台", "实时转写", "录音查询"],
     "document.getElementById('agent-status').textContent === '小休（休息）'"),
    ("/supervisor", "supervisor", ["话务台", "班长席", "实时转写", "录音查询"],
     "document.getElementById('board-status').textContent === '已连接'"
     " && document.querySelector('#calls tr') !== null"),
    ("/live", "agent", ["话务台", "实时转写", "录音查询"],
     "document.getElementById('status').textContent.includes('已连接')"),
    ("/recordings", "supervisor", ["话务台", "班长席", "实时转写", "录音查询"],
     "document.querySelector('#calls tr') !== null"),
    ("/admin", "admin", [], "document.querySelector('#users tr') !== null"),
)


@pytest.mark.parametrize(("path", "role", "nav", "working"), PAGES, ids=[p[0] for p in PAGES])
async def test_a_page_opened_signed_out_signs_in_comes_back_works_and_signs_out(
    site: Site, browser: Any, path: str, role: str, nav: list[str], working: str,
) -> None:
    await add_person(site.engine, "li", role, display_name="李娜")
    problems: list[str] = []
    context, page = await new_page(browser, problems)
    addresses = AddressLog().watch(page)
    await sign_in(page, site.base, path, "li")
    await wait_for(page, working, timeout=WAIT_MS)
    assert await nav_titles(page) == nav
    assert "李娜" in await page.inner_text("#session-who")
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"page{path.replace('/', '-') if path != '/' else '-desk'}.png"))

    # The page's writes carry the session's CSRF token (a write without it is refused).
    assert await page.evaluate("fetch('/api/session', {method: 'DELETE'}).then(r => r.status)") == 403

    await page.click("#sign-out")
    await page.wait_for_url(f"{site.base}/signin", timeout=WAIT_MS)
    assert await session_status(page) == 401
    await page.goto(site.base + path)  # signed out: the page is not served
    await page.wait_for_url(f"{site.base}/signin?next={path}", timeout=WAIT_MS)
    assert addresses.with_tokens() == [], addresses.with_tokens()
    assert problems == []
    await context.close()


@pytest.mark.parametrize(("role", "lands"), [("agent", "/"), ("senior_agent", "/"), ("supervisor", "/supervisor"),
                                             ("admin", "/admin")])
async def test_the_sign_in_page_sends_each_person_to_their_roles_page(
    site: Site, browser: Any, role: str, lands: str,
) -> None:
    await add_person(site.engine, "p1", role)
    problems: list[str] = []
    context, page = await new_page(browser, problems)
    await page.goto(f"{site.base}/signin")
    await page.fill("#username", "p1")
    await page.fill("#password", "correct-horse-battery")
    await page.press("#password", "Enter")
    await page.wait_for_url(site.base + lands, timeout=WAIT_MS)
    assert problems == []
    await context.close()


async def test_a_role_without_a_page_of_its_own_is_shown_the_pages_it_may_open(site: Site, browser: Any) -> None:
    await add_person(site.engine, "d1", "dispatcher", display_name="派单员甲")
    await add_person(site.engine, "z1", "unit", "city-housing")
    problems: list[str] = []
    # The live floor is the supervisor's (kernel.access_policy): a dispatcher hears only their own calls.
    for username, links in (("d1", ["录音查询"]), ("z1", [])):
        context, page = await new_page(browser, problems)
        await page.goto(f"{site.base}/signin")
        await page.fill("#username", username)
        await page.fill("#password", "correct-horse-battery")
        await page.press("#password", "Enter")
        await page.wait_for_selector("#signed-in:not(.hidden)", timeout=WAIT_MS)
        assert page.url == f"{site.base}/signin"
        assert await page.eval_on_selector_all("#pages a", "links => links.map(a => a.textContent)") == links
        if not links:
            assert await page.text_content("#pages-title") == "本账号没有可用的工作页面。"
        await context.close()
    assert problems == []


async def test_a_page_the_role_may_not_use_is_refused_with_the_pages_it_may(site: Site, browser: Any) -> None:
    await add_person(site.engine, "li", "agent")
    problems: list[str] = []
    context, page = await new_page(browser, problems)
    await sign_in(page, site.base, "/supervisor", "li", lands="/")  # not theirs: their own page instead
    await page.goto(f"{site.base}/admin")
    await page.wait_for_url(f"{site.base}/signin?denied=/admin", timeout=WAIT_MS)
    await page.wait_for_selector("#signed-in:not(.hidden)", timeout=WAIT_MS)
    assert "不能使用页面 /admin" in (await page.text_content("#denied") or "")
    assert await page.eval_on_selector_all("#pages a", "links => links.map(a => a.textContent)") == [
        "话务台", "实时转写", "录音查询"]
    assert problems == []
    await context.close()


async def test_a_page_whose_session_is_revoked_goes_to_the_sign_in_page_within_5_s(site: Site, browser: Any) -> None:
    await add_person(site.engine, "li", "agent")
    await add_person(site.engine, "sup1", "supervisor")
    problems: list[str] = []
    desk_context, desk = await new_page(browser, problems)
    board_context, board = await new_page(browser, problems)
    await sign_in(desk, site.base, "/", "li")
    await wait_for(desk, PAGES[0][3], timeout=WAIT_MS)
    await sign_in(board, site.base, "/supervisor", "sup1")
    await wait_for(board, PAGES[1][3], timeout=WAIT_MS)
    started = await desk.evaluate("performance.now()")
    for username in ("li", "sup1"):
        await site.store.revoke_user_sessions(username, "administrator")
    await desk.wait_for_url(f"{site.base}/signin?next=/&ended=1", timeout=5000)
    await board.wait_for_url(f"{site.base}/signin?next=/supervisor&ended=1", timeout=5000)
    assert await desk.evaluate("performance.now()") - started < 5000
    # The sign-in page says why the person is there (no silent reconnecting).
    for page in (desk, board):
        await wait_for(page, "document.getElementById('ended').textContent.includes('登录已失效')",
                       timeout=WAIT_MS)
    assert problems == []
    for context in (desk_context, board_context):
        await context.close()


async def test_the_recording_plays_through_the_session_cookie_and_no_address_holds_a_token(
    site: Site, browser: Any,
) -> None:
    await add_person(site.engine, "sup1", "supervisor")
    problems: list[str] = []
    context, page = await new_page(browser, problems)
    addresses = AddressLog().watch(page)
    await sign_in(page, site.base, "/recordings", "sup1")
    row = f"tr[data-call-id='{site.call_id}']"
    await page.wait_for_selector(f"{row} button.play:not(:disabled)", timeout=WAIT_MS)
    await page.click(f"{row} button.play")
    await wait_for(page, "document.getElementById('player').currentTime > 0.5", timeout=WAIT_MS)
    src = await page.evaluate("document.getElementById('player').src")
    assert src == f"{site.base}/api/calls/{site.call_id}/recording"
    recording_requests = [a for a in addresses.addresses if a.endswith("/recording") or "/recording?" in a]
    assert recording_requests and set(recording_requests) == {src}
    assert addresses.with_tokens() == []
    reads = await AccessAudit(site.engine).search(AuditQuery(kind=AccessKind.RECORDING, call_id=site.call_id))
    assert reads and {(r.actor, r.allowed) for r in reads} == {("sup1", True)}
    assert problems == []
    await context.close()


async def test_an_administrator_manages_accounts_on_the_admin_page(site: Site, browser: Any) -> None:
    """Add a unit's staff member (their password shown once), who signs in with it; disable
    them; reset an agent's password while their desk is open: the desk goes to the sign-in page."""
    await add_person(site.engine, "root", "admin", display_name="系统管理员甲")
    await add_person(site.engine, "li", "agent", display_name="李娜")
    problems: list[str] = []
    admin_context, admin = await new_page(browser, problems)
    admin.on("dialog", lambda dialog: dialog.accept())  # the page asks before each change
    addresses = AddressLog().watch(admin)
    await sign_in(admin, site.base, "/admin", "root")
    await admin.wait_for_selector("#users tr[data-username='li']", timeout=WAIT_MS)
    # The administrator's own account cannot be disabled or reset from here.
    assert await admin.is_disabled("#users tr[data-username='root'] button.disable")
    assert await admin.is_disabled("#users tr[data-username='root'] button.reset")

    await admin.fill("#add-username", "wang-fang")
    await admin.fill("#add-name", "王芳")
    await admin.select_option("#add-role", "unit")
    await admin.wait_for_selector("#add-unit-box:not(.hidden)")
    await admin.select_option("#add-unit", "city-housing")
    await admin.click("#add-submit")
    await admin.wait_for_selector("#secret:not(.hidden)", timeout=WAIT_MS)
    password = (await admin.text_content("#secret-password") or "").strip()
    assert len(password) == 16
    assert "wang-fang" in (await admin.text_content("#secret-what") or "")
    await admin.wait_for_selector("#users tr[data-username='wang-fang']", timeout=WAIT_MS)
    row = await admin.inner_text("#users tr[data-username='wang-fang']")
    assert "王芳" in row and "承办单位工作人员" in row and "市住房和城乡建设局" in row
    SHOTS.mkdir(parents=True, exist_ok=True)
    await admin.screenshot(path=str(SHOTS / "admin-password-once.png"))
    await admin.click("#secret-done")
    assert await admin.is_hidden("#secret")
    assert await admin.text_content("#secret-password") == ""  # nothing of it stays in the page

    # The new person signs in with it (a unit's staff have no page here yet: the sign-in page
    # says who they are).
    person_context, person = await new_page(browser, problems)
    await person.goto(f"{site.base}/signin")
    await person.fill("#username", "wang-fang")
    await person.fill("#password", password)
    await person.press("#password", "Enter")
    await person.wait_for_selector("#signed-in:not(.hidden)", timeout=WAIT_MS)
    assert await person.text_content("#welcome") == "已登录：王芳"

    # Disabled: their session ends at once.
    await admin.reload()
    await wait_for(admin,
        "document.querySelector(\"#users tr[data-username='wang-fang']\")?.innerText.includes('1 个')",
        timeout=WAIT_MS)
    await admin.click("#users tr[data-username='wang-fang'] button.disable")
    await wait_for(admin,
        "document.querySelector(\"#users tr[data-username='wang-fang']\")?.innerText.includes('已停用')",
        timeout=WAIT_MS)
    assert await session_status(person) == 401

    # A reset password: the agent's open desk goes to the sign-in page within 5 s; the new
    # password works, the old one does not.
    desk_context, desk = await new_page(browser, problems)
    await sign_in(desk, site.base, "/", "li")
    await wait_for(desk, PAGES[0][3], timeout=WAIT_MS)
    await admin.click("#users tr[data-username='li'] button.reset")
    await admin.wait_for_selector("#secret:not(.hidden)", timeout=WAIT_MS)
    new_password = (await admin.text_content("#secret-password") or "").strip()
    await desk.wait_for_url(f"{site.base}/signin?next=/&ended=1", timeout=5000)
    await desk.fill("#username", "li")
    await desk.fill("#password", "correct-horse-battery")
    await desk.press("#password", "Enter")
    await wait_for(desk, "document.getElementById('error').textContent === '用户名或密码错误。'",
                                 timeout=WAIT_MS)
    await desk.fill("#password", new_password)
    await desk.press("#password", "Enter")
    await desk.wait_for_url(f"{site.base}/", timeout=WAIT_MS)
    await admin.click("#secret-done")
    await admin.screenshot(path=str(SHOTS / "admin-page.png"))

    rows = await AccessAudit(site.engine).search(AuditQuery(kind=AccessKind.ACCOUNT))
    assert [(r.actor, r.detail) for r in reversed(rows)] == [
        ("root", "add wang-fang (unit, city-housing)"), ("root", "disable wang-fang; 1 session(s) ended"),
        ("root", "reset password of li; 1 session(s) ended")]
    assert addresses.with_tokens() == []
    assert problems == []
    for context in (admin_context, person_context, desk_context):
        await context.close()
