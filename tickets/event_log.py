"""Reading the ticket event log in order, from where a reader left off: for readers that must
see every event exactly once and keep up within seconds (the units' data push, the live risk
detector), not for queries of a period (`TicketStore.events_of_tickets_active_between`).

The position is `ticket_events.id`. Ids are handed out when an event is inserted, not when its
transaction commits, so on PostgreSQL a reader can see id 12 while id 11 is still being
written (or was rolled back, and will never appear). Reading past such a gap would skip 11 for
good; so a reader stops before a gap until it has seen the gap for `gap_grace` (a transaction
of the ticket store lasts milliseconds; a gap that old is a rollback, not a writer). SQLite
serialises writers, so its ids commit in order and its gaps never wait. The cost is that an
event behind a rolled-back number is read `gap_grace` later than the others.

A reader's position is a row of `event_cursors`, written by `save_position` inside the
transaction in which the reader records what it made of the events: a restart resumes exactly
after the last event handled.

This module only reads the log; the ticket store remains its one writer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.schema import event_cursors, ticket_events
from tickets.events import TicketEvent
from tickets.store import event_from_row

#: How long a gap in the event ids holds a reader back before it is taken for a rollback.
DEFAULT_GAP_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class LoggedEvent:
    """An event with its position in the log."""

    position: int
    event: TicketEvent


class EventLogReader:
    """Reads the events after a position, stopping before a gap younger than `gap_grace`."""

    def __init__(self, engine: AsyncEngine, gap_grace: float = DEFAULT_GAP_GRACE_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._gap_grace = gap_grace
        self._monotonic = monotonic
        #: First time each gap (the id missing at its start) was seen.
        self._gaps: dict[int, float] = {}

    async def read_after(self, position: int, limit: int = 200) -> list[LoggedEvent]:
        """The events after `position`, in log order, up to the first unsettled gap."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(ticket_events).where(ticket_events.c.id > position)
                .order_by(ticket_events.c.id).limit(limit))).all()
        settled: list[LoggedEvent] = []
        expected = position + 1
        for row in rows:
            if row.id != expected and not self._gap_settled(expected):
                break
            settled.append(LoggedEvent(row.id, event_from_row(row)))
            expected = row.id + 1
        return settled

    async def read_next(self, consumer: str, limit: int = 200) -> list[LoggedEvent]:
        """The events after where `consumer` left off (`load_position`)."""
        async with self._engine.connect() as conn:
            position = await load_position(conn, consumer)
        return await self.read_after(position, limit)

    def _gap_settled(self, missing: int) -> bool:
        now = self._monotonic()
        first_seen = self._gaps.setdefault(missing, now)
        if now - first_seen < self._gap_grace:
            return False
        del self._gaps[missing]
        return True


async def history_before(conn: AsyncConnection, ticket_no: str, version: int) -> list[TicketEvent]:
    """The ticket's events before `version`, oldest first (to fold the state an event found)."""
    rows = (await conn.execute(
        select(ticket_events).where(ticket_events.c.ticket_no == ticket_no,
                                    ticket_events.c.version < version)
        .order_by(ticket_events.c.version))).all()
    return [event_from_row(row) for row in rows]


async def load_position(conn: AsyncConnection, consumer: str) -> int:
    """Where `consumer` left off (0: at the beginning of the log)."""
    found = await conn.scalar(select(event_cursors.c.position).where(event_cursors.c.consumer == consumer))
    return int(found or 0)


async def save_position(conn: AsyncConnection, consumer: str, position: int, now: datetime) -> None:
    """Record that `consumer` has handled every event up to `position` (caller's transaction)."""
    moved = await conn.execute(update(event_cursors).where(event_cursors.c.consumer == consumer)
                               .values(position=position, updated_at=now))
    if moved.rowcount == 0:
        await conn.execute(insert(event_cursors).values(consumer=consumer, position=position, updated_at=now))
