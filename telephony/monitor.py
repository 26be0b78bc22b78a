"""A supervisor on a live call: listen, whisper or barge, in their own browser softphone.

- listen (监听): an ARI snoop on the caller's channel (`spy=both`: the caller and what the caller
  hears) meets the supervisor's leg in a small private bridge. Nobody on the call hears the
  supervisor.
- whisper (耳语/辅导): the snoop is on the agent's channel and also whispers (`whisper=out`): the
  agent hears the supervisor, the caller does not.
- barge (强插): the supervisor's leg joins the call's own (recorded) bridge; everybody hears
  everybody, and the agent's desk is told (`supervisor.joined`): a third voice on a call
  must never be a surprise to the agent, while listening and whispering stay discreet.

The supervisor's leg is an ARI originate to their WebRTC endpoint (`agent-<id>`, provisioned
like an agent's); it enters our application when the browser answers, and only then is it
bridged (earlier gives 422). Like the media taps, a monitor never changes the call's own
bridge except for barge, so a failing monitor cannot cut the conversation. The supervisor
ends it by hanging up; the call's end ends it too.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from kernel.errors import AriError, Conflict, InvalidInput, NotFound
from telephony.active_call import ActiveCall
from telephony.ari.models import Channel
from telephony.ari.rest import AriRest
from telephony.call_state import CallStateStore
from telephony.media_tap import StasisWaiter
from telephony.ports import DeskNotifier
from telephony.resource_ids import monitor_ids
from telephony.softphone import endpoint_name

log = logging.getLogger(__name__)

#: How long a snoop channel may take to enter our application.
SNOOP_TIMEOUT = 5.0


class MonitorMode(StrEnum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


@dataclass
class Monitor:
    call_id: str
    supervisor_id: str
    mode: MonitorMode
    leg_id: str
    snoop_id: str | None
    bridge_id: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    answered: bool = False

    def view(self) -> dict[str, object]:
        return {"monitor_id": self.leg_id, "call_id": self.call_id, "supervisor": self.supervisor_id,
                "mode": self.mode.value, "answered": self.answered, "started_at": self.started_at.isoformat()}


class CallMonitor:
    def __init__(self, rest: AriRest, waiter: StasisWaiter, state: CallStateStore, *,
                 notifier: DeskNotifier | None = None, ring_timeout: float = 30.0) -> None:
        self.rest = rest
        self.waiter = waiter
        self.state = state
        self.notifier = notifier
        self.ring_timeout = ring_timeout
        #: Monitors in progress, by the supervisor leg's channel id.
        self.monitors: dict[str, Monitor] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, call_id: str, supervisor_id: str, mode: MonitorMode) -> Monitor:
        """Ring the supervisor's softphone; once answered they hear the call as `mode` says."""
        call = self.state.by_call_id(call_id)
        if call is None or call.bridge_id is None:
            raise NotFound("no such call in progress", call_id=call_id)
        endpoint = f"PJSIP/{endpoint_name(supervisor_id)}"
        if any(m.supervisor_id == supervisor_id for m in self.monitors.values()):
            raise Conflict("already on a call: hang up the softphone first", supervisor=supervisor_id)
        leg_id, snoop_id, bridge_id = monitor_ids(call_id, supervisor_id)
        monitor = Monitor(call_id, supervisor_id, mode, leg_id, None, call.bridge_id)
        if mode is not MonitorMode.BARGE:
            target = call.channel_id if mode is MonitorMode.LISTEN else call.agent_channel_id
            if target is None:
                raise InvalidInput("whisper needs an agent on the call", call_id=call_id)
            monitor.snoop_id, monitor.bridge_id = snoop_id, bridge_id
            await self._snoop_into_bridge(monitor, target, whisper="out" if mode is MonitorMode.WHISPER else "none")
        self.monitors[leg_id] = monitor
        answered = self.waiter.expect(leg_id)
        try:
            await self.rest.originate(endpoint, channel_id=leg_id, app_args="monitor", timeout=self.ring_timeout)
        except AriError:
            self.waiter.forget(leg_id)
            await self.leg_gone(leg_id)
            raise
        task = asyncio.create_task(self._join_when_answered(monitor, answered), name=f"monitor-{leg_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info("supervisor monitor ringing", extra={"call_id": call_id, "agent": supervisor_id,
                                                       "mode": mode.value})
        return monitor

    async def _snoop_into_bridge(self, monitor: Monitor, target: str, *, whisper: str) -> None:
        assert monitor.snoop_id is not None
        arrived = self.waiter.expect(monitor.snoop_id)
        try:
            await self.rest.create_bridge(monitor.bridge_id, name="monitor")
            await self.rest.snoop(target, spy="both", whisper=whisper, app_args="monitor",
                                  snoop_id=monitor.snoop_id)
            await asyncio.wait_for(arrived, SNOOP_TIMEOUT)
            await self.rest.add_channel(monitor.bridge_id, monitor.snoop_id)
        except (AriError, TimeoutError):
            self.waiter.forget(monitor.snoop_id)
            await self._release(monitor)
            raise

    async def _join_when_answered(self, monitor: Monitor, answered: asyncio.Future[Channel]) -> None:
        try:
            await asyncio.wait_for(answered, self.ring_timeout + 5)
            await self.rest.add_channel(monitor.bridge_id, monitor.leg_id)
        except (AriError, TimeoutError) as exc:
            log.warning("supervisor leg not joined", extra={"call_id": monitor.call_id, "error": str(exc)})
            self.waiter.forget(monitor.leg_id)
            with suppress(AriError):
                await self.rest.hangup(monitor.leg_id)
            await self.leg_gone(monitor.leg_id)
            return
        monitor.answered = True
        log.info("supervisor joined", extra={"call_id": monitor.call_id, "agent": monitor.supervisor_id,
                                             "mode": monitor.mode.value})
        await self._tell_agent(monitor, "supervisor.joined")

    async def _tell_agent(self, monitor: Monitor, event_type: str) -> None:
        """Only barge is announced to the agent (listening and whispering are discreet)."""
        call = self.state.by_call_id(monitor.call_id)
        if monitor.mode is MonitorMode.BARGE and self.notifier and call and call.agent_id:
            await self.notifier.notify_agent(call.agent_id, {
                "type": event_type, "call_id": monitor.call_id, "supervisor": monitor.supervisor_id})

    async def leg_gone(self, leg_id: str) -> None:
        """The supervisor hung up (or never answered): take down the snoop and its bridge."""
        monitor = self.monitors.pop(leg_id, None)
        if monitor is None:
            return
        await self._release(monitor)
        if monitor.answered:
            await self._tell_agent(monitor, "supervisor.left")
        log.info("supervisor monitor ended", extra={"call_id": monitor.call_id, "agent": monitor.supervisor_id})

    async def _release(self, monitor: Monitor) -> None:
        if monitor.snoop_id is None:
            return  # barge: the bridge is the call's own
        with suppress(AriError):
            await self.rest.hangup(monitor.snoop_id)
        with suppress(AriError):
            await self.rest.destroy_bridge(monitor.bridge_id)

    async def call_ending(self, call: ActiveCall) -> None:
        """The call is over: every supervisor on it is hung up."""
        for leg_id, monitor in list(self.monitors.items()):
            if monitor.call_id == call.call_id:
                with suppress(AriError):
                    await self.rest.hangup(leg_id)
                await self.leg_gone(leg_id)

    def of_call(self, call_id: str) -> list[Monitor]:
        return [m for m in self.monitors.values() if m.call_id == call_id]
