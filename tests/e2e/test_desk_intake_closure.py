"""不予受理 at the desk, in a real browser (北京条例第十一条第四至六项, 唐山 不予受理).

A call with no request in it (a silent line, a harassing caller) still becomes a draft; the
agent closes it at intake with one of the regulation's cases instead of leaving it to sit in
the totals. Real Asterisk, Redis, SQLite, the whole backend as `hotline run` builds it (without
a speech model: this is about the form), Debian's Chromium with a fake microphone; the agent
signs in on the sign-in page and uses the keyboard (Alt+X). The workflow's own refusal (a
harassing call closed without the education recorded) reaches the agent in Chinese, and the
closed ticket is left out of the month's intake total.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from devtools.sandbox import AsteriskSandbox, free_tcp_port
from devtools.sipp_scenarios import caller_audio_wav
from hotline.composition import build_app, preflight
from hotline.settings import load_settings
from kernel.database import create_engine
from kernel.schema import tickets
from tests.asterisk_harness import bridge_env
from tests.browser_harness import chromium_executable, webrtc_flags
from tests.e2e.test_desk_call import Desk
from tests.page_sign_in import add_person, sign_in

pytestmark = pytest.mark.asterisk

CALLER = "13912340001"
MESSAGES = "document.getElementById('messages').textContent"


@pytest.fixture
async def served(asterisk: AsteriskSandbox, sqlite_url: str, redis_key_prefix: str,
                 redis_client) -> AsyncIterator[tuple[str, TestServer]]:
    env = bridge_env(asterisk, sqlite_url, redis_key_prefix, free_tcp_port())
    env.update({"HOTLINE_CALL_FLOW_GREETING": "sound:beep", "HOTLINE_SUPERVISION_ENABLED": "false"})
    settings = load_settings(environ=env)
    await preflight(settings)
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        yield settings.database.url, server
    finally:
        await server.close()


def microphone(directory: Path) -> Path:
    """Chromium's fake microphone wants a WAV; the agent says nothing this time."""
    import wave

    path = directory / "silence-48k.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48000)
        wav.writeframes(b"\0\0" * 48000)
    return path


async def test_a_harassing_call_is_closed_at_intake_from_the_desk_with_the_education_recorded(
    served: tuple[str, TestServer], asterisk: AsteriskSandbox, tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    database_url, server = served
    engine = create_engine(database_url)
    await add_person(engine, "a8", "agent", display_name="王芳")
    wav = asterisk.write_sipp_file("closure-caller.wav", caller_audio_wav(seconds=2.0))

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_executable(),
                                                   args=webrtc_flags(microphone(tmp_path)))
        try:
            page = await browser.new_page()
            console: list[str] = []
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            desk = Desk(page, console)
            base = f"http://127.0.0.1:{server.port}"
            await sign_in(page, base, "/", "a8")
            await desk.available()

            # A caller insults the agent and hangs up: the call ends with a draft ticket.
            sipp = desk.call_in(asterisk, wav, CALLER, hold_ms=3_000)
            await desk.answer()
            code, out = await sipp
            assert code == 0, out[-1500:]
            await desk.wait_for("the call's ticket", "document.getElementById('ticket-no').textContent.length > 0")
            ticket_no = (await desk.text("ticket-no")).strip("（）")
            await desk.wait_for("the closure offered", "!document.getElementById('submit-close').disabled")

            # Alt+X opens the cases with the focus on them; the keyboard picks 恶意骚扰.
            await page.keyboard.press("Alt+x")
            assert await page.evaluate("document.activeElement.id") == "f-closure"
            await page.select_option("#f-closure", "unlawful_or_harassing")
            assert "劝导教育" in await desk.text("f-closure-label")
            # Without what the caller was told, the workflow refuses, in Chinese, and nothing closes.
            await page.click("#submit-close")
            await desk.wait_for("the refusal", f"{MESSAGES}.includes('不予受理失败')")
            messages = await desk.text("messages")
            assert "reason" not in messages and "required" not in messages, messages
            assert await page.evaluate("document.activeElement.id") == "f-closure-note"
            await page.keyboard.type("已对来电人进行劝导教育，告知文明通话")
            await page.click("#submit-close")
            await desk.wait_for("the closure", f"{MESSAGES}.includes('已不予受理办结')")
            assert await page.evaluate("['submit-answer', 'submit-dispatch', 'submit-draft', 'submit-close']"
                                       ".every((id) => document.getElementById(id).disabled)")
            if shots := os.environ.get("HOTLINE_TEST_SCREENSHOTS"):
                await page.set_viewport_size({"width": 1400, "height": 900})
                await page.screenshot(path=str(Path(shots) / "desk-intake-closure.png"))
            # The ticket is saved: wrap-up may finish without the "unsaved ticket" warning.
            await page.click("#wrap-done")
            await desk.wait_for("available again", "document.getElementById('agent-status').textContent === '就绪'")
            assert console == [], console
        finally:
            await browser.close()

    async with engine.connect() as conn:
        row: Any = (await conn.execute(select(tickets).where(tickets.c.ticket_no == ticket_no))).one()
    await engine.dispose()
    assert (row.status, row.closure_reason) == ("closed", "unlawful_or_harassing")
