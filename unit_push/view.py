"""Which units an event of the ticket log goes to, and what they see of it. Pure: no I/O.

An event belongs to a unit's feed when the unit is the ticket's lead or a cooperating unit just
before the event or just after it: the dispatch that hands the ticket to the unit (after), every
step while the unit holds it, the callback evaluation of its work (临沂条例第四十二条: units get
the data of their tickets, evaluations included), and the approval of its return (before) that
takes the ticket away. What happened before the unit got the ticket, and after another unit got
it, is not the unit's.

A unit sees the event's own fields, never the call's recordings, transcripts or call ids (a unit
never reads them: `kernel.access_policy`), and for a confidential caller (保密) nothing that
identifies the caller: the caller and the callback number are left out, as in the unit's
ticket view (`Ticket.masked_for_unit`).
"""

from __future__ import annotations

import json
from typing import Any

from tickets.events import TicketEvent
from tickets.model import Ticket

#: Fields of the call itself: never in a unit's view.
CALL_FIELDS = frozenset({"call_ids", "call_id", "recordings", "transcripts"})
#: Fields that identify the caller: left out of a confidential ticket's events.
CALLER_FIELDS = frozenset({"caller", "callback_number"})


def units_of(ticket: Ticket | None) -> frozenset[str]:
    """The units a ticket is with: its lead and cooperating units."""
    if ticket is None:
        return frozenset()
    return frozenset(u for u in (ticket.lead_unit, *ticket.cooperating_units) if u)


def recipients(before: Ticket | None, after: Ticket) -> frozenset[str]:
    """The units whose feed the event that turned `before` into `after` belongs to."""
    return units_of(before) | units_of(after)


def unit_view(event: TicketEvent, fields: dict[str, Any], after: Ticket) -> dict[str, Any]:
    """The event as a unit receives it; `fields` are the event's own fields as stored (JSON).

    `seq` (the unit's own numbering) is added when the view is stored in the unit's feed."""
    hidden = CALL_FIELDS | (CALLER_FIELDS if after.caller.confidential else frozenset())
    return {
        "ticket_no": event.ticket_no,
        "version": event.version,
        "type": event.event_type,
        "at": event.occurred_at.isoformat(),
        "actor": {"role": event.actor.role.value, "unit": event.actor.unit},
        "status": after.status.value,
        "lead_unit": after.lead_unit,
        "cooperating_units": list(after.cooperating_units),
        "deadline": after.deadline.isoformat() if after.deadline else None,
        "confidential": after.caller.confidential,
        "data": {k: v for k, v in fields.items() if k not in hidden},
    }


def encode(view: dict[str, Any]) -> str:
    """A view as stored and sent: compact JSON, Chinese as is, keys sorted (stable bytes)."""
    return json.dumps(view, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
