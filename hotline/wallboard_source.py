"""The wallboard's seed (`agent_desk.ports.WallboardSource`) and the `call.recorded` event.

The board is seeded from the ACD (agents' states, the queue, in Redis) and the database
(today's finished calls and which of them have a transcript); afterwards it folds events. The
one event nobody published before is a finished call: `AnnouncingIntake` wraps the call path's
`CallRecorder` and publishes `call.recorded` on the bus once the call is stored, so the board
(on any node) counts exactly the calls the database holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_desk.wallboard import FinishedCall
from call_queue.acd import AcdStore
from kernel.schema import calls, tickets, transcript_segments
from telephony.call_record import CallRecord
from telephony.ports import CallRecorder

#: The bus topic of finished calls.
CALLS_TOPIC = "calls"


class AcdWallboardSource:
    def __init__(self, acd: AcdStore, engine: AsyncEngine) -> None:
        self.acd = acd
        self.engine = engine

    async def agent_states(self) -> dict[str, str]:
        return {state.agent_id: state.status.value for state in await self.acd.agents()}

    async def waiting(self) -> dict[str, datetime]:
        return {call.call_id: call.enqueued_at for call in await self.acd.queued()}

    async def finished_since(self, since: datetime) -> list[FinishedCall]:
        # A message is a call whose ticket came from a left message (tickets.origin).
        message = select(tickets.c.call_id).where(tickets.c.origin == "message")
        c = calls.c
        query = select(c.id, c.started_at, c.ended_at, c.agent_id, c.queue_seconds,
                       c.id.in_(message).label("is_message")).where(c.started_at >= since)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [FinishedCall(call_id=row.id, started_at=row.started_at, ended_at=row.ended_at,
                             agent_id=row.agent_id, queue_seconds=row.queue_seconds,
                             is_message=bool(row.is_message)) for row in rows]

    async def transcribed_since(self, since: datetime) -> set[str]:
        query = (select(transcript_segments.c.call_id).distinct()
                 .join(calls, calls.c.id == transcript_segments.c.call_id).where(calls.c.started_at >= since))
        async with self.engine.connect() as conn:
            return set((await conn.execute(query)).scalars())


def recorded_event(record: CallRecord) -> dict[str, Any]:
    return {"type": "call.recorded", "call_id": record.call_id, "started_at": record.started_at.isoformat(),
            "ended_at": record.ended_at.isoformat(), "agent_id": record.agent_id,
            "queue_seconds": record.queue_seconds, "is_message": record.is_message,
            "end_reason": record.end_reason}


class AnnouncingIntake:
    """A `CallRecorder` that announces each stored call on the event bus (best effort: the
    bus never fails the intake; a lost event is corrected by the next seed)."""

    def __init__(self, intake: CallRecorder, publish: Callable[[str, dict[str, Any]], Awaitable[None]]) -> None:
        self.intake = intake
        self._publish = publish

    async def record_finished_call(self, record: CallRecord) -> str:
        ticket_no = await self.intake.record_finished_call(record)
        await self._publish(CALLS_TOPIC, recorded_event(record))
        return ticket_no
