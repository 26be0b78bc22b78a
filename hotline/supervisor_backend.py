"""The supervisor page's backend (`agent_desk.ports.SupervisorBackend`), joined from telephony.

Live calls come from the call flow's working copy of calls in progress; the softphone from the
same provisioning as agents' (a supervisor's endpoint is `agent-<id>`, so their id follows the
same rule); listen / whisper / barge from `telephony.monitor`. Only the application package
may know both sides, so the adapter lives here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from kernel.errors import Unavailable
from telephony.call_flow import CallFlow
from telephony.monitor import MonitorMode
from telephony.softphone import SoftphonePasswords, SoftphoneProvisioner


class TelephonySupervisorBackend:
    def __init__(self, provisioner: SoftphoneProvisioner, *, passwords: SoftphonePasswords,
                 confidential: Callable[[str], Awaitable[bool]] | None = None) -> None:
        self.provisioner = provisioner
        self.passwords = passwords
        #: Whether a number is a known confidential (保密) caller's (the tickets say).
        self.confidential = confidential
        self._flow: CallFlow | None = None

    def attach(self, flow: CallFlow) -> None:
        """The call flow, once the telephony context has built it."""
        self._flow = flow

    @property
    def flow(self) -> CallFlow:
        if self._flow is None or self._flow.monitor is None:
            raise Unavailable("the call flow is starting; try again")
        return self._flow

    async def live_calls(self) -> list[dict[str, Any]]:
        flow = self.flow
        assert flow.monitor is not None
        now = datetime.now(UTC)
        views = []
        for call in sorted(flow.state.calls.values(), key=lambda c: c.started_at):
            views.append({
                "call_id": call.call_id, "caller_number": call.caller_number,
                "started_at": call.started_at.isoformat(),
                "seconds": round((now - call.started_at).total_seconds(), 1),
                "state": "answered" if call.agent_channel_id else ("message" if call.takes_message else "waiting"),
                "agent_id": call.agent_id, "queue": call.queue, "screen_level": call.screen_level,
                "confidential": bool(self.confidential and await self.confidential(call.caller_number)),
                "monitors": [m.view() for m in flow.monitor.of_call(call.call_id)],
            })
        return views

    async def softphone(self, supervisor_id: str) -> dict[str, Any]:
        account = await self.provisioner.provision(supervisor_id, await self.passwords.issue(supervisor_id))
        return {"ws_url": account.ws_url, "sip_uri": account.sip_uri, "username": account.username,
                "password": account.password, "endpoint": account.endpoint}

    async def softphone_ended(self, supervisor_id: str) -> None:
        """Every session the supervisor's monitor-leg password was given to has ended: it stops
        registering now (a listen in progress goes on), as an agent's does."""
        await self.provisioner.withdraw(supervisor_id, self.passwords)

    async def monitor(self, call_id: str, supervisor_id: str, mode: str) -> dict[str, Any]:
        monitor = self.flow.monitor
        assert monitor is not None
        started = await monitor.start(call_id, supervisor_id, MonitorMode(mode))
        return started.view()
