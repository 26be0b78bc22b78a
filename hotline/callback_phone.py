"""The callback page's telephony (`workbenches.callback_calls.CallbackPhone`), over the desk's.

A callback agent's softphone is provisioned like an agent's (an `agent-<id>` WebRTC endpoint
pushed through ARI, the same password store), and their survey call is the desk's
(`AcdDeskBackend.place_callback`, `outbound/desk_callback.py`); its events go to the person's own
desk topic. Only the application package may know both the desk and the workbenches, so the
adapter lives here; it turns the desk's refusals into the kernel's errors, in the desk's words.
"""

from __future__ import annotations

from typing import Any

from agent_desk.hub import agent_topic
from agent_desk.ports import DeskError
from hotline.desk_backend import AcdDeskBackend
from kernel.errors import Conflict, HotlineError, NotFound, Unavailable

_ERRORS: dict[str, type[HotlineError]] = {"not_found": NotFound, "not_allowed": Conflict}


def _kernel_error(exc: DeskError) -> HotlineError:
    return _ERRORS.get(exc.code, Unavailable)(exc.message)


class DeskCallbackPhone:
    def __init__(self, desk: AcdDeskBackend) -> None:
        self.desk = desk

    async def softphone(self, person: str) -> dict[str, Any]:
        try:
            return await self.desk.softphone(person)
        except DeskError as exc:
            raise _kernel_error(exc) from exc

    async def softphone_ended(self, person: str) -> None:
        await self.desk.softphone_ended(person)

    async def place(self, person: str, task_id: str) -> str:
        try:
            return await self.desk.place_callback(person, task_id)
        except DeskError as exc:
            raise _kernel_error(exc) from exc

    def topic(self, person: str) -> str:
        return agent_topic(person)
