"""What the public progress lookup shows of a ticket (public_lookup.view). Pure."""

from __future__ import annotations

from datetime import UTC, datetime

from kernel.roles import Actor, Role
from public_lookup.view import PUBLIC_STATUS, public_progress, result_of
from tests.ticket_steps import snapshot
from tickets.events import Dispatched, FeedbackSubmitted, ProgressNoted
from tickets.model import TicketStatus

AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
UNIT = Actor("zhang", Role.UNIT, "city-housing")


def test_the_public_sees_status_unit_and_result_in_public_wording() -> None:
    events = [
        Dispatched(ticket_no="n", version=3, occurred_at=AT, actor=UNIT, lead_unit="city-housing",
                   cooperating_units=(), deadline=AT, sign_deadline=AT),
        ProgressNoted(ticket_no="n", version=4, occurred_at=AT, actor=UNIT, note="内部：已约谈物业"),
        FeedbackSubmitted(ticket_no="n", version=5, occurred_at=AT, actor=UNIT, result="已修复",
                          contacted_caller=True),
    ]
    assert result_of(events) == "已修复"
    shown = public_progress(snapshot(lead_unit="city-housing", status=TicketStatus.RETURN_REQUESTED), events,
                            {"city-housing": "市住房和城乡建设局"})
    assert shown.as_json() == {"ticket_no": "20261207-T01-00001", "status": "return_requested",
                               "status_title": "办理中", "unit_name": "市住房和城乡建设局", "result": "已修复"}
    assert set(PUBLIC_STATUS) == {s.value for s in TicketStatus}
