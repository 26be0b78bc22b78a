"""SQLAlchemy repository and unit of work of the ticket workflow (工单).

The rules live in `tickets/workflow.py`; this module only loads a ticket, asks the workflow for
the new snapshot and its event, and writes both in ONE transaction:

    UPDATE tickets SET <projection> WHERE id = :id AND version = :expected   -- 0 rows: Conflict
    INSERT INTO ticket_events (...)                                          -- append-only

The events are the truth (a ticket is `workflow.fold(events)`); the `tickets` columns are a
projection for lists, filters and statistics. The same code runs on SQLite and PostgreSQL: the
optimistic lock plus the unique (ticket_id, version) of `ticket_events` make two writers of
the same version end with exactly one success and one `Conflict`, whatever the isolation level.

Draft rows written before migration 0005 (no events yet) are read as a registered draft at
version 1; their synthesised registration event is written with their first transition.

Ticket numbers (`tickets/ticket_number.py`) are allocated per backend node and Beijing day
from the highest number in the table, then counted on in memory (`NumberAllocator`), with the
unique constraint on `ticket_no` and a retry settling races between writers of the same node;
the node id keeps nodes apart.

This module must never decide a transition itself, and the domain never imports it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import types
import typing
import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Row, Select, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.clock import HOTLINE_TZ, Clock, utc_now
from kernel.errors import Conflict, HotlineError, InvalidInput, NotFound
from kernel.metrics import Metrics
from kernel.privacy import mask_phone
from kernel.roles import Actor, Role
from kernel.schema import DEADLINE_CALLBACK_REASON, callback_tasks, calls, ticket_events, tickets, visible_to
from tickets import workflow
from tickets.events import (
    EVENT_TYPES_BY_NAME,
    CallbackRecorded,
    CallbackUnreached,
    DeadlineCallbackRecorded,
    Dispatched,
    FeedbackAccepted,
    FeedbackSubmitted,
    QualityFindingRecorded,
    TicketEvent,
    TicketRegistered,
)
from tickets.model import (
    DEADLINE_CALLBACK_STATUSES,
    FINISHED_STATUSES,
    Caller,
    Channel,
    ClosureReason,
    Satisfaction,
    SupervisionLevel,
    Ticket,
    TicketStatus,
    TicketType,
    Urgency,
)
from tickets.relay_codes import DISPATCH_GRACE, insert_code
from tickets.snapshots import DEFAULT_SIZE as DEFAULT_SNAPSHOTS
from tickets.snapshots import SnapshotCache
from tickets.ticket_metrics import TicketMetrics
from tickets.ticket_number import MAX_SEQUENCE, TicketNumber, local_date_of

log = logging.getLogger(__name__)

#: Tickets folded per events query when the supervision scanner loads its batch.
_FOLD_BATCH = 500

#: Attempts at allocating a ticket number before giving up with `Conflict`: writers of one node
#: racing for a number each lose at most once per winner, so this bounds a burst, with jitter.
NUMBER_ATTEMPTS = 20
#: The actor of registrations the system makes (the call flow's draft tickets).
CALL_FLOW_ACTOR = Actor("call-flow", Role.SYSTEM)




# ---- event codec: dataclass <-> JSON, driven by the events' type hints ----------------------

_COLUMN_FIELDS = frozenset({"ticket_no", "version", "occurred_at", "actor"})


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidInput("naive datetime in a ticket event")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, timedelta):
        return value.total_seconds()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (tuple, list, frozenset, set)):
        return [_encode(v) for v in value]
    return value


def _decode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(options[0], value)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_decode(item, v) for v in value)
    if origin is frozenset:
        item = typing.get_args(hint)[0]
        return frozenset(_decode(item, v) for v in value)
    if hint is datetime:
        return datetime.fromisoformat(value).astimezone(UTC)
    if hint is timedelta:
        return timedelta(seconds=value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if isinstance(hint, type) and is_dataclass(hint):
        hints = _field_types(hint)
        return hint(**{k: _decode(hints[k], v) for k, v in value.items() if k in hints})
    return value


def event_payload(event: TicketEvent) -> str:
    """The event's own fields as JSON (who/when/which version are columns)."""
    return json.dumps(
        {f.name: _encode(getattr(event, f.name)) for f in fields(event)
         if f.name not in _COLUMN_FIELDS},
        ensure_ascii=False, sort_keys=True,
    )


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """Resolved annotations of an event class or a dataclass inside one: resolving them is
    costly (string annotations are compiled and evaluated each time) and they never change."""
    return typing.get_type_hints(cls)


