"""The automatic satisfaction survey (回访): call the citizen back, ask, record the key pressed.

Once a unit's feedback is on a ticket a survey task is due (`tickets.callbacks`). The dialer
takes due tasks (one node at a time: the composition root runs it under a lease), calls the
citizen with the hotline's caller id, plays the survey question ("press 1 satisfied, 2 basically
satisfied, 3 unsatisfied") and hands the key to the task port, which records it on the ticket:
an unsatisfied answer re-opens the ticket to its unit. A citizen who does not answer, is busy
or cannot be reached is tried again at the configured delays, then the task goes to the
callback agents' list. No answer key within the time: the agents' list too (a person listens).

Runs beside the call flow: the flow routes the callback channels' ARI events here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass

from kernel.errors import AriError, HotlineError
from kernel.privacy import mask_phone
from telephony.ari.models import Channel
from telephony.ari.rest import AriRest
from telephony.conference import dial_string
from telephony.ports import CallbackTasks
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


class CallbackDialer:
    def __init__(self, rest: AriRest, tasks: CallbackTasks, settings: CallbackSettings) -> None:
        self.rest = rest
        self.tasks = tasks
        self.settings = settings
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
                await self.rest.originate(dial_string(self.settings.dial, task.caller_number),
                                          channel_id=channel_id, app_args=f"callback,{task.id}",
                                          caller_id=self.settings.caller_id,
                                          timeout=self.settings.ring_seconds)
            except (AriError, HotlineError) as exc:
                log.warning("callback not placed", extra={"ticket_no": task.ticket_no,
                                                          "caller": mask_phone(task.caller_number),
                                                          "error": str(exc)})
                self.attempts.pop(channel_id, None)
                await self.tasks.not_reached(task.id, "failed")
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
        loop = asyncio.get_running_loop()
        attempt.timer = loop.call_later(self.settings.answer_seconds,
                                        lambda: asyncio.ensure_future(self._settle(channel.id, None)))

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
        status = await self.tasks.answered(attempt.task_id, digit)
        log.info("callback answered", extra={"task": attempt.task_id, "key": digit, "status": status})
        with suppress(AriError):
            await self.rest.hangup(channel_id)
        self.attempts.pop(channel_id, None)

    @staticmethod
    def is_ours(channel_id: str) -> bool:
        return task_of_callback_channel(channel_id) is not None
