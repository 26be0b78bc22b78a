"""The metrics exposition: one registry per application, families shared by name, the call
path's figures read at scrape time, and text written elsewhere (the wallboard) served as is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kernel.metrics import MetricClash, Metrics
from telephony.active_call import ActiveCall
from telephony.ari.models import AriEvent, Connected
from telephony.call_metrics import CallMetrics, CallPathCollector, call_state

START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def call(channel: str, **fields: object) -> ActiveCall:
    return ActiveCall(call_id=f"call-{channel}", channel_id=channel, caller_number="13800138000",
                      caller_name="", dialed_number="12345", started_at=START, **fields)  # type: ignore[arg-type]


def test_each_application_counts_on_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    CallMetrics(first).call_started()
    CallMetrics(second)  # the same names on another registry: no clash, no shared count
    assert samples(first)[("hotline_calls_started_total", ())] == 1
    assert samples(second)[("hotline_calls_started_total", ())] == 0


def test_a_family_asked_twice_is_the_same_and_a_clash_is_refused() -> None:
    metrics = Metrics()
    one = metrics.counter("hotline_things_total", "Things.", ("kind",))
    assert metrics.counter("hotline_things_total", "Things.", ("kind",)) is one
    with pytest.raises(MetricClash):
        metrics.counter("hotline_things_total", "Things.", ("other",))
    with pytest.raises(MetricClash):
        metrics.gauge("hotline_things_total", "Things.", ("kind",))


def test_call_path_figures_are_counted_and_read_at_scrape_time() -> None:
    metrics = Metrics()
    calls = CallMetrics(metrics)
    answered = call("c1", answered_at=START + timedelta(seconds=0.3))
    calls.call_started()
    calls.call_answered(answered)
    calls.call_ended("hangup")
    calls.call_ended("hangup")
    calls.call_ended("gone_during_setup")
    now = START.timestamp() + 0.02
    calls.event_received(AriEvent("StasisStart", "hotline", START, {}), now=lambda: now)
    calls.event_received(Connected("Connected", "hotline", None, {}, reconnect=False))
    calls.event_received(Connected("Connected", "hotline", None, {}, reconnect=True))
    live = [answered, call("c2", queued_at=START.timestamp()), call("c3", queued_at=1.0),
            call("c4", agent_id="a1"), call("c5", takes_message=True), call("c6")]
    depth = [2]
    metrics.add_collector(CallPathCollector(lambda: live, lambda call_id: call_id == "call-c3",
                                            lambda: depth[0], lambda: 1))
    metrics.add_text(lambda: "# HELP hotline_calls_waiting Callers waiting.\n"
                             "# TYPE hotline_calls_waiting gauge\nhotline_calls_waiting 2\n")

    got = samples(metrics)
    assert got[("hotline_calls_started_total", ())] == 1
    assert got[("hotline_calls_ended_total", (("reason", "hangup"),))] == 2
    assert got[("hotline_calls_ended_total", (("reason", "gone_during_setup"),))] == 1
    assert got[("hotline_call_answer_delay_seconds_count", ())] == 1
    assert got[("hotline_call_answer_delay_seconds_sum", ())] == pytest.approx(0.3)
    assert got[("hotline_call_answer_delay_seconds_bucket", (("le", "0.5"),))] == 1
    assert got[("hotline_call_answer_delay_seconds_bucket", (("le", "0.25"),))] == 0
    assert got[("hotline_ari_event_lag_seconds_count", ())] == 1
    assert got[("hotline_ari_event_lag_seconds_sum", ())] == pytest.approx(0.02, abs=1e-6)
    assert got[("hotline_ari_reconnects_total", ())] == 1
    states = {dict(labels)["state"]: value for (name, labels), value in got.items()
              if name == "hotline_calls_active"}
    assert states == {"setting_up": 2, "waiting": 1, "ringing_agent": 1, "with_agent": 1, "message": 1}
    assert got[("hotline_outbox_depth", ())] == 2 and got[("hotline_message_spool_waiting", ())] == 1
    assert got[("hotline_calls_waiting", ())] == 2
    depth[0] = 0
    assert samples(metrics)[("hotline_outbox_depth", ())] == 0, "read at scrape time"


def test_a_call_leaving_a_message_counts_as_message_whatever_else_it_did() -> None:
    assert call_state(call("c", queued_at=1.0, takes_message=True), offered=True) == "message"
    assert call_state(call("c", queued_at=1.0), offered=True) == "ringing_agent"
