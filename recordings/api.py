"""HTTP API of calls and their recordings (an aiohttp route table).

    GET /api/calls?from=&to=&caller=&agent=&ticket=&end_reason=&abandoned=&limit=&offset=
    GET /api/calls/end-reasons            the end reasons calls were stored with (the page's filter)
    GET /api/calls/{call_id}              the call, its tickets, events and transcript
    GET /api/calls/{call_id}/recording    the audio (HTTP Range, no-store), decrypted when sealed at rest
                                          and refused (500, audited) when it fails its integrity check
                                          (recordings/audio.py); the recordings page's <audio> sends the
                                          session cookie, never a token in its address
    POST /api/calls/{call_id}/reveal      a confidential (保密) caller's number, for a supervisor

Who may hear what, and whose number is shown, is `kernel.access_policy`; each request that reads
a call (list, detail and transcript, recording, reveal) writes exactly one row to the access
audit (`kernel.audit`) before the data leaves, refused attempts too (answered 403).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from kernel import auth
from kernel.access_policy import (
    Decision,
    Read,
    Subject,
    about_reader,
    decide,
    number_view,
    roles_for,
    shows_number,
)
from kernel.audit import audit_read, reader_of
from kernel.auth import Principal
from kernel.errors import DamagedFile, InvalidInput, NotFound, PermissionDenied
from kernel.openapi import SIGNED_IN, Operation
from kernel.privacy import mask_name, normalize_number
from kernel.sealed_files import DataKeys, plain_name
from recordings.audio import audio_type, check_sealed, serve_sealed
from recordings.query import int_query, text_query, when_query
from recordings.store import CallFilter, CallStore, CallSummary, Segment

CALL_STORE = web.AppKey("call_store", CallStore)
#: The keys that open sealed recordings (kernel/sealed_files.py).
DATA_KEYS = web.AppKey("data_keys", DataKeys)
log = logging.getLogger(__name__)

#: Who lists calls (each call's number shown per `Read.CALL`).
LIST_CALLS = roles_for(Read.CALL_LIST)
REVEALERS = roles_for(Read.CONFIDENTIAL_NUMBER)

routes = web.RouteTableDef()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def subject_of(call: CallSummary) -> Subject:
    """The call as the policy sees it: who answered it, whether its caller is confidential, and
    the staff its tickets complain about (the call of a complaint about someone is not theirs to
    hear, whatever their role)."""
    concerned = frozenset(t.about_staff for t in call.tickets if t.about_staff)
    return Subject(people=frozenset({call.agent_id} if call.agent_id else ()), confidential=call.confidential,
                   concerned=concerned)


def _first_ticket(call: CallSummary) -> str | None:
    return call.tickets[0].ticket_no if call.tickets else None


def call_json(call: CallSummary, principal: Principal) -> dict[str, Any]:
    """A call as the principal may see it: the number masked unless the policy shows it."""
    reader = reader_of(principal)
    visible = shows_number(reader, Read.CALL, subject_of(call))
    talk = (call.ended_at - call.answered_at).total_seconds() if call.answered_at else 0.0
    return {
        "call_id": call.call_id,
        "caller_number": number_view(call.caller_number, visible),
        "caller_name": call.caller_name if visible else mask_name(call.caller_name),
        "number_masked": not visible,
        "confidential": call.confidential,
        "started_at": _iso(call.started_at),
        "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at),
        "duration_seconds": round((call.ended_at - call.started_at).total_seconds(), 2),
        "talk_seconds": round(talk, 2),
        "end_reason": call.end_reason,
        "agents": [call.agent_id] if call.agent_id else [],
        "queue": call.queue,
        "queue_seconds": call.queue_seconds,
        "screen_level": call.screen_level,
        "recording_seconds": call.recording_seconds,
        "has_recording": call.recording_path is not None,
        "may_hear": decide(reader, Read.RECORDING, subject_of(call)).allowed,
        # A confidential caller's number is shown only by an explicit, audited reveal.
        "may_reveal": call.confidential and decide(reader, Read.CONFIDENTIAL_NUMBER, subject_of(call)).allowed,
        # A complaint about the reader is no ticket of theirs to see, even beside a call they list.
        "tickets": [{"ticket_no": t.ticket_no, "status": t.status, "summary": t.summary}
                    for t in call.tickets if not about_reader(reader, (t.about_staff,))],
    }


def _events(call: CallSummary) -> list[dict[str, Any]]:
    """The call's timeline as the call record keeps it."""
    events: list[dict[str, Any]] = [{"type": "started", "at": _iso(call.started_at)}]
    if call.answered_at:
        events.append({"type": "answered", "at": _iso(call.answered_at)})
    if call.agent_id:
        events.append({"type": "agent", "agent_id": call.agent_id, "queue_seconds": call.queue_seconds})
    events.append({"type": "ended", "at": _iso(call.ended_at), "reason": call.end_reason})
    return events


