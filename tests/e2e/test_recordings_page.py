"""The supervisor's recordings page in a real browser: search, play, the transcript follows.

Debian's Chromium, headless, plays a real WAV recording (streamed with HTTP Range from the
recordings API) in the page; the transcript line under the playhead is highlighted, a click on
a line jumps the playback there, and text from the database is shown as text, never as HTML.
The supervisor signs in on the sign-in page; the <audio> plays with the session cookie, so no
address the page used holds a token. The reads the browser made are in the access audit.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
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
from kernel.audit import AccessAudit, AccessKind, AuditQuery
from kernel.database import open_database
from kernel.http_edge import new_app
from kernel.roles import Actor, Role
from kernel.sessions import SessionLimits
from recordings.plugin import RecordingsDeps, install
from recordings.store import CallStore
from tests.auth_tokens import with_test_signer
from tests.browser_harness import HEADLESS_FLAGS, chromium_executable, wait_for
from tests.data_keys import TEST_KEYS
from tests.page_sign_in import CHEAP, AddressLog, add_person, sign_in
from tests.recording_files import insert_call, write_wav
from tickets.model import Caller, Channel
from tickets.store import TicketStore
from tickets.workflow import Register

WAIT = 20.0
HOSTILE = '<img src=x onerror="window.pwned=1">'
LINES = (("caller", 0.0, 2.0, "第一句：小区路灯不亮"), ("agent", 2.0, 4.0, f"第二句：好的 {HOSTILE}"),
         ("caller", 4.0, 8.0, "第三句：谢谢"))
CURRENT = "(document.querySelector('#transcript li.current .words')?.textContent ?? '')"


@pytest.fixture
async def page_server(sqlite_url: str, tmp_path: Path, redis_client: aioredis.Redis,
                      redis_key_prefix: str) -> AsyncIterator[tuple[TestServer, AsyncEngine, str]]:
    engine = await open_database(sqlite_url)
    wav = write_wav(tmp_path / "recordings" / "call.wav", 8.0)
    call_id = await insert_call(engine, caller="13812345678", started_at=datetime(2026, 11, 30, 2, 0, tzinfo=UTC),
                                seconds=8.0, agent_id="a7", recording=wav, lines=LINES)
    await add_person(engine, "sup1", "supervisor")
    audit = AccessAudit(engine)
    app = with_test_signer(new_app())
    accounts_plugin.install(app, accounts_plugin.AccountsDeps(
        AccountStore(engine), CHEAP,
        SignInThrottle(redis_client, redis_key_prefix, ThrottleLimits(5, 50, timedelta(minutes=15))),
        SessionLimits(idle=timedelta(minutes=30), absolute=timedelta(hours=12)), audit=audit))
    install(app, RecordingsDeps(CallStore(engine), audit, TEST_KEYS))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server, engine, call_id
    finally:
        await server.close()
        await engine.dispose()


async def test_the_transcript_line_under_the_playhead_is_highlighted(
    page_server: tuple[TestServer, AsyncEngine, str], tmp_path: Path,
) -> None:
    from playwright.async_api import TimeoutError as PlaywrightTimeout
    from playwright.async_api import async_playwright

    server, engine, call_id = page_server
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(),
            args=[*HEADLESS_FLAGS, "--autoplay-policy=no-user-gesture-required"])
        try:
            page = await browser.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

            async def shown(what: str, predicate: str) -> None:
                try:
                    await wait_for(page, predicate, timeout=WAIT * 1000)
                except PlaywrightTimeout:
                    state: Any = await page.evaluate(
                        "({messages: document.getElementById('messages').innerText,"
                        " time: document.getElementById('player').currentTime,"
                        " current: document.querySelector('#transcript li.current')?.textContent})")
                    raise AssertionError(f"page: no {what} within {WAIT:.0f}s; {state}; {console[-10:]}") from None

            addresses = AddressLog().watch(page)
            await sign_in(page, f"http://127.0.0.1:{server.port}", "/recordings", "sup1")
            await shown("call list", f"document.querySelector('tr[data-call-id=\"{call_id}\"]') !== null")
            assert "13812345678" in await page.inner_text(f"tr[data-call-id='{call_id}']")
            # The end-reason filter offers what the stored calls ended with, in Chinese, and finds them.
            await shown("the end reasons", "document.querySelectorAll('#q-end-reason option').length > 2")
            offered = await page.eval_on_selector_all("#q-end-reason option", "os => os.map(o => o.textContent)")
            assert offered == ["全部", "放弃（排队中挂机）", "来电人挂机"]
            await page.select_option("#q-end-reason", label="来电人挂机")
            await page.press("#q-caller", "Enter")
            await shown("the call found by its end reason", "document.querySelectorAll('#calls tr').length === 1")
            await page.click(f"tr[data-call-id='{call_id}'] button.play")

            # Playback starts at 0 s: the first line is the one under the playhead.
            await shown("playback", "document.getElementById('player').currentTime > 0.3")
            await shown("the first line highlighted", f"{CURRENT}.startsWith('第一句')")
            assert await page.evaluate("document.querySelectorAll('#transcript li.current').length") == 1

            # Playing on, the highlight follows to the second line (which holds hostile text).
            await shown("the second line highlighted", f"{CURRENT}.startsWith('第二句')")
            assert HOSTILE in await page.evaluate(CURRENT)
            assert await page.evaluate("window.pwned") is None
            assert await page.evaluate("document.querySelectorAll('#transcript img').length") == 0

            # A click on the third line jumps there.
            await page.click("#transcript li:nth-child(3)")
            await shown("the jump", "document.getElementById('player').currentTime >= 4.0")
            await shown("the third line highlighted", f"{CURRENT}.startsWith('第三句')")
            time_now = await page.evaluate("document.getElementById('player').currentTime")
            assert 4.0 <= time_now < 8.0
            if shots := os.environ.get("HOTLINE_TEST_SCREENSHOTS"):  # for people checking the page
                await page.set_viewport_size({"width": 1400, "height": 700})
                await page.screenshot(path=str(Path(shots) / "recordings-page.png"), full_page=True)

            # The recording played through the session cookie: its address is the bare API path.
            recording = f"http://127.0.0.1:{server.port}/api/calls/{call_id}/recording"
            assert await page.evaluate("document.getElementById('player').src") == recording
            assert recording in addresses.addresses
            assert addresses.with_tokens() == [], addresses.with_tokens()
        finally:
            await browser.close()

    audit = AccessAudit(engine)
    transcript_reads = await audit.search(AuditQuery(kind=AccessKind.TRANSCRIPT, call_id=call_id))
    recording_reads = await audit.search(AuditQuery(kind=AccessKind.RECORDING, call_id=call_id))
    assert [(r.actor, r.allowed) for r in transcript_reads] == [("sup1", True)]
    assert recording_reads and all(r.actor == "sup1" and r.allowed for r in recording_reads)
    assert any(r.detail.startswith("bytes=") for r in recording_reads), "the browser streamed with Range"


async def test_a_supervisor_reveals_a_confidential_callers_number_and_the_reveal_is_audited(
    page_server: tuple[TestServer, AsyncEngine, str],
) -> None:
    """Listed masked, shown in full only by the supervisor's explicit reveal (kernel.access_policy)."""
    from playwright.async_api import async_playwright

    server, engine, _ = page_server
    secret_call = await insert_call(engine, caller="13900001111", started_at=datetime(2026, 11, 30, 3, 0, tzinfo=UTC),
                                    seconds=2.0, agent_id="a7", recording=None)
    await TicketStore(engine, "N01").register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number="13900001111", confidential=True),
        summary="举报"), Actor("a7", Role.AGENT), call_id=secret_call)
    row = f"tr[data-call-id='{secret_call}']"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_executable(), args=HEADLESS_FLAGS)
        try:
            page = await browser.new_page()
            await sign_in(page, f"http://127.0.0.1:{server.port}", "/recordings", "sup1")
            await page.wait_for_selector(f"{row} button.reveal", timeout=WAIT * 1000)
            listed = await page.inner_text(row)
            assert "139****1111" in listed and "13900001111" not in listed
            await page.click(f"{row} button.reveal")
            await wait_for(page,
                f"document.querySelector(\"{row}\").innerText.includes('13900001111')", timeout=WAIT * 1000)
            assert "已记入审计" in await page.inner_text("#messages")
        finally:
            await browser.close()
    reveals = await AccessAudit(engine).search(AuditQuery(kind=AccessKind.CONFIDENTIAL_IDENTITY))
    assert [(r.actor, r.call_id, r.caller_number) for r in reveals] == [("sup1", secret_call, "139****1111")]
