"""Ticket repository on real SQLite and PostgreSQL: transitions, locking, history, migrations."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.clock import FixedClock
from kernel.database import create_engine, downgrade, upgrade
from kernel.errors import Conflict, IllegalTransition
from kernel.roles import Actor, Role
from kernel.schema import callback_tasks, ticket_events, tickets
from tickets import events as ev
from tickets.model import (
    Attachment,
    Caller,
    Channel,
    TicketStatus,
    TicketType,
)
from tickets.store import TicketFilter, TicketStore
from tickets.workflow import (
    AddProgressNote,
    AnswerDirectly,
    Archive,
    Classify,
    Dispatch,
    Register,
    Sign,
    fold,
)

AGENT = Actor("agent7", Role.AGENT)
DISPATCHER = Actor("disp1", Role.DISPATCHER)
SUPERVISOR = Actor("sup1", Role.SUPERVISOR)
HOUSING = Actor("zhang", Role.UNIT, unit="city-housing")




def ticking_clock() -> FixedClock:
    """A clock one second further at each reading, so events have distinct times."""
    return FixedClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC), step=timedelta(seconds=1))


@pytest.fixture
def store(engine: AsyncEngine) -> TicketStore:
    return TicketStore(engine, "N01", clock=ticking_clock())


def register(number: str = "13812345678", **caller: object) -> Register:
    return Register(ticket_no="", channel=Channel.WECHAT,
                    caller=Caller(number=number, **caller),  # type: ignore[arg-type]
                    summary="小区电梯停运", content="3号楼电梯停运一周")


async def dispatched(store: TicketStore) -> str:
    ticket, _ = await store.register(register(), AGENT)
    no = ticket.ticket_no
    await store.transition(no, Classify(ticket_type=TicketType.COMPLAINT, summary="电梯停运"),
                           AGENT, 1)
    now = store.now()
    await store.transition(no, Dispatch(
        lead_unit="city-housing", cooperating_units=("city-urban-management",),
        deadline=now + timedelta(days=5), sign_deadline=now + timedelta(days=1)), DISPATCHER, 2)
    return no


async def event_count(engine: AsyncEngine, ticket_no: str) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(ticket_events)
                                     .where(ticket_events.c.ticket_no == ticket_no)) or 0)


async def test_registration_allocates_numbers_of_the_node_and_day(store: TicketStore) -> None:
    first, event = await store.register(register(), AGENT)
    second, _ = await store.register(register(), AGENT)
    assert first.ticket_no == "20261125-N01-000001" and second.ticket_no == "20261125-N01-000002"
    assert isinstance(event, ev.TicketRegistered) and first.version == 1


async def test_numbers_restart_at_beijing_midnight_not_utc_midnight(engine: AsyncEngine) -> None:
    now = [datetime(2026, 11, 25, 2, 0, tzinfo=UTC)]
    store = TicketStore(engine, "N01", clock=lambda: now[0])
    numbers = []
    for moment in (datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC),  # 23:59:59 in Beijing
                   datetime(2026, 11, 25, 16, 0, 1, tzinfo=UTC),  # 00:00:01 on the 26th
                   datetime(2026, 11, 25, 16, 0, 2, tzinfo=UTC),
                   datetime(2026, 11, 26, 15, 59, 0, tzinfo=UTC)):
        now[0] = moment
        numbers.append((await store.register(register(), AGENT))[0].ticket_no)
    assert numbers == ["20261125-N01-000001", "20261126-N01-000001", "20261126-N01-000002",
                       "20261126-N01-000003"]


async def test_concurrent_registrations_get_distinct_numbers(store: TicketStore) -> None:
    results = await asyncio.gather(*(store.register(register(), AGENT) for _ in range(6)))
    numbers = {ticket.ticket_no for ticket, _ in results}
    assert len(numbers) == 6


async def test_transition_persists_state_and_event_together(
    store: TicketStore, engine: AsyncEngine
) -> None:
    no = await dispatched(store)
    evidence = (Attachment("document", "s3://e/1.pdf", "说明", sha256="ab" * 32, size=1234),)
    ticket, event = await store.transition(
        no, AddProgressNote(note="已联系诉求人", attachments=evidence), HOUSING, 3)
    assert ticket.version == 4 and isinstance(event, ev.ProgressNoted)
    loaded, events = await store.get_with_events(no)
    assert loaded == ticket == fold(events)
    assert [e.event_type for e in events] == [
        "TicketRegistered", "TicketClassified", "Dispatched", "ProgressNoted"]
    assert events[-1] == event and events[-1].attachments == evidence
    async with engine.connect() as conn:
        row = (await conn.execute(select(tickets).where(tickets.c.ticket_no == no))).one()
    assert (row.status, row.version, row.lead_unit) == ("dispatched", 4, "city-housing")
    assert row.deadline == ticket.deadline and row.ticket_type == "complaint"


async def test_a_closed_ticket_never_changes(store: TicketStore, engine: AsyncEngine) -> None:
    ticket, _ = await store.register(register(), AGENT)
    no = ticket.ticket_no
    closed, _ = await store.transition(no, AnswerDirectly(answer="可在银行网点补办"), AGENT, 1)
    assert closed.status is TicketStatus.CLOSED
    for command, actor in ((AddProgressNote(note="补充"), AGENT),
                           (Classify(ticket_type=TicketType.HELP, summary="改"), AGENT)):
        with pytest.raises(IllegalTransition):
            await store.transition(no, command, actor, 2)
    assert await store.get(no) == closed and await event_count(engine, no) == 2
    archived, _ = await store.transition(no, Archive(), SUPERVISOR, 2)
    assert archived.status is TicketStatus.ARCHIVED


async def test_two_concurrent_updates_give_one_success_and_one_conflict(
    store: TicketStore, engine: AsyncEngine
) -> None:
    no = await dispatched(store)
    results = await asyncio.gather(
        store.transition(no, Sign(), HOUSING, 3),
        store.transition(no, AddProgressNote(note="配合单位进展"), HOUSING, 3),
        return_exceptions=True,
    )
    conflicts = [r for r in results if isinstance(r, Conflict)]
    successes = [r for r in results if isinstance(r, tuple)]
    assert len(conflicts) == 1 and len(successes) == 1, results
    assert conflicts[0].context["ticket_no"] == no
    assert conflicts[0].context["expected_version"] == 3
    assert (await store.get(no)).version == 4 and await event_count(engine, no) == 4


async def test_a_read_between_two_statements_of_a_writer_sees_the_row_version(
    store: TicketStore, engine: AsyncEngine
) -> None:
    """Under READ COMMITTED a load can see the row at v3 and, a moment later, a v4 event.

    The loader must fold only the events the row has seen, not fail with "row and events disagree"
    (which is what made two concurrent writers on PostgreSQL both fail now and then).
    """
    no = await dispatched(store)
    async with engine.begin() as conn:
        ticket_id = await conn.scalar(select(tickets.c.id).where(tickets.c.ticket_no == no))
        await conn.execute(insert(ticket_events).values(
            ticket_id=ticket_id, ticket_no=no, version=4, event_type="ProgressNoted",
            actor=HOUSING.id, role=HOUSING.role.value, actor_unit=HOUSING.unit,
            at=store.now(), payload=json.dumps({"note": "并发写入", "attachments": []})))
    loaded = await store.get(no)
    assert loaded.version == 3
    with pytest.raises(Conflict) as caught:
        await store.transition(no, Sign(), HOUSING, 3)
    assert caught.value.context["expected_version"] == 3


async def test_stale_expected_version_is_a_conflict_and_changes_nothing(
    store: TicketStore, engine: AsyncEngine
) -> None:
    no = await dispatched(store)
    with pytest.raises(Conflict) as info:
        await store.transition(no, Sign(), HOUSING, 2)
    assert info.value.context["current_version"] == 3
    assert await event_count(engine, no) == 3


async def test_caller_history_newest_first_and_unit_lists(store: TicketStore) -> None:
    first = await dispatched(store)
    other, _ = await store.register(register("13900000000"), AGENT)
    last, _ = await store.register(register(), AGENT)
    history = await store.caller_history("13812345678")
    assert [t.ticket_no for t in history] == [last.ticket_no, first]
    assert [t.ticket_no for t in await store.caller_history("13900000000")] == [other.ticket_no]
    assert [t.ticket_no for t in await store.list_tickets(TicketFilter(unit="city-housing"))] == [
        first]
    cooperating = await store.list_tickets(TicketFilter(unit="city-urban-management"))
    assert [t.ticket_no for t in cooperating] == [first]
    assert await store.list_tickets(TicketFilter(unit="city-ecology")) == []
    drafts = await store.list_tickets(TicketFilter(statuses=(TicketStatus.DRAFT,)))
    assert {t.ticket_no for t in drafts} == {other.ticket_no, last.ticket_no}


async def test_draft_row_without_events_is_read_as_a_registered_draft(
    store: TicketStore, engine: AsyncEngine
) -> None:
    """Rows the call flow wrote before migration 0005 have no events."""
    created = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    async with engine.begin() as conn:
        await conn.execute(insert(tickets).values(
            id=str(uuid.uuid4()), ticket_no="20261124-N01-000009", status="draft",
            channel="phone", origin="call", caller_number="13700000000", created_at=created,
            updated_at=created, version=1))
    ticket = await store.get("20261124-N01-000009")
    assert ticket.status is TicketStatus.DRAFT and ticket.caller.number == "13700000000"
    await store.transition(ticket.ticket_no, AddProgressNote(note="补记"), AGENT, 1)
    _, events = await store.get_with_events(ticket.ticket_no)
    assert [e.version for e in events] == [1, 2]


async def test_migrations_upgrade_downgrade_and_upgrade_again(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(ticket_events)) == 0
        await downgrade(engine)
        await upgrade(engine)
        store = TicketStore(engine, "N02", clock=ticking_clock())
        ticket, _ = await store.register(register(), AGENT)
        assert ticket.ticket_no == "20261125-N02-000001"
    finally:
        await engine.dispose()


async def test_migration_0019_keeps_one_deadline_callback_per_ticket_and_goes_down_cleanly(
        database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        store = TicketStore(engine, "N02", clock=ticking_clock())
        ticket, _ = await store.register(register(), AGENT)
        now = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)

        def task(reason: str) -> dict[str, object]:
            return {"id": str(uuid.uuid4()), "ticket_no": ticket.ticket_no, "caller_number": "13800000000",
                    "reason": reason, "status": "agent", "due_at": now, "created_at": now}
        async with engine.begin() as conn:
            await conn.execute(insert(callback_tasks).values(**task("deadline")))
            await conn.execute(insert(callback_tasks).values(**task("survey")))
            await conn.execute(insert(callback_tasks).values(**task("survey")))  # surveys repeat
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(insert(callback_tasks).values(**task("deadline")))
        async with engine.connect() as conn:
            assert await conn.scalar(select(tickets.c.caller_no_reply)) is False
        await downgrade(engine, "0018")
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("tickets")})
            indexes = await conn.run_sync(lambda sync: {i["name"] for i in inspect(sync).get_indexes("callback_tasks")})
        assert "caller_no_reply" not in columns and "ux_callback_tasks_deadline_once" not in indexes
        await upgrade(engine)
    finally:
        await engine.dispose()


async def test_a_snapshot_kept_by_one_node_never_hides_another_nodes_write(engine: AsyncEngine) -> None:
    """Two stores on one database stand for two nodes: each keeps the snapshots it wrote
    (`tickets.snapshots`), and the optimistic lock still decides every write."""
    node_a, node_b = (TicketStore(engine, node, clock=ticking_clock()) for node in ("N01", "N02"))
    no = await dispatched(node_a)  # node A keeps the ticket at version 3
    await node_b.transition(no, Sign(), HOUSING, 3)  # node B moves it on to 4
    # At the version node A kept, node A answers as a fresh read would: the ticket moved on.
    with pytest.raises(Conflict):
        await node_a.transition(no, Sign(), HOUSING, 3)  # legal at 3, the row is at 4
    with pytest.raises(Conflict):
        await node_a.transition(no, AnswerDirectly(answer="已答复"), AGENT, 3)  # illegal at 3 too
    # At the current version node A reads afresh and goes on from there.
    ticket, _ = await node_a.transition(no, AddProgressNote(note="已到现场"), HOUSING, 4)
    assert ticket.version == 5 and ticket.status is TicketStatus.IN_PROGRESS
    assert fold((await node_b.get_with_events(no))[1]) == ticket
    assert await event_count(engine, no) == 5


async def test_a_snapshot_kept_gives_the_same_refusals_as_a_fresh_read(store: TicketStore) -> None:
    no = await dispatched(store)
    with pytest.raises(IllegalTransition):
        await store.transition(no, AnswerDirectly(answer="已答复"), AGENT, 3)
    with pytest.raises(Conflict):
        await store.transition(no, Sign(), HOUSING, 2)
    ticket, _ = await store.transition(no, Sign(), HOUSING, 3)
    assert ticket == fold((await store.get_with_events(no))[1])
