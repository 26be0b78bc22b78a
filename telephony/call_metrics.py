"""The call path's Prometheus metrics (served at `/metrics` through `kernel.metrics`).

Counters and histograms are observed where things happen (a call arrives, is answered, ends;
an ARI event is received; a message left in the dialplan fallback is adopted). Figures that
some object already holds (calls in progress by state, the outbox's depth, messages waiting
in the spool) are read at scrape time by `CallPathCollector`, so they cannot drift.
`CallLoad`, the node's admission figures the call flow reports, sits here rather than in the
call flow: the flow, its collector and the queue (which counts its Redis failures here) all
import this module, and it imports none of them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kernel.metrics import Metrics
from telephony.active_call import ActiveCall
from telephony.ari.models import AriEvent, Connected

#: Seconds from a call's arrival in Asterisk to its answer: the backend should answer at once.
ANSWER_DELAY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
#: Seconds from Asterisk stamping an ARI event to this process reading it.
EVENT_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

CALL_STATES = ("setting_up", "waiting", "ringing_agent", "with_agent", "message")


@dataclass(frozen=True)
class CallLoad:
    """How loaded this node is, for readiness and metrics (`CallFlow.load`)."""

    #: Calls this node handles now (in set-up, talking or queued).
    active: int
    #: `call_flow.max_concurrent_calls` (0: no limit).
    limit: int
    #: Callers sent to the dialplan's message path because the node was full, since start.
    overflowed: int
    #: False once the node has begun to stop: new callers go to another node or the dialplan.
    accepting: bool

    @property
    def at_capacity(self) -> bool:
        return self.limit > 0 and self.active >= self.limit

    def as_dict(self) -> dict[str, object]:
        return {"active": self.active, "limit": self.limit, "overflowed": self.overflowed,
                "accepting": self.accepting, "at_capacity": self.at_capacity}


def call_state(call: ActiveCall, offered: bool = False) -> str:
    """Where a call in progress is: setting up, waiting for an agent, ringing one, talking with
    one, or leaving a message."""
    if call.takes_message:
        return "message"
    if call.agent_id is not None:
        return "with_agent"
    if offered:
        return "ringing_agent"
    if call.queued_at is not None:
        return "waiting"
    return "setting_up"


class CallMetrics:
    """The call path's counters and histograms, on the app's registry (or a private one)."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        m = metrics if metrics is not None else Metrics()
        self.started = m.counter("hotline_calls_started_total", "Calls that reached the backend.")
        self.ended = m.counter("hotline_calls_ended_total", "Finished calls by end reason.", ("reason",))
        self.answer_delay = m.histogram(
            "hotline_call_answer_delay_seconds",
            "From the call's arrival in Asterisk to the backend answering it.",
            buckets=ANSWER_DELAY_BUCKETS)
        self.fallback_calls = m.counter(
            "hotline_fallback_calls_total",
            "Messages left in the dialplan fallback while the backend was away, adopted from the spool.")
        self.event_lag = m.histogram(
            "hotline_ari_event_lag_seconds", "From Asterisk's event timestamp to its receipt here.",
            buckets=EVENT_LAG_BUCKETS)
        self.reconnects = m.counter(
            "hotline_ari_reconnects_total", "ARI event connections re-established after a loss.")
        self.queue_redis_failures = m.counter(
            "hotline_queue_redis_failures_total",
            "Queue (ACD) operations of the call path that Redis did not answer in time, by operation.",
            ("operation",))

    def call_started(self) -> None:
        self.started.inc()

    def call_answered(self, call: ActiveCall) -> None:
        if call.answered_at is not None:
            self.answer_delay.observe(max(0.0, (call.answered_at - call.started_at).total_seconds()))

    def call_ended(self, reason: str) -> None:
        self.ended.labels(reason).inc()

    def event_received(self, event: AriEvent, now: Callable[[], float] = time.time) -> None:
        if isinstance(event, Connected):
            if event.reconnect:
                self.reconnects.inc()
            return
        if event.timestamp is not None:
            self.event_lag.observe(max(0.0, now() - event.timestamp.timestamp()))


async def observed(events: AsyncIterator[AriEvent], metrics: CallMetrics) -> AsyncGenerator[AriEvent, None]:
    """The ARI event stream, each event measured as it is read (lag, reconnects)."""
    async for event in events:
        metrics.event_received(event)
        yield event


class CallPathCollector(Collector):
    """Calls in progress by state, the outbox's depth and the spool's waiting messages, read
    from their owners at scrape time."""

    def __init__(self, calls: Callable[[], Iterable[ActiveCall]], offered: Callable[[str], bool],
                 outbox_depth: Callable[[], int], spool_waiting: Callable[[], int]) -> None:
        self.calls = calls
        self.offered = offered
        self.outbox_depth = outbox_depth
        self.spool_waiting = spool_waiting

    def collect(self) -> Iterable[Metric]:
        by_state = dict.fromkeys(CALL_STATES, 0)
        for call in list(self.calls()):
            by_state[call_state(call, self.offered(call.call_id))] += 1
        active = GaugeMetricFamily("hotline_calls_active", "Calls in progress on this node by state.",
                                   labels=["state"])
        for state, count in by_state.items():
            active.add_metric([state], count)
        yield active
        yield GaugeMetricFamily("hotline_outbox_depth",
                                "Finished calls waiting in the outbox for the database.",
                                value=self.outbox_depth())
        yield GaugeMetricFamily("hotline_message_spool_waiting",
                                "Messages left in the dialplan fallback not adopted yet.",
                                value=self.spool_waiting())

    def describe(self) -> Iterable[Metric]:
        return []


class CallLoadCollector(Collector):
    """The node's admission figures (`CallFlow.load`): calls held against the limit, callers
    sent to the dialplan's message path because the node was full, and whether it takes calls."""

    def __init__(self, load: Callable[[], CallLoad]) -> None:
        self.load = load

    def collect(self) -> Iterable[Metric]:
        load = self.load()
        yield GaugeMetricFamily("hotline_node_calls", "Calls this node handles now (set-up, queued, talking).",
                                value=load.active)
        yield GaugeMetricFamily("hotline_node_call_limit",
                                "call_flow.max_concurrent_calls (0: no limit).", value=load.limit)
        yield CounterMetricFamily("hotline_node_overflowed_calls",
                                  "Callers answered by the dialplan's message path because the node was full.",
                                  value=load.overflowed)
        yield GaugeMetricFamily("hotline_node_accepting_calls",
                                "1 while the node takes new calls; 0 once it has begun to stop.",
                                value=int(load.accepting))

    def describe(self) -> Iterable[Metric]:
        return []

