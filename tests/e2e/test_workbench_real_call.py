"""The issue's acceptance walk, from a real call: a citizen calls 12345 (SIPp, real Asterisk),
an agent answers in the desk page (Chromium with a fake microphone, WebRTC), the call is
transcribed live (Vosk), the agent completes the ticket and saves it for dispatch; then, in the
workbench pages, the dispatcher reads the call's transcript beside it and dispatches it with one
key, the unit's open inbox is told at once and signs it and gives feedback with evidence, the
callback agent records 满意, and the ticket is closed. No step calls the API, no address holds
a token. The backend is the one `hotline run` builds (tests/e2e/test_desk_call.py's fixture).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.sandbox import AsteriskSandbox
from hotline.settings import Settings
from kernel.database import create_engine
from kernel.schema import tickets, transcript_segments
from tests.asr_fixtures import AsrLanguage
from tests.browser_harness import chromium_executable, webrtc_flags
from tests.e2e.test_desk_call import FINAL_CALLER_LINES, Desk, agent_microphone, backend, caller_speech  # noqa: F401
from tests.page_sign_in import AddressLog, add_person, sign_in
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

pytestmark = pytest.mark.asterisk

CALLER = "13912345678"
SUMMARY = "小区电梯停运三天物业不修"
RESULT = "已督促物业修复电梯，12月9日恢复运行，已告知来电人。"


async def transcript_stored(engine: AsyncEngine, no: str) -> None:
    """Wait until the call behind ticket `no` has its caller's transcript in the database."""
    for _ in range(150):
        async with engine.connect() as conn:
            found = await conn.scalar(
                select(func.count()).select_from(transcript_segments)
                .join(tickets, tickets.c.call_id == transcript_segments.c.call_id)
                .where(tickets.c.ticket_no == no, transcript_segments.c.speaker == "caller"))
        if found:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"no caller transcript stored for {no}")


async def test_a_real_call_becomes_a_ticket_that_walks_through_every_workbench_and_closes(
    backend: tuple[Settings, TestServer], asterisk: AsteriskSandbox, asr_language: AsrLanguage, tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    settings, server = backend
    base = f"http://127.0.0.1:{server.port}"
    engine = create_engine(settings.database.url)
    for username, role, unit in (("a7", "agent", None), ("pai", "dispatcher", None),
                                 ("zhang", "unit", "city-housing"), ("hui", "callback_agent", None)):
        await add_person(engine, username, role, unit)
    wav = asterisk.write_sipp_file("walk-caller.wav", caller_speech(tmp_path, asr_language))
    problems: list[str] = []
    addresses = AddressLog()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_executable(),
                                                   args=webrtc_flags(agent_microphone(tmp_path, asr_language)))
        pages: list[Any] = []

        async def page_for() -> Any:
            context = await browser.new_context(viewport={"width": 1400, "height": 800}, locale="zh-CN")
            page = await context.new_page()
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            addresses.watch(page)
            pages.append(page)
            return page

        try:
            # The unit's inbox is open all along: the dispatch must be pushed to it.
            unit = await page_for()
            await open_unit_inbox(unit, base, "zhang")

            # 1. The agent answers the call at the desk and saves the ticket for dispatch.
            page = await page_for()
            desk = Desk(page, problems)
            await sign_in(page, base, "/", "a7")
            await desk.available()
            sipp = desk.call_in(asterisk, wav, CALLER, hold_ms=12_000)
            await desk.answer()
            await desk.wait_for("the caller's words", FINAL_CALLER_LINES + " > 0", timeout=40)
            code, out = await asyncio.wait_for(sipp, 60)
            assert code == 0, out[-800:]
            await desk.wait_for("the ticket number", "document.getElementById('ticket-no').textContent.includes('-')")
            no = (await desk.text("ticket-no")).strip("（）")
            await page.select_option("#f-type", "complaint")
            await page.fill("#f-summary", SUMMARY)
            await page.fill("#f-content", "来电人反映小区电梯停运三天，物业一直不修。")
            await page.click("#submit-draft")
            await desk.wait_for("the saved ticket",
                                f"document.getElementById('messages').textContent.includes('{no} 已保存')")
            await desk.wait_for("wrap-up", "!document.getElementById('wrap-done').disabled")
            await page.click("#wrap-done")

            # 2. The dispatcher reads the call's words beside the ticket (stored when the call
            #    ended) and dispatches it with D.
            await transcript_stored(engine, no)
            dispatcher = await page_for()
            await open_from_the_dispatch_queue(dispatcher, base, "pai", no)
            await dispatcher.wait_for_selector("#transcript li.caller", timeout=30_000)
            lead = await dispatcher.eval_on_selector("#units input[name=lead]:checked", "e => e.value")
            assert lead == "city-housing"
            await shot(dispatcher, "walk-real-call-dispatcher")
            await dispatch_with_one_key(dispatcher)

            # 3. The unit, told at once, signs and gives feedback with evidence.
            await open_pushed_ticket(unit, no)
            await sign_ticket(unit)
            evidence = tmp_path / "现场照片说明.txt"
            evidence.write_text("电梯已恢复运行，维保单位签字确认。", encoding="utf-8")
            await give_feedback(unit, RESULT, evidence, "walk-real-call-unit")

            # 4. The callback agent records 满意: the ticket is closed.
            callbacks = await page_for()
            await open_due_callback(callbacks, base, "hui", no, RESULT)
            await record_satisfied(callbacks, "walk-real-call-callbacks")
        finally:
            await browser.close()

    async with engine.connect() as conn:
        row = (await conn.execute(select(tickets.c.status, tickets.c.call_id, tickets.c.satisfaction)
                                  .where(tickets.c.ticket_no == no))).one()
    await engine.dispose()
    assert (row.status, row.satisfaction) == ("closed", "satisfied") and row.call_id
    assert addresses.with_tokens() == []
    assert problems == []
