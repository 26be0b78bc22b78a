"""Supervisor HTTP API of the anti-abuse screen (aiohttp route table).

    GET  /api/abuse/restricted              standing measures, soonest expiry first
    POST /api/abuse/{number}/lift           {"reason": "..."}            reason mandatory
    POST /api/abuse/{number}/extend         {"seconds": 600, "reason": "..."}
    GET  /api/abuse/{number}/history?limit=100
    POST /api/abuse/{number}/appeal         {"statement": "...", "received_by": "agent7"}

The `AbuseScreen` comes from the application under `ABUSE_SCREEN` (set by the composition root).

Authentication: a signed bearer token (`kernel.auth`) names the person and the role. Only
`supervisor` may list, lift, extend or read history; an appeal is
lodged on the caller's behalf, so an `agent` may record it too. Who reads a caller's screening
history and the standing measures is `kernel.access_policy` (`Read.ABUSE_HISTORY`); each read
writes one row to the access audit.

Errors from the one hierarchy (`kernel.errors`) become JSON `{"error": code, "message": ...}`
with `http_status_for`; invalid bodies are `InvalidInput` (400).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field

from abuse.limiter import AbuseScreen
from abuse.policy import Measure, caller_key
from kernel import auth
from kernel.access_policy import Read, decide, roles_for
from kernel.audit import audit_read, reader_of
from kernel.auth import Principal
from kernel.http_edge import RequestBody, int_query, read_body
from kernel.openapi import Operation
from kernel.phone_number import WITHHELD, PhoneNumber
from kernel.roles import AGENTS

ABUSE_SCREEN = web.AppKey("abuse_screen", AbuseScreen)
SUPERVISOR = "supervisor"
SUPERVISORS = frozenset({SUPERVISOR})
#: Who reads callers' screening history and the standing measures.
HISTORY_READERS = roles_for(Read.ABUSE_HISTORY)
#: Whether a number is a confidential (保密) caller's: a port the composition root fills from
#: the tickets, so that the audit keeps such a number masked.
ConfidentialCaller = Callable[[str], Awaitable[bool]]
CONFIDENTIAL_CALLER: web.AppKey[ConfidentialCaller] = web.AppKey("abuse_confidential_caller")
#: An appeal is lodged on the caller's behalf: the agent who takes it may record it too.
APPEAL_TAKERS = SUPERVISORS | AGENTS

routes = web.RouteTableDef()

_M = TypeVar("_M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


_Body = RequestBody


class LiftBody(_Body):
    reason: str = Field(min_length=1, max_length=500)


class ExtendBody(_Body):
    seconds: int = Field(gt=0, le=30 * 86400)
    reason: str = Field(min_length=1, max_length=500)


class AppealBody(_Body):
    statement: str = Field(min_length=1, max_length=2000)
    received_by: str | None = Field(default=None, max_length=64)



def _require_role(request: web.Request, *allowed: str) -> str:
    """The acting user's name, if the token's role is one of `allowed`."""
    return auth.require(request, allowed).user


_body = read_body


def _number(request: web.Request) -> str:
    number = request.match_info["number"]
    if number.strip().lower() in WITHHELD:
        return caller_key(number)  # the withheld callers' class, screened as one
    return caller_key(PhoneNumber.parse(number, field="number").digits)


def _screen(request: web.Request) -> AbuseScreen:
    return request.app[ABUSE_SCREEN]


def measure_json(measure: Measure) -> dict[str, Any]:
    return {
        "caller": measure.caller,
        "level": measure.level.value,
        "reason": measure.reason,
        "created_at": measure.created_at.isoformat(),
        "expires_at": measure.expires_at.isoformat(),
        "decided_by": measure.decided_by,
        "decision_id": measure.decision_id,
        "appealed": measure.appealed,
    }


async def _audited(request: web.Request, principal: Principal, *, caller: str | None, detail: str) -> None:
    is_confidential = request.app.get(CONFIDENTIAL_CALLER)
    confidential = caller is not None and is_confidential is not None and await is_confidential(caller)
    await audit_read(request, principal, decide(reader_of(principal), Read.ABUSE_HISTORY),
                     caller_number=caller, confidential=confidential, detail=detail)


@routes.get("/api/abuse/restricted")
async def list_restricted(request: web.Request) -> web.Response:
    principal = auth.require(request, HISTORY_READERS)
    measures = await _screen(request).list_restricted()
    await _audited(request, principal, caller=None, detail=f"standing measures, {len(measures)} callers")
    return web.json_response({"measures": [measure_json(m) for m in measures]})


@routes.post("/api/abuse/{number}/lift")
async def lift(request: web.Request) -> web.Response:
    supervisor = _require_role(request, SUPERVISOR)
    body = await _body(request, LiftBody)
    record = await _screen(request).lift(_number(request), supervisor=supervisor, reason=body.reason)
    return web.json_response({"audit": record.as_json()})


@routes.post("/api/abuse/{number}/extend")
async def extend(request: web.Request) -> web.Response:
    supervisor = _require_role(request, SUPERVISOR)
    body = await _body(request, ExtendBody)
    measure = await _screen(request).extend(
        _number(request), supervisor=supervisor, by=timedelta(seconds=body.seconds), reason=body.reason
    )
    return web.json_response({"measure": measure_json(measure)})


@routes.get("/api/abuse/{number}/history")
async def history(request: web.Request) -> web.Response:
    principal = auth.require(request, HISTORY_READERS)
    limit = int_query(request, "limit", 100, 1, 1000)
    caller = _number(request)
    records = await _screen(request).history(caller, limit=limit)
    await _audited(request, principal, caller=caller, detail=f"screening history, {len(records)} records")
    return web.json_response({"history": [r.as_json() for r in records]})


@routes.post("/api/abuse/{number}/appeal")
async def appeal(request: web.Request) -> web.Response:
    user = _require_role(request, *APPEAL_TAKERS)
    body = await _body(request, AppealBody)
    measure = await _screen(request).appeal(
        _number(request), statement=body.statement, received_by=body.received_by or user
    )
    return web.json_response({"measure": measure_json(measure)}, status=201)


def operations() -> list[Operation]:
    return [
        Operation("get", "/api/abuse/restricted", "Callers under a standing measure (audited)", HISTORY_READERS),
        Operation("post", "/api/abuse/{number}/lift", "Lift a caller's measure (reason required)",
                  SUPERVISORS, LiftBody),
        Operation("post", "/api/abuse/{number}/extend", "Extend a caller's measure (capped)",
                  SUPERVISORS, ExtendBody),
        Operation("get", "/api/abuse/{number}/history", "A caller's screening audit trail (audited)",
                  HISTORY_READERS, query=(("limit", "integer"),)),
        Operation("post", "/api/abuse/{number}/appeal", "Record a caller's appeal (申诉)",
                  APPEAL_TAKERS, AppealBody, success=201),
    ]