def event_from_row(row: Row[Any]) -> TicketEvent:
    cls = EVENT_TYPES_BY_NAME.get(row.event_type)
    if cls is None:
        raise InvalidInput("unknown event type in the database", event_type=row.event_type,
                           ticket_no=row.ticket_no)
    hints = _field_types(cls)  # type: ignore[arg-type]  # event classes hash by identity
    payload = json.loads(row.payload)
    values = {k: _decode(hints[k], v) for k, v in payload.items() if k in hints}
    actor = Actor(row.actor, Role(row.role), row.actor_unit)
    return cls(ticket_no=row.ticket_no, version=row.version, occurred_at=row.at, actor=actor,
               **values)


def _event_values(ticket_id: str, event: TicketEvent) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "ticket_no": event.ticket_no,
        "version": event.version,
        "event_type": event.event_type,
        "actor": event.actor.id[:64],
        "role": event.actor.role.value,
        "actor_unit": event.actor.unit,
        "at": event.occurred_at,
        "payload": event_payload(event),
    }


# ---- projection: the ticket columns --------------------------------------------------------


def projection(ticket: Ticket) -> dict[str, Any]:
    """The `tickets` columns a snapshot determines (never id, call_id, origin, asr_draft)."""
    return {
        "ticket_no": ticket.ticket_no,
        "status": ticket.status.value,
        "channel": ticket.channel.value,
        "caller_number": ticket.caller.number,
        "caller_name": ticket.caller.name,
        "caller_confidential": ticket.caller.confidential,
        "caller_anonymous": ticket.caller.anonymous,
        "caller_no_reply": ticket.caller.no_reply,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "version": ticket.version,
        "ticket_type": ticket.ticket_type.value if ticket.ticket_type else None,
        "urgency": ticket.urgency.value,
        "district": ticket.district,
        "location": ticket.location,
        "summary": ticket.summary,
        "content": ticket.content,
        "lead_unit": ticket.lead_unit,
        "cooperating_units": json.dumps(list(ticket.cooperating_units), ensure_ascii=False),
        "dispatched_at": ticket.dispatched_at,
        "sign_deadline": ticket.sign_deadline,
        "deadline": ticket.deadline,
        "satisfaction": ticket.satisfaction.value if ticket.satisfaction else None,
        "supervision_level": int(ticket.supervision_level),
        "return_count": ticket.return_count,
        "closure_reason": ticket.closure_reason.value if ticket.closure_reason else None,
        "closed_at": ticket.closed_at,
        "about_staff": ticket.about_staff,
    }


#: A transition's two writes, built once: building an UPDATE of every projected column and
#: generating its cache key each time cost more CPU than the rest of a transition; executed
#: with a parameter dict they compile once per engine and reuse the prepared statements.
#: The projected columns, as `projection` names them (read off a blank ticket, so that the
#: list is never spelled twice).
_PROJECTION_COLUMNS = tuple(projection(Ticket(
    ticket_no="", channel=Channel.PHONE, caller=Caller(),
    created_at=datetime.min.replace(tzinfo=UTC), updated_at=datetime.min.replace(tzinfo=UTC))))
LOCKED_UPDATE = (
    update(tickets)
    .where(and_(tickets.c.id == bindparam("row_id"),
                tickets.c.version == bindparam("expected_version")))
    .values({name: bindparam(f"p_{name}", type_=tickets.c[name].type)
             for name in _PROJECTION_COLUMNS})
)
INSERT_EVENT = insert(ticket_events)


