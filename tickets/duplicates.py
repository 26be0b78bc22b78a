"""Duplicates (重复件): a caller asking again for what an open ticket already handles.

北京条例第十一条第三项: when the request is being handled and the caller brings no new facts,
the hotline tells them where it stands instead of opening a second ticket. `find_duplicate`
finds that open ticket so intake can link the new request to it (`CloseOutOfScope` with
`OutOfScope.DUPLICATE`, or simply showing the agent the match). The agent decides; this
module only proposes. Pure: the caller passes the caller's open tickets in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kernel.privacy import normalize_number
from kernel.text_match import ngrams, request_similarity
from tickets.model import Ticket, TicketType

#: Below this, two texts are about different things. Tuned on short summaries such as
#: "小区停水三天无人处理" vs "我家小区已经停水三天了": those score ~0.5.
DEFAULT_THRESHOLD = 0.45


@dataclass(frozen=True)
class IncomingRequest:
    """The new request as intake sees it before a ticket exists."""

    caller_number: str | None
    text: str
    ticket_type: TicketType | None = None
    district: str | None = None


@dataclass(frozen=True)
class DuplicateMatch:
    ticket_no: str
    score: float



def duplicate_score(request: IncomingRequest, ticket: Ticket) -> float:
    """How much the request repeats the ticket, in [0, 1]; 0 when it cannot be the same.

    Same caller is checked by `find_duplicate`; here: same type and district when both are
    known, then text similarity (`kernel.text_match.request_similarity`).
    """
    if not ticket.is_open:
        return 0.0
    if request.ticket_type is not None and ticket.ticket_type is not None:
        if request.ticket_type != ticket.ticket_type:
            return 0.0
    if request.district and ticket.district and request.district != ticket.district:
        return 0.0
    return request_similarity(ngrams(request.text), ngrams(f"{ticket.summary} {ticket.content}"))


def find_duplicate(
    request: IncomingRequest,
    open_tickets: Iterable[Ticket],
    threshold: float = DEFAULT_THRESHOLD,
) -> DuplicateMatch | None:
    """The caller's open ticket this request repeats, best match first, or None.

    Without a caller number there is no "same caller", so nothing is linked.
    """
    caller = normalize_number(request.caller_number)
    if not caller:
        return None
    best: DuplicateMatch | None = None
    for ticket in open_tickets:
        if normalize_number(ticket.caller.number) != caller:
            continue
        score = duplicate_score(request, ticket)
        if score >= threshold and (
            best is None or score > best.score
            or (score == best.score and ticket.ticket_no < best.ticket_no)
        ):
            best = DuplicateMatch(ticket.ticket_no, round(score, 4))
    return best
