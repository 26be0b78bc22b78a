"""The workbenches' time rules and export, pure: what is overdue or due within a day, how long
a ticket waited, and a CSV a spreadsheet reads as UTF-8 and never runs as formulas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickets.announcements import involves
from workbenches.marks import DUE_SOON, DeadlineMark, csv_text, deadline_mark, waited_seconds
from workbenches.titles import EVENT_TITLES

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


def test_a_deadline_reads_overdue_at_its_moment_due_soon_within_a_day_else_on_time() -> None:
    assert deadline_mark(None, NOW) is DeadlineMark.NONE
    assert deadline_mark(NOW, NOW) is DeadlineMark.OVERDUE
    assert deadline_mark(NOW - timedelta(seconds=1), NOW) is DeadlineMark.OVERDUE
    assert deadline_mark(NOW + DUE_SOON, NOW) is DeadlineMark.DUE_SOON
    assert deadline_mark(NOW + DUE_SOON + timedelta(seconds=1), NOW) is DeadlineMark.ON_TIME


def test_waiting_is_never_negative_when_another_nodes_clock_is_ahead() -> None:
    assert waited_seconds(NOW - timedelta(minutes=3), NOW) == 180
    assert waited_seconds(NOW + timedelta(seconds=2), NOW) == 0
    assert waited_seconds(None, NOW) == 0


def test_the_export_has_a_byte_order_mark_chinese_headings_and_no_formulas() -> None:
    text = csv_text([{"ticket_no": "T1", "summary": "=1+1", "location": "@SUM(A1)", "district": "-2",
                      "status_title": "办理中"}])
    header, row = text.splitlines()
    assert header.startswith("\ufeff工单号,状态,")
    assert row.split(",")[:2] == ["T1", "办理中"]
    assert "'=1+1" in row and "'@SUM(A1)" in row and "'-2" in row


def test_a_notice_concerns_its_lead_and_cooperating_units_only() -> None:
    notice = {"lead_unit": "a", "cooperating_units": ["b"]}
    assert involves(notice, "a") and involves(notice, "b") and not involves(notice, "c")


def test_every_ticket_event_has_a_chinese_title() -> None:
    from tickets import events

    names = {cls.__name__ for cls in vars(events).values()
             if isinstance(cls, type) and issubclass(cls, events.TicketEvent) and cls is not events.TicketEvent}
    assert names <= EVENT_TITLES.keys(), sorted(names - EVENT_TITLES.keys())


def test_the_lists_indexes_name_the_workflows_statuses() -> None:
    """The partial indexes' status lists (SQL text in kernel.schema) are the workflow's."""
    from kernel.schema import REVIEW_STATUSES, UNIT_OPEN_STATUSES
    from tickets.model import FINISHED_STATUSES, TicketStatus

    assert set(REVIEW_STATUSES) == {s.value for s in TicketStatus if s.value.endswith("_requested")}
    assert set(UNIT_OPEN_STATUSES) == {s.value for s in TicketStatus} - {s.value for s in FINISHED_STATUSES} - {
        TicketStatus.DRAFT.value, TicketStatus.PENDING_DISPATCH.value,
        TicketStatus.QUALITY_CHECK.value}  # a complaint about staff: the quality team's, no unit's
