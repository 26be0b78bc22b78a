"""The agent's desk websocket (`/ws/desk`): the agent's state, their calls, their words.

One socket per open desk page. On connect the agent is signed in to the ACD and the server
sends `desk.ready` with the agent's state, their softphone account and the call they are
offered or on (so a reconnect restores the view). Afterwards the hub (`agent_desk/hub.py`)
pushes the agent's own events; the page sends requests (`agent.set_status`, `call.hangup`,
`call.hold`, `call.wrap_up`). Every request is answered with `ack` or a typed `error`
(`agent_desk/protocol.py`); nothing a browser sends can close the socket or touch a call that
is not the agent's.

Only agents (and supervisors taking calls) have a desk: the signed-in person's user name is the
agent id. The page (`/`, `kernel.pages`) opens the socket with its session cookie; a program
sends a token in the Authorization header.
"""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import suppress
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from agent_desk.hub import DeskHub, DeskOutbox
from agent_desk.ports import DeskBackend, DeskError
from agent_desk.protocol import (
    VERSION,
    DeskProtocolError,
    Hangup,
    Hold,
    Leave,
    Ping,
    PlaceCallback,
    SetStatus,
    ThreeWay,
    Transfer,
    WrapUp,
    error_message,
    parse_client_message,
    protocol_schema,
)
from kernel import auth
from kernel.errors import HotlineError, InvalidInput
from kernel.openapi import ANYONE, Operation
from kernel.pages import page
from kernel.roles import AGENTS, Role

log = logging.getLogger(__name__)

DESK_BACKEND = web.AppKey("desk_backend", DeskBackend)
DESK_HUB = web.AppKey("desk_hub", DeskHub)
DESK_ROLES = AGENTS | {Role.SUPERVISOR}
#: The desk page: where agents land after signing in (supervisors may take calls there too).
DESK_PAGE = page("/", "话务台", DESK_ROLES, home_of=AGENTS, rank=10)
#: Agent ids become SIP endpoint names (`agent-<id>`): a safe alphabet only.
AGENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")

#: A desk that reconnects within this time (a reload, a network blip) keeps the agent signed in.
CLOSE_GRACE_SECONDS = 20.0
DESK_CLOSE_GRACE = web.AppKey("desk_close_grace", float)

routes = web.RouteTableDef()


@routes.get("/ws/desk")
async def desk_socket(request: web.Request) -> web.WebSocketResponse:
    principal = auth.require(request, DESK_ROLES)  # before the upgrade: a refusal is JSON
    agent_id = principal.user
    if not AGENT_ID.match(agent_id):
        raise InvalidInput("agent ids are 1-32 lowercase letters, digits or dashes", user=agent_id)
    backend, hub = request.app[DESK_BACKEND], request.app[DESK_HUB]
    # Oversized messages are refused by the protocol with an error, not by closing the socket.
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=1024 * 1024)
    await ws.prepare(request)
    outbox = DeskOutbox(agent_id)
    hub.attach(outbox)
    hub.cancel_close(agent_id)
    writer = asyncio.create_task(outbox.run(ws.send_str), name=f"desk-writer-{agent_id}")
    try:
        async with auth.watched(request, ws):  # closed when the session or token ends
            await _serve_desk(ws, backend, hub, outbox, agent_id)
    finally:
        hub.detach(outbox)
        if auth.credential_ended(ws):
            # Signed out, revoked, disabled or expired: the softphone password goes at once,
            # not after the grace (an ex-agent must not keep a working SIP account).
            with suppress(HotlineError, DeskError):
                await backend.softphone_ended(agent_id)
        if not hub.has_desk(agent_id):
            hub.close_later(agent_id, backend.desk_closed,
                            request.app.get(DESK_CLOSE_GRACE, CLOSE_GRACE_SECONDS))
        writer.cancel()
        with suppress(asyncio.CancelledError, Exception):
            await writer
    return ws


