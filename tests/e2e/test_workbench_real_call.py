"""The issue's acceptance walk, from a real call: a citizen calls 12345 (SIPp, real Asterisk),
an agent answers in the desk page (Chromium with a fake microphone, WebRTC), the call is
transcribed live (Vosk), the agent completes the ticket and saves it for dispatch; then, in the
workbench pages, the dispatcher reads the call's transcript beside it and dispatches it with one
key, the unit's open inbox is told at once and signs it and gives feedback with evidence; the
callback agent places the survey call from the callback page's browser softphone (C), the
citizen's phone (SIPp) answers and speaks, the two are bridged (seen in Asterisk through ARI,
then in the call's record), the agent hangs up (H) and records 满意, and the ticket is closed.
No step calls the API, no address holds a token. The backend is the one `hotline run` builds
(tests/e2e/test_desk_call.py's), with its citizens' trunk pointed at the SIPp phone and the
automatic survey dialer off: this walk is a person's callback, which the robot must not make
first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import speaking_phone_scenario
from hotline.settings import Settings
from kernel.database import create_engine
from kernel.schema import callback_tasks, calls, tickets, transcript_segments
from telephony.ari.rest import AriRest
from telephony.softphone import CALLBACK_ENDPOINT_PREFIX, ENDPOINT_PREFIX
from tests.asr_fixtures import AsrLanguage
from tests.asterisk_harness import SipPhones
from tests.browser_harness import chromium_executable, wait_for, webrtc_flags
from tests.e2e.test_desk_call import (
    FINAL_CALLER_LINES,
    Desk,
    agent_microphone,
    caller_speech,
    served_backend,
)
from tests.page_sign_in import AddressLog, add_person, sign_in
from tests.workbench_walk import (
    dispatch_with_one_key,
    give_feedback,
    hang_up_the_survey_call,
    open_due_callback,
    open_from_the_dispatch_queue,
    open_pushed_ticket,
    open_unit_inbox,
    place_the_survey_call,
    record_satisfied,
    shot,
    sign_ticket,
    without_the_periodic_refresh,
)

pytestmark = pytest.mark.asterisk

#: The citizen's phone in the sandbox (`SipPhones.start("citizen")`): the survey call rings it.
CITIZEN_PHONE = f"{ENDPOINT_PREFIX}citizen"


@pytest.fixture
async def backend(asterisk: AsteriskSandbox, sqlite_url: str, redis_key_prefix: str, redis_client: Any,
                  asr_language: AsrLanguage) -> AsyncIterator[tuple[Settings, TestServer]]:
    async with served_backend(asterisk, sqlite_url, redis_key_prefix, asr_language,
                              HOTLINE_CALLBACK_ENABLED="false",
                              HOTLINE_CALLBACK_DIAL=f"PJSIP/{{number}}@{CITIZEN_PHONE}") as served:
        yield served


async def survey_call_bridged(settings: Settings, agent: str) -> None:
    """Asterisk holds the survey call's bridge with exactly two channels, both answered: the agent's
    browser softphone (the callback page's own WebRTC endpoint) and the citizen's phone."""
    async with AriRest(settings.ari.url, settings.ari.username, settings.ari.password, settings.ari.app) as rest:
        bridges = [b for b in await rest.request("GET", "/bridges") if b["id"].startswith("hotline-deskcb-b-")]
        assert len(bridges) == 1, bridges
        channels = [await rest.get_channel(c) for c in bridges[0]["channels"]]
    names = sorted((c.name.rsplit("-", 1)[0], c.state) for c in channels if c is not None)
    assert names == [(f"PJSIP/{CITIZEN_PHONE}", "Up"), (f"PJSIP/{CALLBACK_ENDPOINT_PREFIX}{agent}", "Up")], names


async def citizen_heard(page: Any) -> None:
    """The agent's browser receives the citizen's speech (RTP through the bridge)."""
    for _ in range(150):
        stats = await page.evaluate("() => window.callbacksDebug.phone.stats()")
        if stats["inbound"]["packetsReceived"] > 50 and stats["outbound"]["packetsSent"] > 50:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"no audio both ways on the survey call: {stats}")

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
    sip_phones: SipPhones,
) -> None:
    from playwright.async_api import async_playwright

    settings, server = backend
    base = f"http://127.0.0.1:{server.port}"
    engine = create_engine(settings.database.url)
    for username, role, unit in (("a7", "agent", None), ("pai", "dispatcher", None),
                                 ("zhang", "unit", "city-housing"), ("hui", "callback_agent", None),
                                 ("ban", "supervisor", None)):
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

            # 4. The callback agent calls the citizen from the page, who answers and speaks; the
            #    agent hangs up and records 满意: the ticket is closed.
            citizen = await sip_phones.start("citizen", scenario=speaking_phone_scenario(wav))
            assert citizen == f"PJSIP/{CITIZEN_PHONE}"
            callbacks = await page_for()
            await without_the_periodic_refresh(callbacks)  # the lists follow the call as it happens
            await open_due_callback(callbacks, base, "hui", no, RESULT)
            await place_the_survey_call(callbacks)
            await survey_call_bridged(settings, "hui")
            await citizen_heard(callbacks)
            await hang_up_the_survey_call(callbacks, "callbacks-softphone")
            assert await asyncio.wait_for(sip_phones.processes[-1].wait(), 20) == 0, \
                "the citizen's phone was not hung up cleanly"
            await record_satisfied(callbacks, "walk-real-call-callbacks")

            # 5. The supervisor sees the unit's month in the statistics: one ticket received,
            #    one callback, all satisfied.
            supervisor = await page_for()
            await sign_in(supervisor, base, "/oversight", "ban")
            housing_row = ("[...document.querySelectorAll('#units tr')].map((r) => r.innerText)"
                           ".find((t) => t.startsWith('市住房和城乡建设局'))")
            await wait_for(supervisor, f"({housing_row} || '').length > 0", timeout=30_000)
            cells = (await supervisor.evaluate(housing_row)).split("\t")
            assert (cells[1], cells[7], cells[9]) == ("1", "1", "100.0%"), cells
            await shot(supervisor, "walk-real-call-oversight")
        finally:
            await browser.close()

    async with engine.connect() as conn:
        row = (await conn.execute(select(tickets.c.status, tickets.c.call_id, tickets.c.satisfaction)
                                  .where(tickets.c.ticket_no == no))).one()
        survey = (await conn.execute(select(calls.c.agent_id, calls.c.answered_at, calls.c.queue,
                                            callback_tasks.c.status)
                                     .join(callback_tasks, callback_tasks.c.call_id == calls.c.id)
                                     .where(callback_tasks.c.ticket_no == no))).one()
    await engine.dispose()
    assert (row.status, row.satisfaction) == ("closed", "satisfied") and row.call_id
    # The survey call is kept like any call: the agent's, answered by the citizen.
    assert (survey.agent_id, survey.queue, survey.status) == ("hui", "callback", "done")
    assert survey.answered_at is not None
    assert addresses.with_tokens() == []
    assert problems == []
