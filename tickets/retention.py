"""The retention purge (issue 25 item 4): a closed ticket's personal data, removed per kind once
its retention (`[retention]`, kernel/settings.py RetentionSettings, where the days are argued
from the regulations) has passed since the ticket closed.

What stays is the archive the regulation asks for (临沂条例 第二十四条): the ticket, its events,
its units and result. What goes, per kind:

* recordings: the call's (sealed) file, and the call row's path and digest; the spoken survey
  answers' (sealed) files of the ticket's callback tasks;
* transcripts: the call's transcript segments; the spoken survey answers' transcripts;
* evidence: the evidence files the ticket's events name, unless a ticket whose evidence is still
  kept names the same file (files are shared by content);
* caller numbers: the number, masked, in the ticket, its call, its callback tasks and its events.

Only tickets that are closed or archived (`FINISHED_STATUSES`) are touched, never an open one,
and a call shared with a ticket still kept is left whole. Each kind runs in batches of
`batch_size` tickets; each batch is one transaction and one row of the access audit (kind
`purge`, actor `retention-purge`) naming the tickets and what was removed, never a number.
A batch sets the ticket's `<kind>_purged_at`, so no ticket is taken twice; files are removed
after the transaction commits (a crash in between leaves a file nobody points at, never a
pointer to a missing file).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Column, and_, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.access_policy import AccessKind
from kernel.audit import AccessAudit, AccessRecord
from kernel.clock import Clock, utc_now
from kernel.leader_lease import LeaderLease
from kernel.privacy import mask_phone
from kernel.schema import callback_tasks, calls, ticket_events, tickets, transcript_segments
from kernel.sealed_files import SEALED_SUFFIX
from tickets.evidence_store import EvidenceStore
from tickets.model import FINISHED_STATUSES

log = logging.getLogger(__name__)
ACTOR = "retention-purge"
_EVIDENCE_URI = re.compile(r"sha256:([0-9a-f]{64})")


class DataKind(StrEnum):
    RECORDINGS = "recordings"
    TRANSCRIPTS = "transcripts"
    EVIDENCE = "evidence"
    CALLER_NUMBERS = "caller_numbers"


_PURGED: dict[DataKind, Column[Any]] = {
    DataKind.RECORDINGS: tickets.c.recordings_purged_at,
    DataKind.TRANSCRIPTS: tickets.c.transcripts_purged_at,
    DataKind.EVIDENCE: tickets.c.evidence_purged_at,
    DataKind.CALLER_NUMBERS: tickets.c.caller_number_purged_at,
}
_FINISHED = tuple(status.value for status in FINISHED_STATUSES)


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each kind is kept after the ticket closed, and how many tickets one batch takes."""

    keep: dict[DataKind, timedelta]
    batch_size: int = 200


@dataclass(frozen=True)
class PurgeBatch:
    """One audited batch: which tickets, and how many items (files, rows) went."""

    kind: DataKind
    ticket_nos: tuple[str, ...]
    removed: int
    files: tuple[Path, ...] = field(default=(), repr=False)


