"""The satisfaction survey call (回访) on real Asterisk: SIPp plays the citizen's phone.

Once a unit's feedback is on a ticket, a survey task is due; the dialer calls the citizen with
the hotline's caller id and plays the question; the citizen presses 3 (unsatisfied) and the
ticket waits for the hotline's judgement whether to re-open it (临沂条例第二十条: 不满意且诉求
合理). A citizen who does not answer is tried again, then the task goes to the callback agents'
list.
"""

from __future__ import annotations

import asyncio
import subprocess
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from asr.batch import PostCallQueue
from devtools.sandbox import AsteriskSandbox
from devtools.sipp_scenarios import citizen_phone_scenario, speaking_phone_scenario
from hotline.sealing_recorder import seal_recording_file
from hotline.survey_answers import SpokenAnswerTranscriber
from kernel.roles import Actor, Role
from kernel.schema import callback_tasks
from kernel.sealed_files import SEALED_SUFFIX, SealedFile, is_sealed, sealed_path_for
from telephony.recording_length import wav_seconds
from telephony.settings import CallbackSettings
from tests.asterisk_harness import SipPhones
from tests.data_keys import TEST_KEYS
from tickets.callbacks import CallbackService
from tickets.deadlines import load_calendar
from tickets.dispatch import load_catalogue
from tickets.events import CallbackRecorded
from tickets.model import Caller, Channel, Satisfaction, TicketStatus, TicketType
from tickets.store import TicketStore
from tickets.workflow import Classify, Dispatch, Register, Sign, SubmitFeedback

pytestmark = pytest.mark.asterisk

AGENT = Actor("agent7", Role.AGENT)
DISPATCHER = Actor("disp1", Role.DISPATCHER)
HOUSING = Actor("zhang", Role.UNIT, unit="city-housing")
CITIZEN = "13700001111"


async def ticket_with_feedback(store: TicketStore, number: str = CITIZEN) -> str:
    ticket, _ = await store.register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number=number), summary="暖气不热",
        content="家里暖气一点都不热"), AGENT)
    no = ticket.ticket_no
    await store.transition(no, Classify(ticket_type=TicketType.COMPLAINT, summary="暖气不热"), AGENT, 1)
    now = store.now()
    await store.transition(no, Dispatch(lead_unit="city-housing", deadline=now + timedelta(days=5),
                                        sign_deadline=now + timedelta(days=1)), DISPATCHER, 2)
    await store.transition(no, Sign(), HOUSING, 3)
    await store.transition(no, SubmitFeedback(result="已联系供热公司检修"), HOUSING, 4)
    return no




def service_factory(made: list[Any], retry: float):
    def make(engine: Any) -> CallbackService:
        store = TicketStore(engine, "T01")
        made.append(CallbackService(engine, store, load_catalogue(), load_calendar(),
                                    retry_delays=[timedelta(seconds=retry)]))
        return made[-1]
    return make


