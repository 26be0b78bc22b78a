"""The workbenches' lists, read from the tickets' projection (`kernel.schema.tickets`): the
dispatch queue, the review queue and a unit's inbox. Reads only: every change goes through the
ticket workflow's API. Each list is one indexed query with a limit, so a page stays fast with a
million tickets (the inbox by `lead_unit`; the queues by status).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.schema import tickets, transcript_segments
from tickets.model import FINISHED_STATUSES, Ticket, TicketStatus
from tickets.store import involves_unit, ticket_from_row

#: Requests a dispatcher reviews (退回 / 延期 / 终止办理).
REVIEW_STATUSES = (TicketStatus.RETURN_REQUESTED, TicketStatus.EXTENSION_REQUESTED,
                   TicketStatus.TERMINATION_REQUESTED)
#: What a unit still has to do something about, or is waiting on: everything not finished and
#: past dispatch.
INBOX_STATUSES = tuple(s for s in TicketStatus
                       if s not in FINISHED_STATUSES and s not in (TicketStatus.DRAFT, TicketStatus.PENDING_DISPATCH))


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    speaker: str
    start: float
    text: str


def _waiting_for_dispatch() -> Any:
    """Returned tickets, and drafts an agent has classified (type set): an unclassified draft is
    still on an agent's desk."""
    return or_(tickets.c.status == TicketStatus.PENDING_DISPATCH.value,
               and_(tickets.c.status == TicketStatus.DRAFT.value, tickets.c.ticket_type.is_not(None)))


class WorkbenchQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _rows(self, statement: Any) -> list[Ticket]:
        async with self._engine.connect() as conn:
            return [ticket_from_row(row) for row in (await conn.execute(statement)).all()]

    async def dispatch_queue(self, limit: int) -> list[Ticket]:
        """Waiting for dispatch, the longest-waiting first (waiting since the last change)."""
        return await self._rows(select(tickets).where(_waiting_for_dispatch())
                                .order_by(tickets.c.updated_at, tickets.c.ticket_no).limit(limit))

    async def review_queue(self, limit: int) -> list[Ticket]:
        """Units' requests waiting for a review, the oldest first."""
        return await self._rows(select(tickets).where(tickets.c.status.in_([s.value for s in REVIEW_STATUSES]))
                                .order_by(tickets.c.updated_at, tickets.c.ticket_no).limit(limit))

    async def unit_inbox(self, unit: str, limit: int) -> list[Ticket]:
        """The unit's open tickets (lead or cooperating), the nearest deadline first."""
        return await self._rows(
            select(tickets).where(involves_unit(unit), tickets.c.status.in_([s.value for s in INBOX_STATUSES]))
            .order_by(tickets.c.deadline.asc().nulls_last(), tickets.c.ticket_no).limit(limit))

    async def transcript_excerpt(self, call_id: str, limit: int) -> list[TranscriptLine]:
        """The first lines of a call's transcript, in the order they were spoken."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(transcript_segments.c.speaker, transcript_segments.c.start_seconds, transcript_segments.c.text)
                .where(transcript_segments.c.call_id == call_id)
                .order_by(transcript_segments.c.start_seconds, transcript_segments.c.id).limit(limit))).all()
        return [TranscriptLine(r.speaker, r.start_seconds, r.text) for r in rows]
