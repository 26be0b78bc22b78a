"""回访 calls placed from the callback page: the agent's browser softphone and the call.

    POST /api/workbench/softphone                 the signed-in person's browser softphone account
    POST /api/workbench/callbacks/{id}/call       ring the person's softphone, then the citizen

The call is the desk's own (`outbound/desk_callback.py`): the backend rings the agent's
softphone first and, once it is answered, the citizen with the hotline's caller id, and bridges
the two (recorded). Its progress (`callback.ringing`, `callback.answered`,
`callback.not_reached`, `callback.ended`) reaches the page through `/ws/workbench/callbacks`
(`workbenches/feed.py`); the answer is then recorded with the page's existing routes.

Why two small routes and not the desk's websocket (`/ws/desk`, whose `callback.place` does the
same): opening the desk socket signs its user in to the ACD, which would make a callback agent
someone the inbound queue may offer citizens' calls to, and would hand them every call control
of the desk (hold, three-way, emergency transfer) and the desk page itself. These routes give
the page exactly what it needs: a softphone (withdrawn when the session ends, like a
supervisor's) and one way to start a callback, behind the page's own gate (`CALLBACK_DESK`).

The telephony side is reached through the `CallbackPhone` port, joined in `hotline.composition`.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from kernel.errors import Unavailable
from kernel.openapi import Operation
from kernel.session_softphone import Softphones, softphone_response
from workbenches.api import CALLBACK_DESK, actor_of


class CallbackPhone(Softphones, Protocol):
    """What the callback page needs from telephony (`hotline/callback_phone.py`): the person's
    browser softphone account (`Softphones`), and the survey call."""

    async def place(self, person: str, task_id: str) -> str:
        """Ring the person's softphone, then the task's citizen; the call's id. NotFound when the
        task is no longer the person's to call, Conflict when they are on a queue call."""

    def topic(self, person: str) -> str:
        """The event-bus topic of the person's own call events (`callback.*` among them)."""


CALLBACK_PHONE = web.AppKey("workbench_callback_phone", CallbackPhone)
#: The page's softphone is its own, apart from the person's supervisor page's (a supervisor may
#: keep both open): its session gate key, and its passwords' name in Redis (hotline/callback_phone.py).
SOFTPHONE_LINE = "callback-softphone"

routes = web.RouteTableDef()


def phone_of(request: web.Request) -> CallbackPhone:
    phone = request.app.get(CALLBACK_PHONE)
    if phone is None:  # an app built without telephony (some tests): the page says so
        raise Unavailable("回访呼叫不可用")
    return phone


@routes.post("/api/workbench/softphone")
async def softphone(request: web.Request) -> web.Response:
    actor = actor_of(request, CALLBACK_DESK)
    return await softphone_response(request, actor.id, phone_of(request), line=SOFTPHONE_LINE)


@routes.post("/api/workbench/callbacks/{id}/call")
async def place_call(request: web.Request) -> web.Response:
    actor = actor_of(request, CALLBACK_DESK)
    call_id = await phone_of(request).place(actor.id, request.match_info["id"][:64])
    return web.json_response({"call_id": call_id}, status=201)


def operations() -> list[Operation]:
    return [
        Operation("post", "/api/workbench/softphone", "The callback agent's browser softphone account (its "
                  "SIP password withdrawn when the session ends)", CALLBACK_DESK, api_keys=False),
        Operation("post", "/api/workbench/callbacks/{id}/call", "Place the survey call: the agent's "
                  "softphone rings, then the citizen (hotline caller id); progress on "
                  "/ws/workbench/callbacks", CALLBACK_DESK, success=201),
    ]
