"""Live transcription's Prometheus metrics (`/metrics`, through `kernel.metrics`).

Nothing in the decoding path is touched: live streams and their lag are read at scrape time
from the transcriber's calls and the worker pool, and deferred streams are counted from the
`asr.deferred` events the service already publishes (`counting_sink` wraps its sink).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from asr.live_calls import LiveCallTranscriber
from asr.publish import EventSink
from asr.segments import AsrEvent, StreamDeferred
from asr.stream import Mode
from kernel.metrics import Metrics


def counting_sink(sink: EventSink | None, metrics: Metrics) -> EventSink:
    """`sink`, counting each stream deferred to post-call transcription by reason."""
    deferred = metrics.counter("hotline_asr_deferred_streams_total",
                               "Streams deferred to post-call transcription, by reason.", ("reason",))

    def publish(event: AsrEvent) -> object:
        if isinstance(event, StreamDeferred):
            deferred.labels(event.reason.value).inc()
        return sink(event) if sink is not None else None

    return publish  # type: ignore[return-value]


class AsrCollector(Collector):
    """Streams decoded live now, streams of calls in progress spooling for post-call work,
    the worst live lag, and recordings waiting for post-call transcription."""

    def __init__(self, transcriber: LiveCallTranscriber) -> None:
        self.transcriber = transcriber

    def collect(self) -> Iterable[Metric]:
        live = deferred = 0
        worst_lag = 0.0
        for call in list(self.transcriber.calls.values()):
            for stream in list(call.streams.values()):
                if stream.mode is Mode.LIVE:
                    live += 1
                    worst_lag = max(worst_lag, stream.lag_seconds)
                elif stream.mode is Mode.DEFERRED:
                    deferred += 1
        service = self.transcriber.service
        yield GaugeMetricFamily("hotline_asr_live_streams", "Streams decoded live now.", value=live)
        yield GaugeMetricFamily("hotline_asr_deferred_streams",
                                "Streams of calls in progress spooling audio for post-call work.",
                                value=deferred)
        yield GaugeMetricFamily("hotline_asr_live_lag_seconds",
                                "The largest lag of a live stream behind its audio now.", value=worst_lag)
        pending = service.post_call.pending if service.post_call is not None else 0
        yield GaugeMetricFamily("hotline_asr_post_call_pending",
                                "Recordings and deferred streams waiting for post-call transcription.",
                                value=pending)

    def describe(self) -> Iterable[Metric]:
        return []
