"""HTTP API of transcription: the ticket draft read from what a caller has said so far.

    POST /api/asr/draft   {"text": "..."} -> type, district, street, address, callback number,
                          keywords and suggested units, each with its confidence and evidence

The desk posts the caller's final transcript lines while the call goes on and pre-fills the
ticket form with the answer; fields the agent has edited are never overwritten (the page
keeps track). Pure extraction (`asr/extract.py`): no database, no audio.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import Field

from asr.extract import Gazetteer, extract_ticket_draft
from asr.transcript_store import draft_to_json
from kernel import auth
from kernel.http_edge import RequestBody, read_body
from kernel.openapi import Operation
from kernel.roles import HOTLINE_STAFF

GAZETTEER = web.AppKey("asr_gazetteer", Gazetteer)
SUGGEST_UNITS = web.AppKey("asr_suggest_units", Callable[[str], list[Any]])

routes = web.RouteTableDef()


class DraftBody(RequestBody):
    text: str = Field(min_length=1, max_length=10_000)


@routes.post("/api/asr/draft")
async def draft(request: web.Request) -> web.Response:
    auth.require(request, HOTLINE_STAFF)
    body = await read_body(request, DraftBody)
    extracted = extract_ticket_draft(body.text, request.app[GAZETTEER],
                                     request.app.get(SUGGEST_UNITS))
    return web.json_response({"draft": json.loads(draft_to_json(extracted))})


def operations() -> list[Operation]:
    return [Operation("post", "/api/asr/draft", "A ticket draft read from a caller's words",
                      "agent, dispatcher, callback_agent, supervisor", DraftBody)]
