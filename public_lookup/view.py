"""What a caller sees of their ticket on the public progress lookup (临沂条例第十条、第二十四条;
北京条例第八条、第三十二条: the caller may follow the handling of their request). Pure: no I/O.

Only three things: where the ticket stands (in public wording), which unit handles it, and the
result given to the caller. Never the caller's data, the call's words, the units' internal
requests and notes, nor who at the hotline did what: the lookup is protected only by the ticket
number and the caller's number or code, so it shows nothing that would harm anyone if those
leaked. A confidential (保密) ticket shows the same three things: none of them is personal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tickets.events import (
    AnsweredDirectly,
    AnsweredInThreeWayCall,
    ClosedOutOfScope,
    FeedbackSubmitted,
    QualityFindingRecorded,
    TicketEvent,
)
from tickets.model import Ticket, TicketStatus

#: The public wording of each status. The hotline's own reviews (a unit asking to return or to
#: extend) are the unit still handling it for the caller: "办理中". A status added later that
#: is not here reads "办理中" too, until it is given its own wording.
PUBLIC_STATUS: Mapping[str, str] = {
    TicketStatus.DRAFT: "已受理",
    TicketStatus.PENDING_DISPATCH: "正在转办",
    TicketStatus.DISPATCHED: "已转交承办单位",
    TicketStatus.IN_PROGRESS: "办理中",
    TicketStatus.RETURN_REQUESTED: "办理中",
    TicketStatus.EXTENSION_REQUESTED: "办理中",
    TicketStatus.TERMINATION_REQUESTED: "办理中",
    TicketStatus.SUSPENSION_REQUESTED: "办理中",
    # 中止 (唐山): the caller learns the handling stands still until it can go on.
    TicketStatus.SUSPENDED: "中止办理，待条件具备后恢复",
    TicketStatus.FEEDBACK_SUBMITTED: "已办理，待回访",
    TicketStatus.FEEDBACK_ACCEPTED: "已办理，待回访",
    # The caller said they were unsatisfied; the hotline is judging whether it is reasonable.
    TicketStatus.REOPEN_REQUESTED: "回访意见核实中",
    # A complaint about hotline staff: the hotline's quality team checks it (no unit is named).
    TicketStatus.QUALITY_CHECK: "投诉核查中",
    TicketStatus.CLOSED: "已办结",
    TicketStatus.ARCHIVED: "已办结",
}
OTHER_STATUS = "办理中"


@dataclass(frozen=True)
class PublicProgress:
    ticket_no: str
    status: str
    status_title: str
    #: The handling unit's name; None before dispatch (or answered by the hotline itself).
    unit_name: str | None
    #: The result as given to the caller; None until there is one.
    result: str | None

    def as_json(self) -> dict[str, Any]:
        return {"ticket_no": self.ticket_no, "status": self.status, "status_title": self.status_title,
                "unit_name": self.unit_name, "result": self.result}


def result_of(events: Iterable[TicketEvent]) -> str | None:
    """The latest answer the caller was given: a unit's feedback, the hotline's direct or
    three-way answer, or where an out-of-scope request was referred."""
    result: str | None = None
    for event in events:
        if isinstance(event, (FeedbackSubmitted, QualityFindingRecorded)):
            result = event.result
        elif isinstance(event, (AnsweredDirectly, AnsweredInThreeWayCall)):
            result = event.answer
        elif isinstance(event, ClosedOutOfScope) and event.referred_to:
            result = f"请联系：{event.referred_to}"
    return result


def public_progress(ticket: Ticket, events: Iterable[TicketEvent], unit_names: Mapping[str, str]) -> PublicProgress:
    status = ticket.status.value
    unit = ticket.lead_unit
    return PublicProgress(ticket.ticket_no, status, PUBLIC_STATUS.get(status, OTHER_STATUS),
                          unit_names.get(unit, unit) if unit else None, result_of(events))
