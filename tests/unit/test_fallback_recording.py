"""The recording a caller handed back by the dialplan's fallback brings along (no Asterisk here)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from telephony.fallback_recording import (
    ANSWERED_VAR,
    HANDED_BACK_CONTEXT,
    RECORDING_VAR,
    FallbackAnswer,
    fallback_answer,
    handed_back_by_fallback,
    handed_back_path,
    take,
)


def test_a_call_the_fallback_answered_and_records_is_recognised_by_its_channel_variables() -> None:
    found = fallback_answer({ANSWERED_VAR: "1796000010.250", RECORDING_VAR: "1796000010.262"})
    assert found == FallbackAnswer(answered_at=datetime.fromtimestamp(1796000010.25, UTC),
                                   recording_started_at=datetime.fromtimestamp(1796000010.262, UTC))


def test_a_call_that_came_straight_to_the_backend_is_not_a_handed_back_one() -> None:
    assert fallback_answer({}) is None
    assert fallback_answer({ANSWERED_VAR: "", RECORDING_VAR: ""}) is None
    # Answered but never recorded (MixMonitor did not start): the backend records it itself.
    assert fallback_answer({ANSWERED_VAR: "1796000010.250", RECORDING_VAR: ""}) is None
    assert fallback_answer({ANSWERED_VAR: "soon", RECORDING_VAR: "1796000010.262"}) is None


async def test_the_recording_is_taken_once_the_hangup_handler_has_moved_it(tmp_path: Path) -> None:
    spool, target = tmp_path / "spool", tmp_path / "recording" / "call-c1.wav"
    source = handed_back_path(spool, "pbx1-1796000000.7")

    async def hang_up_handler() -> None:
        await asyncio.sleep(0.2)  # StasisEnd reaches the backend before the handler runs
        source.parent.mkdir(parents=True)
        source.write_bytes(b"RIFF....")

    handler = asyncio.create_task(hang_up_handler())
    assert await take(spool, "pbx1-1796000000.7", target, timeout=5) == target
    await handler
    assert target.read_bytes() == b"RIFF...." and not source.exists()
    # Again (a crash after the move, before the call record): the recording is where it went.
    assert await take(spool, "pbx1-1796000000.7", target, timeout=0) == target


async def test_a_recording_that_never_comes_is_given_up_after_the_timeout(tmp_path: Path) -> None:
    assert await take(tmp_path / "spool", "pbx1-1796000000.7", tmp_path / "call-c1.wav",
                      timeout=0.2) is None


def test_only_a_caller_coming_from_the_fallbacks_hand_back_context_is_handed_back() -> None:
    assert handed_back_by_fallback(HANDED_BACK_CONTEXT)
    assert not handed_back_by_fallback("public")
    assert not handed_back_by_fallback("")
