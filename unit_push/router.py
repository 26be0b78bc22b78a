"""Files each event of the ticket log into the feeds of the units it belongs to (`unit_feed`).

One pass reads the log after the router's position (`tickets.event_log`), works out each event's
units from the ticket's state before and after it (`unit_push.view.recipients`), and writes the
unit's view under the unit's next number, then the router's new position, in ONE transaction:
an event is filed once, whatever crashes when. Numbers per unit are consecutive (1, 2, 3...),
which is what the feed's `after=` cursor and the webhook's delivery position count.

One node files at a time (the push's lease, `unit_push.plugin`): two routers would number the
same unit's events twice.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.clock import Clock, utc_now
from kernel.schema import unit_feed
from tickets import workflow
from tickets.event_log import EventLogReader, history_before, save_position
from tickets.model import Ticket
from tickets.store import event_payload
from unit_push.view import encode, recipients, unit_view

log = logging.getLogger(__name__)

ROUTER = "unit_push.router"


class FeedRouter:
    def __init__(self, engine: AsyncEngine, reader: EventLogReader, clock: Clock = utc_now,
                 batch: int = 200) -> None:
        self._engine = engine
        self._reader = reader
        self._clock = clock
        self._batch = batch

    async def route_once(self) -> int:
        """File the next batch of events; the number of events read (0: caught up)."""
        logged = await self._reader.read_next(ROUTER, self._batch)
        if not logged:
            return 0
        now: datetime = self._clock()
        async with self._engine.begin() as conn:
            states: dict[str, Ticket | None] = {}
            next_seq: dict[str, int] = {}
            filed = 0
            for item in logged:
                event = item.event
                if event.ticket_no not in states:
                    earlier = await history_before(conn, event.ticket_no, event.version)
                    states[event.ticket_no] = workflow.fold(earlier) if earlier else None
                before = states[event.ticket_no]
                after = workflow.evolve(before, event)
                states[event.ticket_no] = after
                units = recipients(before, after)
                if not units:
                    continue
                body = encode(unit_view(event, json.loads(event_payload(event)), after))
                for unit in sorted(units):
                    if unit not in next_seq:
                        last = await conn.scalar(select(func.max(unit_feed.c.seq)).where(unit_feed.c.unit == unit))
                        next_seq[unit] = int(last or 0) + 1
                    await conn.execute(unit_feed.insert().values(
                        unit=unit, seq=next_seq[unit], event_id=item.position,
                        ticket_no=event.ticket_no, body=body))
                    next_seq[unit] += 1
                    filed += 1
            await save_position(conn, ROUTER, logged[-1].position, now)
        log.info("events filed for units", extra={"events": len(logged), "filed": filed,
                                                  "position": logged[-1].position})
        return len(logged)
