"""The callback page's telephony (`workbenches.callback_calls.CallbackPhone`), over the desk's.

The page's softphone is provisioned like an agent's (a WebRTC endpoint pushed through ARI) but
is its own: `callback-<id>`, with its own password (`SOFTPHONE_LINE` in Redis), so that a
supervisor may keep the callback page open beside the supervisor page, whose softphone
(`agent-<id>`) the monitor legs ring; one endpoint for both would let each page's registration
replace the other's (telephony/softphone.py, `CALLBACK_ENDPOINT_PREFIX`). The survey call is the
desk's (`AcdDeskBackend.place_callback`, `outbound/desk_callback.py`), ringing this endpoint; its
events go to the person's own desk topic. Only the application package may know both the desk
and the workbenches, so the adapter lives here; it turns the desk's refusals into the kernel's
errors, in the desk's words.
"""

from __future__ import annotations

import logging
from typing import Any

from agent_desk.hub import agent_topic
from agent_desk.ports import DeskError
from hotline.desk_backend import AcdDeskBackend
from kernel.errors import AriError, Conflict, HotlineError, NotFound, Unavailable
from telephony.softphone import CALLBACK_ENDPOINT_PREFIX, SoftphonePasswords, agent_endpoint

log = logging.getLogger(__name__)

_ERRORS: dict[str, type[HotlineError]] = {"not_found": NotFound, "not_allowed": Conflict}


def _kernel_error(exc: DeskError) -> HotlineError:
    return _ERRORS.get(exc.code, Unavailable)(exc.message)


class DeskCallbackPhone:
    def __init__(self, desk: AcdDeskBackend, passwords: SoftphonePasswords) -> None:
        self.desk = desk
        #: The page's own passwords (`line`: `workbenches.callback_calls.SOFTPHONE_LINE`).
        self.passwords = passwords

    async def softphone(self, person: str) -> dict[str, Any]:
        try:
            account = await self.desk.provisioner.provision(person, await self.passwords.issue(person),
                                                            prefix=CALLBACK_ENDPOINT_PREFIX)
        except AriError as exc:
            log.warning("callback softphone not provisioned", extra={"agent": person, "error": str(exc)})
            raise Unavailable("话机账号暂时无法开通，请稍后重试") from exc
        return {"ws_url": account.ws_url, "sip_uri": account.sip_uri, "username": account.username,
                "password": account.password, "endpoint": account.endpoint}

    async def softphone_ended(self, person: str) -> None:
        await self.desk.provisioner.withdraw(person, self.passwords, prefix=CALLBACK_ENDPOINT_PREFIX)

    async def place(self, person: str, task_id: str) -> str:
        try:
            return await self.desk.place_callback(person, task_id,
                                                  endpoint=agent_endpoint(person, CALLBACK_ENDPOINT_PREFIX))
        except DeskError as exc:
            raise _kernel_error(exc) from exc

    def topic(self, person: str) -> str:
        return agent_topic(person)
