"""The supervision scanner job (督办扫描): runs the pure scanner against the ticket store.

Every `interval` the job loads what the scanner must look at (`TicketStore.
supervision_candidates`), asks `supervision.scan` which flags are due, and raises each one on
its ticket as a `FlagForSupervision` command by the SYSTEM actor, so the flag is an event like
any other: who (the scanner), when, why (the scanner's detail as the reason) and which
related tickets. Stale knowledge-base articles have no ticket; they are counted and logged
here and listed by `GET /api/kb/stale`.

A ticket whose deadline expired without the unit's feedback is owed a callback (时限届满回访,
北京条例第二十三条): besides the notice, the job asks the `DeadlineCallbacks` port (the callback
tasks, joined in the composition root) to put one on the callback agents' list, once per ticket.

A rescan is harmless: the scanner skips flags a ticket already carries and the workflow refuses
a second flag of one kind. A ticket that changed between loading and flagging answers
`Conflict`; it is left for the next round rather than retried against a moving target. With
several backend nodes a Redis lease lets one of them scan per round.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from kernel.clock import Clock, utc_now
from kernel.errors import Conflict, HotlineError, IllegalTransition
from kernel.leader_lease import LeaderLease
from kernel.roles import Actor, Role
from knowledge.store import KnowledgeStore
from supervision.scan import (
    DEFAULT_SUPERVISION_POLICY,
    HotlineNotice,
    NoticeKind,
    SupervisionPolicy,
    scan,
)
from tickets.model import SupervisionFlagKind, Ticket
from tickets.store import TicketStore
from tickets.ticket_number import local_date_of
from tickets.workflow import FlagForSupervision

log = logging.getLogger(__name__)

SCANNER = Actor("supervision-scanner", Role.SYSTEM)


@dataclass
class ScanReport:
    """What one round did; the supervisor API returns it and the log line carries it."""

    scanned: int = 0
    flagged: list[tuple[str, SupervisionFlagKind]] = field(default_factory=list)
    left_for_next_round: list[str] = field(default_factory=list)
    stale_articles: int = 0
    #: What the hotline itself owes: overdue reviews, stale drafts, callbacks at the deadline.
    notices: list[HotlineNotice] = field(default_factory=list)
    #: Tickets whose callback at the deadline this round put on the callback agents' list.
    deadline_callbacks: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"scanned": self.scanned,
                "flagged": [{"ticket_no": no, "kind": kind.value} for no, kind in self.flagged],
                "left_for_next_round": self.left_for_next_round,
                "stale_articles": self.stale_articles,
                "notices": [n.as_json() for n in self.notices],
                "deadline_callbacks": self.deadline_callbacks}


class DeadlineCallbacks(Protocol):
    """Where a callback owed at the expired deadline goes (`tickets.callbacks.CallbackService`)."""

    async def owe_deadline_callback(self, ticket: Ticket, now: datetime) -> bool:
        """Put the ticket's callback on the callback agents' list, once per ticket; True when
        this call did (False: owed already, or no number to call)."""
        ...




class SupervisionJob:
    def __init__(self, store: TicketStore, knowledge: KnowledgeStore | None = None, *,
                 policy: SupervisionPolicy = DEFAULT_SUPERVISION_POLICY,
                 clock: Clock = utc_now, deadline_callbacks: DeadlineCallbacks | None = None) -> None:
        self._store = store
        self._knowledge = knowledge
        self._deadline_callbacks = deadline_callbacks
        self._policy = policy
        self._clock = clock
        self._round = asyncio.Lock()  # the API and the timer never scan at the same time

    async def run_once(self) -> ScanReport:
        async with self._round:
            return await self._scan()

    async def _scan(self) -> ScanReport:
        now = self._clock()
        window = max(self._policy.repeat_window, self._policy.cluster_window)
        candidates = await self._store.supervision_candidates(
            now - window, idle_drafts_before=now - self._policy.draft_max_age)
        by_no = {t.ticket_no: t for t in candidates}
        report = ScanReport(scanned=len(candidates))
        result = scan(candidates, now, policy=self._policy)
        report.notices = list(result.notices)
        for notice in result.notices:
            log.warning("the hotline owes this ticket", extra={
                "ticket_no": notice.ticket_no, "kind": notice.kind.value, "detail": notice.detail})
            if (notice.kind is NoticeKind.CALLBACK_AT_DEADLINE and self._deadline_callbacks is not None
                    and await self._deadline_callbacks.owe_deadline_callback(by_no[notice.ticket_no], now)):
                report.deadline_callbacks.append(notice.ticket_no)
        for flag in result.flags:
            if flag.ticket_no is None or flag.ticket_no not in by_no:
                continue
            ticket = by_no[flag.ticket_no]
            command = FlagForSupervision(kind=flag.kind, related_ticket_nos=flag.related_ticket_nos,
                                         reason=flag.detail)
            try:
                by_no[ticket.ticket_no], _ = await self._store.transition(
                    ticket.ticket_no, command, SCANNER, ticket.version)
            except (Conflict, IllegalTransition) as exc:
                # Changed meanwhile (or closed): look again next round with fresh data.
                report.left_for_next_round.append(ticket.ticket_no)
                log.info("supervision flag deferred", extra={
                    "ticket_no": ticket.ticket_no, "kind": flag.kind.value, "why": exc.message})
                continue
            report.flagged.append((ticket.ticket_no, flag.kind))
            log.warning("ticket flagged for supervision", extra={
                "ticket_no": ticket.ticket_no, "kind": flag.kind.value, "unit": flag.unit,
                "detail": flag.detail})
        if self._knowledge is not None:
            stale = await self._knowledge.stale(local_date_of(now))
            report.stale_articles = len(stale)
            for article in stale:
                log.warning("knowledge article overdue for review", extra={
                    "article_id": article.article_id, "unit": article.owner_unit,
                    "days_overdue": article.days_overdue})
        log.info("supervision scan done", extra={
            "scanned": report.scanned, "flagged": len(report.flagged),
            "deferred": len(report.left_for_next_round), "stale_articles": report.stale_articles,
            "notices": len(report.notices), "deadline_callbacks": len(report.deadline_callbacks)})
        return report

    async def run_forever(self, interval_seconds: float, lease: LeaderLease | None = None) -> None:
        """Scan every `interval_seconds`; with a lease, only on the node that holds it."""
        while True:
            try:
                if lease is None or await lease.acquire():
                    await self.run_once()
            except HotlineError as exc:
                log.error("supervision scan failed; retrying next round",
                          extra={"error": exc.code, "why": exc.message})
            except Exception:  # a bug must not stop supervision for good
                log.exception("supervision scan crashed; retrying next round")
            await asyncio.sleep(interval_seconds)