def _update_parameters(ticket_id: str, expected_version: int, ticket: Ticket) -> dict[str, Any]:
    return {"row_id": ticket_id, "expected_version": expected_version,
            **{f"p_{name}": value for name, value in projection(ticket).items()}}


def _legacy_registration(row: Row[Any]) -> TicketRegistered:
    """A pre-0005 draft row (no events) read as the registration the call flow made."""
    return TicketRegistered(
        ticket_no=row.ticket_no, version=1, occurred_at=row.created_at, actor=CALL_FLOW_ACTOR,
        channel=Channel(row.channel), caller=Caller(number=row.caller_number),
        call_ids=(row.call_id,) if row.call_id else (),
    )


# ---- ticket numbers ------------------------------------------------------------------------


def last_number_query(created_at: datetime, node_id: str) -> Select[Any]:
    """The highest ticket number of this node on `created_at`'s Beijing day.

    A number's date is the Beijing date of its ticket's `created_at` (both writers take them
    from one instant), so the day's `created_at` range narrows the search through its index
    before the prefix is matched: a `LIKE 'prefix%'` alone uses no index under most collations.
    """
    day = local_date_of(created_at)
    prefix = TicketNumber(day, node_id, 1).prefix
    day_start = datetime.combine(day, time.min, tzinfo=HOTLINE_TZ)
    return select(func.max(tickets.c.ticket_no)).where(
        tickets.c.created_at >= day_start,
        tickets.c.created_at < day_start + timedelta(days=1),
        tickets.c.ticket_no.like(f"{prefix}%"))


class NumberAllocator:
    """Ticket numbers of this process's node, handed out one after another from memory.

    Numbers are per node, so only writers of this process compete for them. The first number of
    a node and Beijing day comes from the highest one in the table (`last_number_query`); the
    next ones from the counter kept here, under a lock held for no I/O at all, so writers insert
    their tickets concurrently. (The lock used to span the reading of the highest number and the
    whole inserting transaction: a burst of registrations queued on it one round trip after
    another.) The unique constraint on `ticket_no` still settles every race: a writer whose
    insert loses calls `forget`, and the next allocation reads the table again. A transaction
    that fails otherwise leaves its number unused: numbers stay unique and ordered, not gapless.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._last: dict[tuple[str, date], int] = {}

    async def next(self, engine: AsyncEngine, created_at: datetime, node_id: str) -> str:
        day = local_date_of(created_at)
        async with self._lock:
            last = self._last.get((node_id, day))
            if last is None:
                async with engine.connect() as conn:
                    found = await conn.scalar(last_number_query(created_at, node_id))
                last = int(str(found).rsplit("-", 1)[1]) if found else 0
            if last + 1 > MAX_SEQUENCE:
                raise Conflict("ticket numbers of the day exhausted on this node", node_id=node_id)
            # Only the current day is kept: yesterday's counter is never needed again.
            self._last = {(node_id, day): last + 1}
            return str(TicketNumber(day, node_id, last + 1))

    def forget(self, created_at: datetime, node_id: str) -> None:
        """An insert lost its number to another writer: read the table at the next allocation."""
        self._last.pop((node_id, local_date_of(created_at)), None)


_ALLOCATORS: weakref.WeakKeyDictionary[AsyncEngine, NumberAllocator] = weakref.WeakKeyDictionary()


def number_allocator(engine: AsyncEngine) -> NumberAllocator:
    """The allocator every writer of this process uses on `engine` (the store's registrations
    and the call flow's intake alike)."""
    allocator = _ALLOCATORS.get(engine)
    if allocator is None:
        allocator = _ALLOCATORS[engine] = NumberAllocator()
    return allocator


async def insert_registered(
    conn: AsyncConnection, ticket: Ticket, event: TicketRegistered, **row: Any
) -> str:
    """Insert a new ticket's row and its registration event; returns the row id.

    `row` adds columns the workflow does not own (call_id, origin). Used by `TicketStore` and
    by the call flow's intake, inside their own transaction.
    """
    ticket_id = str(uuid.uuid4())
    await conn.execute(insert(tickets).values(id=ticket_id, **projection(ticket), **row))
    await conn.execute(insert(ticket_events).values(**_event_values(ticket_id, event)))
    return ticket_id


async def append_event(conn: AsyncConnection, ticket_id: str, ticket: Ticket, event: TicketEvent) -> None:
    """Write one more event and the projection it leads to, inside the caller's transaction
    (intake closes an emergency-transferred call's ticket in the transaction that registers it)."""
    await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(**projection(ticket)))
    await conn.execute(insert(ticket_events).values(**_event_values(ticket_id, event)))


