"""A supervisor listens to a live call in their own browser softphone (ARI snoop), end to end.

The whole backend as `hotline run` builds it (in this process), real Asterisk, Redis and
SQLite; Debian's Chromium, headless, runs the supervisor page, signed in on the sign-in page
with the supervisor's account (the page uses its session cookie). A SIPp caller dials 12345 and
waits in the queue (no agent is at a desk), speaking all the while; the supervisor presses 监听
on the page; the backend rings the page's softphone and bridges it to a snoop of the caller's
channel; the caller's audio arrives in the page. The listening is in the access audit; an
agent who tries is refused, and audited too (the API calls of this test are a program's, with a
token in the Authorization header). Hanging up the softphone ends the monitor.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from devtools.sandbox import AsteriskSandbox, free_tcp_port
from devtools.sipp_scenarios import caller_audio_wav, speech_call_scenario
from hotline.composition import CALL_FLOW, build_app, preflight, token_signer
from hotline.settings import Settings, load_settings
from kernel.auth import Principal
from kernel.database import create_engine
from telephony.ari.rest import AriRest
from tests.asterisk_harness import bridge_env
from tests.browser_harness import chromium_executable, speech_wav, wait_for, webrtc_flags
from tests.page_sign_in import AddressLog, add_person, sign_in

pytestmark = pytest.mark.asterisk

WAIT = 30.0
CALLER = "13812348888"


@pytest.fixture
async def backend(asterisk: AsteriskSandbox, sqlite_url: str, redis_key_prefix: str,
                  redis_client) -> AsyncIterator[tuple[Settings, TestServer]]:
    env = bridge_env(asterisk, sqlite_url, redis_key_prefix, free_tcp_port())
    env.update({"HOTLINE_CALL_FLOW_GREETING": "sound:beep", "HOTLINE_SUPERVISION_ENABLED": "false",
                "HOTLINE_QUEUE_MAX_WAIT_SECONDS": "120"})
    settings = load_settings(environ=env)
    await preflight(settings)
    people = create_engine(settings.database.url)
    await add_person(people, "sup1", "supervisor", display_name="王班长")
    await add_person(people, "a7", "agent")
    await people.dispose()
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        yield settings, server
    finally:
        await server.close()


async def test_a_supervisor_listens_to_a_live_call_in_the_browser(
    backend: tuple[Settings, TestServer], asterisk: AsteriskSandbox, tmp_path: Path,
) -> None:
    from playwright.async_api import TimeoutError as PlaywrightTimeout
    from playwright.async_api import async_playwright

    settings, server = backend
    signer = token_signer(settings)
    supervisor = signer.issue(Principal(user="sup1", role="supervisor"), hours=1)
    agent = signer.issue(Principal(user="a7", role="agent"), hours=1)
    base = f"http://127.0.0.1:{server.port}"
    wav = asterisk.write_sipp_file("listen-caller.wav", caller_audio_wav())
    scenario = asterisk.write_sipp_file(f"listen-{uuid.uuid4().hex[:6]}.xml",
                                        speech_call_scenario(wav, hold_ms=25_000, loops=-1))

    async with async_playwright() as playwright, aiohttp.ClientSession() as http:
        async def api(method: str, path: str, token: str, **kwargs: Any) -> tuple[int, Any]:
            async with http.request(method, base + path, headers={"Authorization": f"Bearer {token}"},
                                    **kwargs) as response:
                return response.status, await response.json()

        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(), args=webrtc_flags(speech_wav(tmp_path / "supervisor.wav")))
        sipp = None
        try:
            context = await browser.new_context()  # a second tab of the session below
            page = await context.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

            async def shown(what: str, predicate: str) -> None:
                try:
                    await wait_for(page, predicate, timeout=WAIT * 1000)
                except PlaywrightTimeout:
                    messages = await page.evaluate("document.getElementById('messages').innerText")
                    raise AssertionError(f"page: no {what} within {WAIT:.0f}s; {messages!r}; {console[-10:]}") from None

            addresses = AddressLog().watch(page)
            await sign_in(page, base, "/supervisor", "sup1")
            await shown("registration", "document.getElementById('phone-status').textContent === '已注册'")
            # The supervisor opens the callback page in another tab of the same session, after the
            # supervisor page: its softphone registers too, as its own endpoint, so the listen
            # below still rings the supervisor page (one endpoint for both: the later
            # registration replaced the earlier, and the callback page refused the listen).
            callbacks = await context.new_page()
            callbacks.on("pageerror", lambda e: console.append(f"callback page: pageerror: {e}"))
            await callbacks.goto(base + "/callbacks")
            await wait_for(callbacks, "document.getElementById('phone-status').textContent === '话机已注册'",
                           timeout=WAIT * 1000)
            async with AriRest(settings.ari.url, settings.ari.username, settings.ari.password,
                               settings.ari.app) as rest:
                for endpoint in ("agent-sup1", "callback-sup1"):
                    found = await rest.request("GET", f"/endpoints/PJSIP/{endpoint}")
                    assert found["state"] == "online", found

            sipp = asyncio.create_task(asterisk.run_sipp("-sf", scenario, "-s", "12345", "-m", "1",
                                                         "-set", "caller", CALLER))
            await shown("the live call", "document.querySelector('#calls tr button.listen:not(:disabled)') !== null")
            assert CALLER in await page.inner_text("#calls")
            await shown("the pushed wallboard", "document.getElementById('wb-calls_waiting').textContent === '1'")
            call_id = str(await page.evaluate("window.supervisorDebug.calls[0].call_id"))

            # An agent may not listen: refused, and the attempt is audited.
            status, body = await api("POST", f"/api/live/calls/{call_id}/monitor", agent, json={"mode": "listen"})
            assert status == 403, body

            await page.click("#calls tr button.listen")
            await shown("the monitor", "document.getElementById('monitor-status').textContent === '监听中'")

            # The caller's audio arrives in the page (WebRTC statistics of the page's softphone).
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT
            while True:
                stats = await page.evaluate("() => window.supervisorDebug.softphone.stats()")
                if stats["inbound"]["packetsReceived"] > 100 and stats["inbound"]["audioLevel"] > 0.01:
                    break
                assert loop.time() < deadline, f"no call audio in the page: {stats}"
                await asyncio.sleep(0.2)

            if shots := os.environ.get("HOTLINE_TEST_SCREENSHOTS"):  # for people checking the page
                await page.set_viewport_size({"width": 1400, "height": 700})
                await page.screenshot(path=str(Path(shots) / "supervisor-listening.png"), full_page=True)
            status, live = await api("GET", "/api/live/calls", supervisor)
            assert status == 200
            monitors = live["calls"][0]["monitors"]
            assert [(m["supervisor"], m["mode"], m["answered"]) for m in monitors] == [("sup1", "listen", True)]
            status, audit = await api("GET", "/api/audit", supervisor, params={"kind": "live_call", "call_id": call_id})
            assert [(r["actor"], r["allowed"], r["detail"].split(";")[0]) for r in reversed(audit["records"])] == [
                ("a7", False, "listen"), ("sup1", True, "listen")]

            # The supervisor hangs up: the monitor (snoop, bridge) is gone; the call goes on.
            await page.click("#hangup")
            await shown("the end of the monitor", "document.getElementById('monitor-status').textContent === '空闲'")
            flow = server.app[CALL_FLOW]
            deadline = loop.time() + WAIT
            while flow.monitor is not None and flow.monitor.monitors:
                assert loop.time() < deadline, "the monitor was not released"
                await asyncio.sleep(0.1)
            assert not sipp.done(), "the caller's call ended with the supervisor's"
            code, out = await asyncio.wait_for(sipp, 60)
            assert code == 0, out[-800:]
            # The page's wallboard socket, its API calls and its softphone's provisioning rode
            # on the session cookie: no address held a token.
            assert f"ws://127.0.0.1:{server.port}/ws/wallboard" in addresses.addresses
            assert addresses.with_tokens() == [], addresses.with_tokens()
            assert await callbacks.evaluate("document.getElementById('phone-status').textContent") == "话机已注册"
            assert not [line for line in console if "pageerror" in line], console
        finally:
            if sipp is not None and not sipp.done():
                sipp.cancel()
            await browser.close()


async def test_a_supervisor_whispers_to_an_agent_then_barges_in_and_only_the_barge_is_shown(
    backend: tuple[Settings, TestServer], asterisk: AsteriskSandbox, tmp_path: Path,
) -> None:
    """An agent answers in the desk page; the supervisor whispers (the agent's desk shows
    nothing), hangs up, then barges in (the agent's desk says a supervisor joined). Both times
    the call's audio reaches the supervisor's page."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout
    from playwright.async_api import async_playwright

    _, server = backend
    base = f"http://127.0.0.1:{server.port}"
    wav = asterisk.write_sipp_file("barge-caller.wav", caller_audio_wav())
    scenario = asterisk.write_sipp_file(f"barge-{uuid.uuid4().hex[:6]}.xml",
                                        speech_call_scenario(wav, hold_ms=40_000, loops=-1))

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(), args=webrtc_flags(speech_wav(tmp_path / "mic.wav")))
        sipp = None
        try:
            console: list[str] = []
            desk, board = await browser.new_page(), await browser.new_page()
            for page in (desk, board):
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
                page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

            async def shown_on(page: Any, what: str, predicate: str) -> None:
                try:
                    await wait_for(page, predicate, timeout=WAIT * 1000)
                except PlaywrightTimeout:
                    messages = await page.evaluate("document.getElementById('messages').innerText")
                    raise AssertionError(f"no {what} within {WAIT:.0f}s; {messages!r}; {console[-10:]}") from None

            async def call_audio_arrives() -> None:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + WAIT
                first = await board.evaluate("() => window.supervisorDebug.softphone.stats()")
                while True:
                    stats = await board.evaluate("() => window.supervisorDebug.softphone.stats()")
                    if stats["inbound"]["packetsReceived"] > 100 and stats["inbound"]["audioLevel"] > 0.01:
                        return
                    assert loop.time() < deadline, f"no call audio in the supervisor's page: {first} -> {stats}"
                    await asyncio.sleep(0.2)

            # The agent is at the desk and answers the call.
            await sign_in(desk, base, "/", "a7")
            await shown_on(desk, "registration", "document.getElementById('phone-status').textContent === '已注册'")
            await desk.click("#go-available")
            await shown_on(desk, "available", "document.getElementById('agent-status').textContent === '就绪'")
            sipp = asyncio.create_task(asterisk.run_sipp("-sf", scenario, "-s", "12345", "-m", "1",
                                                         "-set", "caller", CALLER))
            await shown_on(desk, "the offer", "!document.getElementById('answer').disabled")
            await desk.click("#answer")
            await shown_on(desk, "the call", "document.getElementById('call-state').textContent.startsWith('通话中')")

            # The supervisor whispers: they hear the call; the agent's desk shows nothing.
            await sign_in(board, base, "/supervisor", "sup1")
            await shown_on(board, "registration", "document.getElementById('phone-status').textContent === '已注册'")
            await shown_on(board, "the answered call",
                           "document.querySelector('#calls tr button.whisper:not(:disabled)') !== null")
            await board.click("#calls tr button.whisper")
            await shown_on(board, "the whisper", "document.getElementById('monitor-status').textContent === '耳语中'")
            await call_audio_arrives()
            assert "班长" not in await desk.evaluate("document.getElementById('messages').textContent")
            await board.click("#hangup")
            await shown_on(board, "the end of the whisper",
                           "document.getElementById('monitor-status').textContent === '空闲'")

            # The supervisor barges in: the agent's desk says so.
            await shown_on(board, "the call again",
                           "document.querySelector('#calls tr button.barge:not(:disabled)') !== null")
            await board.click("#calls tr button.barge")
            await shown_on(board, "the barge", "document.getElementById('monitor-status').textContent === '强插中'")
            await call_audio_arrives()
            await shown_on(desk, "the barge notice",
                           "document.getElementById('messages').textContent.includes('班长 sup1 已加入通话')")
            await board.click("#hangup")
            await shown_on(desk, "the supervisor leaving",
                           "document.getElementById('messages').textContent.includes('班长 sup1 已离开通话')")
            assert await desk.evaluate("document.getElementById('call-state').textContent.startsWith('通话中')")
        finally:
            if sipp is not None and not sipp.done():
                sipp.cancel()
            await browser.close()
