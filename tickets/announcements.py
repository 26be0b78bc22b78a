"""What other capabilities are told after a ticket changed: a small notice, published by the
composition root on the event bus (topic `tickets`), so that a handling unit's open inbox learns
within a second that a ticket was dispatched to it, whichever node dispatched it.

A notice names the ticket, its new status, the units it involves, its deadline and, for a
complaint about hotline staff, the account it is about (so that no page of that person is told
of it): never the caller, the request's text or anything a unit may not see. Subscribers filter by unit and fetch
the ticket through the API, which applies the access rules. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from tickets.events import TicketEvent
from tickets.model import Ticket

#: The event-bus topic of ticket notices (`kernel.event_bus.RedisEventBus.publish`).
TICKETS_TOPIC = "tickets"


def notice(ticket: Ticket, event: TicketEvent) -> dict[str, Any]:
    """The notice of `event`, which brought `ticket` to its current state."""
    return {
        "type": f"ticket.{event.event_type}",
        "ticket_no": ticket.ticket_no,
        "version": ticket.version,
        "status": ticket.status.value,
        "lead_unit": ticket.lead_unit,
        "cooperating_units": list(ticket.cooperating_units),
        "deadline": ticket.deadline.isoformat() if ticket.deadline else None,
        "at": event.occurred_at.isoformat(),
        "about_staff": ticket.about_staff,
    }


def involves(payload: dict[str, Any], unit: str) -> bool:
    """Whether a notice concerns `unit` (lead or cooperating)."""
    return payload.get("lead_unit") == unit or unit in (payload.get("cooperating_units") or ())
