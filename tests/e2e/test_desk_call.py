"""A citizen's call answered by a person, end to end, in a real browser.

The whole backend as `hotline run` builds it (in this process), real Asterisk, Redis, SQLite
and a real Vosk model; Debian's Chromium, headless, runs the desk page with a fake microphone
playing the agent's speech. An agent signs in on the sign-in page (the desk sends them there
and takes them back; no token in any address the page uses) and goes available; a SIPp caller dials 12345;
the call is offered; the agent answers in the page; audio flows both ways; the transcript
appears; the agent submits the ticket; the database holds it with its recording and
transcript. Text from callers and tickets is shown as text, never run as HTML.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from devtools.sandbox import AsteriskSandbox, free_tcp_port
from devtools.sipp_scenarios import speech_call_scenario
from hotline.composition import build_app, preflight
from hotline.settings import Settings, load_settings
from kernel.database import create_engine
from kernel.event_bus import RedisEventBus
from kernel.roles import Actor, Role
from kernel.schema import calls, tickets, transcript_segments
from tests.asr_fixtures import AsrLanguage, render_speech
from tests.asterisk_harness import bridge_env
from tests.browser_harness import chromium_executable, wait_for, webrtc_flags
from tests.conftest import REDIS_URL
from tests.page_sign_in import AddressLog, add_person, sign_in
from tickets.model import Caller, Channel
from tickets.store import TicketStore
from tickets.workflow import Register

pytestmark = pytest.mark.asterisk

WAIT = 30.0
CALLER = "13912345678"
FINAL_CALLER_LINES = "document.querySelectorAll('#transcript li.caller:not(.partial)').length"
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


def agent_microphone(directory: Path, language: AsrLanguage) -> Path:
    """The agent's speech as a 48 kHz mono WAV (what Chromium's fake microphone wants)."""
    speech = render_speech(directory / "agent", language.sentences[1:2], rate=16000,
                           name="agent")
    target = directory / "agent-48k.wav"
    subprocess.run(["sox", str(speech), "-r", "48000", "-c", "1", "-b", "16", str(target)],
                   check=True, capture_output=True)
    return target


def caller_speech(directory: Path, language: AsrLanguage) -> bytes:
    speech = render_speech(directory / "caller", language.sentences[0:3:2],
                           rate=8000, name="caller")
    ulaw = directory / "caller-ulaw.wav"
    subprocess.run(["sox", str(speech), "-e", "mu-law", str(ulaw)], check=True, capture_output=True)
    return ulaw.read_bytes()


@pytest.fixture
async def backend(asterisk: AsteriskSandbox, sqlite_url: str, redis_key_prefix: str, redis_client,
                  asr_language: AsrLanguage) -> AsyncIterator[tuple[Settings, TestServer]]:
    async with served_backend(asterisk, sqlite_url, redis_key_prefix, asr_language) as served:
        yield served


@asynccontextmanager
async def served_backend(asterisk: AsteriskSandbox, sqlite_url: str, redis_key_prefix: str,
                         asr_language: AsrLanguage, **env_overrides: str) -> AsyncIterator[tuple[Settings, TestServer]]:
    """The whole backend as `hotline run` builds it, served on 127.0.0.1 (settings overridden by
    `env_overrides`, HOTLINE_* variables)."""
    env = bridge_env(asterisk, sqlite_url, redis_key_prefix, free_tcp_port())
    env.update({"HOTLINE_ASR_MODEL_PATH": str(asr_language.model_path),
                "HOTLINE_CALL_FLOW_GREETING": "sound:beep",
                "HOTLINE_SUPERVISION_ENABLED": "false",
                # This test is about the desk, not ASR capacity under load (bench/bench_asr.py):
                # on a machine busy with other work a stream may lag behind for a few seconds,
                # which must not send this call's words to post-call transcription.
                "HOTLINE_ASR_MAX_LAG_SECONDS": "20"})
    env.update(env_overrides)
    settings = load_settings(environ=env)
    await preflight(settings)
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        yield settings, server
    finally:
        await server.close()


class Desk:
    def __init__(self, page: Any, console: list[str]) -> None:
        self.page = page
        self.console = console

    async def wait_for(self, what: str, predicate: str, timeout: float = WAIT) -> None:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        try:
            await wait_for(self.page, predicate, timeout=timeout * 1000)
        except PlaywrightTimeout:
            messages = await self.page.evaluate("document.getElementById('messages').innerText")
            raise AssertionError(f"desk: no {what} within {timeout:.0f}s; messages: {messages!r}; "
                                 f"console: {self.console[-10:]}") from None

    async def text(self, element_id: str) -> str:
        return str(await self.page.evaluate(f"document.getElementById({element_id!r}).textContent"))

    async def stats(self) -> dict[str, dict[str, float]]:
        return dict(await self.page.evaluate("() => window.deskDebug.softphone.stats()"))

    async def available(self) -> None:
        """Signed in: the softphone registers, the agent goes available."""
        await self.wait_for("registration", "document.getElementById('phone-status').textContent === '已注册'")
        await self.page.click("#go-available")
        await self.wait_for("available", "document.getElementById('agent-status').textContent === '就绪'")

    def call_in(self, asterisk: AsteriskSandbox, wav: str, caller: str, hold_ms: int) -> asyncio.Task[Any]:
        """A citizen (SIPp) calls 12345 saying `wav` in a loop for `hold_ms`; the call's task."""
        scenario = asterisk.write_sipp_file(
            f"desk-{uuid.uuid4().hex[:6]}.xml", speech_call_scenario(wav, hold_ms=hold_ms, loops=-1))
        return asyncio.create_task(asterisk.run_sipp("-sf", scenario, "-s", "12345", "-m", "1",
                                                     "-set", "caller", caller))

    async def answer(self) -> None:
        """The offer comes; the agent answers in the page; the call is on."""
        await self.wait_for("the offer", "!document.getElementById('answer').disabled")
        await self.page.click("#answer")
        await self.wait_for("the call", "document.getElementById('call-state').textContent.startsWith('通话中')")


