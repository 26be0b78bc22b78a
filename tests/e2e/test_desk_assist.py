"""The live assist panel (通话辅助) filling from a Mandarin caller's speech, in a real browser.

The whole backend as `hotline run` builds it, real Asterisk, Redis, SQLite with the seed
knowledge base, and the real Mandarin Vosk model; Debian's Chromium, headless, runs the desk.
A SIPp caller speaks (neural Mandarin voice, telephone band): a complaint about night-time
building noise, from the county seat of 蒙阴县. While they speak, the panel shows the suggested
units, the type, the district and street and the approved knowledge wording, each with the
caller's words marked; updates come from partial results too, a few a second at most. The
agent applies the suggestions with keys (Alt+A, Alt+J) and answers the caller with the approved
wording; the ticket keeps the type, district and street applied, and which article was read.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from asr.models import AsrSettings
from devtools.sandbox import AsteriskSandbox
from hotline.settings import Settings
from kernel.database import create_engine
from tests.asr_fixtures import AsrLanguage, render_speech
from tests.browser_harness import chromium_executable, webrtc_flags
from tests.e2e.test_desk_call import WAIT, Desk, agent_microphone, backend  # noqa: F401  (fixture)
from tests.page_sign_in import add_person, sign_in
from tickets.events import AnsweredDirectly
from tickets.model import TicketType
from tickets.store import TicketStore

pytestmark = pytest.mark.asterisk

CALLER = "13912345679"
#: What the caller says (the Mandarin model hears 以后我要投诉噪音扰民 / 晚上工地一直在施工 /
#: 家我家是蒙阴县城里的: the county and its seat come through, tests/integration/test_live_assist.py).
SAID = ("你好我要投诉噪音扰民", "晚上工地一直在施工", "我家是蒙阴县城里的")
UNIT = "city-urban-management"
#: The server's assist interval (`asr.assist_interval_seconds`): at most one update per call per it.
INTERVAL = AsrSettings().assist_interval_seconds


def caller_speech(directory: Path) -> bytes:
    speech = render_speech(directory / "caller", SAID, rate=8000, name="caller")
    ulaw = directory / "caller-ulaw.wav"
    subprocess.run(["sox", str(speech), "-e", "mu-law", str(ulaw)], check=True, capture_output=True)
    return ulaw.read_bytes()


def panel(element_id: str) -> str:
    return f"document.getElementById('{element_id}')"


async def test_the_assist_panel_fills_from_the_callers_speech_and_applies_with_one_key(
    backend: tuple[Settings, TestServer], asterisk: AsteriskSandbox, asr_language: AsrLanguage,
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    settings, server = backend
    people = create_engine(settings.database.url)
    await add_person(people, "a8", "agent")
    await people.dispose()
    wav = asterisk.write_sipp_file("assist-caller.wav", caller_speech(tmp_path))
    updates: list[tuple[float, dict[str, Any]]] = []  # assist.update frames the page received
    loop = asyncio.get_running_loop()

    def watch(ws: Any) -> None:
        if "/ws/desk" not in ws.url:
            return  # the softphone's SIP socket

        def frame(payload: str | bytes) -> None:
            message = json.loads(payload)
            if message.get("type") == "assist.update":
                updates.append((loop.time(), message))

        ws.on("framereceived", frame)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(),
            args=webrtc_flags(agent_microphone(tmp_path, asr_language)))
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.on("websocket", watch)
            desk = Desk(page, console)
            await sign_in(page, f"http://127.0.0.1:{server.port}", "/", "a8")
            await desk.available()

            # 1. The caller speaks from the moment the call is answered by the hotline; the
            #    agent answers in the page.
            sipp = desk.call_in(asterisk, wav, CALLER, hold_ms=30_000)
            await desk.answer()

            # 2. The panel fills from the caller's words, each suggestion with the words behind it.
            for what, element_id, words, timeout in (
                    ("the suggested unit", "assist-units", "夜间施工与噪声扰民", 60),
                    ("the type", "assist-type", "投诉", WAIT),
                    ("the district and street", "assist-place", "蒙阴县 / 蒙阴街道", 60),
                    ("the approved wording", "assist-answers", "噪音扰民投诉渠道", WAIT)):
                await desk.wait_for(what, f"{panel(element_id)}.textContent.includes('{words}')", timeout=timeout)
            marks = await page.evaluate("""() => Object.fromEntries(
                ['assist-units', 'assist-type', 'assist-place', 'assist-answers'].map((id) => [id,
                  [...document.querySelectorAll(`#${id} .assist-item:first-child mark`)]
                    .map((m) => m.textContent)]))""")
            assert "噪音扰民" in marks["assist-units"], marks
            assert any("投诉" in m for m in marks["assist-type"]), marks
            assert any("蒙阴县" in m for m in marks["assist-place"]), marks
            assert "噪音扰民" in marks["assist-answers"], marks
            assert "您好" in await desk.text("assist-answers")  # the wording the agent may read out

            # 3. Partial results shaped updates while the caller spoke, at the server's pace at
            #    most (an offer and an answer replay the last update: counted once, by seq).
            assert any(m["partial"] for _, m in updates), [m["partial"] for _, m in updates]
            first_seen = sorted({m["seq"]: t for t, m in reversed(updates)}.values())
            span = first_seen[-1] - first_seen[0]
            assert len(first_seen) <= span / INTERVAL + 2, [round(t - first_seen[0], 2) for t in first_seen]

            # 4. One key applies type, district (and street) and the first unit; another the wording.
            await page.keyboard.press("Alt+KeyA")
            form = await page.evaluate("""() => ({type: document.getElementById('f-type').value,
                district: document.getElementById('f-district').value,
                location: document.getElementById('f-location').value,
                unit: document.getElementById('f-unit').value})""")
            assert form["type"] == "complaint" and form["district"] == "蒙阴县", form
            assert form["unit"] == UNIT and "蒙阴街道" in form["location"], form
            # The three-way list starts at that unit: one click connects it.
            assert await page.input_value("#tw-unit") == UNIT
            assert await page.evaluate("document.getElementById('tw-unit').options[0].value") == UNIT
            await page.keyboard.press("Alt+KeyJ")
            assert (await page.input_value("#f-answer")).startswith("您好，噪音扰民")
            assert "噪音扰民投诉渠道" in await desk.text("kb-used")
            await desk.wait_for("the applied marks", "document.querySelectorAll('#assist-panel .applied').length >= 4")
            if shots := os.environ.get("HOTLINE_TEST_SCREENSHOTS"):  # for people checking the page
                await page.screenshot(path=str(Path(shots) / "desk-assist.png"), full_page=True)

            # 5. The caller hangs up; the agent answers with the approved wording and closes the
            #    ticket, classified as the assist suggested (agents classify; dispatchers dispatch).
            code, out = await asyncio.wait_for(sipp, 90)
            assert code == 0, out[-800:]
            await desk.wait_for("the ticket number", "document.getElementById('ticket-no').textContent.includes('-')")
            ticket_no = (await desk.text("ticket-no")).strip("（）")
            assert await page.input_value("#f-unit") == UNIT  # the agent's choices survive the draft
            assert await page.input_value("#f-district") == "蒙阴县"
            await page.click("#submit-answer")
            await desk.wait_for("the answer", f"{panel('messages')}.textContent.includes('{ticket_no} 已直接答复办结')")
            await desk.wait_for("wrap-up", "!document.getElementById('wrap-done').disabled")
            await page.click("#wrap-done")
            await desk.wait_for("the panel cleared", f"{panel('assist-units')}.textContent.includes('尚无建议')")
        finally:
            await browser.close()

    engine = create_engine(settings.database.url)
    ticket, events = await TicketStore(engine, "T01").get_with_events(ticket_no)
    await engine.dispose()
    assert ticket.ticket_type is TicketType.COMPLAINT and ticket.district == "蒙阴县"
    assert "蒙阴街道" in ticket.location
    (answered,) = [e for e in events if isinstance(e, AnsweredDirectly)]
    assert answered.knowledge_article_id and answered.knowledge_article_version
    assert answered.answer.startswith("您好，噪音扰民")
