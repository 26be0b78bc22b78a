"""Ticket transitions counted for Prometheus (`/metrics`, through `kernel.metrics`).

Counted after the transition's transaction committed, by the event recorded and the status the
ticket reached, whoever wrote it (an agent's command, a unit's, intake of a call)."""

from __future__ import annotations

from kernel.metrics import Metrics
from tickets.events import TicketEvent
from tickets.model import Ticket


class TicketMetrics:
    def __init__(self, metrics: Metrics | None = None) -> None:
        self.transitions = (metrics if metrics is not None else Metrics()).counter(
            "hotline_ticket_transitions_total", "Committed ticket transitions by event and resulting status.",
            ("event", "status"))

    def committed(self, event: TicketEvent, ticket: Ticket) -> None:
        self.transitions.labels(event.event_type, ticket.status.value).inc()
