"""The workbenches' lists, read from the tickets' projection (`kernel.schema.tickets`): the
dispatch queue, the review queue, a unit's inbox, the supervision board and the quality team's
staff complaints. Reads only: every change goes through the ticket workflow's API.

Every hotline list is read by someone (`reader`, their account) and leaves out the complaints
about that person (`kernel.schema.visible_to`, the access policy's rule in SQL).

Each list is read off a partial index made for it (migration 0013) in the order it shows, so
its first page costs the same with a million tickets as with a hundred. The conditions are the
indexes' own predicates (`kernel.schema`), sent as SQL text with literal statuses: PostgreSQL
uses a partial index only when it can prove the query's condition implies the index's, which
it cannot do for bound parameters once it switches to a generic plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text, union
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.schema import (
    SUPERVISED_OPEN,
    UNIT_OPEN_COOPERATING,
    UNIT_OPEN_LEAD,
    WAITING_FOR_DISPATCH,
    WAITING_FOR_QUALITY_CHECK,
    WAITING_FOR_REVIEW,
    ticket_events,
    tickets,
    transcript_segments,
    visible_to,
)
from tickets.events import SupervisionEscalated, SupervisionFlagged, TicketEvent
from tickets.model import Ticket
from tickets.store import cooperates, event_from_row, ticket_from_row

#: The events the supervisor's board shows of a supervised ticket: its flags and its climb.
SUPERVISION_EVENTS = (SupervisionFlagged.__name__, SupervisionEscalated.__name__)


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    speaker: str
    start: float
    text: str


def dispatch_queue_statement(limit: int, reader: str) -> Any:
    """Returned tickets and classified drafts, the longest-waiting first (waiting since the
    last change: the classification, or the approved return)."""
    return (select(tickets).where(text(WAITING_FOR_DISPATCH), visible_to(reader))
            .order_by(tickets.c.updated_at, tickets.c.ticket_no).limit(limit))


def review_queue_statement(limit: int, reader: str) -> Any:
    """Units' requests waiting for a review, the oldest first."""
    return (select(tickets).where(text(WAITING_FOR_REVIEW), visible_to(reader))
            .order_by(tickets.c.updated_at, tickets.c.ticket_no).limit(limit))


def quality_queue_statement(limit: int, reader: str) -> Any:
    """Complaints about hotline staff waiting for the quality team's finding, the longest
    waiting first (migration 0020's index, in its order)."""
    return (select(tickets).where(text(WAITING_FOR_QUALITY_CHECK), visible_to(reader))
            .order_by(tickets.c.updated_at, tickets.c.ticket_no).limit(limit))


def unit_inbox_statement(unit: str, limit: int) -> Any:
    """The unit's open tickets, as lead or cooperating unit, the nearest deadline first: the
    first `limit` of each kind off its own index, then merged. (No `visible_to`: a complaint
    about hotline staff is never dispatched, so it is in no unit's inbox.)"""
    by_deadline = (tickets.c.deadline, tickets.c.ticket_no)
    lead = (select(tickets).where(tickets.c.lead_unit == unit, text(UNIT_OPEN_LEAD))
            .order_by(*by_deadline).limit(limit).subquery())
    # The unit's place in the list is found in the index alone (it carries the lists), then
    # only those tickets are read: a unit that seldom cooperates costs no table reads.
    found = (select(tickets.c.ticket_no).where(text(UNIT_OPEN_COOPERATING), cooperates(unit))
             .order_by(*by_deadline).limit(limit))
    cooperating = select(tickets).where(tickets.c.ticket_no.in_(found)).subquery()
    merged = union(select(lead), select(cooperating)).subquery()
    return select(merged).order_by(merged.c.deadline.asc().nulls_last(), merged.c.ticket_no).limit(limit)


def supervised_statement(limit: int, reader: str) -> Any:
    """Open tickets under supervision (督办), the longest unchanged first: those are the ones
    the board must push (migration 0016's index, in its order)."""
    return (select(tickets).where(text(SUPERVISED_OPEN), visible_to(reader))
            .order_by(tickets.c.updated_at, tickets.c.ticket_no).limit(limit))


class WorkbenchQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _rows(self, statement: Any) -> list[Ticket]:
        async with self._engine.connect() as conn:
            return [ticket_from_row(row) for row in (await conn.execute(statement)).all()]

    async def dispatch_queue(self, limit: int, reader: str) -> list[Ticket]:
        return await self._rows(dispatch_queue_statement(limit, reader))

    async def review_queue(self, limit: int, reader: str) -> list[Ticket]:
        return await self._rows(review_queue_statement(limit, reader))

    async def quality_queue(self, limit: int, reader: str) -> list[Ticket]:
        return await self._rows(quality_queue_statement(limit, reader))

    async def unit_inbox(self, unit: str, limit: int) -> list[Ticket]:
        return await self._rows(unit_inbox_statement(unit, limit))

    async def supervised(self, limit: int, reader: str) -> list[Ticket]:
        return await self._rows(supervised_statement(limit, reader))

    async def supervision_events(self, ticket_nos: list[str]) -> dict[str, list[TicketEvent]]:
        """The flags and escalations of these tickets, oldest first (the events' ticket index)."""
        found: dict[str, list[TicketEvent]] = {no: [] for no in ticket_nos}
        if not ticket_nos:
            return found
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(ticket_events).where(ticket_events.c.ticket_no.in_(ticket_nos),
                                            ticket_events.c.event_type.in_(SUPERVISION_EVENTS))
                .order_by(ticket_events.c.ticket_no, ticket_events.c.version))).all()
        for row in rows:
            found[row.ticket_no].append(event_from_row(row))
        return found

    async def transcript_excerpt(self, call_id: str, limit: int) -> list[TranscriptLine]:
        """The first lines of a call's transcript, in the order they were spoken."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(transcript_segments.c.speaker, transcript_segments.c.start_seconds, transcript_segments.c.text)
                .where(transcript_segments.c.call_id == call_id)
                .order_by(transcript_segments.c.start_seconds, transcript_segments.c.id).limit(limit))).all()
        return [TranscriptLine(r.speaker, r.start_seconds, r.text) for r in rows]