class RetentionPurge:
    def __init__(self, engine: AsyncEngine, evidence: EvidenceStore, audit: AccessAudit,
                 policy: RetentionPolicy, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._evidence = evidence
        self._audit = audit
        self._policy = policy
        self._clock = clock

    async def run_once(self) -> list[PurgeBatch]:
        """Every expired kind of every expired closed ticket, batch after batch."""
        done: list[PurgeBatch] = []
        for kind in DataKind:
            while (batch := await self._batch(kind)) is not None:
                done.append(batch)
        return done

    async def run_forever(self, interval_seconds: float, lease: LeaderLease | None = None) -> None:
        """Purge every `interval_seconds`; with a lease, only on the node that holds it."""
        while True:
            try:
                if lease is None or await lease.acquire():
                    await self.run_once()
            except Exception:  # a failed purge is retried next round, never fatal
                log.exception("retention purge failed; retrying next round")
            await asyncio.sleep(interval_seconds)

    async def _batch(self, kind: DataKind) -> PurgeBatch | None:
        now = self._clock()
        cutoff = now - self._policy.keep[kind]
        purged = _PURGED[kind]
        t = tickets.c
        async with self._engine.begin() as conn:
            rows = (await conn.execute(
                select(t.ticket_no, t.call_id, t.caller_number)
                .where(t.status.in_(_FINISHED), t.closed_at.is_not(None), t.closed_at < cutoff, purged.is_(None))
                .order_by(t.closed_at, t.ticket_no).limit(self._policy.batch_size))).all()
            if not rows:
                return None
            ticket_nos = [row.ticket_no for row in rows]
            removed, files = await _REMOVERS[kind](self, conn, rows, cutoff)
            await conn.execute(update(tickets).where(t.ticket_no.in_(ticket_nos)).values({purged.name: now}))
        for path in files:
            path.unlink(missing_ok=True)
        batch = PurgeBatch(kind, tuple(ticket_nos), removed, tuple(files))
        await self._audit.record(AccessRecord(
            actor=ACTOR, role="system", unit=None, kind=AccessKind.PURGE, allowed=True, at=now,
            detail=f"{kind.value} past {self._policy.keep[kind].days} days: {removed} removed from "
                   f"{len(ticket_nos)} closed tickets: {', '.join(ticket_nos)}"))
        log.info("retention purge batch", extra={"kind": kind.value, "tickets": len(ticket_nos), "removed": removed})
        return batch

    async def _own_calls(self, conn: AsyncConnection, rows: Sequence[Any], cutoff: datetime) -> list[str]:
        """The batch's calls that no ticket outside the expired closed ones still shares."""
        call_ids = [row.call_id for row in rows if row.call_id]
        if not call_ids:
            return []
        t = tickets.c
        kept = (await conn.execute(select(t.call_id).where(
            t.call_id.in_(call_ids),
            ~and_(t.status.in_(_FINISHED), t.closed_at.is_not(None), t.closed_at < cutoff)))).scalars().all()
        return [call_id for call_id in call_ids if call_id not in set(kept)]

    async def _recordings(self, conn: AsyncConnection, rows: Sequence[Any],
                          cutoff: datetime) -> tuple[int, list[Path]]:
        call_ids = await self._own_calls(conn, rows, cutoff)
        paths: list[str] = []
        if call_ids:
            paths += (await conn.execute(select(calls.c.recording_path).where(
                calls.c.id.in_(call_ids), calls.c.recording_path.is_not(None)))).scalars().all()
            await conn.execute(update(calls).where(calls.c.id.in_(call_ids))
                               .values(recording_path=None, recording_sha256=None))
        answers = callback_tasks.c.ticket_no.in_([row.ticket_no for row in rows])
        paths += (await conn.execute(select(callback_tasks.c.answer_recording).where(
            answers, callback_tasks.c.answer_recording.is_not(None)))).scalars().all()
        await conn.execute(update(callback_tasks).where(answers).values(answer_recording=None))
        files: list[Path] = []
        for text in paths:
            path = Path(text)
            files.append(path)
            # A file sealed after the row was written, or left plain by a failed seal: both go.
            files.append(path.with_name(path.name.removesuffix(SEALED_SUFFIX)) if path.name.endswith(SEALED_SUFFIX)
                         else path.with_name(path.name + SEALED_SUFFIX))
        return len(paths), files

    async def _transcripts(self, conn: AsyncConnection, rows: Sequence[Any],
                           cutoff: datetime) -> tuple[int, list[Path]]:
        call_ids = await self._own_calls(conn, rows, cutoff)
        removed = 0
        if call_ids:
            result = await conn.execute(delete(transcript_segments).where(
                transcript_segments.c.call_id.in_(call_ids)))
            removed = int(result.rowcount or 0)
        spoken = await conn.execute(update(callback_tasks).where(
            callback_tasks.c.ticket_no.in_([row.ticket_no for row in rows]),
            callback_tasks.c.answer_transcript.is_not(None)).values(answer_transcript=None))
        return removed + int(spoken.rowcount or 0), []

    async def _evidence_files(self, conn: AsyncConnection, rows: Sequence[Any],
                              cutoff: datetime) -> tuple[int, list[Path]]:
        ticket_nos = [row.ticket_no for row in rows]
        payloads = (await conn.execute(select(ticket_events.c.payload).where(
            ticket_events.c.ticket_no.in_(ticket_nos)))).scalars().all()
        named = {match for payload in payloads for match in _EVIDENCE_URI.findall(payload)}
        files: list[Path] = []
        removed = 0
        for sha256 in sorted(named):
            # Shared by content: kept while a ticket outside this batch still keeps its evidence.
            still_named = await conn.scalar(select(exists().where(
                ticket_events.c.ticket_no.not_in(ticket_nos),
                ticket_events.c.payload.contains(f"sha256:{sha256}"),
                tickets.c.ticket_no == ticket_events.c.ticket_no,
                tickets.c.evidence_purged_at.is_(None))))
            if still_named:
                continue
            try:
                files += self._evidence.files_of(sha256)
            except Exception:  # noqa: BLE001 - never uploaded, or gone already
                continue
            removed += 1
        return removed, files

    async def _caller_numbers(self, conn: AsyncConnection, rows: Sequence[Any],
                              cutoff: datetime) -> tuple[int, list[Path]]:
        own_calls = set(await self._own_calls(conn, rows, cutoff))
        masked = 0
        for row in rows:
            number = row.caller_number
            if not number or "*" in number:
                continue
            hidden = mask_phone(number)
            await conn.execute(update(tickets).where(tickets.c.ticket_no == row.ticket_no)
                               .values(caller_number=hidden))
            await conn.execute(update(callback_tasks).where(callback_tasks.c.ticket_no == row.ticket_no)
                               .values(caller_number=hidden))
            if row.call_id in own_calls:
                await conn.execute(update(calls).where(calls.c.id == row.call_id)
                                   .values(caller_number=mask_phone(number)))
            events = (await conn.execute(select(ticket_events.c.id, ticket_events.c.payload).where(
                ticket_events.c.ticket_no == row.ticket_no))).all()
            for event_id, payload in events:
                if number in payload:
                    await conn.execute(update(ticket_events).where(ticket_events.c.id == event_id)
                                       .values(payload=payload.replace(number, hidden)))
            masked += 1
        return masked, []


_REMOVERS = {
    DataKind.RECORDINGS: RetentionPurge._recordings,
    DataKind.TRANSCRIPTS: RetentionPurge._transcripts,
    DataKind.EVIDENCE: RetentionPurge._evidence_files,
    DataKind.CALLER_NUMBERS: RetentionPurge._caller_numbers,
}


def policy_from_days(recordings: int, transcripts: int, evidence: int, caller_numbers: int,
                     batch_size: int) -> RetentionPolicy:
    return RetentionPolicy({DataKind.RECORDINGS: timedelta(days=recordings),
                            DataKind.TRANSCRIPTS: timedelta(days=transcripts),
                            DataKind.EVIDENCE: timedelta(days=evidence),
                            DataKind.CALLER_NUMBERS: timedelta(days=caller_numbers)}, batch_size)


