"""The pure rules of the log's readers: whom an event goes to and what a unit sees of it
(unit_push.view), how a push is signed (unit_push.signing), when a hotspot warrants a warning
(risk_warning.policy), what the public sees of a ticket (public_lookup.view)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kernel.roles import Actor, Role
from public_lookup.view import PUBLIC_STATUS, public_progress, result_of
from risk_warning.policy import Thresholds, expected_per_window, warrants_warning
from tickets.events import Dispatched, FeedbackSubmitted, ProgressNoted, TicketClassified
from tickets.model import Caller, Channel, Ticket, TicketStatus, TicketType, Urgency
from unit_push.signing import signature, verify
from unit_push.view import recipients, unit_view

AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
UNIT = Actor("zhang", Role.UNIT, "city-housing")


def ticket(**changes: object) -> Ticket:
    base = Ticket(ticket_no="20261207-T01-00001", channel=Channel.PHONE,
                  caller=Caller(number="13700003333", name="王五"), created_at=AT, updated_at=AT,
                  status=TicketStatus.IN_PROGRESS, version=4)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_an_event_goes_to_the_units_holding_the_ticket_before_or_after_it() -> None:
    before = ticket(status=TicketStatus.PENDING_DISPATCH)
    after = ticket(status=TicketStatus.DISPATCHED, lead_unit="city-housing", cooperating_units=("city-ecology",))
    assert recipients(before, after) == {"city-housing", "city-ecology"}
    returned = ticket(status=TicketStatus.PENDING_DISPATCH, lead_unit=None)
    assert recipients(after, returned) == {"city-housing", "city-ecology"}  # told of its return
    assert recipients(None, ticket(status=TicketStatus.DRAFT)) == frozenset()  # intake is not theirs


def test_a_units_view_never_carries_the_call_nor_a_confidential_callers_data() -> None:
    event = TicketClassified(ticket_no="20261207-T01-00001", version=2, occurred_at=AT, actor=UNIT,
                             ticket_type=TicketType.HELP, urgency=Urgency.NORMAL, summary="s", content="c",
                             location="l", district=None, callback_number="13600007777")
    fields = {"summary": "s", "callback_number": "13600007777", "call_ids": ["c1"], "transcripts": []}
    plain = unit_view(event, fields, ticket())
    assert plain["data"] == {"summary": "s", "callback_number": "13600007777"}
    secret = unit_view(event, fields, ticket(caller=Caller(number="13700003333", confidential=True)))
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


def test_a_hotspot_warns_only_above_both_the_floor_and_its_own_baseline() -> None:
    t = Thresholds(window=timedelta(minutes=30), min_count=6, ratio=4.0, baseline=timedelta(days=28))
    assert not warrants_warning(5, 0, t)  # a quiet street's fifth call: not yet
    assert warrants_warning(6, 0, t)
    busy = int(3 * t.windows_in_baseline)  # a street with 3 such calls every half hour
    assert expected_per_window(busy, t) == 3
    assert not warrants_warning(11, busy, t) and warrants_warning(12, busy, t)


def test_the_public_sees_status_unit_and_result_in_public_wording() -> None:
    events = [
        Dispatched(ticket_no="n", version=3, occurred_at=AT, actor=UNIT, lead_unit="city-housing",
                   cooperating_units=(), deadline=AT, sign_deadline=AT),
        ProgressNoted(ticket_no="n", version=4, occurred_at=AT, actor=UNIT, note="内部：已约谈物业"),
        FeedbackSubmitted(ticket_no="n", version=5, occurred_at=AT, actor=UNIT, result="已修复",
                          contacted_caller=True),
    ]
    assert result_of(events) == "已修复"
    shown = public_progress(ticket(lead_unit="city-housing", status=TicketStatus.RETURN_REQUESTED), events,
                            {"city-housing": "市住房和城乡建设局"})
    assert shown.as_json() == {"ticket_no": "20261207-T01-00001", "status": "return_requested",
                               "status_title": "办理中", "unit_name": "市住房和城乡建设局", "result": "已修复"}
    assert set(PUBLIC_STATUS) == {s.value for s in TicketStatus}
