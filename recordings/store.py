"""Reading calls for supervisors: the calls table with its tickets and transcript (repository).

Read-only: calls are written by the call path (`tickets/intake.py`), transcripts by live
transcription; this module never changes them. It maps rows to the small dataclasses the API
serialises, so the handlers do not see SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.errors import NotFound
from kernel.schema import calls, tickets, transcript_segments, visible_to


@dataclass(frozen=True, slots=True)
class CallTicket:
    ticket_no: str
    status: str
    summary: str | None
    caller_confidential: bool
    #: A complaint about hotline staff: the account of the staff member concerned
    #: (`kernel.access_policy.Subject.concerned`: never shown to them).
    about_staff: str | None = None


@dataclass(frozen=True, slots=True)
class CallSummary:
    call_id: str
    caller_number: str
    caller_name: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    end_reason: str | None
    agent_id: str | None
    queue: str | None
    queue_seconds: float | None
    screen_level: str | None
    recording_path: Path | None
    recording_seconds: float | None
    tickets: tuple[CallTicket, ...]
    #: The sealed recording's digest as stored (kernel/sealed_files.py), checked on every read.
    recording_sha256: str | None = None

    @property
    def confidential(self) -> bool:
        """A call is confidential when any of its tickets keeps the caller confidential."""
        return any(t.caller_confidential for t in self.tickets)


@dataclass(frozen=True, slots=True)
class Segment:
    speaker: str
    start: float
    end: float
    text: str
    confidence: float | None
    source: str


@dataclass(frozen=True, slots=True)
class CallFilter:
    since: datetime | None = None
    until: datetime | None = None
    caller: str | None = None
    agent: str | None = None
    ticket_no: str | None = None
    #: Who searches (with `ticket_no`): a complaint about them is no ticket to find calls by.
    reader: str | None = None
    end_reason: str | None = None
    #: Only callers who gave up waiting: queued, answered by no one, no message left (the
    #: wallboard's rule, agent_desk/wallboard.py). Their end reason says only how the line closed.
    abandoned: bool = False
    limit: int = 50
    offset: int = 0


class CallStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def list_calls(self, query: CallFilter) -> list[CallSummary]:
        """Calls matching `query`, newest first."""
        c = calls.c
        statement = select(calls)
        if query.since is not None:
            statement = statement.where(c.started_at >= query.since)
        if query.until is not None:
            statement = statement.where(c.started_at < query.until)
        if query.caller:
            statement = statement.where(c.caller_number == query.caller)
        if query.agent:
            statement = statement.where(c.agent_id == query.agent)
        if query.end_reason:
            statement = statement.where(c.end_reason == query.end_reason)
        if query.abandoned:
            messages = select(tickets.c.call_id).where(tickets.c.origin == "message", tickets.c.call_id.is_not(None))
            statement = statement.where(c.queue_seconds.is_not(None), c.agent_id.is_(None), c.id.not_in(messages))
        if query.ticket_no:
            found = select(tickets.c.call_id).where(tickets.c.ticket_no == query.ticket_no)
            if query.reader is not None:
                found = found.where(visible_to(query.reader))
            statement = statement.where(c.id.in_(found))
        statement = statement.order_by(c.started_at.desc(), c.id).limit(query.limit).offset(query.offset)
        async with self._engine.connect() as conn, conn.begin():
            rows = (await conn.execute(statement)).mappings().all()
            by_call = await self._tickets(conn, [row["id"] for row in rows])
        return [_summary(row, by_call.get(row["id"], ())) for row in rows]

    async def end_reasons(self) -> list[str]:
        """Every end reason a call was stored with (the call path's own words and Asterisk's
        hang-up causes): what the recordings page's filter offers, so that each finds calls."""
        async with self._engine.connect() as conn:
            found = await conn.execute(select(calls.c.end_reason).where(calls.c.end_reason.is_not(None))
                                       .distinct().order_by(calls.c.end_reason))
        return [str(reason) for reason in found.scalars()]

    async def get_call(self, call_id: str) -> CallSummary:
        async with self._engine.connect() as conn, conn.begin():
            row = (await conn.execute(select(calls).where(calls.c.id == call_id))).mappings().first()
            if row is None:
                raise NotFound("no such call", call_id=call_id)
            by_call = await self._tickets(conn, [call_id])
        return _summary(row, by_call.get(call_id, ()))

    async def transcript(self, call_id: str) -> list[Segment]:
        s = transcript_segments.c
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(transcript_segments).where(s.call_id == call_id)
                                       .order_by(s.start_seconds, s.id))).mappings().all()
        return [Segment(row["speaker"], row["start_seconds"], row["end_seconds"], row["text"],
                        row["confidence"], row["source"]) for row in rows]

    @staticmethod
    async def _tickets(conn: AsyncConnection, call_ids: list[str]) -> dict[str, tuple[CallTicket, ...]]:
        if not call_ids:
            return {}
        t = tickets.c
        rows = (await conn.execute(
            select(t.call_id, t.ticket_no, t.status, t.summary, t.caller_confidential, t.about_staff)
            .where(t.call_id.in_(call_ids)).order_by(t.created_at))).mappings().all()
        found: dict[str, list[CallTicket]] = {}
        for row in rows:
            found.setdefault(row["call_id"], []).append(CallTicket(
                row["ticket_no"], row["status"], row["summary"], bool(row["caller_confidential"]),
                row["about_staff"]))
        return {call_id: tuple(items) for call_id, items in found.items()}


def _summary(row: RowMapping, call_tickets: tuple[CallTicket, ...]) -> CallSummary:
    path = row["recording_path"]
    return CallSummary(
        call_id=row["id"], caller_number=row["caller_number"], caller_name=row["caller_name"],
        started_at=row["started_at"], answered_at=row["answered_at"], ended_at=row["ended_at"],
        end_reason=row["end_reason"], agent_id=row["agent_id"], queue=row["queue"],
        queue_seconds=row["queue_seconds"], screen_level=row["screen_level"],
        recording_path=Path(path) if path else None, recording_seconds=row["recording_seconds"],
        tickets=call_tickets, recording_sha256=row["recording_sha256"])
