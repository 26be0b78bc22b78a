"""The sign-in page in a real browser (Debian's Chromium, headless, driven by Playwright): signed in
with the keyboard alone, no token in any address; the session cookie is HttpOnly (the page's
scripts cannot read it), opens a websocket from the page, and the socket closes within 5 s of a
revocation. A screenshot of the page is kept (HOTLINE_SHOTS_DIR, default var/shots)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher

from accounts import plugin as accounts_plugin
from accounts.passwords import Passwords
from accounts.store import AccountStore
from accounts.throttle import SignInThrottle, ThrottleLimits
from agent_desk import plugin as desk_plugin
from kernel.auth import SESSION_COOKIE
from kernel.database import open_database
from kernel.http_edge import new_app
from kernel.roles import Role
from kernel.sessions import SessionLimits
from tests.auth_tokens import with_test_signer
from tests.browser_harness import HEADLESS_FLAGS, chromium_executable, wait_for
from tests.conftest import REDIS_URL

PASSWORD = "correct-horse-battery"
WAIT_MS = 10_000
SHOTS = Path(os.environ.get("HOTLINE_SHOTS_DIR", Path(__file__).resolve().parents[2] / "var" / "shots"))


@pytest.fixture
async def signin_server(sqlite_url: str, redis_client: aioredis.Redis,
                        redis_key_prefix: str) -> AsyncIterator[tuple[TestServer, AccountStore]]:
    engine = await open_database(sqlite_url)
    store = AccountStore(engine)
    cheap = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    await store.add("li", "李娜", Role.AGENT, None, await cheap.hash(PASSWORD))
    app = with_test_signer(new_app())
    # The Secure cookie, as in production: Chromium keeps it on http://127.0.0.1 (a secure context).
    accounts_plugin.install(app, accounts_plugin.AccountsDeps(
        store, cheap, SignInThrottle(redis_client, redis_key_prefix, ThrottleLimits(5, 50, timedelta(minutes=15))),
        SessionLimits(idle=timedelta(minutes=30), absolute=timedelta(hours=12)), cookie_secure=True))
    feed = aioredis.from_url(REDIS_URL)
    desk_plugin.install(app, desk_plugin.DeskDeps(feed, redis_key_prefix))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server, store
    finally:
        await server.close()
        await feed.aclose()
        await engine.dispose()


async def test_a_person_signs_in_with_the_keyboard_and_the_session_works_in_the_browser(
    signin_server: tuple[TestServer, AccountStore],
) -> None:
    from playwright.async_api import async_playwright

    server, store = signin_server
    base = f"http://127.0.0.1:{server.port}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_executable(), args=list(HEADLESS_FLAGS))
        try:
            context = await browser.new_context(viewport={"width": 900, "height": 640}, locale="zh-CN")
            page = await context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            await page.goto(f"{base}/signin")
            assert await page.evaluate("document.activeElement.id") == "username"  # type at once

            await page.keyboard.type("li")
            await page.keyboard.press("Tab")
            assert await page.evaluate("document.activeElement.id") == "password"
            await page.screenshot(path=str(SHOTS / "sign-in.png"))
            await page.keyboard.type("not-the-password")
            await page.keyboard.press("Enter")
            await wait_for(page, "document.getElementById('error').textContent !== ''", timeout=WAIT_MS)
            assert await page.text_content("#error") == "用户名或密码错误。"
            assert await page.evaluate("document.activeElement.id") == "password"  # try again at once
            await page.screenshot(path=str(SHOTS / "sign-in-wrong-password.png"))

            await page.keyboard.press("Control+A")
            await page.keyboard.press("Backspace")
            await page.keyboard.type(PASSWORD)
            await page.keyboard.press("Enter")
            await page.wait_for_selector("#signed-in:not(.hidden)", timeout=WAIT_MS)
            assert await page.text_content("#welcome") == "已登录：李娜"
            assert "话务员" in (await page.text_content("#who") or "")
            await page.screenshot(path=str(SHOTS / "sign-in-done.png"))
            assert page.url == f"{base}/signin"  # no token in the address, ever

            cookies = {c["name"]: c for c in await context.cookies()}
            cookie = cookies[SESSION_COOKIE]
            assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
            assert SESSION_COOKIE not in await page.evaluate("document.cookie")  # scripts cannot read it

            # The page's own requests carry the cookie; its writes need the CSRF token.
            me: Any = await page.evaluate("fetch('/api/session').then(r => r.json())")
            assert (me["username"], me["session"]) == ("li", True)
            refused = await page.evaluate("fetch('/api/session', {method: 'DELETE'}).then(r => r.status)")
            assert refused == 403

            # A websocket opened by the page rides on the cookie (and the page's Origin), and
            # closes within 5 s once the person's sessions are revoked.
            await page.evaluate("""() => new Promise((resolve, reject) => {
                const ws = new WebSocket(`ws://${location.host}/ws/live`);
                window.liveSocket = {events: []};
                ws.onmessage = (e) => window.liveSocket.events.push(JSON.parse(e.data).type);
                ws.onclose = (e) => { window.liveSocket.closed = {code: e.code, at: performance.now()}; };
                ws.onopen = () => resolve();
                ws.onerror = () => reject(new Error('websocket refused'));
            })""")
            await wait_for(page, "window.liveSocket.events.includes('desk.ready')", timeout=WAIT_MS)
            revoked_at = await page.evaluate("performance.now()")
            assert await store.revoke_user_sessions("li", "administrator") == 1
            await wait_for(page, "window.liveSocket.closed !== undefined", timeout=WAIT_MS)
            closed: Any = await page.evaluate("window.liveSocket.closed")
            assert closed["code"] == 4401 and closed["at"] - revoked_at < 5000, closed

            # Signed in again, then out with the keyboard: the session is gone.
            await page.reload()
            await wait_for(page, "document.activeElement.id === 'username'", timeout=WAIT_MS)
            await page.keyboard.type("li")
            await page.keyboard.press("Tab")
            await page.keyboard.type(PASSWORD)
            await page.keyboard.press("Enter")
            await page.wait_for_selector("#signed-in:not(.hidden)", timeout=WAIT_MS)
            await page.focus("#sign-out")
            await page.keyboard.press("Enter")
            await page.wait_for_selector("#form:not(.hidden)", timeout=WAIT_MS)
            assert await page.evaluate("fetch('/api/session').then(r => r.status)") == 401
            assert await page.text_content("#error") == ""
            assert problems == []
        finally:
            await browser.close()