async def add_survey_task(conn: AsyncConnection, ticket: Ticket, now: datetime) -> None:
    """The unit's feedback is on the ticket: the survey call is due (same transaction)."""
    if not ticket.caller.number:
        return
    await conn.execute(callback_tasks.insert().values(
        id=str(uuid.uuid4()), ticket_no=ticket.ticket_no, caller_number=ticket.caller.number,
        reason="survey", status="due", due_at=now, created_at=now, attempts=0))


#: Survey tasks not yet finished (tickets/callbacks.py's statuses, but for the robot's own call).
_OPEN_SURVEY_STATUSES = ("due", "agent", "agent_calling")


def survey_outcome(event: CallbackRecorded | CallbackUnreached) -> str:
    """What a finished survey task says came of it: the satisfaction, or why there is none."""
    if isinstance(event, CallbackUnreached):
        return "unreached"
    return event.satisfaction.value if event.satisfaction is not None else "declined"


async def finish_survey_tasks(conn: AsyncConnection, ticket_no: str, now: datetime, outcome: str) -> None:
    """The callback's outcome is on the ticket, by whatever way (the desk's command, the callback
    page, the robot): no survey task of the ticket stays listed as still owed (same transaction).
    The robot's call in progress (`calling`) finishes by itself."""
    await conn.execute(update(callback_tasks).where(
        callback_tasks.c.ticket_no == ticket_no, callback_tasks.c.reason == "survey",
        callback_tasks.c.status.in_(_OPEN_SURVEY_STATUSES)).values(
            status="done", result=outcome, updated_at=now))


def deadline_callback_outcome(event: DeadlineCallbackRecorded) -> str:
    """What a finished deadline callback task says came of it."""
    if not event.reached:
        return "unreached"
    return event.satisfaction.value if event.satisfaction is not None else "declined"


async def finish_deadline_tasks(conn: AsyncConnection, ticket_no: str, now: datetime, outcome: str) -> None:
    """时限届满回访 (北京条例第二十三条): its outcome is on the ticket, or the ticket no longer waits
    for it (the unit gave its feedback: the survey after the feedback takes over; or the ticket
    left the unit). No deadline task of the ticket stays listed as owed (same transaction)."""
    await conn.execute(update(callback_tasks).where(
        callback_tasks.c.ticket_no == ticket_no, callback_tasks.c.reason == DEADLINE_CALLBACK_REASON,
        callback_tasks.c.status.in_(_OPEN_SURVEY_STATUSES)).values(
            status="done", result=outcome, updated_at=now))


# ---- queries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketFilter:
    """What a list asks for. `unit`: only tickets where that unit is lead or cooperating.
    `reader`: the person listing, from whom complaints about them are left out (`visible_to`)."""

    unit: str | None = None
    statuses: tuple[TicketStatus, ...] = ()
    limit: int = 50
    offset: int = 0
    reader: str | None = None


def cooperates(unit: str) -> Any:
    """`unit` is among the ticket's cooperating units (a JSON list in one column)."""
    escaped = json.dumps(unit, ensure_ascii=False).replace("\\", "\\\\").replace(
        "%", "\\%").replace("_", "\\_")
    return tickets.c.cooperating_units.like(f"%{escaped}%", escape="\\")


def _involves(unit: str) -> Any:
    return or_(tickets.c.lead_unit == unit, cooperates(unit))


# ---- the repository ------------------------------------------------------------------------