async def _serve_desk(ws: web.WebSocketResponse, backend: DeskBackend, hub: DeskHub, outbox: DeskOutbox,
                      agent_id: str) -> None:
    try:
        ready = await _ready(backend, hub, agent_id)
        outbox.put_json(ready)
        if ready["call"] is not None:
            hub.replay(outbox, str(ready["call"]["call_id"]))  # after desk.ready: the page knows the call
    except (HotlineError, DeskError) as exc:
        # After the upgrade an error is a frame, never an HTTP answer in the socket.
        log.warning("desk not ready", extra={"agent": agent_id, "error": str(exc)})
        code = exc.code if isinstance(exc, DeskError) else "unavailable"
        await ws.send_json(error_message(code, None))
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER)
        return
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            outbox.put_json(await _handle(backend, agent_id, msg.data))
        elif msg.type is WSMsgType.BINARY:
            outbox.put_json(error_message("malformed", "桌面只接受文本消息"))
        elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


async def _ready(backend: DeskBackend, hub: DeskHub, agent_id: str) -> dict[str, Any]:
    # `desk.ready` promises that events flow from now on: wait for the hub's subscription
    # (a Redis outage delays the desk's events, never its answer: the page shows the state).
    with suppress(TimeoutError):
        await asyncio.wait_for(hub.connected.wait(), 5.0)
    agent = await backend.sign_in(agent_id)
    call = await backend.current_call(agent_id)
    if call is not None:
        hub.follow_call(agent_id, str(call["call_id"]))
    return {"type": "desk.ready", "version": VERSION, "agent": agent,
            "softphone": await backend.softphone(agent_id), "call": call}


async def _handle(backend: DeskBackend, agent_id: str, raw: str) -> dict[str, Any]:
    ref: str | None = None
    try:
        message = parse_client_message(raw)
        ref = message.ref
        result: dict[str, Any] = {}
        match message:
            case Ping():
                return {"type": "pong", "ref": ref}
            case SetStatus():
                result = {"agent": await backend.set_status(agent_id, message.status, message.reason)}
            case Hangup():
                await backend.hangup(agent_id, message.call_id)
            case Hold():
                await backend.hold(agent_id, message.call_id, message.on)
            case ThreeWay():
                if not message.caller_consented:  # 临沂条例第十四条: 征得诉求人同意
                    raise DeskError("not_allowed", "请先征得来电人同意，再呼叫单位三方连线")
                log.info("the caller consented to a three-way call", extra={
                    "call_id": message.call_id, "agent": agent_id, "unit": message.unit})
                await backend.three_way(agent_id, message.call_id, message.unit)
            case Transfer():
                await backend.transfer(agent_id, message.call_id, message.line, message.warm)
            case Leave():
                await backend.leave(agent_id, message.call_id)
            case PlaceCallback():
                result = {"call_id": await backend.place_callback(agent_id, message.task_id)}
            case WrapUp():
                result = {"agent": await backend.wrap_up(
                    agent_id, message.call_id, no_new_content=message.no_new_content,
                    harassment=message.harassment, note=message.note)}
        return {"type": "ack", "ref": ref, **result}
    except DeskProtocolError as exc:
        return exc.to_message()
    except DeskError as exc:
        return error_message(exc.code, exc.message, ref)
    except HotlineError as exc:
        log.warning("desk request failed", extra={"agent": agent_id, "error": str(exc)})
        return error_message("unavailable", None, ref)


@routes.get("/api/desk/protocol")
async def protocol(request: web.Request) -> web.Response:
    return web.json_response(protocol_schema())


def operations() -> list[Operation]:
    return [
        Operation("get", "/ws/desk", "The agent's desk (websocket; the session cookie, or a token in the "
                  "Authorization header; see agent_desk/PROTOCOL.md)", DESK_ROLES, success=101,
                  content_type="websocket"),
        Operation("get", "/api/desk/protocol", "The desk protocol: JSON schemas, version, errors",
                  ANYONE),
    ]
