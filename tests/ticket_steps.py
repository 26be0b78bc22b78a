"""A ticket taken through the workflow's main path by the real store, for tests of the readers
of the ticket log (public lookup, unit push, risk warning)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kernel.roles import Actor, Role
from tickets.model import Caller, Channel, Satisfaction, Ticket, TicketStatus, TicketType
from tickets.store import TicketStore
from tickets.workflow import Classify, Dispatch, RecordCallback, Register, Sign, SubmitFeedback

AGENT = Actor("agent7", Role.AGENT)
DISPATCHER = Actor("disp1", Role.DISPATCHER)
CALLBACK_AGENT = Actor("cb1", Role.CALLBACK_AGENT)


async def registered(store: TicketStore, caller: str, *, confidential: bool = False,
                     summary: str = "小区停水", content: str = "家里从早上开始停水，没有通知",
                     location: str = "兰山区银雀山街道某小区", district: str | None = "兰山区",
                     callback_number: str | None = None) -> str:
    """A ticket registered and classified by an agent; its number."""
    ticket, _ = await store.register(Register(
        ticket_no="", channel=Channel.PHONE, caller=Caller(number=caller, confidential=confidential)), AGENT)
    await store.transition(ticket.ticket_no, Classify(
        ticket_type=TicketType.HELP, summary=summary, content=content, location=location, district=district,
        callback_number=callback_number), AGENT, 1)
    return ticket.ticket_no


async def dispatched(store: TicketStore, no: str, unit: str, cooperating: tuple[str, ...] = ()) -> None:
    ticket = await store.get(no)
    await store.transition(no, Dispatch(lead_unit=unit, cooperating_units=cooperating,
                                        deadline=store.now() + timedelta(days=5),
                                        sign_deadline=store.now() + timedelta(days=1)), DISPATCHER, ticket.version)


async def handled(store: TicketStore, no: str, unit: str, result: str) -> None:
    """Signed and answered by the lead unit, then the caller's callback (satisfied)."""
    actor = Actor(f"{unit}-staff", Role.UNIT, unit)
    ticket = await store.get(no)
    await store.transition(no, Sign(), actor, ticket.version)
    await store.transition(no, SubmitFeedback(result=result), actor, ticket.version + 1)
    await store.transition(no, RecordCallback(satisfaction=Satisfaction.SATISFIED), CALLBACK_AGENT,
                           ticket.version + 2)


def snapshot(**changes: object) -> Ticket:
    """A ticket in hand at a unit, for the pure rules' tests; `changes` replace its fields."""
    at = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    base = Ticket(ticket_no="20261207-T01-00001", channel=Channel.PHONE,
                  caller=Caller(number="13700003333", name="王五"), created_at=at, updated_at=at,
                  status=TicketStatus.IN_PROGRESS, version=4)
    return replace(base, **changes)  # type: ignore[arg-type]
