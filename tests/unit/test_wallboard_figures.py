"""The wallboard's fold (agent_desk.wallboard): definitions, idempotency, the local day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent_desk.wallboard import AnsweredCall, FinishedCall, Wallboard, local_day, prometheus_text

# 10:00 in Shanghai.
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def call(call_id: str, *, agent: str | None, queued: float | None, message: bool = False,
         started: datetime = NOW - timedelta(minutes=5), talk: float = 100.0) -> FinishedCall:
    return FinishedCall(call_id, started, started + timedelta(seconds=talk + (queued or 0)), agent, queued, message)


def test_service_level_counts_answers_within_15_seconds_over_answered_or_abandoned() -> None:
    board = Wallboard(local_day(NOW))
    for finished in (call("a", agent="a1", queued=15.0), call("b", agent="a1", queued=15.5),
                     call("c", agent=None, queued=3.0), call("d", agent=None, queued=90.0, message=True),
                     call("e", agent=None, queued=None)):  # restricted straight to a message: never queued
        board.call_finished(finished)
    figures = board.figures(NOW)
    assert figures["answered_within_15s_today"] == 1
    assert figures["abandoned_today"] == 1 and figures["messages_today"] == 1
    assert figures["service_level"] == round(1 / 3, 4)
    assert figures["average_handle_seconds"] == 100.0


def test_a_call_seen_twice_counts_once_and_yesterday_never() -> None:
    board = Wallboard(local_day(NOW))
    board.call_finished(call("a", agent="a1", queued=2.0))
    board.call_finished(call("a", agent="a1", queued=2.0))
    board.call_finished(call("old", agent="a1", queued=2.0, started=NOW - timedelta(days=1)))
    assert board.figures(NOW)["calls_today"] == 1


def test_the_local_midnight_starts_the_counters_again_but_keeps_the_queue() -> None:
    board = Wallboard(local_day(NOW))
    board.call_finished(call("a", agent="a1", queued=2.0))
    board.line_transcribed("a")
    board.queue({"w": NOW - timedelta(seconds=30)})
    board.agent_status("a1", "on_call")
    assert board.figures(NOW)["transcription_coverage"] == 1.0
    tomorrow = NOW + timedelta(hours=14, minutes=1)  # 00:01 in Shanghai
    board.roll(tomorrow)
    figures = board.figures(tomorrow)
    assert figures["calls_today"] == 0 and figures["transcription_coverage"] is None
    assert figures["calls_waiting"] == 1 and figures["agents"]["on_call"] == 1
    assert figures["longest_wait_seconds"] == 14 * 3600 + 60 + 30


def test_metrics_text_carries_the_same_numbers() -> None:
    board = Wallboard(local_day(NOW))
    board.agent_status("a1", "available")
    board.agent_status("a2", "offline")
    text = prometheus_text(board.figures(NOW))
    assert 'hotline_agents{state="available"} 1\n' in text
    assert "offline" not in text
    assert text.count("# TYPE hotline_agents gauge") == 1
    # No calls yet: no value (not a made-up zero), only the metric's description.
    assert not [line for line in text.splitlines() if line.startswith("hotline_service_level")]
    assert "# TYPE hotline_service_level gauge" in text


def test_a_call_counts_as_answered_when_answered_and_once_when_it_ends() -> None:
    board = Wallboard(local_day(NOW))
    board.call_answered(AnsweredCall("a", NOW, waited_seconds=4.0))
    board.call_answered(AnsweredCall("b", NOW, waited_seconds=40.0))
    figures = board.figures(NOW)
    assert figures["answered_today"] == 2 and figures["answered_within_15s_today"] == 1
    assert figures["service_level"] == 0.5
    board.call_finished(call("a", agent="a1", queued=4.0))
    board.call_answered(AnsweredCall("a", NOW, waited_seconds=4.0))  # a late duplicate of the event
    figures = board.figures(NOW)
    assert figures["answered_today"] == 2 and figures["answered_within_15s_today"] == 1
    assert figures["average_handle_seconds"] == 100.0  # finished calls only
