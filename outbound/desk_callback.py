"""Callbacks placed from the desk (回访 by a person): the agent's softphone, then the citizen.

A survey the automatic dialer could not settle (not reached, no key pressed) lands on the
callback agents' list. From the desk the agent calls the citizen: the backend rings the
agent's softphone first; once the agent picks up, it creates a recorded bridge, rings the
citizen with the hotline's caller id (the agent's own number is never shown) and joins the
two when the citizen answers. The agent then records the answer with the ticket's existing
`callback` command. The desk hears `callback.ringing`, `callback.answered`,
`callback.not_reached` (busy, no answer...) and `callback.ended`.

Every way out (agent does not pick up, citizen busy or not answering, either side hanging up
at any moment) ends with both legs hung up and the bridge destroyed; a citizen not reached
leaves the task on the agents' list. State lives in this process only: after a restart the
call flow's reconcile hangs up what it no longer knows.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kernel.errors import AriError, HotlineError, InvalidInput, NotFound
from kernel.privacy import mask_phone
from telephony.ari.models import Channel
from telephony.ari.rest import AriRest
from telephony.call_record import CallRecord
from telephony.dial import number_dial
from telephony.ports import CallbackTasks, DeskNotifier, SealRecording
from telephony.recording_length import recording_seconds
from telephony.settings import CallbackSettings
from telephony.softphone import agent_endpoint

log = logging.getLogger(__name__)

_PREFIX = "hotline-deskcb-"
_NOT_ANSWERED = {17: "busy", 18: "no_answer", 19: "no_answer", 21: "rejected"}


@dataclass
class _DeskCallback:
    call_id: str
    task_id: str
    ticket_no: str
    citizen_number: str
    agent_id: str
    agent_channel: str
    citizen_channel: str
    bridge_id: str
    started_at: datetime
    agent_answered_at: datetime | None = None
    citizen_answered_at: datetime | None = None
    recording_name: str | None = None
    finished: bool = False


class DeskCallbacks:
    def __init__(self, rest: AriRest, tasks: CallbackTasks, settings: CallbackSettings, *,
                 notifier: DeskNotifier | None = None, recording_format: str = "wav",
                 recording_dir: Path | None = None, node_id: str = "N01",
                 agent_ring_seconds: float = 20.0, seal: SealRecording | None = None) -> None:
        self.rest = rest
        #: Seals the finished call's recording at rest before it is stored (the composition's
        #: `SealingRecorder.sealed`; kernel/sealed_files.py).
        self.seal = seal
        self.recording_dir = recording_dir
        self.node_id = node_id
        self.tasks = tasks
        self.settings = settings
        self.notifier = notifier
        self.recording_format = recording_format
        self.agent_ring_seconds = agent_ring_seconds
        #: Calls in progress by call id; `_legs` finds them from a channel or bridge id.
        self.calls: dict[str, _DeskCallback] = {}
        self._legs: dict[str, str] = {}

    # --- what the agent asks ----------------------------------------------------------------
    async def place(self, agent_id: str, task_id: str, *, endpoint: str | None = None) -> str:
        """Ring the agent's softphone for the task (`endpoint`, what ARI dials: the desk's
        softphone unless told, the callback page passes its own); returns the call id. NotFound
        when the task is not on the agents' list (already done, or another agent is calling)."""
        task = await self.tasks.take_for_agent(task_id, agent_id)
        if task is None:
            raise NotFound("no such callback on the agents' list", task=task_id)
        call_id = str(uuid.uuid4())
        token = call_id[:8]
        call = _DeskCallback(call_id, task.id, task.ticket_no, task.caller_number, agent_id,
                             f"{_PREFIX}a-{token}", f"{_PREFIX}c-{token}", f"{_PREFIX}b-{token}",
                             datetime.now(UTC))
        self.calls[call_id] = call
        for leg in (call.agent_channel, call.citizen_channel, call.bridge_id):
            self._legs[leg] = call_id
        try:  # a number no phone can have: the agent hears so now, not after picking up
            number_dial(self.settings.dial, task.caller_number, field="caller_number")
        except InvalidInput:
            await self._end(call, "invalid_number")
            raise
        try:
            await self.rest.originate(endpoint or agent_endpoint(agent_id), channel_id=call.agent_channel,
                                      app_args=f"deskcallback,{call_id}",
                                      caller_id=self.settings.caller_id,
                                      timeout=self.agent_ring_seconds)
        except AriError:
            await self._end(call, "agent_unreachable")
            raise
        log.info("desk callback: ringing the agent", extra={"call_id": call_id, "agent": agent_id,
                                                            "ticket_no": task.ticket_no})
        return call_id

    # --- SideCalls: events routed by the call flow ------------------------------------------
    def owns(self, resource_id: str) -> bool:
        return resource_id in self._legs

    def claims(self, channel: Channel) -> bool:
        return False  # nobody phones in to a desk callback

    def footprint(self) -> int:
        return len(self.calls) + len(self._legs)

    async def key_pressed(self, channel_id: str, digit: str) -> None:
        return None  # keys are between the agent and the citizen

    async def started(self, channel: Channel) -> None:
        call = self.calls.get(self._legs.get(channel.id, ""))
        if call is None or call.finished:
            with suppress(AriError):
                await self.rest.hangup(channel.id)
            return
        if channel.id == call.agent_channel:
            await self._agent_answered(call)
        elif channel.id == call.citizen_channel:
            await self._citizen_answered(call)

    async def gone(self, channel_id: str, cause: int | None) -> None:
        call = self.calls.get(self._legs.get(channel_id, ""))
        if call is None or call.finished:
            return
        if channel_id == call.citizen_channel and call.citizen_answered_at is None:
            reason = _NOT_ANSWERED.get(cause or 0, "failed")
            await self._notify(call, "callback.not_reached", reason=reason)
            await self._end(call, reason)
        elif channel_id == call.agent_channel and call.agent_answered_at is None:
            await self._end(call, "agent_no_answer")
        else:
            await self._end(call, "hangup")

    # --- the steps --------------------------------------------------------------------------
    async def _agent_answered(self, call: _DeskCallback) -> None:
        call.agent_answered_at = datetime.now(UTC)
        try:
            await self.rest.create_bridge(call.bridge_id)
            await self.rest.add_channel(call.bridge_id, call.agent_channel)
            call.recording_name = f"callback-{call.call_id}"
            await self.rest.record_bridge(call.bridge_id, call.recording_name, self.recording_format)
            dial = number_dial(self.settings.dial, call.citizen_number, field="citizen_number")
            await self.rest.originate(dial, channel_id=call.citizen_channel,
                                      app_args=f"deskcallback,{call.call_id}",
                                      caller_id=self.settings.caller_id,
                                      timeout=self.settings.ring_seconds)
        except (AriError, HotlineError) as exc:
            log.warning("desk callback: citizen not rung", extra={"call_id": call.call_id,
                                                                  "error": str(exc)})
            await self._notify(call, "callback.not_reached", reason="failed")
            await self._end(call, "failed")
            return
        log.info("desk callback: ringing the citizen",
                 extra={"call_id": call.call_id, "caller": mask_phone(call.citizen_number)})
        await self._notify(call, "callback.ringing")

    async def _citizen_answered(self, call: _DeskCallback) -> None:
        try:
            await self.rest.add_channel(call.bridge_id, call.citizen_channel)
        except AriError:
            await self._end(call, "bridge_failed")
            return
        call.citizen_answered_at = datetime.now(UTC)
        await self._notify(call, "callback.answered")

    async def _end(self, call: _DeskCallback, reason: str) -> None:
        """Both legs hung up, the bridge gone, the task updated. Runs once."""
        if call.finished:
            return
        call.finished = True
        for channel_id in (call.citizen_channel, call.agent_channel):
            with suppress(AriError):
                await self.rest.hangup(channel_id)
        recording: Path | None = None
        if call.recording_name:
            with suppress(AriError):
                await self.rest.stop_recording(call.recording_name)
            recording = self.recording_dir / f"{call.recording_name}.{self.recording_format}" \
                if self.recording_dir else None
        with suppress(AriError):
            await self.rest.destroy_bridge(call.bridge_id)
        reached = call.citizen_answered_at is not None
        # The call and its recording are kept like any other (the task links to them).
        seconds = await recording_seconds(recording) if recording is not None else None
        record = None if call.agent_answered_at is None else CallRecord(
            call_id=call.call_id, channel_id=call.agent_channel, bridge_id=call.bridge_id,
            caller_number=call.citizen_number, caller_name="", dialed_number="callback",
            node_id=self.node_id, started_at=call.started_at, answered_at=call.citizen_answered_at,
            ended_at=datetime.now(UTC), end_reason=reason, recording_path=recording,
            recording_seconds=seconds, queue="callback",
            agent_id=call.agent_id)
        if record is not None and self.seal is not None:
            record = await self.seal(record)
        try:
            await self.tasks.agent_call_over(call.task_id, reached, reason, record)
        except Exception:  # the call is over either way; the list still shows the task
            log.exception("desk callback: task not updated", extra={"call_id": call.call_id})
        await self._notify(call, "callback.ended", reached=reached, reason=reason)
        log.info("desk callback ended", extra={"call_id": call.call_id, "ticket_no": call.ticket_no,
                                               "reached": reached, "reason": reason})
        # Forgotten last: an empty `footprint` means the task and the desk know the outcome.
        self.calls.pop(call.call_id, None)
        for leg in (call.agent_channel, call.citizen_channel, call.bridge_id):
            self._legs.pop(leg, None)

    async def _notify(self, call: _DeskCallback, kind: str, **fields: Any) -> None:
        if self.notifier is None:
            return
        try:
            await self.notifier.notify_agent(call.agent_id, {
                "type": kind, "call_id": call.call_id, "task_id": call.task_id,
                "ticket_no": call.ticket_no, **fields})
        except Exception:  # noqa: BLE001 - a desk notice never affects the call
            log.warning("desk not notified", extra={"call_id": call.call_id})