def _segment_json(segment: Segment) -> dict[str, Any]:
    return {"speaker": segment.speaker, "start": segment.start, "end": segment.end,
            "text": segment.text, "confidence": segment.confidence, "source": segment.source}


async def _read_or_403(request: web.Request, principal: Principal, call: CallSummary,
                       read: Read, detail: str, decision: Decision | None = None) -> None:
    """The policy's answer for one read of `call`, written to the audit (its one row); 403 when
    refused."""
    decision = decision or decide(reader_of(principal), read, subject_of(call))
    await audit_read(request, principal, decision, call_id=call.call_id, ticket_no=_first_ticket(call),
                     caller_number=call.caller_number, confidential=call.confidential, detail=detail)
    if decision.absent:
        raise NotFound("no such call", call_id=call.call_id)
    if not decision.allowed:
        raise PermissionDenied(f"you may not read this call: {decision.reason}",
                               call_id=call.call_id, user=principal.user)


@routes.get("/api/calls")
async def list_calls(request: web.Request) -> web.Response:
    principal = auth.require(request, LIST_CALLS)
    caller = text_query(request, "caller", 32)
    query = CallFilter(
        since=when_query(request, "from"), until=when_query(request, "to"),
        caller=(normalize_number(caller) or caller) if caller else None,
        agent=text_query(request, "agent"), ticket_no=text_query(request, "ticket", 32), reader=principal.user,
        end_reason=text_query(request, "end_reason"), abandoned=_flag(request, "abandoned"),
        limit=int_query(request, "limit", 50, 1, 500), offset=int_query(request, "offset", 0, 0, 1_000_000))
    found = await request.app[CALL_STORE].list_calls(query)
    # One row for the list; a search by a number is reading that caller's history of calls.
    ids = ", ".join(call.call_id for call in found)
    await audit_read(request, principal, decide(reader_of(principal), Read.CALL_LIST),
                     caller_number=query.caller, confidential=any(c.confidential for c in found),
                     detail=f"calls {'search by caller' if query.caller else 'list'}, {len(found)} found: {ids}")
    return web.json_response({
        "calls": [call_json(call, principal) for call in found],
        "limit": query.limit, "offset": query.offset,
        "next_offset": query.offset + len(found) if len(found) == query.limit else None,
    })


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false")
    if value not in ("true", "false"):
        raise InvalidInput(f"{name} must be true or false", field=name)
    return value == "true"


@routes.get("/api/calls/end-reasons")
async def end_reasons(request: web.Request) -> web.Response:
    """No citizen's data: the words calls ended with, for the page's filter (not audited)."""
    auth.require(request, LIST_CALLS)
    return web.json_response({"end_reasons": await request.app[CALL_STORE].end_reasons()},
                             headers={"Cache-Control": "no-store"})