Guard = Callable[[Ticket], None]
#: Work done in a save's own transaction, after the ticket and its event are written.
Within = Callable[[AsyncConnection, Ticket, TicketEvent], Awaitable[None]]
#: Told of every committed transition (after the commit): the composition root publishes a
#: notice on the event bus (`tickets.announcements`). Best effort: it must not raise.
Announce = Callable[[Ticket, TicketEvent], Awaitable[None]]


class TicketStore:
    """Loads and saves tickets; every save is one transition and one event, atomically."""

    def __init__(
        self, engine: AsyncEngine, node_id: str, clock: Clock = utc_now,
        policy: workflow.WorkflowPolicy = workflow.DEFAULT_POLICY,
        metrics: Metrics | None = None, announce: Announce | None = None,
        snapshot_cache_size: int = DEFAULT_SNAPSHOTS,
    ) -> None:
        TicketNumber(local_date_of(clock()), node_id, 1)  # validates the node id at start-up
        self._metrics = TicketMetrics(metrics)
        self._announce = announce
        self._engine = engine
        self._node_id = node_id
        self._clock = clock
        self._policy = policy
        self._snapshots = SnapshotCache(snapshot_cache_size)

    def now(self) -> datetime:
        return self._clock()

    @property
    def engine(self) -> AsyncEngine:
        """The database it writes to (other records kept beside tickets use the same one)."""
        return self._engine

    @property
    def policy(self) -> workflow.WorkflowPolicy:
        """The centre's numbers this store's transitions are decided with."""
        return self._policy

    # ---- writes ------------------------------------------------------------------------------

    async def register(
        self, command: workflow.Register, actor: Actor, *, within: Within | None = None, **row: Any
    ) -> tuple[Ticket, TicketEvent]:
        """Register a new ticket under a freshly allocated number (the command's is replaced).

        `within` runs in the registration's transaction (the API remembers its answer to an
        `Idempotency-Key` there): if it raises, nothing is registered."""
        for attempt in range(NUMBER_ATTEMPTS):
            if attempt:
                await asyncio.sleep(random.uniform(0, 0.002 * attempt))
            now = self._clock()
            allocator = number_allocator(self._engine)
            number = await allocator.next(self._engine, now, self._node_id)
            ticket, event = workflow.apply(
                None, _with_number(command, number), actor, now, self._policy)
            assert isinstance(event, TicketRegistered)
            try:
                async with self._engine.begin() as conn:
                    ticket_id = await insert_registered(conn, ticket, event, **row)
                    if within is not None:
                        await within(conn, ticket, event)
            except IntegrityError:
                allocator.forget(now, self._node_id)
                continue  # another writer of this node took the number: allocate again
            self._snapshots.put(ticket_id, ticket)
            self._metrics.committed(event, ticket)
            log.info("ticket registered", extra={
                "ticket_no": ticket.ticket_no, "agent": actor.id,
                "channel": ticket.channel.value, "caller": mask_phone(ticket.caller.number)})
            return ticket, event
        raise Conflict("could not allocate a ticket number", node_id=self._node_id)

    async def transition(
        self, ticket_no: str, command: workflow.Command, actor: Actor, expected_version: int,
        guard: Guard | None = None, within: Within | None = None,
    ) -> tuple[Ticket, TicketEvent]:
        """Apply `command` to the ticket at `expected_version`; Conflict if it has moved on.

        `guard` sees the loaded ticket first (the HTTP layer hides other units' tickets);
        `within` runs in the transition's transaction, as in `register`.
        A snapshot this store kept at `expected_version` (`tickets.snapshots`) stands in for
        reading the row and its events; if the locked update finds the row moved on, or the
        snapshot refuses the command, the ticket is read afresh and the command tried on that,
        so every answer is the one a fresh read would have given.
        """
        cached = self._snapshots.get(ticket_no, expected_version)
        if cached is not None:
            try:
                return await self._write(ticket_no, *cached, (), command, actor, expected_version,
                                         guard, within, from_cache=True)
            except _RowMoved:
                self._snapshots.drop(ticket_no)
        async with self._engine.connect() as conn:
            ticket_id, ticket, events, synthesised = await self._load(conn, ticket_no)
        return await self._write(ticket_no, ticket_id, ticket, events[:1] if synthesised else (),
                                 command, actor, expected_version, guard, within, from_cache=False)

    async def _write(
        self, ticket_no: str, ticket_id: str, ticket: Ticket, synthesised: Sequence[TicketEvent],
        command: workflow.Command, actor: Actor, expected_version: int, guard: Guard | None,
        within: Within | None, *, from_cache: bool,
    ) -> tuple[Ticket, TicketEvent]:
        """Decide on `ticket` and commit the projection and the event(s) in one transaction,
        under the optimistic lock. `synthesised`: a legacy row's registration, written first.
        `from_cache`: any refusal, or a row moved on, is `_RowMoved` (read afresh and retry)."""
        now = self._clock()
        try:
            if guard is not None:
                guard(ticket)
            if ticket.version != expected_version:
                raise Conflict("ticket was changed by someone else; reload it",
                               ticket_no=ticket_no, expected_version=expected_version,
                               current_version=ticket.version)
            new, event = workflow.apply(ticket, command, actor, now, self._policy)
        except HotlineError as exc:
            if from_cache:
                raise _RowMoved() from exc
            raise
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    LOCKED_UPDATE, _update_parameters(ticket_id, expected_version, new))
                if result.rowcount != 1:
                    if from_cache:
                        raise _RowMoved()
                    raise Conflict("ticket was changed by someone else; reload it",
                                   ticket_no=ticket_no, expected_version=expected_version)
                for legacy in synthesised:
                    await conn.execute(INSERT_EVENT, _event_values(ticket_id, legacy))
                await conn.execute(INSERT_EVENT, _event_values(ticket_id, event))
                if within is not None:
                    await within(conn, new, event)
                # The callback is due: after the unit's feedback (or its review, when that is
                # policy), or after the quality team's finding on a complaint about staff.
                callback_due = FeedbackAccepted if self._policy.review_feedback else FeedbackSubmitted
                if isinstance(event, (callback_due, QualityFindingRecorded)):
                    await add_survey_task(conn, new, now)  # the callback is due now
                elif isinstance(event, CallbackRecorded | CallbackUnreached):
                    await finish_survey_tasks(conn, ticket_no, now, survey_outcome(event))
                if isinstance(event, DeadlineCallbackRecorded):
                    await finish_deadline_tasks(conn, ticket_no, now, deadline_callback_outcome(event))
                elif (ticket.status in DEADLINE_CALLBACK_STATUSES
                      and new.status not in DEADLINE_CALLBACK_STATUSES):
                    await finish_deadline_tasks(conn, ticket_no, now, "superseded")
                if isinstance(event, Dispatched) and new.caller.confidential and new.caller.number:
                    # 保密联络: the unit reaches this caller only through the relay, with this code.
                    await insert_code(conn, ticket_no, actor.id, now,
                                      event.deadline + DISPATCH_GRACE)
        except IntegrityError as exc:
            if from_cache:
                raise _RowMoved() from exc
            raise Conflict("ticket was changed by someone else; reload it",
                           ticket_no=ticket_no, expected_version=expected_version) from exc
        self._snapshots.put(ticket_id, new)
        self._metrics.committed(event, new)
        if self._announce is not None:
            await self._announce(new, event)
        log.info("ticket transition", extra={
            "ticket_no": ticket_no, "agent": actor.id, "role": actor.role.value,
            "event": event.event_type, "version": event.version, "status": new.status.value})
        return new, event

    # ---- reads -------------------------------------------------------------------------------

    async def get(self, ticket_no: str) -> Ticket:
        """The ticket as it stands now (always read afresh; kept for the next transition)."""
        async with self._engine.connect() as conn:
            return (await self._load(conn, ticket_no))[1]

    async def get_with_events(self, ticket_no: str) -> tuple[Ticket, list[TicketEvent]]:
        async with self._engine.connect() as conn:
            _, ticket, events, _ = await self._load(conn, ticket_no)
        return ticket, events

    async def list_tickets(self, query: TicketFilter = TicketFilter()) -> list[Ticket]:
        """Tickets newest first, as their projection rows say (no folding)."""
        conditions: list[Any] = []
        if query.unit is not None:
            conditions.append(_involves(query.unit))
        if query.statuses:
            conditions.append(tickets.c.status.in_([s.value for s in query.statuses]))
        if query.reader is not None:
            conditions.append(visible_to(query.reader))
        return await self._select(conditions, query.limit, query.offset)

    async def call_agents(self, call_ids: Sequence[str]) -> frozenset[str]:
        """Who answered the ticket's calls (the call records' agents): the agents whose own
        ticket it is, with those who worked on it (kernel.access_policy)."""
        if not call_ids:
            return frozenset()
        async with self._engine.connect() as conn:
            found = await conn.execute(select(calls.c.agent_id).where(
                calls.c.id.in_(list(call_ids)), calls.c.agent_id.is_not(None)))
        return frozenset(str(agent) for agent in found.scalars())

    async def caller_is_confidential(self, number: str) -> bool:
        """Whether any ticket of the caller keeps them confidential (保密): what others who
        read by the number (the anti-abuse history) must know to keep it masked in the audit."""
        async with self._engine.connect() as conn:
            found = await conn.scalar(select(tickets.c.id).where(
                tickets.c.caller_number == number, tickets.c.caller_confidential.is_(True)).limit(1))
        return found is not None

    async def caller_history(self, number: str, limit: int = 50, *, reader: str | None = None,
                             staff_complaints: bool = True) -> list[Ticket]:
        """A caller's tickets by phone number, newest first (index on caller_number, created_at).
        `reader`: complaints about that person left out (`visible_to`); `staff_complaints` False:
        every complaint about hotline staff left out (for answers shown to whoever takes a call)."""
        conditions = [tickets.c.caller_number == number]
        if reader is not None:
            conditions.append(visible_to(reader))
        if not staff_complaints:
            conditions.append(tickets.c.about_staff.is_(None))
        return await self._select(conditions, limit, 0)

    async def events_of_tickets_active_between(
        self, start: datetime, end: datetime
    ) -> list[TicketEvent]:
        """Every event of every ticket that had an event in [start, end), in version order.

        Whole histories, not just the period's events: a figure of the period (a feedback on
        time, say) depends on earlier events (the dispatch that set the deadline).
        """
        active = (select(ticket_events.c.ticket_id)
                  .where(ticket_events.c.at >= start, ticket_events.c.at < end).distinct())
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(ticket_events).where(ticket_events.c.ticket_id.in_(active))
                .order_by(ticket_events.c.ticket_id, ticket_events.c.version)
            )).all()
        return [event_from_row(row) for row in rows]

    async def supervision_candidates(
        self, created_since: datetime, idle_drafts_before: datetime | None = None
    ) -> list[Ticket]:
        """Full tickets (folded from their events) the supervision scanner must look at.

        Every open ticket past intake (overdue, unsigned, rejected returns), plus every ticket
        created since `created_since`, closed or not: a caller who comes back after a closed
        ticket is still repeating the request; plus drafts untouched since `idle_drafts_before`
        (reported as stale). Folded rather than read from the projection, because the flags
        already raised and the rejected returns live in the events.
        """
        open_statuses = [s.value for s in TicketStatus
                         if s not in FINISHED_STATUSES and s is not TicketStatus.DRAFT]
        wanted = [tickets.c.status.in_(open_statuses), tickets.c.created_at >= created_since]
        if idle_drafts_before is not None:
            wanted.append(and_(tickets.c.status == TicketStatus.DRAFT.value,
                               tickets.c.updated_at < idle_drafts_before))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(tickets).where(or_(*wanted))
                .order_by(tickets.c.created_at, tickets.c.ticket_no)
            )).all()
            folded: list[Ticket] = []
            for start in range(0, len(rows), _FOLD_BATCH):
                batch = rows[start:start + _FOLD_BATCH]
                by_ticket: dict[str, list[TicketEvent]] = {row.id: [] for row in batch}
                event_rows = (await conn.execute(
                    select(ticket_events)
                    .where(ticket_events.c.ticket_id.in_(list(by_ticket)))
                    .order_by(ticket_events.c.ticket_id, ticket_events.c.version)
                )).all()
                for event_row in event_rows:
                    by_ticket[event_row.ticket_id].append(event_from_row(event_row))
                for row in batch:
                    events = [e for e in by_ticket[row.id] if e.version <= row.version]
                    if not events and row.version == 1:
                        events = [_legacy_registration(row)]
                    ticket = workflow.fold(events) if events else None
                    if ticket is None or ticket.version != row.version:
                        log.warning("ticket row and its events disagree; not scanned",
                                    extra={"ticket_no": row.ticket_no, "row_version": row.version})
                        continue
                    folded.append(ticket)
        return folded

    async def _select(self, conditions: Sequence[Any], limit: int, offset: int) -> list[Ticket]:
        statement = (select(tickets).where(*conditions)
                     .order_by(tickets.c.created_at.desc(), tickets.c.ticket_no.desc())
                     .limit(limit).offset(offset))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        return [ticket_from_row(row) for row in rows]

    async def _load(
        self, conn: AsyncConnection, ticket_no: str
    ) -> tuple[str, Ticket, list[TicketEvent], bool]:
        row = (await conn.execute(select(tickets).where(tickets.c.ticket_no == ticket_no))).first()
        if row is None:
            raise NotFound("no such ticket", ticket_no=ticket_no)
        # Only the events up to the row's version: a writer commits the row and its event in one
        # transaction, so this pair is consistent even under READ COMMITTED, where a write landing
        # between the two SELECTs would otherwise show a newer event than the row.
        event_rows = (await conn.execute(
            select(ticket_events)
            .where(ticket_events.c.ticket_id == row.id, ticket_events.c.version <= row.version)
            .order_by(ticket_events.c.version)
        )).all()
        events = [event_from_row(r) for r in event_rows]
        synthesised = False
        if not events:
            if row.version != 1:
                raise InvalidInput("ticket has no events but version > 1", ticket_no=ticket_no,
                                   version=row.version)
            events, synthesised = [_legacy_registration(row)], True
        ticket = workflow.fold(events)
        if ticket.version != row.version:
            raise Conflict("ticket row and its events disagree; reload it", ticket_no=ticket_no,
                           row_version=row.version, event_version=ticket.version)
        if not synthesised:
            self._snapshots.put(row.id, ticket)
        return row.id, ticket, events, synthesised


