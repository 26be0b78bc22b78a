"""The supervisor's 督办 board: what it shows of a supervised ticket. Pure: no I/O.

A flag says why the hotline supervises a ticket (临沂条例第三十条) and since when; the board
lists flags by kind and age. The ladder offers one action per level the ticket may still reach,
with only the grounds the workflow would accept (`tickets.escalation.next_steps`), so a
supervisor is never offered a step that the workflow refuses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tickets.escalation import next_steps
from tickets.events import SupervisionEscalated, SupervisionFlagged, TicketEvent
from tickets.model import SupervisionLevel


def level_name(level: SupervisionLevel) -> str:
    """As the ticket API names a level (`supervision_level`)."""
    return level.name.lower()


def supervision_json(level: SupervisionLevel, events: list[TicketEvent], now: datetime) -> dict[str, Any]:
    """A ticket's flags (kind, since, age), its escalations and the steps it may take next."""
    flagged = [e for e in events if isinstance(e, SupervisionFlagged)]
    ages = [max(0, int((now - e.occurred_at).total_seconds())) for e in flagged]
    flags = [{"kind": e.kind.value, "at": e.occurred_at.isoformat(), "age_seconds": age,
              "by": {"id": e.actor.id, "role": e.actor.role.value}} for e, age in zip(flagged, ages, strict=True)]
    climbed = [{"from": level_name(e.from_level), "to": level_name(e.to_level), "ground": e.ground.value,
                "at": e.occurred_at.isoformat(), "by": {"id": e.actor.id, "role": e.actor.role.value},
                "reason": e.reason}
               for e in events if isinstance(e, SupervisionEscalated)]
    return {
        "flags": flags,
        "oldest_flag_seconds": max(ages, default=0),
        "escalations": climbed,
        "next_steps": [{"level": int(target), "name": level_name(target), "grounds": [g.value for g in grounds]}
                       for target, grounds in next_steps(level).items()],
    }
