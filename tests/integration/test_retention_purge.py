"""The retention purge (tickets/retention.py) on SQLite and PostgreSQL: a closed ticket's
recording goes after `recordings` days, its transcript, evidence and caller's number after
theirs, each batch one audit row; an open ticket of the same age keeps everything; a second run
finds nothing more to do. Real calls stored through the sealing intake, real evidence files.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.sealing_recorder import SealingRecorder, seal_recording_file
from kernel.access_policy import AccessKind
from kernel.audit import AccessAudit, AuditQuery
from kernel.errors import NotFound
from kernel.roles import Actor, Role
from kernel.schema import callback_tasks, calls, ticket_events, tickets, transcript_segments
from telephony.call_record import CallRecord
from tests.data_keys import TEST_KEYS
from tests.recording_files import write_wav
from tickets.evidence_store import EvidenceStore
from tickets.intake import CallIntake
from tickets.model import Attachment
from tickets.retention import ACTOR, DataKind, RetentionPurge, policy_from_days
from tickets.store import TicketStore
from tickets.workflow import AnswerDirectly

AGENT = Actor("a7", Role.AGENT)
CLOSED_CALLER = "13812345678"
OPEN_CALLER = "13987654321"


@dataclass
class Tickets:
    engine: AsyncEngine
    evidence: EvidenceStore
    audit: AccessAudit
    closed: tuple[str, str]  # ticket number, call id
    open: tuple[str, str]
    evidence_sha: str
    now: datetime
    spoken_answer: Path  # the closed ticket's survey answered in words, sealed

    def purge(self, days_later: int) -> RetentionPurge:
        at = self.now + timedelta(days=days_later)
        return RetentionPurge(self.engine, self.evidence, self.audit,
                              policy_from_days(183, 365, 365, 365, batch_size=1), clock=lambda: at)

    async def scalar(self, statement: object) -> object:
        async with self.engine.connect() as conn:
            return await conn.scalar(statement)  # type: ignore[call-overload]


async def _call(engine: AsyncEngine, recordings: Path, caller: str) -> tuple[str, str]:
    call_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    record = CallRecord(
        call_id=call_id, channel_id=f"chan-{call_id}", bridge_id=None, caller_number=caller, caller_name="",
        dialed_number="12345", node_id="N01", started_at=now - timedelta(seconds=3), answered_at=now,
        ended_at=now, end_reason="caller_hangup", recording_path=write_wav(recordings / f"call-{call_id}.wav", 1.0),
        recording_seconds=1.0)
    ticket_no = await SealingRecorder(CallIntake(engine, "N01"), TEST_KEYS).record_finished_call(record)
    async with engine.begin() as conn:
        await conn.execute(insert(transcript_segments).values(
            call_id=call_id, speaker="caller", start_seconds=0.1, end_seconds=0.9, text=f"我的电话是{caller}",
            confidence=0.9, source="live"))
    return ticket_no, call_id


async def _spoken_survey_answer(engine: AsyncEngine, recordings: Path, ticket_no: str, caller: str) -> Path:
    """A callback task whose citizen answered in words: its recording sealed, its transcript kept."""
    sealed = await seal_recording_file(write_wav(recordings / f"survey-{ticket_no}.wav", 1.0), TEST_KEYS)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(insert(callback_tasks).values(
            id=str(uuid.uuid4()), ticket_no=ticket_no, caller_number=caller, reason="survey", status="done",
            due_at=now, created_at=now, result="satisfied", answer_recording=str(sealed),
            answer_transcript="满意"))
    return sealed


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def aged(engine: AsyncEngine, tmp_path: Path) -> Tickets:
    evidence = EvidenceStore(tmp_path / "evidence", 1 << 20, TEST_KEYS)
    stored = await evidence.put(_once(b"%PDF receipt"), name="receipt.pdf", content_type="application/pdf",
                                uploaded_by="a7", uploader_unit=None)
    closed = await _call(engine, tmp_path / "recordings", CLOSED_CALLER)
    opened = await _call(engine, tmp_path / "recordings", OPEN_CALLER)
    store = TicketStore(engine, "N01")
    await store.transition(closed[0], AnswerDirectly(answer="已答复", attachments=(
        Attachment("document", stored.uri, "收据"),)), AGENT, 1)
    spoken = await _spoken_survey_answer(engine, tmp_path / "recordings", closed[0], CLOSED_CALLER)
    return Tickets(engine, evidence, AccessAudit(engine), closed, opened, stored.sha256, datetime.now(UTC), spoken)


async def _survey_answer(t: Tickets) -> tuple[object, object]:
    async with t.engine.connect() as conn:
        row = (await conn.execute(select(callback_tasks.c.answer_recording, callback_tasks.c.answer_transcript)
                                  .where(callback_tasks.c.ticket_no == t.closed[0]))).one()
    return row.answer_recording, row.answer_transcript


async def _recording(t: Tickets, call_id: str) -> object:
    return await t.scalar(select(calls.c.recording_path).where(calls.c.id == call_id))


async def _segments(t: Tickets, call_id: str) -> object:
    return await t.scalar(select(func.count()).select_from(transcript_segments)
                          .where(transcript_segments.c.call_id == call_id))


async def test_closed_tickets_lose_each_kind_after_its_days_and_open_ones_keep_everything(aged: Tickets) -> None:
    closed_no, closed_call = aged.closed
    open_no, open_call = aged.open
    open_file = Path(str(await _recording(aged, open_call)))
    closed_file = Path(str(await _recording(aged, closed_call)))
    assert closed_file.exists() and open_file.exists() and aged.spoken_answer.exists()

    assert await aged.purge(100).run_once() == []  # nothing is past its days yet

    batches = await aged.purge(200).run_once()  # past the recordings' 183 days only
    # The call's recording and the spoken survey answer's.
    assert [(b.kind, b.ticket_nos, b.removed) for b in batches] == [(DataKind.RECORDINGS, (closed_no,), 2)]
    assert not closed_file.exists() and await _recording(aged, closed_call) is None
    assert not aged.spoken_answer.exists() and await _survey_answer(aged) == (None, "满意")
    assert await _segments(aged, closed_call) == 1 and aged.evidence.get(aged.evidence_sha)

    batches = await aged.purge(400).run_once()
    assert [(b.kind, b.ticket_nos, b.removed) for b in batches] == [
        (DataKind.TRANSCRIPTS, (closed_no,), 2), (DataKind.EVIDENCE, (closed_no,), 1),
        (DataKind.CALLER_NUMBERS, (closed_no,), 1)]
    assert await _segments(aged, closed_call) == 0 and await _survey_answer(aged) == (None, None)
    with pytest.raises(NotFound):
        aged.evidence.get(aged.evidence_sha)
    assert await aged.scalar(select(tickets.c.caller_number).where(tickets.c.ticket_no == closed_no)) == "138****5678"
    assert await aged.scalar(select(calls.c.caller_number).where(calls.c.id == closed_call)) == "138****5678"
    payloads = await aged.scalar(select(func.count()).select_from(ticket_events).where(
        ticket_events.c.ticket_no == closed_no, ticket_events.c.payload.contains(CLOSED_CALLER)))
    assert payloads == 0, "an event still holds the caller's number"

    # The open ticket, as old, keeps its recording, transcript and number.
    assert open_file.exists() and await _recording(aged, open_call) == str(open_file)
    assert await _segments(aged, open_call) == 1
    assert await aged.scalar(select(tickets.c.caller_number).where(tickets.c.ticket_no == open_no)) == OPEN_CALLER

    # One audit row per batch, naming the ticket and never the number.
    rows = await aged.audit.search(AuditQuery(kind=AccessKind.PURGE))
    assert [(r.actor, r.role, r.ticket_no) for r in rows] == [(ACTOR, "system", None)] * 4
    assert all(closed_no in r.detail and CLOSED_CALLER not in r.detail for r in rows)
    assert {r.detail.split(" past ")[0] for r in rows} == {"recordings", "transcripts", "evidence", "caller_numbers"}

    assert await aged.purge(800).run_once() == []  # each kind is taken once
