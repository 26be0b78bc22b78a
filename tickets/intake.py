"""Intake of a finished phone call: one call record and one draft ticket, in one transaction.

The draft is a registered ticket like any other: its row and its `TicketRegistered` event
(actor: the call flow, role system) are written with the call record, through the same
`tickets.store` helpers and ticket-number allocation the HTTP registration uses.

Idempotent per Asterisk channel: a second attempt for the same channel (a restarted bridge,
two nodes racing on the same hang-up) finds the first one's rows and returns its ticket
number, so a call is never recorded twice and never half-recorded.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Column, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.errors import Conflict
from kernel.metrics import Metrics
from kernel.privacy import normalize_number
from kernel.roles import Actor, Role
from kernel.schema import callback_tasks, calls, tickets
from tickets import workflow
from tickets.events import TicketEvent, TicketRegistered
from tickets.model import Attachment, Caller, Channel, OutOfScope, Ticket
from tickets.store import (
    CALL_FLOW_ACTOR,
    append_event,
    insert_registered,
    number_allocator,
)
from tickets.ticket_metrics import TicketMetrics

log = logging.getLogger(__name__)

#: A caller who left a message is called back within this time (a working day's span).
MESSAGE_CALLBACK_WITHIN = timedelta(hours=24)


class FinishedCall(Protocol):
    """A finished call as intake reads it (the call path's `telephony.call_record.CallRecord`
    has these fields; intake does not import telephony)."""

    @property
    def call_id(self) -> str: ...

    @property
    def channel_id(self) -> str: ...

    @property
    def bridge_id(self) -> str | None: ...

    @property
    def caller_number(self) -> str: ...

    @property
    def caller_name(self) -> str: ...

    @property
    def dialed_number(self) -> str: ...

    @property
    def node_id(self) -> str: ...

    @property
    def started_at(self) -> datetime: ...

    @property
    def answered_at(self) -> datetime | None: ...

    @property
    def ended_at(self) -> datetime: ...

    @property
    def end_reason(self) -> str: ...

    @property
    def recording_path(self) -> Path | None: ...

    @property
    def recording_seconds(self) -> float | None: ...

    @property
    def recording_sha256(self) -> str | None: ...

    @property
    def screen_level(self) -> str | None: ...

    @property
    def screen_decision_id(self) -> str | None: ...

    @property
    def queue(self) -> str: ...

    @property
    def is_message(self) -> bool: ...

    @property
    def agent_id(self) -> str | None: ...

    @property
    def queue_seconds(self) -> float | None: ...

    @property
    def transferred_to(self) -> str | None: ...


def fit(value: str | None, column: Column[Any]) -> str | None:
    """`value` cut to the column's length: the caller id comes from the network, and a value
    one character too long must cost the caller nothing (PostgreSQL refuses it, forever)."""
    length = getattr(column.type, "length", None)
    if value is None or length is None:
        return value
    return value[:length]


def raw_caller_id(record: FinishedCall) -> str:
    """What the network sent, when it does not fit the columns: kept in the registration
    event's reason (a text field), so nothing the caller's phone said is lost."""
    parts = []
    if fit(record.caller_number, calls.c.caller_number) != record.caller_number:
        parts.append(f"caller id truncated, raw number: {record.caller_number}")
    if fit(record.caller_name, calls.c.caller_name) != record.caller_name:
        parts.append(f"caller id truncated, raw name: {record.caller_name}")
    return "; ".join(parts)


def registration(record: FinishedCall, ticket_no: str) -> workflow.Register:
    """The draft ticket a finished call registers: the caller's number, the call, its recording."""
    recordings = (
        (Attachment("recording", str(record.recording_path), "通话录音"),)
        if record.recording_path else ()
    )
    # One caller, one key: "+86 138-..." and "138..." are the same person (kernel.privacy).
    number = normalize_number(record.caller_number) or record.caller_number
    return workflow.Register(
        ticket_no=ticket_no, channel=Channel.PHONE,
        caller=Caller(number=fit(number, tickets.c.caller_number)),
        call_ids=(record.call_id,), recordings=recordings, reason=raw_caller_id(record),
    )


