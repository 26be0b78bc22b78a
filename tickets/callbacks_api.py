"""HTTP API of callback tasks: the callback agents' list (回访 / 回电).

    GET /api/callbacks?status=agent    tasks by status: due, calling, done, agent (an agent's turn),
                                       agent_calling (an agent is calling from the desk)
    POST /api/callbacks/{id}/confirm   a callback agent confirms the citizen's answer (a spoken
                                       answer they listened to, or their own call): on the ticket

Callers' numbers are shown to those the policy lets read the list (`kernel.access_policy`):
callback agents are the ones who call them; a confidential (保密) caller's is masked (the
dialer and the desk's callback place the call without anyone reading it). Each read of the
list writes one row to the access audit.
"""

from __future__ import annotations

from aiohttp import web

from kernel import auth
from kernel.access_policy import Read, Subject, decide, roles_for, shows_number
from kernel.audit import audit_read, reader_of
from kernel.errors import InvalidInput
from kernel.http_edge import RequestBody, int_query, read_body
from kernel.openapi import Operation
from kernel.roles import Actor, Role
from tickets.callbacks import AGENT, AGENT_CALLING, CALLING, DONE, DUE, CallbackService
from tickets.model import Satisfaction

CALLBACKS = web.AppKey("callbacks", CallbackService)
#: Who reads the callback list: callback agents, agents (an agent's turn) and supervisors.
LIST_READERS = frozenset(roles_for(Read.CALLBACKS))
#: Who confirms a citizen's answer on the ticket.
CONFIRMERS = frozenset({Role.CALLBACK_AGENT, Role.SUPERVISOR})

routes = web.RouteTableDef()


class ConfirmBody(RequestBody):
    satisfaction: Satisfaction


@routes.get("/api/callbacks")
async def list_callbacks(request: web.Request) -> web.Response:
    principal = auth.require(request, LIST_READERS)
    status = request.query.get("status") or None
    if status not in (None, DUE, CALLING, DONE, AGENT, AGENT_CALLING):
        raise InvalidInput("status is due, calling, done, agent or agent_calling", field="status")
    tasks = await request.app[CALLBACKS].listed(status, limit=int_query(request, "limit", 100, 1, 500),
                                                reader=principal.user)
    reader = reader_of(principal)
    await audit_read(request, principal, decide(reader, Read.CALLBACKS),
                     detail=f"callback list, {len(tasks)} found: {', '.join(t.ticket_no for t in tasks)}")
    # The desk shows the confirm buttons only to those who may press them.
    return web.json_response({"callbacks": [
        t.to_json(shown=shows_number(reader, Read.CALLBACKS, Subject(confidential=t.confidential)))
        for t in tasks],
                              "may_confirm": principal.role in CONFIRMERS})


@routes.post("/api/callbacks/{id}/confirm")
async def confirm_callback(request: web.Request) -> web.Response:
    principal = auth.require(request, CONFIRMERS)
    body = await read_body(request, ConfirmBody)
    task_id = request.match_info["id"][:64]
    ticket = await request.app[CALLBACKS].confirm(task_id, body.satisfaction,
                                                  Actor(principal.user, Role(principal.role)))
    return web.json_response({"ticket_no": ticket.ticket_no, "status": ticket.status.value,
                              "version": ticket.version})


def operations() -> list[Operation]:
    return [Operation("get", "/api/callbacks", "Callback tasks (the callback agents' list)",
                      LIST_READERS,
                      query=(("status", "string"), ("limit", "integer"))),
            Operation("post", "/api/callbacks/{id}/confirm",
                      "Confirm a callback's answer (满意/基本满意/不满意) on the ticket",
                      CONFIRMERS, ConfirmBody)]
