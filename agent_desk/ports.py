"""What the desk needs from the rest of the backend, stated as a protocol (port).

The desk knows agents, calls and the softphone only through `DeskBackend`; the composition
root implements it over the ACD, the call flow, the anti-abuse screen and the softphone
provisioning (`hotline/desk_backend.py`). Views are plain JSON-able dicts: the desk forwards
them to the browser as they are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from agent_desk.wallboard import FinishedCall
from kernel.session_softphone import Softphones


class DeskError(Exception):
    """An agent's request the backend refuses; `code` is one of `protocol.ERROR_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DeskBackend(Protocol):
    async def sign_in(self, agent_id: str) -> dict[str, Any]:
        """The agent is at their desk (state `offline` -> signed in, on break until ready)."""

    async def agent_view(self, agent_id: str) -> dict[str, Any]: ...

    async def set_status(self, agent_id: str, status: str, reason: str | None) -> dict[str, Any]:
        """`available` or `break` (with a reason); DeskError(not_allowed) mid-call."""

    async def softphone(self, agent_id: str) -> dict[str, Any]:
        """The browser softphone's account: ws_url, sip_uri, username, password."""

    async def current_call(self, agent_id: str) -> dict[str, Any] | None:
        """The call the agent is offered or on, to restore the view after a reconnect."""

    async def hangup(self, agent_id: str, call_id: str) -> None: ...

    async def hold(self, agent_id: str, call_id: str, on: bool) -> None: ...

    async def wrap_up(self, agent_id: str, call_id: str, *, no_new_content: bool,
                      harassment: bool, note: str) -> dict[str, Any]:
        """After-call work done: the agent is available again; the screen hears the outcome."""

    async def three_way(self, agent_id: str, call_id: str, unit: str) -> None:
        """Ring the unit into the agent's call; the outcome arrives as `three_way.*` events."""

    async def transfer(self, agent_id: str, call_id: str, line: str, warm: bool) -> None:
        """Bring an emergency line in; blind transfers take the agent out at once."""

    async def leave(self, agent_id: str, call_id: str) -> None:
        """The agent leaves; the caller stays with the unit (still recorded)."""

    async def place_callback(self, agent_id: str, task_id: str) -> str:
        """回访 from the desk: ring the agent's phone, then the citizen (hotline caller id);
        the outcome arrives as `callback.*` events. Returns the call's id."""

    async def softphone_ended(self, agent_id: str) -> None:
        """The session the desk was opened with ended: its SIP password stops registering now."""

    async def desk_closed(self, agent_id: str) -> None:
        """The agent's last desk has been gone for the grace period: no softphone answers any
        more, so an available agent is signed out rather than offered calls that can only
        ring out. An agent on a call keeps it (a desk phone may still be up)."""

class SupervisorBackend(Softphones, Protocol):
    """What the supervisor's live page needs (`hotline/supervisor_backend.py` implements it): the
    supervisor's browser softphone account (`Softphones`, provisioned like an agent's), the live
    calls and the monitor legs rung to that softphone."""

    async def live_calls(self) -> list[dict[str, Any]]:
        """Calls in progress: waiting, ringing an agent or answered, with who is monitoring;
        `confidential` true for a caller known to be confidential (their number is masked)."""

    async def monitor(self, call_id: str, supervisor_id: str, mode: str) -> dict[str, Any]:
        """Ring the supervisor's softphone to listen, whisper or barge on a live call.
        Raises the kernel's NotFound (no such live call) or InvalidInput."""


class WallboardSource(Protocol):
    """Where the wallboard is seeded from once, and re-reads the queue when it changes
    (`hotline/wallboard_source.py`: the ACD and the database)."""

    async def agent_states(self) -> dict[str, str]:
        """Every known agent's state (`call_queue.agent_state.AgentStatus` values)."""

    async def waiting(self) -> dict[str, datetime]:
        """The callers waiting now, with when each joined the queue."""

    async def finished_since(self, since: datetime) -> list[FinishedCall]:
        """Calls that started since `since` and are finished (recorded)."""

    async def transcribed_since(self, since: datetime) -> set[str]:
        """Ids of calls started since `since` that have a final transcript line."""
