"""Prometheus metrics of one application: one registry per app, served at `GET /metrics`.

Each application owns its `Metrics` (a `prometheus_client.CollectorRegistry`), never the
process-wide default registry: tests build several applications in one process, and each
must count its own calls. Capabilities ask the app's `Metrics` for their families by name
(`counter`, `histogram`, `gauge`); asking twice returns the same family, so two components
sharing a metric (the HTTP edge of every route, the call path of every node) need no
coordination. Figures that already live in some object (the outbox depth, the wallboard)
are read at scrape time by a `Collector`, so nothing has to be kept in step; the wallboard's
figures, already written as exposition text by its pure module, are served as they are.

The HTTP edge measures every request by its route template (`/api/tickets/{ticket_no}`),
never the raw path, so a scraper sees a bounded number of series.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.registry import Collector

from kernel.openapi import ANYONE, Operation, contribute

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_F = TypeVar("_F", Counter, Gauge, Histogram)

#: Seconds; from a local cache hit to a slow database answer.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class MetricClash(ValueError):
    """A metric name asked for twice with a different kind or labels: a programming error."""


class Metrics:
    """The metric families of one application, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._families: dict[str, tuple[Counter | Gauge | Histogram, tuple[str, ...]]] = {}
        self._texts: list[Callable[[], str]] = []

    def _family(self, kind: type[_F], name: str, documentation: str, labels: Sequence[str],
                **options: object) -> _F:
        known = self._families.get(name)
        if known is not None:
            family, known_labels = known
            if not isinstance(family, kind) or known_labels != tuple(labels):
                raise MetricClash(f"metric {name} already exists as {type(family).__name__}"
                                  f"{list(known_labels)}")
            return family
        created = kind(name, documentation, list(labels), registry=self.registry, **options)  # type: ignore[arg-type]
        self._families[name] = (created, tuple(labels))
        return created

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return self._family(Counter, name, documentation, labels)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return self._family(Gauge, name, documentation, labels)

    def histogram(self, name: str, documentation: str, labels: Sequence[str] = (),
                  buckets: Sequence[float] = LATENCY_BUCKETS) -> Histogram:
        return self._family(Histogram, name, documentation, labels, buckets=tuple(buckets))

    def add_collector(self, collector: Collector) -> None:
        """Figures read at scrape time from the objects that hold them."""
        self.registry.register(collector)

    def add_text(self, source: Callable[[], str]) -> None:
        """A block of exposition text written elsewhere (the wallboard's pure module), served
        as is after the registry's families; its names must not repeat the registry's."""
        self._texts.append(source)

    def exposition(self) -> bytes:
        return generate_latest(self.registry) + "".join(text() for text in self._texts).encode()


METRICS = web.AppKey("metrics", Metrics)
_SERVED = web.AppKey("metrics_served", bool)


def metrics_of(app: web.Application) -> Metrics:
    """The app's metrics (created on first use, for apps not built by `new_app`)."""
    if METRICS not in app:
        app[METRICS] = Metrics()
    return app[METRICS]


def route_label(request: web.Request) -> str:
    """The route template a request matched, or "unmatched" (a 404 has no template)."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    if resource is None:
        return "unmatched"
    return resource.canonical


@web.middleware
async def http_metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request latency by method, route template and status (websocket sessions excluded:
    their duration is the session's, not the server's latency)."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await handler(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics_of(request.app).histogram(
            "hotline_http_request_duration_seconds", "HTTP request latency by route template.",
            ("method", "route", "status"),
        ).labels(request.method, route_label(request), str(status)).observe(time.perf_counter() - started)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """Counts and timings only, no personal data: scrapers need no token."""
    response = web.Response(body=metrics_of(request.app).exposition())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def serve(app: web.Application) -> Metrics:
    """Serve the app's metrics at `GET /metrics` (once, however many capabilities ask)."""
    metrics = metrics_of(app)
    if not app.get(_SERVED, False):
        app[_SERVED] = True
        app.router.add_get("/metrics", metrics_endpoint)
        contribute(app, [Operation(
            "get", "/metrics", "Prometheus metrics: calls by state and end reason, answer delay, "
            "fallback calls, outbox depth, ARI event lag and reconnects, ASR streams, limiter "
            "decisions, ticket transitions, HTTP latency by route, and the wallboard's figures",
            ANYONE, content_type="text/plain")])
    return metrics
