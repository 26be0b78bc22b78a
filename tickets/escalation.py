"""The supervision ladder (督办升级): how far up a ticket may go, on which ground.

`escalation_refusal` says whether a ticket may move from one supervision level to another on a
given ground (临沂条例第二十九条至第三十四条). The workflow enforces it and records who moved the
ticket and why (`SupervisionEscalated`); `escalation_history` reads it back. The scanner that
raises the first flag lives in `supervision/`; the ladder is a ticket rule.

Pure: no clock, no store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from kernel.roles import Actor
from tickets.events import SupervisionEscalated, TicketEvent
from tickets.model import EscalationGround, SupervisionLevel

L = SupervisionLevel
G = EscalationGround

# --------------------------------------------------------------------------------------------
# The ladder

#: Grounds that justify each level. Media and inspection follow an unsuccessful lower step
#: (第三十一条、第三十二条); congress/CPPCC and discipline referral have their own triggers
#: (第三十三条、第三十四条) and may be reached from any level of supervision.
_GROUNDS: dict[SupervisionLevel, frozenset[EscalationGround]] = {
    L.HOTLINE: frozenset({G.HOTLINE_SUPERVISION}),
    L.MEDIA: frozenset({G.UNRESOLVED_AFTER_HOTLINE}),
    L.GOVERNMENT_INSPECTION: frozenset({G.UNRESOLVED_AFTER_MEDIA, G.PROMISED_NOT_DONE}),
    L.PEOPLES_CONGRESS_CPPCC: frozenset(
        {G.HIGH_PUBLIC_ATTENTION, G.LOW_SATISFACTION, G.REPEATED_FAILED_RECTIFICATION}
    ),
    L.DISCIPLINE_INSPECTION: frozenset({G.MISCONDUCT}),
}

#: The level a ticket must already have reached, per (target level, ground).
_PREREQUISITE: dict[tuple[SupervisionLevel, EscalationGround], SupervisionLevel] = {
    (L.MEDIA, G.UNRESOLVED_AFTER_HOTLINE): L.HOTLINE,
    (L.GOVERNMENT_INSPECTION, G.UNRESOLVED_AFTER_MEDIA): L.MEDIA,
    # 承办单位承诺办理但未办理: straight from hotline supervision to inspection.
    (L.GOVERNMENT_INSPECTION, G.PROMISED_NOT_DONE): L.HOTLINE,
}


def escalation_refusal(
    current: SupervisionLevel, target: SupervisionLevel, ground: EscalationGround
) -> str | None:
    """Why moving from `current` to `target` on `ground` is not allowed, or None if it is.

    Levels only go up: supervision is never quietly withdrawn from an open ticket.
    """
    if target <= current:
        return f"supervision only goes up: {current.name} -> {target.name}"
    if ground not in _GROUNDS[target]:
        return f"ground {ground.value} does not justify {target.name}"
    required = _PREREQUISITE.get((target, ground), L.HOTLINE if target > L.HOTLINE else L.NONE)
    if current < required:
        return f"{target.name} on {ground.value} needs {required.name} first"
    return None


@dataclass(frozen=True)
class EscalationStep:
    """One move up the ladder, as shown to supervisors: who, when, why."""

    from_level: SupervisionLevel
    to_level: SupervisionLevel
    ground: EscalationGround
    actor: Actor
    at: datetime
    reason: str


def escalation_history(events: Iterable[TicketEvent]) -> list[EscalationStep]:
    return [
        EscalationStep(e.from_level, e.to_level, e.ground, e.actor, e.occurred_at, e.reason)
        for e in events
        if isinstance(e, SupervisionEscalated)
    ]


def next_steps(current: SupervisionLevel) -> dict[SupervisionLevel, list[EscalationGround]]:
    """Every level a ticket at `current` may be moved to, with the grounds that allow it: what a
    supervisor's board offers, one action per level, so that it never offers a refused step."""
    steps: dict[SupervisionLevel, list[EscalationGround]] = {}
    for target in SupervisionLevel:
        grounds = [g for g in EscalationGround if escalation_refusal(current, target, g) is None]
        if grounds:
            steps[target] = grounds
    return steps