def call_row(record: FinishedCall) -> dict[str, Any]:
    """The `calls` row of a finished call (the intake's, and the confidential relay's)."""
    return dict(
        id=record.call_id,
        channel_id=record.channel_id,
        bridge_id=record.bridge_id,
        caller_number=fit(record.caller_number, calls.c.caller_number),
        caller_name=fit(record.caller_name, calls.c.caller_name) or None,
        dialed_number=fit(record.dialed_number, calls.c.dialed_number) or None,
        node_id=record.node_id,
        started_at=record.started_at,
        answered_at=record.answered_at,
        ended_at=record.ended_at,
        end_reason=fit(record.end_reason, calls.c.end_reason),
        recording_path=str(record.recording_path) if record.recording_path else None,
        recording_seconds=record.recording_seconds,
        recording_sha256=record.recording_sha256,
        screen_level=record.screen_level,
        screen_decision_id=record.screen_decision_id,
        queue=record.queue,
        agent_id=record.agent_id,
        queue_seconds=record.queue_seconds,
        transferred_to=record.transferred_to,
    )


class CallIntake:
    def __init__(self, engine: AsyncEngine, node_id: str, *, metrics: Metrics | None = None) -> None:
        self._engine = engine
        self._node_id = node_id
        self._metrics = TicketMetrics(metrics)

    async def record_finished_call(self, record: FinishedCall, attempts: int = 5) -> str:
        """Write the call and its draft ticket; return the ticket number."""
        for _ in range(attempts):
            async with self._engine.begin() as conn:
                existing = await conn.scalar(
                    select(tickets.c.ticket_no)
                    .join(calls, calls.c.id == tickets.c.call_id)
                    .where(calls.c.channel_id == record.channel_id)
                )
                if existing:
                    return str(existing)
            try:
                return await self._insert(record)
            except IntegrityError:
                # Another writer took the same ticket number or recorded this channel; look again.
                continue
        raise Conflict("could not allocate a ticket number", call_id=record.call_id)

    async def _insert(self, record: FinishedCall) -> str:
        now = datetime.now(UTC)
        allocator = number_allocator(self._engine)
        ticket_no = await allocator.next(self._engine, now, self._node_id)
        try:
            return await self._insert_numbered(record, ticket_no, now)
        except IntegrityError:
            allocator.forget(now, self._node_id)  # read the table again at the next try
            raise

    async def _insert_numbered(self, record: FinishedCall, ticket_no: str, now: datetime) -> str:
        committed: list[tuple[TicketEvent, Ticket]] = []
        async with self._engine.begin() as conn:
            await conn.execute(calls.insert().values(**call_row(record)))
            ticket, event = workflow.apply(
                None, registration(record, ticket_no), CALL_FLOW_ACTOR, now)
            assert isinstance(event, TicketRegistered)
            ticket_id = await insert_registered(
                conn, ticket, event,
                origin="message" if record.is_message else "call", call_id=record.call_id,
            )
            committed.append((event, ticket))
            if record.transferred_to and record.agent_id:
                # The agent sent the caller to an emergency line: the request is out of the
                # hotline's scope (北京条例第十一条第一项), closed with the line named.
                closed, closing = workflow.apply(
                    ticket, workflow.CloseOutOfScope(scope=OutOfScope.EMERGENCY_LINE,
                                                     referred_to=record.transferred_to),
                    Actor(record.agent_id, Role.AGENT), now)
                await append_event(conn, ticket_id, closed, closing)
                committed.append((closing, closed))
            if record.is_message and ticket.caller.number:
                # A message is a promise to call back (GB/T 33358: no request goes unanswered).
                await conn.execute(callback_tasks.insert().values(
                    id=str(uuid.uuid4()), ticket_no=ticket_no, call_id=record.call_id,
                    caller_number=ticket.caller.number, reason="left_message", status="due",
                    due_at=record.ended_at + MESSAGE_CALLBACK_WITHIN, created_at=now))
        for event, state in committed:
            self._metrics.committed(event, state)
        log.info("call recorded as draft ticket",
                 extra={"call_id": record.call_id, "ticket_no": ticket_no})
        return ticket_no
