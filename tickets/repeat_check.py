"""Is a new phone request a repeat of one of the caller's open tickets (重复件)?

Runs when a call's transcript is stored: the caller's recent tickets are read from the store
and `tickets.duplicates.find_duplicate` proposes the open ticket the request repeats. The
answer goes on the new ticket's draft (`possible_duplicate_of`), where the agent sees it and
decides (link it, close the new one as a duplicate, or carry on); nothing is closed
automatically (北京条例第十一条第三项).
"""

from __future__ import annotations

import logging

from kernel.privacy import mask_phone, normalize_number
from tickets.duplicates import DuplicateMatch, IncomingRequest, find_duplicate
from tickets.model import TicketType
from tickets.store import TicketStore

log = logging.getLogger(__name__)

#: How many of the caller's newest tickets are compared.
RECENT_TICKETS = 20


class RepeatCheck:
    def __init__(self, store: TicketStore) -> None:
        self._store = store

    async def open_ticket_repeated(self, call_id: str, caller_number: str, text: str, *,
                                   request_type: str | None = None,
                                   district: str | None = None) -> DuplicateMatch | None:
        """The caller's open ticket this call repeats, ignoring the call's own ticket."""
        if not caller_number or not text.strip():
            return None
        # Tickets keep the number as intake normalised it; so does this lookup.
        # A complaint about hotline staff is never proposed: the proposal is shown to whoever
        # takes the call, who may be the person it is about (kernel.access_policy).
        recent = await self._store.caller_history(normalize_number(caller_number), RECENT_TICKETS,
                                                  staff_complaints=False)
        others = [t for t in recent if call_id not in t.call_ids]
        known_type = request_type if request_type in TicketType.__members__.values() else None
        match = find_duplicate(IncomingRequest(
            caller_number, text, TicketType(known_type) if known_type else None, district), others)
        if match is not None:
            log.info("call repeats an open ticket", extra={
                "call_id": call_id, "ticket_no": match.ticket_no, "score": match.score,
                "caller": mask_phone(caller_number)})
        return match
