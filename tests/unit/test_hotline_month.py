"""The hotline's month by hour (agent_desk/hotline_month.py): the wallboard's rules per hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent_desk.hotline_month import hotline_month
from agent_desk.wallboard import FinishedCall


def call(hour_utc: int, *, agent: str | None, waited: float | None, message: bool = False) -> FinishedCall:
    started = datetime(2026, 11, 3, hour_utc, 0, tzinfo=UTC)
    return FinishedCall(call_id=f"c{hour_utc}{agent}{waited}", started_at=started,
                        ended_at=started + timedelta(minutes=2), agent_id=agent, queue_seconds=waited,
                        is_message=message)


def test_a_message_and_a_call_that_never_queued_are_not_offered_and_hours_are_beijing_time() -> None:
    month = hotline_month([call(1, agent="a1", waited=15.0), call(1, agent=None, waited=20.0),
                           call(1, agent=None, waited=20.0, message=True), call(2, agent="a1", waited=None),
                           call(16, agent="a2", waited=16.0)])
    assert month["totals"]["offered"] == 3 and month["totals"]["within_15s"] == 1
    assert month["hours"][9]["service_level"] == 0.5 and month["hours"][9]["abandon_rate"] == 0.5
    assert month["hours"][0]["within_15s"] == 0 and month["hours"][0]["service_level"] == 0.0  # 16:00 UTC
    assert month["hours"][10]["offered"] == 0 and month["hours"][10]["service_level"] is None
