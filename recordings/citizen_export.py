"""One citizen's data, gathered for their request (《个人信息保护法》 第四十五条: a person may
consult and copy their personal information): every ticket they raised with its events, every
call from their number with its transcript, and the list of recordings (which exist, how long;
the audio itself is handed over separately, by the recording API, each read audited).

Read-only, and blind to roles: who may ask, and the audit row, are the caller's business
(`recordings/export_api.py`, `hotline export-caller`). Numbers are matched as the intake stores
them: a ticket by the normalized number, a call by what the network sent or its normalized form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.clock import Clock, utc_now
from kernel.privacy import normalize_number
from kernel.schema import calls, ticket_events, tickets, transcript_segments


@dataclass(frozen=True)
class CitizenExport:
    caller_number: str
    tickets: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    recordings: list[dict[str, Any]]
    exported_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"caller_number": self.caller_number, "exported_at": self.exported_at.isoformat(),
                "tickets": self.tickets, "calls": self.calls, "recordings": self.recordings}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


_TICKET_FIELDS = ("ticket_no", "status", "channel", "origin", "caller_number", "caller_name", "caller_confidential",
                  "ticket_type", "urgency", "district", "location", "summary", "content", "lead_unit",
                  "call_id", "created_at", "dispatched_at", "deadline", "satisfaction", "closure_reason",
                  "closed_at")
_CALL_FIELDS = ("id", "caller_number", "caller_name", "dialed_number", "started_at", "answered_at", "ended_at",
                "end_reason", "queue", "transferred_to")


class CitizenExports:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    async def export(self, caller_number: str) -> CitizenExport:
        key = normalize_number(caller_number) or caller_number
        t, c, s, e = tickets.c, calls.c, transcript_segments.c, ticket_events.c
        async with self._engine.connect() as conn:
            ticket_rows = (await conn.execute(select(tickets).where(t.caller_number == key)
                                              .order_by(t.created_at, t.ticket_no))).mappings().all()
            ticket_nos = [row["ticket_no"] for row in ticket_rows]
            event_rows = (await conn.execute(select(ticket_events).where(e.ticket_no.in_(ticket_nos))
                                             .order_by(e.ticket_no, e.version))).mappings().all() if ticket_nos else []
            call_ids_of_tickets = {row["call_id"] for row in ticket_rows if row["call_id"]}
            call_rows = (await conn.execute(select(calls).where(
                c.caller_number.in_({caller_number, key}) | c.id.in_(call_ids_of_tickets))
                .order_by(c.started_at))).mappings().all()
            call_ids = [row["id"] for row in call_rows]
            segment_rows = (await conn.execute(select(transcript_segments).where(s.call_id.in_(call_ids))
                                               .order_by(s.call_id, s.start_seconds, s.id))).mappings().all() \
                if call_ids else []
        events: dict[str, list[dict[str, Any]]] = {}
        for row in event_rows:
            events.setdefault(row["ticket_no"], []).append({
                "version": row["version"], "type": row["event_type"], "at": _plain(row["at"]),
                "actor": row["actor"], "role": row["role"], "unit": row["actor_unit"],
                "details": json.loads(row["payload"])})
        segments: dict[str, list[dict[str, Any]]] = {}
        for row in segment_rows:
            segments.setdefault(row["call_id"], []).append({
                "speaker": row["speaker"], "start": row["start_seconds"], "end": row["end_seconds"],
                "text": row["text"]})
        return CitizenExport(
            caller_number=key,
            tickets=[{**{name: _plain(row[name]) for name in _TICKET_FIELDS},
                      "events": events.get(row["ticket_no"], [])} for row in ticket_rows],
            calls=[{**{("call_id" if name == "id" else name): _plain(row[name]) for name in _CALL_FIELDS},
                    "transcript": segments.get(row["id"], [])} for row in call_rows],
            recordings=[{"call_id": row["id"], "seconds": row["recording_seconds"],
                         "url": f"/api/calls/{row['id']}/recording"}
                        for row in call_rows if row["recording_path"]],
            exported_at=self._clock())
