"""The confidential relay's ticket side (保密联络, 临沂条例第十七条第四项): codes, checks, record.

The relay call itself is placed by `outbound/confidential_relay.py` through the
`RelayDirectory` port this class implements. Here:

- `issue`: hotline staff give a ticket a fresh one-time code (dispatch does it by itself for
  confidential callers, `tickets/store.py`); `current`: the code the ticket's units may see.
- `open`: a code keyed in from a phone. Codes expire and are used once. A code is bound to the
  ticket's units: it is looked up only among the tickets of the units whose directory numbers
  (`tickets/unit_directory.py`) include the calling number, so a phone that is no unit's
  registered line opens nothing, and a code read by one unit fails from another unit's phone.
  Every refusal and every acceptance is written to the access audit (kind
  `confidential_identity`: an attempt to reach a confidential caller), and the refusals of
  the last `lockout` window are what locks out: a calling number after `max_failures`, and
  every caller after `global_max_failures` (a caller id can be spoofed, so a per-number limit
  alone lets a guesser rotate numbers). Reaching the global limit is an alert: an error log
  line and `hotline_relay_global_lockouts_total`. The audit is shared by every node and
  survives restarts, and an auditor sees exactly what the lockouts counted.
- `release_code` / `record_relay_call`: the caller was not reached (the code can be keyed in again), or the
  relay call is over: its call record and a `RelayCallHeld` event go on the ticket.

It never returns the caller's number to anything a unit can see: only the telephony port
gets it, to dial.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.access_policy import audit_number
from kernel.audit import AccessAudit, AccessKind, AccessRecord
from kernel.clock import Clock, utc_now
from kernel.errors import Conflict, IllegalTransition, InvalidInput
from kernel.metrics import Metrics
from kernel.phone_number import PhoneNumber, directory_target
from kernel.privacy import mask_phone
from kernel.roles import Actor, Role
from kernel.schema import access_audit, calls, relay_codes, tickets
from tickets import workflow
from tickets.intake import FinishedCall, call_row
from tickets.model import TicketStatus
from tickets.relay_codes import ACTIVE, IN_USE, USED, RelayCode, code_of_row, insert_code
from tickets.store import TicketStore
from tickets.unit_directory import UnitContact, UnitDirectoryStore

log = logging.getLogger(__name__)

#: Who writes relay calls on tickets.
RELAY_ACTOR = Actor("confidential-relay", Role.SYSTEM)
#: The role written in the audit for a phone keying in a code: the person is not known.
RELAY_CALLER_ROLE = "relay_caller"
_CLOSED = (TicketStatus.CLOSED, TicketStatus.ARCHIVED, TicketStatus.DRAFT)

ACCEPTED, WRONG_CODE, EXPIRED, LOCKED_OUT = "accepted", "wrong_code", "expired", "locked_out"
#: The calling number is no unit's registered line: no code is even looked up.
UNREGISTERED = "unregistered_number"


@dataclass(frozen=True)
class RelayGrant:
    """A code accepted for one relay call: whom to dial. Stays inside the call path."""

    code_id: str
    ticket_no: str
    citizen_number: str
    calling_number: str


def registered_numbers(contact: UnitContact) -> set[str]:
    """The national digits of a unit's directory lines that are numbers (not endpoints)."""
    targets = [directory_target(entry, unit=contact.unit)
               for entry in (contact.dial, contact.backup_dial) if entry]
    return {target.digits for target in targets if isinstance(target, PhoneNumber)}


def audit_actor(calling_number: str) -> str:
    return f"relay:{calling_number}"[:64]