@routes.get("/api/calls/{call_id}")
async def get_call(request: web.Request) -> web.Response:
    principal = auth.require(request)
    store = request.app[CALL_STORE]
    call = await store.get_call(request.match_info["call_id"][:64])
    await _read_or_403(request, principal, call, Read.CALL, "call detail and transcript")
    segments = await store.transcript(call.call_id)
    return web.json_response({
        "call": call_json(call, principal),
        "events": _events(call),
        "transcript": [_segment_json(s) for s in segments],
        "recording_url": f"/api/calls/{call.call_id}/recording" if call.recording_path else None,
    })


@routes.get("/api/calls/{call_id}/recording")
async def get_recording(request: web.Request) -> web.StreamResponse:
    principal = auth.require(request)
    call = await request.app[CALL_STORE].get_call(request.match_info["call_id"][:64])
    path = call.recording_path
    if path is None or not path.is_file():
        raise NotFound("this call has no recording", call_id=call.call_id)
    asked = request.headers.get("Range", "").strip()[:100]
    decision = decide(reader_of(principal), Read.RECORDING, subject_of(call))
    sealed = False
    if decision.allowed:
        try:
            sealed = await check_sealed(path, call.recording_sha256)
        except DamagedFile as exc:
            # Never served; the read's one audit row says so, the log names the call only.
            log.error("recording refused: it failed its integrity check",
                      extra={"call_id": call.call_id, "error": exc.message})
            await audit_read(request, principal, Decision(False, "the stored recording failed its integrity "
                                                          "check (tampered or truncated)", decision.kind),
                             call_id=call.call_id, ticket_no=_first_ticket(call),
                             caller_number=call.caller_number, confidential=call.confidential,
                             detail=asked or "full file")
            raise DamagedFile("this recording failed its integrity check and is not served",
                              call_id=call.call_id) from None
    await _read_or_403(request, principal, call, Read.RECORDING, asked or "full file", decision)
    headers = {"Content-Type": audio_type(path), "Cache-Control": "no-store",
               "Content-Disposition": f'inline; filename="call-{call.call_id}{Path(plain_name(path)).suffix.lower()}"'}
    if sealed:
        return await serve_sealed(request, path, request.app[DATA_KEYS], headers)
    return web.FileResponse(path, headers=headers)


@routes.post("/api/calls/{call_id}/reveal")
async def reveal_number(request: web.Request) -> web.Response:
    """A confidential caller's number, shown in no view: each reveal is one audited read."""
    principal = auth.require(request, REVEALERS)
    call = await request.app[CALL_STORE].get_call(request.match_info["call_id"][:64])
    await _read_or_403(request, principal, call, Read.CONFIDENTIAL_NUMBER, "number revealed")
    return web.json_response({"call_id": call.call_id, "caller_number": call.caller_number},
                             headers={"Cache-Control": "no-store"})


def operations() -> list[Operation]:
    # No role gate before the call is read: the policy decides per call, and a refusal is audited
    # with the call's caller and ticket (so an unknown call id is 404 for every role).
    hearers = ("kernel.access_policy decides per call, 403 audited: a supervisor every call; an agent, "
               "senior_agent, dispatcher or callback_agent the calls they took part in")
    return [
        Operation("get", "/api/calls", "Calls, newest first; numbers masked where the reader may not hear the call",
                  LIST_CALLS,
                  query=(("from", "string"), ("to", "string"), ("caller", "string"), ("agent", "string"),
                         ("ticket", "string"), ("end_reason", "string"), ("abandoned", "boolean"),
                         ("limit", "integer"), ("offset", "integer"))),
        Operation("get", "/api/calls/end-reasons", "The end reasons calls were stored with (the filter's values)",
                  LIST_CALLS),
        Operation("get", "/api/calls/{call_id}", "A call with its tickets, events and transcript (audited)",
                  SIGNED_IN, note=hearers),
        Operation("get", "/api/calls/{call_id}/recording",
                  "The call's recording; HTTP Range gives 206 partial content (audited)", SIGNED_IN,
                  note=hearers, content_type="audio/wav"),
        Operation("post", "/api/calls/{call_id}/reveal",
                  "A confidential caller's full number (supervisors; each reveal audited)", REVEALERS),
    ]
