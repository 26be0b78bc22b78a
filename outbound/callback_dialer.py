"""The automatic satisfaction survey (回访): call the citizen back, ask, record the key pressed.

Once a unit's feedback is on a ticket a survey task is due (`tickets.callbacks`). The dialer
takes due tasks (one node at a time: the composition root runs it under a lease), calls the
citizen with the hotline's caller id, plays the survey question ("press 1 satisfied, 2 basically
satisfied, 3 unsatisfied") and hands the key to the task port, which records it on the ticket:
an unsatisfied answer re-opens the ticket to its unit. A citizen who does not answer, is busy
or cannot be reached is tried again at the configured delays, then the task goes to the
callback agents' list. No answer key within the time: the agents' list too, with the recording
of what the citizen said after the beep and, when speech recognition is available, its
transcript, for an agent to confirm (a person listens).

Runs beside the call flow: the flow routes the callback channels' ARI events here.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from kernel.errors import AriError, HotlineError, InvalidInput
from kernel.privacy import mask_phone
from telephony.ari.models import Channel
from telephony.ari.rest import AriRest
from telephony.dial import number_dial
from telephony.ports import AnswerTranscriber, CallbackTasks, SealFile
from telephony.prompts import BEEP, CALLBACK_SURVEY
from telephony.resource_ids import callback_channel_id, task_of_callback_channel
from telephony.settings import CallbackSettings

log = logging.getLogger(__name__)


@dataclass
class _Attempt:
    task_id: str
    answered: bool = False
    settled: bool = False
    timer: asyncio.TimerHandle | None = None
    #: What the citizen says after the beep (a spoken answer, when no key comes).
    recording_name: str | None = None


class CallbackDialer:
    def __init__(self, rest: AriRest, tasks: CallbackTasks, settings: CallbackSettings, *,
                 recording_dir: Path | None = None,
                 transcriber: AnswerTranscriber | None = None,
                 seal: SealFile | None = None) -> None:
        self.rest = rest
        self.tasks = tasks
        self.settings = settings
        #: Where Asterisk writes recordings (None: spoken answers are not recorded).
        self.recording_dir = recording_dir
        #: Transcribes a spoken answer after the call (None: an agent listens to it).
        self.transcriber = transcriber
        #: Seals a spoken answer at rest once it is transcribed (None: kept plain, as in tests
        #: that run without data keys; the composition always gives one).
        self.seal = seal
        self._tasks: set[asyncio.Task[None]] = set()
        #: Calls in progress, by channel id.
        self.attempts: dict[str, _Attempt] = {}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, may_dial: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Dial due surveys until cancelled: every `poll_seconds`, or when woken. `may_dial`
        says whether this node dials this round (one node at a time: a lease it renews)."""
        while True:
            try:
                if may_dial is None or await may_dial():
                    await self.dial_due()
            except (HotlineError, OSError) as exc:
                log.warning("callback round failed; retrying", extra={"error": str(exc)})
            except Exception:
                log.exception("callback round failed; retrying")
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # A cancellation that a client library below turned into an error (the Redis
                # client does, mid-command): this loop must still stop when told to.
                raise asyncio.CancelledError
            with suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_seconds):
                    await self._wake.wait()
            self._wake.clear()

    async def dial_due(self) -> int:
        room = self.settings.max_concurrent - len(self.attempts)
        if room <= 0:
            return 0
        placed = 0
        for task in await self.tasks.due_surveys(limit=room):
            if not await self.tasks.claim(task.id):
                continue
            channel_id = callback_channel_id(task.id)
            self.attempts[channel_id] = _Attempt(task.id)
            try:
                dial = number_dial(self.settings.dial, task.caller_number, field="caller_number")
                await self.rest.originate(dial, channel_id=channel_id, app_args=f"callback,{task.id}",
                                          caller_id=self.settings.caller_id,
                                          timeout=self.settings.ring_seconds)
            except (AriError, HotlineError) as exc:
                log.warning("callback not placed", extra={"ticket_no": task.ticket_no,
                                                          "caller": mask_phone(task.caller_number),
                                                          "error": str(exc)})
                self.attempts.pop(channel_id, None)
                # A number no phone can have is not dialled, ever: an agent reads the ticket.
                reason = "invalid_number" if isinstance(exc, InvalidInput) else "failed"
                await self.tasks.not_reached(task.id, reason)
                continue
            placed += 1
            log.info("callback placed", extra={"ticket_no": task.ticket_no,
                                               "caller": mask_phone(task.caller_number)})
        return placed

    # --- ARI events (routed by the call flow) -----------------------------------------------
    async def answered(self, channel: Channel) -> None:
        attempt = self.attempts.get(channel.id)
        if attempt is None:
            with suppress(AriError):
                await self.rest.hangup(channel.id)  # an attempt of a process that died
            return
        attempt.answered = True
        with suppress(AriError):
            await self.rest.play_on_channel(channel.id, CALLBACK_SURVEY)
            await self.rest.play_on_channel(channel.id, BEEP)
        if self.recording_dir is None:
            self._arm(channel.id, attempt)
            return
        # After the beep, record what the citizen says: a spoken answer is kept for an agent.
        # The answer time runs from the moment the recording starts (after the question).
        attempt.recording_name = f"survey-{uuid.uuid4().hex[:8]}-{attempt.task_id}"
        try:
            await self.rest.record_channel(channel.id, attempt.recording_name, "wav",
                                           max_seconds=self.settings.answer_seconds + 2)
        except AriError:
            attempt.recording_name = None
            self._arm(channel.id, attempt)
            return
        self._spawn(self._arm_when_recording(channel.id, attempt))

    def _arm(self, channel_id: str, attempt: _Attempt) -> None:
        loop = asyncio.get_running_loop()
        attempt.timer = loop.call_later(self.settings.answer_seconds,
                                        lambda: self._spawn(self._settle(channel_id, None)))

    async def _arm_when_recording(self, channel_id: str, attempt: _Attempt) -> None:
        """The recording waits behind the question in the channel's queue: the answer time
        starts when it does (or after a minute, whatever happened)."""
        assert attempt.recording_name is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not attempt.settled and loop.time() < deadline:
            try:
                live = await self.rest.live_recording(attempt.recording_name)
            except AriError:
                live = None
            if live is not None and live.get("state") == "recording":
                break
            await asyncio.sleep(0.2)
        if not attempt.settled:
            self._arm(channel_id, attempt)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def key_pressed(self, channel_id: str, digit: str) -> None:
        if channel_id in self.attempts and digit in "123":
            await self._settle(channel_id, digit)

    async def gone(self, channel_id: str, cause: int | None) -> None:
        attempt = self.attempts.get(channel_id)
        if attempt is None or attempt.settled:
            self.attempts.pop(channel_id, None)
            return
        if attempt.answered:
            await self._settle(channel_id, None)  # hung up before keying an answer
            return
        self.attempts.pop(channel_id, None)
        attempt.settled = True
        reason = {17: "busy", 18: "no_answer", 19: "no_answer", 21: "rejected"}.get(cause or 0, "failed")
        status = await self.tasks.not_reached(attempt.task_id, reason)
        log.info("citizen not reached for the callback", extra={"task": attempt.task_id,
                                                                "reason": reason, "status": status})

    async def _settle(self, channel_id: str, digit: str | None) -> None:
        attempt = self.attempts.get(channel_id)
        if attempt is None or attempt.settled:
            return
        attempt.settled = True
        if attempt.timer is not None:
            attempt.timer.cancel()
        recording = await self._spoken_answer(attempt) if digit is None else None
        if digit is not None and attempt.recording_name:
            with suppress(AriError):
                await self.rest.stop_recording(attempt.recording_name)
        status = await self.tasks.answered(attempt.task_id, digit, recording)
        log.info("callback answered", extra={"task": attempt.task_id, "key": digit, "status": status,
                                             "spoken": recording is not None})
        with suppress(AriError):
            await self.rest.hangup(channel_id)
        self.attempts.pop(channel_id, None)
        if recording is not None:
            self._spawn(self._transcribe_and_seal(attempt.task_id, recording))

    async def _spoken_answer(self, attempt: _Attempt) -> Path | None:
        """The recording of what the citizen said instead of a key, if it holds any audio."""
        if attempt.recording_name is None or self.recording_dir is None:
            return None
        with suppress(AriError):
            await self.rest.stop_recording(attempt.recording_name)
        path = self.recording_dir / f"{attempt.recording_name}.wav"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3  # Asterisk closes the file just after the stop returns
        while loop.time() < deadline:
            if path.exists() and path.stat().st_size > 44:
                return path
            await asyncio.sleep(0.1)
        return None

    async def _transcribe_and_seal(self, task_id: str, recording: Path) -> None:
        """Post-call: what the ASR heard goes on the agents' list beside the recording; then the
        recording is sealed at rest like a call's (it holds the citizen's voice). Transcribed
        first because the recogniser reads the plain WAV; a failed transcription still seals."""
        if self.transcriber is not None:
            try:
                text = await self.transcriber.transcribe_answer(recording, task_id)
                if text is not None:
                    await self.tasks.transcribed(task_id, text)
            except Exception:  # the recording is kept: an agent can listen to it
                log.exception("spoken survey answer not transcribed", extra={"task": task_id})
        if self.seal is None:
            return
        try:
            sealed = await self.seal(recording)
            await self.tasks.answer_sealed(task_id, sealed)
        except Exception:  # the plain file or its sealed twin stays; the purge removes both
            log.exception("spoken survey answer not sealed; kept plain", extra={"task": task_id})

    @staticmethod
    def is_ours(channel_id: str) -> bool:
        return task_of_callback_channel(channel_id) is not None