class RelayService:
    def __init__(self, engine: AsyncEngine, tickets: TicketStore, audit: AccessAudit,
                 directory: UnitDirectoryStore, *, digits: int = 8, ttl: timedelta = timedelta(days=7),
                 max_failures: int = 5, global_max_failures: int = 50,
                 lockout: timedelta = timedelta(minutes=30), clock: Clock = utc_now,
                 metrics: Metrics | None = None) -> None:
        self._engine = engine
        self._tickets = tickets
        self._audit = audit
        self._directory = directory
        self.digits = digits
        self.ttl = ttl
        self.max_failures = max_failures
        self.global_max_failures = global_max_failures
        self.lockout = lockout
        self._clock = clock
        m = metrics if metrics is not None else Metrics()
        self._refused = m.counter("hotline_relay_code_refusals_total",
                                  "Relay codes refused, by reason.", ("reason",))
        self._global_lockouts = m.counter(
            "hotline_relay_global_lockouts_total",
            "Relay attempts refused because all callers together reached the failure limit.")

    # --- the ticket view -------------------------------------------------------------------
    async def issue(self, ticket_no: str, actor: Actor) -> RelayCode:
        """A fresh code for the ticket (older ones are revoked)."""
        ticket = await self._tickets.get(ticket_no)
        if ticket.status in _CLOSED:
            raise IllegalTransition("a relay code is for a dispatched, open ticket",
                                    ticket_no=ticket_no, status=ticket.status.value)
        if not (ticket.callback_number or ticket.caller.number):
            raise InvalidInput("the caller left no number to relay to", ticket_no=ticket_no)
        now = self._clock()
        async with self._engine.begin() as conn:
            code = await insert_code(conn, ticket_no, actor.id, now, now + self.ttl, self.digits)
        log.info("relay code issued", extra={"ticket_no": ticket_no, "agent": actor.id})
        return code

    async def current(self, ticket_no: str) -> RelayCode | None:
        """The code that can still be keyed in for the ticket, if any."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(
                select(relay_codes).where(relay_codes.c.ticket_no == ticket_no,
                                          relay_codes.c.status.in_((ACTIVE, IN_USE)),
                                          relay_codes.c.expires_at > self._clock())
                .order_by(relay_codes.c.issued_at.desc()).limit(1))).first()
        return code_of_row(row) if row is not None else None

    # --- the relay call (the telephony port) -----------------------------------------------
    async def open(self, code: str, calling_number: str) -> tuple[RelayGrant | None, str]:
        """Check a keyed-in code: (grant, "accepted"), or (None, why it was refused)."""
        now = self._clock()
        if await self._globally_locked(now):
            await self._audit_attempt(calling_number, False, LOCKED_OUT, now)
            self._refused.labels(LOCKED_OUT).inc()
            return None, LOCKED_OUT
        if await self._recent_failures(calling_number, now) >= self.max_failures:
            await self._audit_attempt(calling_number, False, LOCKED_OUT, now)
            self._refused.labels(LOCKED_OUT).inc()
            return None, LOCKED_OUT
        units = await self._units_of(calling_number)
        async with self._engine.begin() as conn:
            row = None if not units else (await conn.execute(
                select(relay_codes).join(tickets, tickets.c.ticket_no == relay_codes.c.ticket_no)
                .where(relay_codes.c.code == code, relay_codes.c.status == ACTIVE,
                       or_(tickets.c.lead_unit.in_(units),
                           *(tickets.c.cooperating_units.contains(f'"{unit}"') for unit in units)))
                .order_by(relay_codes.c.issued_at.desc()).limit(1))).first()
            if not units:
                refusal = UNREGISTERED
            elif row is None:
                refusal = WRONG_CODE
            elif row.expires_at <= now:
                refusal = EXPIRED
            else:
                taken = await conn.execute(update(relay_codes).where(
                    relay_codes.c.id == row.id, relay_codes.c.status == ACTIVE)
                    .values(status=IN_USE, updated_at=now))
                refusal = "" if taken.rowcount == 1 else WRONG_CODE
        if refusal:
            await self._audit_attempt(calling_number, False, refusal, now,
                                      ticket_no=row.ticket_no if row is not None else None)
            log.info("relay code refused", extra={"caller": mask_phone(calling_number),
                                                   "reason": refusal})
            self._refused.labels(refusal).inc()
            return None, refusal
        assert row is not None
        ticket = await self._tickets.get(row.ticket_no)
        number = ticket.callback_number or ticket.caller.number
        if ticket.status in _CLOSED or not number:
            await self._set_status(row.id, ACTIVE)
            await self._audit_attempt(calling_number, False, EXPIRED, now, ticket_no=row.ticket_no)
            return None, EXPIRED
        await self._audit_attempt(calling_number, True, ACCEPTED, now, ticket_no=row.ticket_no,
                                  citizen=number)
        log.info("relay code accepted", extra={"ticket_no": row.ticket_no,
                                               "caller": mask_phone(calling_number)})
        return RelayGrant(row.id, row.ticket_no, number, calling_number), ACCEPTED

    async def release_code(self, code_id: str) -> None:
        """The caller was not reached: the code may be keyed in again."""
        await self._set_status(code_id, ACTIVE, only_from=IN_USE)

    async def record_relay_call(self, code_id: str, ticket_no: str, record: FinishedCall, *,
                                connected: bool, talk_seconds: float) -> None:
        """The relay call is over: its call record, the code's fate, and the ticket event."""
        async with self._engine.begin() as conn:
            exists = await conn.scalar(select(calls.c.id).where(calls.c.id == record.call_id))
            if exists is None:  # written once, however often this is retried
                await conn.execute(calls.insert().values(**call_row(record)))
            await conn.execute(update(relay_codes).where(
                relay_codes.c.id == code_id, relay_codes.c.status == IN_USE).values(
                status=USED if connected else ACTIVE, updated_at=self._clock(),
                used_at=self._clock() if connected else None,
                call_id=record.call_id if connected else None))
        command = workflow.RecordRelayCall(call_id=record.call_id,
                                           calling_number=record.caller_number,
                                           connected=connected, seconds=talk_seconds)
        for _ in range(5):
            ticket = await self._tickets.get(ticket_no)
            try:
                await self._tickets.transition(ticket_no, command, RELAY_ACTOR, ticket.version)
                return
            except Conflict:
                continue
            except IllegalTransition:
                log.warning("relay call not written on a closed ticket",
                            extra={"ticket_no": ticket_no, "call_id": record.call_id})
                return
        log.error("relay call not written on the ticket", extra={"ticket_no": ticket_no,
                                                                  "call_id": record.call_id})

    # --- helpers ----------------------------------------------------------------------------
    async def _units_of(self, calling_number: str) -> list[str]:
        """The units whose directory entries (main or backup line) are this number."""
        return sorted(contact.unit for contact in (await self._directory.all()).values()
                      if calling_number and calling_number in registered_numbers(contact))

    async def _globally_locked(self, now: datetime) -> bool:
        failures = await self._recent_failures(None, now)
        if failures < self.global_max_failures:
            return False
        self._global_lockouts.inc()
        log.error("relay codes: too many wrong codes from all callers; every attempt refused",
                  extra={"failures": failures, "window_minutes": self.lockout.total_seconds() / 60,
                         "limit": self.global_max_failures})
        return True

    async def _recent_failures(self, calling_number: str | None, now: datetime) -> int:
        """Refusals in the lockout window: of one calling number, or of every one (None)."""
        who = (access_audit.c.actor == audit_actor(calling_number) if calling_number is not None
               else access_audit.c.role == RELAY_CALLER_ROLE)
        async with self._engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(access_audit).where(and_(
                who, access_audit.c.kind == AccessKind.CONFIDENTIAL_IDENTITY.value,
                access_audit.c.allowed.is_(False),
                access_audit.c.at > now - self.lockout)))
        return int(count or 0)

    async def _audit_attempt(self, calling_number: str, allowed: bool, detail: str,
                             now: datetime, *, ticket_no: str | None = None,
                             citizen: str | None = None) -> None:
        await self._audit.record(AccessRecord(
            actor=audit_actor(calling_number), role=RELAY_CALLER_ROLE, unit=None,
            kind=AccessKind.CONFIDENTIAL_IDENTITY, allowed=allowed, at=now, ticket_no=ticket_no,
            # The citizen is confidential: the audit keeps their number masked (kernel.access_policy).
            caller_number=audit_number(citizen, confidential=True), detail=f"relay code {detail}"))

    async def _set_status(self, code_id: str, status: str, only_from: str | None = None) -> None:
        query = update(relay_codes).where(relay_codes.c.id == code_id)
        if only_from is not None:
            query = query.where(relay_codes.c.status == only_from)
        async with self._engine.begin() as conn:
            await conn.execute(query.values(status=status, updated_at=self._clock()))
