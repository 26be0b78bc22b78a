"""Reading the ticket log in order (tickets/event_log.py), on SQLite and PostgreSQL: a reader
stops before a gap in the event ids (a writer still committing) until the gap is older than the
grace, then reads past it (a rolled-back write never fills it); its position survives."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.clock import utc_now
from kernel.schema import ticket_events
from tests.ticket_steps import registered
from tickets.event_log import EventLogReader, load_position, save_position
from tickets.store import TicketStore


async def test_a_reader_waits_at_a_young_gap_and_passes_an_old_one(engine: AsyncEngine) -> None:
    store = TicketStore(engine, "T01")
    for n in range(3):
        await registered(store, f"1370000{n:04d}")
    async with engine.begin() as conn:
        ids = list((await conn.execute(select(ticket_events.c.id).order_by(ticket_events.c.id))).scalars())
        # As if the third event's transaction were still open (or had rolled back).
        await conn.execute(delete(ticket_events).where(ticket_events.c.id == ids[2]))
    clock = [0.0]
    reader = EventLogReader(engine, gap_grace=60, monotonic=lambda: clock[0])
    first = await reader.read_after(0)
    assert [e.position for e in first] == ids[:2]
    clock[0] = 59.0
    assert await reader.read_after(ids[1]) == []  # still young: hold back
    clock[0] = 60.0
    rest = await reader.read_after(ids[1])
    assert [e.position for e in rest] == ids[3:]


async def test_a_readers_position_is_saved_and_moved(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        assert await load_position(conn, "reader") == 0
        await save_position(conn, "reader", 7, utc_now())
        await save_position(conn, "reader", 9, utc_now())
    async with engine.connect() as conn:
        assert await load_position(conn, "reader") == 9
        assert await conn.scalar(select(func.count()).select_from(ticket_events)) == 0
