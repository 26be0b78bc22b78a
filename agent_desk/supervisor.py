"""The supervisor's live calls over HTTP: the list, their softphone, listen / whisper / barge.

    GET  /api/live/calls                          calls in progress (supervisor)
    POST /api/live/softphone                      the supervisor's browser softphone account
    POST /api/live/calls/{call_id}/monitor        {"mode": "listen" | "whisper" | "barge"}

The audio reaches the supervisor's own browser softphone (the one the agent desk uses): the
backend rings it and bridges it to an ARI snoop of the call (`telephony/monitor.py`). Hearing a
live call is hearing a citizen: every attempt is written to the access audit, refused ones too;
so is every read of the list of live calls (callers' numbers). Who may do either is
`kernel.access_policy`.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from agent_desk.ports import SupervisorBackend
from kernel import auth
from kernel.access_policy import Read, Subject, decide, number_view, roles_for, shows_number
from kernel.audit import audit_read, reader_of
from kernel.errors import PermissionDenied
from kernel.http_edge import RequestBody, read_body
from kernel.openapi import Operation
from kernel.pages import page
from kernel.roles import Role
from kernel.session_softphone import softphone_response

SUPERVISOR_BACKEND = web.AppKey("supervisor_backend", SupervisorBackend)
SUPERVISORS = {Role.SUPERVISOR.value}
#: Who lists live calls, and who listens to, whispers on or barges into them.
LIVE_CALL_READERS = roles_for(Read.LIVE_CALLS)
MONITORS = roles_for(Read.LIVE_AUDIO)
#: The supervisor's page: live calls, listening and the wallboard; where supervisors land.
SUPERVISOR_PAGE = page("/supervisor", "班长席", SUPERVISORS, home_of=SUPERVISORS, rank=20)

routes = web.RouteTableDef()


class MonitorBody(RequestBody):
    mode: Literal["listen", "whisper", "barge"] = Field(description="监听 / 耳语 / 强插")


@routes.get("/api/live/calls")
async def live_calls(request: web.Request) -> web.Response:
    principal = auth.require(request, LIVE_CALL_READERS)
    reader = reader_of(principal)
    calls = await request.app[SUPERVISOR_BACKEND].live_calls()
    await audit_read(request, principal, decide(reader, Read.LIVE_CALLS),
                     detail=f"live calls, {len(calls)}: {', '.join(str(c.get('call_id')) for c in calls)}")
    for call in calls:  # a known confidential caller's number is masked here too
        shown = shows_number(reader, Read.LIVE_CALLS, Subject(confidential=bool(call.get("confidential"))))
        call["caller_number"] = number_view(call.get("caller_number"), shown)
    return web.json_response({"calls": calls}, headers={"Cache-Control": "no-store"})


@routes.post("/api/live/softphone")
async def softphone(request: web.Request) -> web.Response:
    principal = auth.require(request, SUPERVISORS)
    return await softphone_response(request, principal.user, request.app[SUPERVISOR_BACKEND])


@routes.post("/api/live/calls/{call_id}/monitor")
async def monitor(request: web.Request) -> web.Response:
    principal = auth.require(request)
    call_id = request.match_info["call_id"][:64]
    body = await read_body(request, MonitorBody)
    decision = decide(reader_of(principal), Read.LIVE_AUDIO)
    await audit_read(request, principal, decision, call_id=call_id, detail=body.mode)
    if not decision.allowed:
        raise PermissionDenied("only supervisors listen to live calls", user=principal.user)
    started = await request.app[SUPERVISOR_BACKEND].monitor(call_id, principal.user, body.mode)
    return web.json_response(started, status=201)


def operations() -> list[Operation]:
    return [
        Operation("get", "/api/live/calls", "Calls in progress, with who monitors them (audited)",
                  LIVE_CALL_READERS),
        Operation("post", "/api/live/softphone", "The supervisor's browser softphone account (its SIP "
                  "password withdrawn when the session ends)", SUPERVISORS, api_keys=False),
        Operation("post", "/api/live/calls/{call_id}/monitor",
                  "Listen, whisper or barge on a live call in the supervisor's softphone (audited, "
                  "refusals too)", MONITORS, MonitorBody, success=201),
    ]