async def test_an_agent_answers_a_call_in_the_browser_and_submits_its_ticket(
    backend: tuple[Settings, TestServer], asterisk: AsteriskSandbox, asr_language: AsrLanguage,
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    settings, server = backend
    engine = create_engine(settings.database.url)
    # The caller has called before: an open ticket whose text a browser must not run.
    earlier, _ = await TicketStore(engine, "T01").register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number=CALLER),
        summary=f"旧诉求 {HOSTILE}", content="小区路灯不亮"), Actor("a0", Role.AGENT))
    await add_person(engine, "a7", "agent", display_name="张丽")
    wav = asterisk.write_sipp_file("desk-caller.wav", caller_speech(tmp_path, asr_language))

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(),
            args=webrtc_flags(agent_microphone(tmp_path, asr_language)))
        try:
            page = await browser.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            desk = Desk(page, console)
            addresses = AddressLog().watch(page)
            base = f"http://127.0.0.1:{server.port}"

            # 1. Signed in on the sign-in page, back at the desk: the softphone registers; the
            #    agent goes available.
            await sign_in(page, base, "/", "a7")
            await desk.wait_for("registration", "document.getElementById('phone-status').textContent === '已注册'")
            assert await desk.text("session-who") == "张丽 · 话务员"
            if shots := os.environ.get("HOTLINE_TEST_SCREENSHOTS"):  # for people checking the page
                await page.set_viewport_size({"width": 1400, "height": 900})
                await page.screenshot(path=str(Path(shots) / "desk-signed-in.png"))
            await page.click("#go-available")
            await desk.wait_for("available", "document.getElementById('agent-status').textContent === '就绪'")

            # 2. A citizen calls 12345 and is offered to this agent, who answers in the page.
            scenario = asterisk.write_sipp_file(
                f"desk-{uuid.uuid4().hex[:6]}.xml", speech_call_scenario(wav, hold_ms=16_000, loops=-1))
            sipp = asyncio.create_task(asterisk.run_sipp("-sf", scenario, "-s", "12345", "-m", "1",
                                                         "-set", "caller", CALLER))
            await desk.wait_for("the offer", "!document.getElementById('answer').disabled")
            assert CALLER in await desk.text("incoming-caller")
            await desk.wait_for("the caller's history", "document.getElementById('history').children.length > 0")
            history = await desk.text("history")  # the earlier ticket's status in Chinese
            assert "受理中" in history and "draft" not in history
            # F2 answers from anywhere, even while the agent types in the form.
            await page.focus("#f-summary")
            await page.keyboard.press("F2")
            await desk.wait_for("the call", "document.getElementById('call-state').textContent.startsWith('通话中')")
            # The call has its own clock; muted is shown, with its time, until it ends.
            await desk.wait_for("the call timer",
                                "document.getElementById('call-timer').textContent.startsWith('通话时长')")
            await page.keyboard.press("Alt+m")
            await desk.wait_for("the muted state",
                                "document.getElementById('line-state').textContent.startsWith('静音中')")
            await page.keyboard.press("Alt+m")
            await desk.wait_for("unmuted", "document.getElementById('line-state').textContent === ''")
            # The header shows how many wait: the caller queued, then was offered here (0 left).
            await desk.wait_for("the queue length", "document.getElementById('queue-length').textContent === '0 人'")

            # 3. Audio flows both ways: the caller's arrives in the browser and the agent's
            #    microphone is sent (WebRTC statistics of the page; both grow at 50 packets/s,
            #    so they are awaited together rather than one read after the other).
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT
            while True:
                stats = await desk.stats()
                if (stats["inbound"]["packetsReceived"] > 100 and stats["inbound"]["audioLevel"] > 0.01
                        and stats["outbound"]["packetsSent"] > 100):
                    break
                assert loop.time() < deadline, f"audio not flowing both ways in the page: {stats}"
                await asyncio.sleep(0.2)

            # 4. The live transcript appears; hostile text is shown as text. The desk says the
            #    call is transcribed live (`asr.mode`; the caller's was published before the offer).
            await desk.wait_for("the caller's words", FINAL_CALLER_LINES + " > 0", timeout=40)
            await desk.wait_for("the live badge", "document.getElementById('asr-mode').textContent === '实时转写'")
            call_id = str(await page.evaluate("window.deskDebug.call.call_id"))
            publisher = aioredis.from_url(REDIS_URL)
            bus = RedisEventBus(publisher, settings.redis.key_prefix)
            await bus.publish("asr", {
                "type": "asr.final", "call_id": call_id, "speaker": "caller", "text": HOSTILE,
                "start": 99.0, "end": 100.0})
            # A line that names a matter of the dispatch catalogue (water: utility-water).
            await bus.publish("asr", {
                "type": "asr.final", "call_id": call_id, "speaker": "caller", "text": "我们小区停水了",
                "start": 101.0, "end": 102.0})
            # Under overload the desk says which speaker went post-call, and why.
            await bus.publish("asr", {"type": "asr.mode", "call_id": call_id, "speaker": "agent",
                                      "mode": "post_call", "reason": "capacity", "at": 3.0})
            await desk.wait_for("the post-call badge", "document.getElementById('asr-mode').textContent"
                                " === '通话后转写（坐席：转写容量已满）'")
            await publisher.aclose()
            await desk.wait_for("the hostile line", "document.getElementById('transcript')"
                                f".textContent.includes({json.dumps(HOSTILE)})")
            assert await page.evaluate("window.pwned") is None
            assert await page.evaluate(
                "document.querySelectorAll('#transcript img, #transcript script, #history img, "
                "#history script').length") == 0
            assert HOSTILE in await desk.text("history")
            # The ticket form is pre-filled from the caller's words (POST /api/asr/draft).
            await desk.wait_for("the pre-filled form", "document.getElementById('f-content').value.length > 0")
            # The three-way list starts at the unit suggested for the call (and says so).
            await desk.wait_for("the three-way list led by the suggested unit", """(() => {
                const suggested = document.getElementById('f-unit').options;
                const lines = document.getElementById('tw-unit').options;
                return suggested.length > 0 && suggested[0].value === 'utility-water'
                    && lines.length > suggested.length && lines[0].value === 'utility-water'
                    && lines[0].textContent.endsWith('（建议）');
            })()""")
            # No unit is rung before the caller agreed (临沂条例第十四条): the desk asks for it.
            await page.click("#tw-call")
            await desk.wait_for("the consent reminder", "document.getElementById('messages')"
                                ".textContent.includes('请先询问来电人是否同意三方连线')")
            assert await page.evaluate("document.activeElement.id") == "tw-consent"
            assert await desk.text("tw-status") == ""
            if shots := os.environ.get("HOTLINE_TEST_SCREENSHOTS"):  # for people checking the page
                await page.set_viewport_size({"width": 1400, "height": 900})
                await page.screenshot(path=str(Path(shots) / "desk-during-call.png"), full_page=True)

            # 5. The caller hangs up; the ticket is completed and submitted from the form.
            code, out = await asyncio.wait_for(sipp, 60)
            assert code == 0, out[-800:]
            await desk.wait_for("the ticket number", "document.getElementById('ticket-no').textContent.includes('-')")
            ticket_no = (await desk.text("ticket-no")).strip("（）")
            # An agent may not dispatch (the server's `actions`): the desk offers 提交派单 instead.
            await desk.wait_for("the agent's actions",
                                "document.getElementById('submit-dispatch').textContent === '提交派单'")
            # Wrap-up cannot end while the call's ticket is unsaved: the desk says so in Chinese.
            await desk.wait_for("wrap-up", "!document.getElementById('wrap-done').disabled")
            await page.click("#wrap-done")
            await desk.wait_for("the unsaved ticket's warning", "document.getElementById('messages')"
                                f".textContent.includes('{ticket_no} 尚未保存')")
            assert await desk.text("agent-status") == "话后处理"
            if shots := os.environ.get("HOTLINE_TEST_SCREENSHOTS"):  # the form after the call, for people
                await page.screenshot(path=str(Path(shots) / "desk-after-call.png"), full_page=True)
            await page.select_option("#f-type", "complaint")
            await page.fill("#f-summary", "来电反映问题，已答复")
            await page.fill("#f-answer", "您反映的问题已记录，相关部门将按规定处理。")
            await page.click("#submit-answer")
            await desk.wait_for("the submission", "document.getElementById('messages')"
                                f".textContent.includes('{ticket_no} 已直接答复办结')")
            # A closed ticket's buttons are off: nothing can be sent twice.
            assert await page.evaluate("['submit-answer', 'submit-dispatch', 'submit-draft']"
                                       ".every((id) => document.getElementById(id).disabled)")

            # 6. Wrap-up ends; the agent is available again, the form is empty for the next call.
            await page.click("#wrap-done")
            await desk.wait_for("available again", "document.getElementById('agent-status').textContent === '就绪'")
            assert await page.evaluate("document.getElementById('f-summary').value") == ""
            assert await desk.text("ticket-no") == ""

            # 7. No address the page used held a token: the desk's websocket and every request
            #    rode on the session cookie.
            assert f"ws://127.0.0.1:{server.port}/ws/desk" in addresses.addresses
            assert addresses.with_tokens() == [], addresses.with_tokens()
        finally:
            await browser.close()

    # 8. The database holds the ticket, the call with its agent and recording, and the
    #    transcript of both speakers (the agent's microphone, on the agent's stream).
    async with engine.connect() as conn:
        ticket = (await conn.execute(select(tickets).where(tickets.c.ticket_no == ticket_no))).one()
        call = (await conn.execute(select(calls).where(calls.c.id == call_id))).one()
        for _ in range(100):  # the complete transcript may land just after the call record
            speakers = set((await conn.execute(select(transcript_segments.c.speaker).where(
                transcript_segments.c.call_id == call_id))).scalars())
            if speakers == {"caller", "agent"}:
                break
            await asyncio.sleep(0.2)
    await engine.dispose()
    assert ticket.status == "closed" and ticket.ticket_type == "complaint"
    assert ticket.call_id == call_id and earlier.ticket_no != ticket_no
    assert call.agent_id == "a7"
    assert call.recording_path and Path(call.recording_path).is_file()
    assert call.recording_seconds is not None and call.recording_seconds > 10
    assert speakers == {"caller", "agent"}, "the agent's words were not transcribed on their stream"