async def wait_for_task(service: CallbackService, status: str, timeout: float = 30.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        tasks = await service.listed(status)
        if tasks:
            return tasks[0]
        assert loop.time() < deadline, f"no callback task became {status!r}: {await service.listed()}"
        await asyncio.sleep(0.2)


async def test_the_citizen_presses_3_and_the_ticket_waits_for_the_hotlines_judgement(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    endpoint = await sip_phones.start("citizen", scenario=citizen_phone_scenario("3"))
    made: list[CallbackService] = []
    settings = CallbackSettings(dial=f"PJSIP/{{number}}@{endpoint.removeprefix('PJSIP/')}", answer_seconds=10,
                                retry_after_seconds=(1.0,), poll_seconds=0.5)
    bridge = await in_process_bridge(asterisk, callback=(settings, service_factory(made, 1.0)))
    service = made[0]
    no = await ticket_with_feedback(TicketStore(bridge.engine, "T01"))

    task = await wait_for_task(service, "done")
    assert task.ticket_no == no and task.result == "unsatisfied" and task.attempts == 1
    ticket, events = await TicketStore(bridge.engine, "T01").get_with_events(no)
    # The robot cannot judge whether the request is reasonable: nothing re-opens yet.
    assert ticket.status is TicketStatus.REOPEN_REQUESTED and ticket.reopen_count == 0
    assert ticket.satisfaction is Satisfaction.UNSATISFIED and ticket.lead_unit == "city-housing"
    assert isinstance(events[-1], CallbackRecorded) and events[-1].review_pending
    assert events[-1].actor.id == "callback-dialer"


async def test_a_citizen_who_does_not_answer_is_called_again_then_left_to_an_agent(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones,
) -> None:
    endpoint = await sip_phones.start("citizen", answer_after_ms=None, calls=2)
    made: list[CallbackService] = []
    settings = CallbackSettings(dial=f"PJSIP/{{number}}@{endpoint.removeprefix('PJSIP/')}", ring_seconds=2,
                                retry_after_seconds=(1.0,), poll_seconds=0.5)
    bridge = await in_process_bridge(asterisk, callback=(settings, service_factory(made, 1.0)))
    service = made[0]
    no = await ticket_with_feedback(TicketStore(bridge.engine, "T01"))

    task = await wait_for_task(service, "agent", timeout=40)
    assert task.ticket_no == no and task.attempts == 2 and task.result == "no_answer"
    async with bridge.engine.connect() as conn:  # type: ignore[attr-defined]
        count = len((await conn.execute(select(callback_tasks))).all())
    assert count == 1
    ticket = await TicketStore(bridge.engine, "T01").get(no)
    assert ticket.status is TicketStatus.FEEDBACK_SUBMITTED  # nothing decided without the citizen


async def test_a_spoken_answer_is_recorded_transcribed_and_left_for_an_agent_to_confirm(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones, asr_model,
    speech_renderer, tmp_path,
) -> None:
    speech = tmp_path / "answer-ulaw.wav"
    subprocess.run(["sox", str(speech_renderer((0, 1))), "-r", "8000", "-c", "1", "-e", "mu-law",
                    str(speech)], check=True)
    wav = asterisk.write_sipp_file("survey-answer.wav", speech.read_bytes())
    endpoint = await sip_phones.start("citizen", scenario=speaking_phone_scenario(wav))
    made: list[CallbackService] = []
    settings = CallbackSettings(dial=f"PJSIP/{{number}}@{endpoint.removeprefix('PJSIP/')}",
                                answer_seconds=6, retry_after_seconds=(1.0,), poll_seconds=0.5)
    transcriber = SpokenAnswerTranscriber(SimpleNamespace(post_call=PostCallQueue(asr_model)))  # type: ignore[arg-type]
    bridge = await in_process_bridge(asterisk, callback=(settings, service_factory(made, 1.0)),
                                     survey_transcriber=transcriber,
                                     seal_answers=partial(seal_recording_file, keys=TEST_KEYS))
    service = made[0]
    no = await ticket_with_feedback(TicketStore(bridge.engine, "T01"))

    task = await wait_for_task(service, "agent", timeout=60)
    assert task.ticket_no == no and task.result == "spoken" and task.answer_recording
    plain = Path(task.answer_recording)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not ((task := (await service.listed("agent"))[0]).answer_transcript
               and task.answer_recording.endswith(SEALED_SUFFIX)):
        assert loop.time() < deadline, f"the spoken answer was not transcribed and sealed: {task}"
        await asyncio.sleep(0.3)
    assert task.to_json()["spoken_answer"] is True
    # Sealed at rest once transcribed, like a call's recording: the plain WAV is gone, and the
    # sealed file opens with the key into the citizen's 2 s and more of speech.
    sealed = Path(task.answer_recording)
    assert sealed == sealed_path_for(plain) and not plain.exists() and is_sealed(sealed)
    assert sealed.stat().st_mode & 0o777 == 0o600
    with SealedFile(sealed, TEST_KEYS) as source:
        (tmp_path / "opened.wav").write_bytes(b"".join(source.read_range()))
    assert (wav_seconds(tmp_path / "opened.wav") or 0) > 2
    ticket = await TicketStore(bridge.engine, "T01").get(no)
    assert ticket.status is TicketStatus.FEEDBACK_SUBMITTED  # an agent confirms what was said

    confirmed = await service.confirm(task.id, Satisfaction.SATISFIED, Actor("cb1", Role.CALLBACK_AGENT))
    assert confirmed.status is TicketStatus.CLOSED
    [done] = await service.listed("done")
    assert done.id == task.id and done.result == "satisfied"


@pytest.mark.parametrize("crafted", ["13700001111@citizens/x", "Local/1@default", "137&PJSIP/agent-a1", "110,30,g"])
async def test_a_crafted_caller_number_never_reaches_originate(
    asterisk: AsteriskSandbox, in_process_bridge, sip_phones: SipPhones, crafted: str,
) -> None:
    """A ticket row holding a dial-string payload as its number (written before numbers were
    checked at the edge): no channel is ever created for it; the task goes to the agents."""
    endpoint = await sip_phones.start("citizen", answer_after_ms=0, calls=2)
    made: list[CallbackService] = []
    settings = CallbackSettings(dial=f"PJSIP/{{number}}@{endpoint.removeprefix('PJSIP/')}",
                                retry_after_seconds=(0.5,), poll_seconds=0.5)
    bridge = await in_process_bridge(asterisk, callback=(settings, service_factory(made, 0.5)))
    service = made[0]
    originated: list[str] = []
    real_originate = bridge.flow.rest.originate

    async def watched(endpoint: str, **kwargs: Any) -> Any:
        originated.append(endpoint)
        return await real_originate(endpoint, **kwargs)

    bridge.flow.rest.originate = watched
    no = await ticket_with_feedback(TicketStore(bridge.engine, "T01"), crafted)

    task = await wait_for_task(service, "agent", timeout=40)
    assert task.ticket_no == no and task.result == "invalid_number" and task.attempts == 2
    assert originated == []
    assert not (await bridge.flow.rest.application()).channel_ids