class _RowMoved(Exception):
    """A kept snapshot's version is no longer the row's: read the ticket afresh."""


def _with_number(command: workflow.Register, number: str) -> workflow.Register:
    return replace(command, ticket_no=number)


def ticket_from_row(row: Row[Any]) -> Ticket:
    """A list entry from the projection: every column the list shows, not the full history."""
    return Ticket(
        ticket_no=row.ticket_no, channel=Channel(row.channel),
        caller=Caller(number=row.caller_number, name=row.caller_name,
                      confidential=bool(row.caller_confidential),
                      anonymous=bool(row.caller_anonymous), no_reply=bool(row.caller_no_reply)),
        created_at=row.created_at, updated_at=row.updated_at, status=TicketStatus(row.status),
        version=row.version,
        ticket_type=TicketType(row.ticket_type) if row.ticket_type else None,
        urgency=Urgency(row.urgency or "normal"), summary=row.summary or "",
        content=row.content or "", location=row.location or "", district=row.district,
        call_ids=(row.call_id,) if row.call_id else (),
        lead_unit=row.lead_unit,
        cooperating_units=tuple(json.loads(row.cooperating_units or "[]")),
        dispatched_at=row.dispatched_at, sign_deadline=row.sign_deadline, deadline=row.deadline,
        satisfaction=Satisfaction(row.satisfaction) if row.satisfaction else None,
        supervision_level=SupervisionLevel(row.supervision_level or 0),
        return_count=row.return_count or 0,
        closure_reason=ClosureReason(row.closure_reason) if row.closure_reason else None,
        closed_at=row.closed_at, about_staff=row.about_staff,
    )
