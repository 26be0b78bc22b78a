"""Unit statistics and the monthly public disclosure, derived from ticket events."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from kernel.roles import Actor, Role
from tickets import events as ev
from tickets.model import Satisfaction
from tickets.stats import UnitStatistics, disclosure_csv, disclosure_json, disclosure_records

DISPATCHER = Actor("d1", Role.DISPATCHER)
CALLBACK = Actor("c1", Role.CALLBACK_AGENT)
START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 Beijing, Monday


def unit(code: str) -> Actor:
    return Actor(f"{code}-staff", Role.UNIT, unit=code)


def lifecycle(no: str, lead: str, *, feedback_after: timedelta, satisfaction: Satisfaction | None,
              handled: bool = True, reopened: bool = False) -> list[ev.TicketEvent]:
    t = START
    return [
        ev.Dispatched(ticket_no=no, version=3, occurred_at=t, actor=DISPATCHER, lead_unit=lead,
                      cooperating_units=(), deadline=t + timedelta(days=5),
                      sign_deadline=t + timedelta(hours=2)),
        ev.Signed(ticket_no=no, version=4, occurred_at=t + timedelta(hours=1), actor=unit(lead)),
        ev.FeedbackSubmitted(ticket_no=no, version=5, occurred_at=t + feedback_after,
                             actor=unit(lead), result="已处理", contacted_caller=True),
        ev.CallbackRecorded(ticket_no=no, version=6, occurred_at=t + feedback_after + timedelta(hours=2),
                            actor=CALLBACK, satisfaction=satisfaction, reasonable=reopened,
                            handled_as_required=handled, reopened=reopened),
    ]


def test_rates_per_unit_and_month() -> None:
    events = [
        *lifecycle("T1", "water", feedback_after=timedelta(days=1), satisfaction=Satisfaction.SATISFIED),
        *lifecycle("T2", "water", feedback_after=timedelta(days=9), satisfaction=Satisfaction.UNSATISFIED,
                   handled=False, reopened=True),
        *lifecycle("T3", "housing", feedback_after=timedelta(days=2),
                   satisfaction=Satisfaction.BASICALLY_SATISFIED),
    ]
    rows = {r.unit: r for r in UnitStatistics().add_all(events).rows("2026-11")}
    water = rows["water"]
    assert (water.received, water.feedback, water.feedback_on_time) == (2, 2, 1)
    assert water.on_time_rate == 0.5 and water.satisfaction_rate == 0.5
    assert water.resolution_rate == 0.5 and water.reopened == 1 and water.response_rate == 1.0
    assert rows["housing"].satisfaction_rate == 1.0


def test_replayed_events_are_not_counted_twice() -> None:
    events = lifecycle("T1", "water", feedback_after=timedelta(days=1), satisfaction=Satisfaction.SATISFIED)
    stats = UnitStatistics().add_all(events).add_all(events)
    (row,) = stats.rows()
    assert row.received == 1 and row.callbacks == 1


def test_extension_moves_the_deadline_used_for_on_time() -> None:
    events = lifecycle("T1", "water", feedback_after=timedelta(days=7), satisfaction=Satisfaction.SATISFIED)
    extension = ev.ExtensionApproved(ticket_no="T1", version=5, occurred_at=START + timedelta(days=3),
                                     actor=DISPATCHER, new_deadline=START + timedelta(days=10))
    feedback, callback = events[2], events[3]
    shifted = [events[0], events[1], extension,
               ev.FeedbackSubmitted(ticket_no="T1", version=6, occurred_at=feedback.occurred_at,
                                    actor=feedback.actor, result="已处理", contacted_caller=True),
               ev.CallbackRecorded(ticket_no="T1", version=7, occurred_at=callback.occurred_at,
                                   actor=CALLBACK, satisfaction=Satisfaction.SATISFIED,
                                   reasonable=False, handled_as_required=True, reopened=False)]
    (row,) = UnitStatistics().add_all(shifted).rows()
    assert row.extended == 1 and row.on_time_rate == 1.0


def test_disclosure_exports_aggregates_only() -> None:
    events = lifecycle("T1", "water", feedback_after=timedelta(days=1), satisfaction=Satisfaction.SATISFIED)
    records = disclosure_records(UnitStatistics().add_all(events).rows("2026-11"),
                                 {"water": "市供水公司"})
    parsed = list(csv.DictReader(io.StringIO(disclosure_csv(records))))
    assert parsed[0]["unit"] == "市供水公司" and parsed[0]["satisfaction_rate"] == "1.0"
    document = json.loads(disclosure_json(records))
    assert document["units"][0]["received"] == 1
    text = disclosure_csv(records) + disclosure_json(records)
    assert "T1" not in text and "staff" not in text


def test_callers_never_reached_count_in_the_reach_rate_not_as_callbacks() -> None:
    reached = lifecycle("T1", "water", feedback_after=timedelta(days=1), satisfaction=None)
    handled = lifecycle("T2", "water", feedback_after=timedelta(days=1),
                        satisfaction=Satisfaction.SATISFIED)[:3]
    unreached = [*handled, ev.CallbackUnreached(
        ticket_no="T2", version=6, occurred_at=START + timedelta(days=2), actor=CALLBACK, attempts=3)]
    (row,) = UnitStatistics().add_all([*reached, *unreached]).rows("2026-11")
    assert (row.callbacks, row.callbacks_reached, row.callbacks_unreached) == (0, 1, 1)
    assert row.callback_reach_rate == 0.5 and row.satisfaction_rate is None
    (record,) = disclosure_records([row])
    assert (record["callbacks_unreached"], record["callback_reach_rate"]) == (1, 0.5)


def test_a_reasonable_dissatisfaction_reviewed_counts_as_reopened() -> None:
    events = lifecycle("T1", "water", feedback_after=timedelta(days=1),
                       satisfaction=Satisfaction.UNSATISFIED)
    review = ev.ReopenReviewed(ticket_no="T1", version=7, occurred_at=START + timedelta(days=2),
                               actor=CALLBACK, reasonable=True, reopened=True,
                               new_deadline=START + timedelta(days=7))
    (row,) = UnitStatistics().add_all([*events, review]).rows("2026-11")
    assert row.reopened == 1


def test_intake_closures_are_left_out_of_the_intake_total() -> None:
    from tickets.model import Caller, Channel, OutOfScope
    from tickets.stats import intake_totals

    agent = Actor("a1", Role.AGENT)

    def registered(no: str) -> ev.TicketRegistered:
        return ev.TicketRegistered(ticket_no=no, version=1, occurred_at=START, actor=agent,
                                   channel=Channel.PHONE, caller=Caller(number="13800000000"))

    def closed(no: str, scope: OutOfScope) -> ev.ClosedOutOfScope:
        return ev.ClosedOutOfScope(ticket_no=no, version=2, occurred_at=START, actor=agent,
                                   scope=scope, referred_to="110")

    events = [registered("T1"), registered("T2"), closed("T2", OutOfScope.INVALID_CALL),
              registered("T3"), closed("T3", OutOfScope.UNLAWFUL_OR_HARASSING),
              registered("T4"), closed("T4", OutOfScope.EMERGENCY_LINE)]
    totals = intake_totals(events, "2026-11")
    # A transfer to 110 was a request taken in; silent and harassing calls were not.
    assert (totals.registered, totals.not_intake, totals.intake) == (4, 2, 2)
    assert intake_totals(events, "2026-12").registered == 0
