"""The live risk detector: reads intake from the ticket event log as it happens and raises a
warning when a hotspot grows fast (`risk_warning.policy`), within a round of the detector
(seconds) of the ticket that tipped it, not in a nightly job.

Each registration or classification that names a place and a topic counts its ticket once in
that hotspot (`risk_intake`, at the event's time); the window and the baseline are counted from
there. Windows follow the tickets' own times, so replaying the log (after a restart, or a
backlog) gives the same warnings as watching it live. The counts, any warning and the reader's
new position are written in ONE transaction: a restart neither repeats nor loses a warning. The
warning is then published on the event bus (topic `risk`) for the supervisors' and units' pages.

One node runs it at a time (a Redis lease, `risk_warning.plugin`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.clock import Clock, utc_now
from kernel.metrics import Metrics
from kernel.schema import risk_intake, risk_warnings
from risk_warning.policy import Hotspot, Thresholds, expected_per_window, quiet_since, warrants_warning
from risk_warning.store import RISK_TOPIC, RiskWarning
from tickets.event_log import EventLogReader, save_position
from tickets.events import TicketClassified, TicketEvent, TicketRegistered

log = logging.getLogger(__name__)

DETECTOR = "risk_warning.detector"

#: The port the composition root fills: the hotspot of a request from its district, location
#: and words (None when it names no place or no topic).
HotspotOf = Callable[[str | None, str, str], Hotspot | None]
Publish = Callable[[str, dict[str, Any]], Awaitable[None]]


def _intake(event: TicketEvent) -> tuple[str | None, str, str] | None:
    if isinstance(event, (TicketRegistered, TicketClassified)):
        return event.district, event.location, f"{event.summary}\n{event.content}"
    return None


class RiskDetector:
    def __init__(self, engine: AsyncEngine, reader: EventLogReader, hotspot_of: HotspotOf,
                 thresholds: Thresholds, publish: Publish, clock: Clock = utc_now, batch: int = 100,
                 metrics: Metrics | None = None) -> None:
        self._engine = engine
        self._reader = reader
        self._hotspot_of = hotspot_of
        self._thresholds = thresholds
        self._publish = publish
        self._clock = clock
        self._batch = batch
        self._raised = (metrics if metrics is not None else Metrics()).counter(
            "hotline_risk_warnings_total", "Risk warnings raised (one per hotspot per window).")

    async def detect_once(self) -> int:
        """Read the next batch of events; the number read (0: caught up)."""
        logged = await self._reader.read_next(DETECTOR, self._batch)
        if not logged:
            return 0
        # Placing and naming a request reads the gazetteer and the catalogue (milliseconds each):
        # done in a worker thread, so a backlog never holds the event loop.
        hotspots = await asyncio.to_thread(self._hotspots, [item.event for item in logged])
        raised: list[RiskWarning] = []
        async with self._engine.begin() as conn:
            for item, hotspot in zip(logged, hotspots, strict=True):
                if hotspot is not None:
                    warning = await self._count(conn, item.event, hotspot)
                    if warning is not None:
                        raised.append(warning)
            await save_position(conn, DETECTOR, logged[-1].position, self._clock())
        for warning in raised:
            self._raised.inc()
            log.warning("risk warning raised", extra={
                "ticket_no": warning.ticket_nos[-1], "hotspot": f"{warning.district}|{warning.street}|{warning.topic}",
                "count": warning.count, "units": list(warning.units)})
            await self._publish(RISK_TOPIC, warning.notice())
        return len(logged)

    def _hotspots(self, events: list[TicketEvent]) -> list[Hotspot | None]:
        return [self._hotspot_of(*intake) if (intake := _intake(event)) else None for event in events]

    async def _count(self, conn: AsyncConnection, event: TicketEvent, hotspot: Hotspot) -> RiskWarning | None:
        key, at, t = hotspot.key, event.occurred_at, self._thresholds
        counted = await conn.scalar(select(risk_intake.c.ticket_no).where(
            risk_intake.c.ticket_no == event.ticket_no, risk_intake.c.hotspot == key))
        if counted is not None:
            return None  # reclassified into the same hotspot: one ticket counts once
        await conn.execute(risk_intake.insert().values(ticket_no=event.ticket_no, hotspot=key, at=at))
        # What no window or baseline will count again goes (the hotspot's own rows, by its index).
        await conn.execute(delete(risk_intake).where(
            risk_intake.c.hotspot == key, risk_intake.c.at <= at - t.baseline - t.window))
        window_start = at - t.window
        in_window = (await conn.execute(
            select(risk_intake.c.ticket_no).where(risk_intake.c.hotspot == key, risk_intake.c.at > window_start,
                                                  risk_intake.c.at <= at).order_by(risk_intake.c.at))).scalars().all()
        baseline = int(await conn.scalar(select(func.count()).select_from(risk_intake).where(
            risk_intake.c.hotspot == key, risk_intake.c.at > at - t.baseline,
            risk_intake.c.at <= window_start)) or 0)
        if not warrants_warning(len(in_window), baseline, t):
            return None
        recent = await conn.scalar(select(risk_warnings.c.id).where(and_(
            risk_warnings.c.hotspot == key, risk_warnings.c.raised_at > quiet_since(at, t))).limit(1))
        if recent is not None:
            return None
        warning = RiskWarning(str(uuid.uuid4()), hotspot.district, hotspot.street, hotspot.topic,
                              len(in_window), expected_per_window(baseline, t), window_start, at,
                              tuple(in_window), hotspot.units)
        await conn.execute(risk_warnings.insert().values(
            id=warning.id, hotspot=key, district=warning.district, street=warning.street, topic=warning.topic,
            count=warning.count, baseline=warning.baseline, window_start=window_start, raised_at=at,
            ticket_nos=json.dumps(list(warning.ticket_nos), ensure_ascii=False),
            units=json.dumps(list(warning.units), ensure_ascii=False)))
        return warning
