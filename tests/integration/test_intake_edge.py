"""The edge of intake: over-long caller ids cost the caller nothing; the outbox of finished calls
replays in order and never twice."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from asr.segments import CallTranscript, Segment, Speaker
from asr.transcript_store import CallNotRecorded, TranscriptStore
from kernel.schema import calls, ticket_events, tickets, transcript_segments
from telephony.call_record import CallRecord
from telephony.outbox import CallOutbox
from tickets.intake import CallIntake


async def test_an_over_long_caller_id_is_truncated_and_its_raw_value_kept(engine: AsyncEngine) -> None:
    number, name = "1" * 100, "张" * 200
    ended = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    record = CallRecord(
        call_id="5f1b8a52-9d0e-4c1e-8f7a-0d9e3c2b1a00", channel_id="pbx-1.1", bridge_id=None,
        caller_number=number, caller_name=name, dialed_number="12345", node_id="T01",
        started_at=ended - timedelta(seconds=30), answered_at=ended - timedelta(seconds=29),
        ended_at=ended, end_reason="hangup", recording_path=None, recording_seconds=None)

    ticket_no = await CallIntake(engine, "T01").record_finished_call(record)

    async with engine.connect() as conn:
        call = (await conn.execute(select(calls))).mappings().one()
        ticket = (await conn.execute(select(tickets))).mappings().one()
        event = (await conn.execute(select(ticket_events))).mappings().one()
    assert ticket["ticket_no"] == ticket_no
    assert call["caller_number"] == number[:64] and call["caller_name"] == name[:128]
    assert ticket["caller_number"] == number[:64]
    reason = json.loads(event["payload"])["reason"]
    assert number in reason and name in reason


async def test_the_outbox_replays_in_end_time_order_and_a_call_kept_twice_is_one_ticket(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    intake = CallIntake(engine, "T01")
    outbox = CallOutbox(tmp_path / "outbox", intake)
    ended = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    records = [CallRecord(
        call_id=str(uuid.uuid4()), channel_id=f"pbx-1.{i}", bridge_id=None,
        caller_number=f"1380000000{i}", caller_name="", dialed_number="12345", node_id="T01",
        started_at=ended - timedelta(minutes=5), answered_at=None,
        ended_at=ended - timedelta(seconds=i), end_reason="hangup",
        recording_path=tmp_path / f"r{i}.wav", recording_seconds=1.5) for i in range(3)]
    # Written once already: the process died between the database write and the clean-up.
    first = await intake.record_finished_call(records[0])
    for record in records:
        outbox.put(record)

    written = await outbox.replay()

    assert len(written) == 3 and first in written and outbox.depth == 0
    async with engine.connect() as conn:
        rows = (await conn.execute(select(calls).order_by(calls.c.ended_at))).mappings().all()
    # Each call once, with the end time it had at hang-up.
    assert [r["channel_id"] for r in rows] == ["pbx-1.2", "pbx-1.1", "pbx-1.0"]
    assert [r["ended_at"] for r in rows] == [r.ended_at for r in reversed(records)]
    async with engine.connect() as conn:
        numbers = (await conn.execute(select(tickets.c.ticket_no, calls.c.channel_id).join(
            calls, calls.c.id == tickets.c.call_id).order_by(tickets.c.ticket_no))).all()
    # Replayed oldest end first; records[0] was written before the replay.
    assert [channel for _, channel in numbers] == ["pbx-1.0", "pbx-1.2", "pbx-1.1"]


async def test_a_transcript_kept_in_the_outbox_is_written_after_its_call(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The call's record waits in the outbox; its transcript, refused by the database (the
    call is not recorded yet), joins it there and is written right after it. A transcript whose
    call file is already gone waits in a file of its own and never holds back later calls."""
    store = TranscriptStore(engine)
    outbox = CallOutbox(tmp_path / "outbox", CallIntake(engine, "T01"), transcripts=store.save_payload)
    ended = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    records = [CallRecord(
        call_id=str(uuid.uuid4()), channel_id=f"pbx-2.{i}", bridge_id=None,
        caller_number=f"1390000000{i}", caller_name="", dialed_number="12345", node_id="T01",
        started_at=ended - timedelta(minutes=5), answered_at=ended - timedelta(minutes=5),
        ended_at=ended + timedelta(seconds=i), end_reason="hangup",
        recording_path=None, recording_seconds=None) for i in range(3)]
    transcript = CallTranscript(records[0].call_id, (
        Segment(records[0].call_id, Speaker.CALLER, "兰山区路灯不亮", 0.5, 2.0, True, 0.9),
        Segment(records[0].call_id, Speaker.AGENT, "好的", 2.5, 3.0, True, 0.8)))
    outbox.put(records[0])
    with pytest.raises(CallNotRecorded):
        await store.save(transcript, None)
    await outbox.keep_transcript(records[0].call_id, store.payload(transcript, None))
    kept = json.loads(outbox.pending()[0].read_text(encoding="utf-8"))
    assert [s["text"] for s in kept["transcript"]["segments"]] == ["兰山区路灯不亮", "好的"]
    # A transcript of a call that is not in the outbox (and never recorded): it waits alone.
    stray = str(uuid.uuid4())
    await outbox.keep_transcript(stray, {"segments": [{"speaker": "caller", "start_seconds": 0.0,
                                                      "end_seconds": 1.0, "text": "喂", "confidence": 1.0,
                                                      "source": "live"}], "asr_draft": None})
    outbox.put(records[1])
    outbox.put(records[2])
    assert outbox.depth == 3, "a transcript is not a call waiting"

    written = await outbox.replay()

    assert len(written) == 3
    async with engine.connect() as conn:
        rows = (await conn.execute(select(transcript_segments).order_by(
            transcript_segments.c.start_seconds))).mappings().all()
    assert [(r["call_id"], r["speaker"], r["text"]) for r in rows] == [
        (records[0].call_id, "caller", "兰山区路灯不亮"), (records[0].call_id, "agent", "好的")]
    assert [p.name.endswith(f"-{stray}.transcript.json") for p in outbox.files()] == [True]
