"""HTTP API of callback tasks: the callback agents' list (回访 / 回电).

    GET /api/callbacks?status=agent    tasks by status: due, calling, done, agent (an agent's turn),
                                       agent_calling (an agent is calling from the desk)

Callers' numbers are shown: callback agents are the ones who call them.
"""

from __future__ import annotations

from aiohttp import web

from kernel import auth
from kernel.errors import InvalidInput
from kernel.http_edge import int_query
from kernel.openapi import Operation
from kernel.roles import Role
from tickets.callbacks import AGENT, AGENT_CALLING, CALLING, DONE, DUE, CallbackService

CALLBACKS = web.AppKey("callbacks", CallbackService)

routes = web.RouteTableDef()


@routes.get("/api/callbacks")
async def list_callbacks(request: web.Request) -> web.Response:
    auth.require(request, {Role.CALLBACK_AGENT, Role.SUPERVISOR, Role.AGENT})
    status = request.query.get("status") or None
    if status not in (None, DUE, CALLING, DONE, AGENT, AGENT_CALLING):
        raise InvalidInput("status is due, calling, done, agent or agent_calling", field="status")
    tasks = await request.app[CALLBACKS].listed(status, limit=int_query(request, "limit", 100, 1, 500))
    return web.json_response({"callbacks": [t.to_json() for t in tasks]})


def operations() -> list[Operation]:
    return [Operation("get", "/api/callbacks", "Callback tasks (the callback agents' list)",
                      "callback_agent, agent, supervisor",
                      query=(("status", "string"), ("limit", "integer")))]
