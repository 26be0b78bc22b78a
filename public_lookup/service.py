"""The public progress lookup: the ticket number plus the caller's number or the ticket's lookup
code, answered with the ticket's public progress (`public_lookup.view`) or one refusal.

Every request from a client counts against its address (`RequestRate`); every check of a proof
counts, before it is made, against the ticket number and the address (`SignInThrottle` in its
own namespace), whether or not the ticket exists; a right proof takes its count back. So a
stranger learns nothing from the answers (no such ticket and a wrong number read the same) and
can try only a handful of guesses per ticket and per address in a window.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from accounts.throttle import SignInThrottle
from kernel.errors import NotFound, Throttled
from kernel.metrics import Metrics
from kernel.phone_number import national_digits
from kernel.request_rate import RequestRate
from public_lookup.codes import LookupCodes
from public_lookup.view import PublicProgress, public_progress
from tickets.model import Ticket
from tickets.store import TicketStore

log = logging.getLogger(__name__)

REFUSED = "工单号或验证信息不正确，请核对后再试。多次输入错误将暂停查询。"
LOCKED = "验证错误次数过多，请{minutes}分钟后再试。"


class LookupRefused(NotFound):
    """The ticket number and the proof do not go together (or there is no such ticket: the
    same answer, so ticket numbers cannot be enumerated)."""

    code = "lookup_refused"


@dataclass(frozen=True)
class Proof:
    """What the caller gives besides the ticket number: their phone number or the code."""

    caller_number: str | None = None
    code: str | None = None


def _number_matches(ticket: Ticket, given: str) -> bool:
    digits = national_digits(given)
    if not digits:
        return False
    known = [n for n in (ticket.caller.number, ticket.callback_number) if n]
    # compare_digest over each known number: the answer's time says nothing of how close it was.
    return any(hmac.compare_digest(national_digits(n), digits) for n in known)


class ProgressLookup:
    def __init__(self, tickets: TicketStore, codes: LookupCodes, failures: SignInThrottle,
                 rate: RequestRate, unit_names: Mapping[str, str], metrics: Metrics | None = None) -> None:
        self._tickets = tickets
        self._codes = codes
        self._failures = failures
        self._rate = rate
        self._unit_names = unit_names
        #: Many refusals or locks from many addresses: someone sweeping ticket numbers.
        self._answers = (metrics if metrics is not None else Metrics()).counter(
            "hotline_public_lookups_total", "Public progress lookups by answer (answered, refused, locked, "
            "rate_limited).", ("answer",))

    async def lookup(self, ticket_no: str, proof: Proof, address: str) -> PublicProgress:
        try:
            await self._rate.hit(address)
        except Throttled:
            self._answers.labels("rate_limited").inc()
            raise
        try:
            await self._failures.attempt(ticket_no, address)
        except Throttled as exc:
            self._answers.labels("locked").inc()
            log.warning("public lookup locked", extra={"ticket_no": ticket_no, "address": address})
            raise Throttled(LOCKED.format(minutes=max(1, -(-exc.retry_after // 60))),
                            retry_after=exc.retry_after, ticket_no=ticket_no) from None
        try:
            ticket, events = await self._tickets.get_with_events(ticket_no)
        except NotFound:
            ticket, events = None, []
        right = False
        if proof.code:
            right = await self._codes.matches(ticket_no, proof.code)  # hashed even without a ticket
        if ticket is not None and not right and proof.caller_number:
            right = _number_matches(ticket, proof.caller_number)
        if ticket is None or not right:
            self._answers.labels("refused").inc()
            log.info("public lookup refused", extra={"ticket_no": ticket_no, "address": address})
            raise LookupRefused(REFUSED, ticket_no=ticket_no)
        await self._failures.succeeded(ticket_no, address)
        self._answers.labels("answered").inc()
        log.info("public lookup answered", extra={"ticket_no": ticket_no})
        return public_progress(ticket, events, self._unit_names)
