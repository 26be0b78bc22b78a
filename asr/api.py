"""HTTP API of transcription: the ticket draft read from what a caller has said so far.

    POST /api/asr/draft   {"text": "...", "caller_number": "..."} -> type, district, street,
                          address, callback number, keywords and suggested units, each with its
                          confidence and evidence

The desk posts the caller's final transcript lines while the call goes on and pre-fills the
ticket form with the answer; fields the agent has edited are never overwritten (the page
keeps track). With the call's `caller_number` ("" when withheld) a local number heard in the
call may be offered when the caller id is unusable; without it, only a complete number (a
mobile, a landline with its area code) is, because the form already holds the caller id.
Pure extraction (`asr/extract.py`): no database, no audio.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import Field, field_validator

from asr.extract import TicketDraft, extract_ticket_draft
from asr.gazetteer import Gazetteer
from asr.transcript_store import draft_to_json
from kernel import auth
from kernel.http_edge import RequestBody, read_body
from kernel.openapi import Operation
from kernel.phone_number import validated_digits
from kernel.roles import HOTLINE_STAFF


@dataclass(frozen=True)
class DraftReader:
    """What reading a draft needs: the city's places and the dispatch catalogue's matcher."""

    gazetteer: Gazetteer
    suggest_units: Callable[[str], list[Any]] | None = None

    def read(self, text: str, caller_number: str | None = None) -> TicketDraft:
        return extract_ticket_draft(text, self.gazetteer, self.suggest_units, caller_id=caller_number)


DRAFT_READER = web.AppKey("asr_draft_reader", DraftReader)

routes = web.RouteTableDef()


class DraftBody(RequestBody):
    text: str = Field(min_length=1, max_length=10_000)
    caller_number: str | None = Field(default=None, max_length=64)

    @field_validator("caller_number", mode="before")
    @classmethod
    def _caller_number(cls, value: object) -> str | None:
        return validated_digits(value, field="caller_number")


@routes.post("/api/asr/draft")
async def draft(request: web.Request) -> web.Response:
    auth.require(request, HOTLINE_STAFF)
    body = await read_body(request, DraftBody)
    # Reading 10,000 characters takes the better part of a second of CPU: in a thread, so the
    # loop keeps serving (and Redis and database answers are not timed out meanwhile).
    extracted = await asyncio.to_thread(request.app[DRAFT_READER].read, body.text, body.caller_number)
    return web.json_response({"draft": json.loads(draft_to_json(extracted))})


def operations() -> list[Operation]:
    return [Operation("post", "/api/asr/draft", "A ticket draft read from a caller's words",
                      "agent, dispatcher, callback_agent, supervisor", DraftBody)]
