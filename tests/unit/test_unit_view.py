"""Whom an event of the ticket log goes to and what a unit sees of it (unit_push.view), and how
a push is signed (unit_push.signing). Pure."""

from __future__ import annotations

from datetime import UTC, datetime

from kernel.roles import Actor, Role
from tests.ticket_steps import snapshot
from tickets.events import TicketClassified
from tickets.model import Caller, TicketStatus, TicketType, Urgency
from unit_push.signing import signature, verify
from unit_push.view import recipients, unit_view

AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
UNIT = Actor("zhang", Role.UNIT, "city-housing")


def test_an_event_goes_to_the_units_holding_the_ticket_before_or_after_it() -> None:
    before = snapshot(status=TicketStatus.PENDING_DISPATCH)
    after = snapshot(status=TicketStatus.DISPATCHED, lead_unit="city-housing", cooperating_units=("city-ecology",))
    assert recipients(before, after) == {"city-housing", "city-ecology"}
    returned = snapshot(status=TicketStatus.PENDING_DISPATCH, lead_unit=None)
    assert recipients(after, returned) == {"city-housing", "city-ecology"}  # told of its return
    assert recipients(None, snapshot(status=TicketStatus.DRAFT)) == frozenset()  # intake is not theirs


def test_a_units_view_never_carries_the_call_nor_a_confidential_callers_data() -> None:
    event = TicketClassified(ticket_no="20261207-T01-00001", version=2, occurred_at=AT, actor=UNIT,
                             ticket_type=TicketType.HELP, urgency=Urgency.NORMAL, summary="s", content="c",
                             location="l", district=None, callback_number="13600007777")
    fields = {"summary": "s", "callback_number": "13600007777", "call_ids": ["c1"], "transcripts": []}
    plain = unit_view(event, fields, snapshot())
    assert plain["data"] == {"summary": "s", "callback_number": "13600007777"}
    secret = unit_view(event, fields, snapshot(caller=Caller(number="13700003333", confidential=True)))
    assert secret["data"] == {"summary": "s"} and secret["confidential"] is True
    assert secret["actor"] == {"role": "unit", "unit": "city-housing"}


def test_a_push_signature_binds_the_timestamp_and_the_body() -> None:
    body = b'{"seq":1}'
    signed = signature("k" * 32, 1_765_000_000, body)
    assert verify("k" * 32, "1765000000", body, signed, now=1_765_000_010)
    assert not verify("k" * 32, "1765000001", body, signed, now=1_765_000_010)  # another time
    assert not verify("k" * 32, "1765000000", body + b" ", signed, now=1_765_000_010)  # another body
    assert not verify("x" * 32, "1765000000", body, signed, now=1_765_000_010)  # another secret
    assert not verify("k" * 32, "1765000000", body, signed, now=1_765_000_000 + 3600)  # replayed late
