"""Calls are answered when the backend is away: the dialplan takes a message, the backend adopts it.

Real Asterisk, real SIPp calls, real `hotline run` processes killed with SIGKILL. The fallback
records each call from its answer (MixMonitor), so the message holds what the caller said over
the greeting and the prompt too; a caller handed back to a backend that returned keeps that
recording as the call's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.sandbox import AsteriskSandbox, resolve_in_root
from kernel.schema import callback_tasks
from kernel.sealed_files import is_sealed
from telephony.fallback_recording import HANDED_BACK_DIR
from telephony.message_spool import MESSAGE_FILE, META_FILE, parse_meta
from telephony.recording_length import wav_seconds
from tests.conftest import REDIS_URL
from tests.integration.test_call_to_ticket import (
    _wait_for_tickets,
    assert_recorded_like_the_call,
    place_call,
)
from tests.recording_files import plain_recording

pytestmark = pytest.mark.asterisk

#: Long enough for the greeting, the "leave a message" prompt and several seconds of message.
MESSAGE_HOLD_MS = 25000
#: What the fallback plays before the message (config/asterisk/extensions.conf, [hotline-message]).
GREETING, LEAVE_MESSAGE = "hotline/greeting", "hotline/leave-message"


async def _wait_for_entry(spool: Path, state: str, timeout: float = 40.0) -> Path:
    """The first spool entry in `state` (tmp: a caller is leaving a message; new: complete)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        entries = sorted((spool / state).glob("*")) if (spool / state).exists() else []
        if entries:
            return entries[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no spool entry in {spool / state} within {timeout}s")


async def channel_apps(asterisk: AsteriskSandbox) -> list[tuple[str, str]]:
    """(application, data) each channel is running now, as Asterisk's CLI shows them."""
    out = await asyncio.to_thread(asterisk.cli, "core show channels concise")
    fields = [line.split("!") for line in out.splitlines() if line.count("!") >= 6]
    return [(f[5], f[6]) for f in fields]


async def _wait_for_message(asterisk: AsteriskSandbox, timeout: float = 40.0) -> None:
    """A caller is past the greeting, the prompt and the beep, leaving the message (the call is
    recorded since its answer; a backend back from now on no longer takes the caller live)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not any(app == "Wait" for app, _ in await channel_apps(asterisk)):
        assert asyncio.get_running_loop().time() < deadline, "no caller reached the message"
        await asyncio.sleep(0.1)


async def _wait_until_gone(entry: Path, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while entry.exists():
        assert asyncio.get_running_loop().time() < deadline, f"{entry} was not dropped"
        await asyncio.sleep(0.1)


def prompt_seconds(asterisk: AsteriskSandbox, *names: str) -> float:
    """How long the fallback's prompts `names` play."""
    sounds = resolve_in_root(asterisk.root, "/usr/share/asterisk/sounds/en")
    heard = [wav_seconds(sounds / f"{name}.wav") for name in names]
    assert all(s is not None for s in heard)
    return sum(s for s in heard if s is not None)


def beep_seconds(asterisk: AsteriskSandbox) -> float:
    sounds = resolve_in_root(asterisk.root, "/usr/share/asterisk/sounds/en")
    return (sounds / "beep.gsm").stat().st_size / 33 * 0.02  # GSM: 33-byte frames of 20 ms


def assert_message_recorded(call: dict, asterisk: AsteriskSandbox) -> None:
    """The recording is the whole call from the answer to the hang-up: what the caller said
    over the greeting and the prompt, and the message after the beep."""
    assert call["end_reason"] == "message_while_backend_away"
    assert call["answered_at"] is not None
    path = Path(call["recording_path"])
    assert path.exists() and path.parent == asterisk.recording_dir, path
    # Sealed at rest once the message became a call (kernel/sealed_files.py).
    assert is_sealed(path) and call["recording_sha256"], path
    with plain_recording(path, call["recording_sha256"]) as plain:
        seconds = wav_seconds(plain)
    assert seconds is not None
    talk = (call["ended_at"] - call["answered_at"]).total_seconds()
    prompts = prompt_seconds(asterisk, GREETING, LEAVE_MESSAGE) + beep_seconds(asterisk)
    assert talk > prompts + 3.0, f"only {talk - prompts:.1f}s left for the message"
    assert abs(seconds - talk) <= 1.0, f"recording {seconds:.2f}s vs call from answer {talk:.2f}s"
    assert call["recording_seconds"] == pytest.approx(seconds, abs=0.05)


async def _callback_tasks(database_url: str) -> list:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(select(callback_tasks))).mappings().all())
    finally:
        await engine.dispose()


async def test_call_while_no_backend_runs_leaves_a_message_that_becomes_one_ticket(
    asterisk: AsteriskSandbox, sqlite_url: str, bridge_factory
) -> None:
    code, out = await place_call(asterisk, "13800001111", hold_ms=MESSAGE_HOLD_MS)
    assert code == 0, f"the call was not answered: {out[-2000:]}"
    entry = await _wait_for_entry(asterisk.message_spool_dir, "new")
    meta = parse_meta((entry / META_FILE).read_text())
    assert meta.caller_number == "13800001111"

    bridge = await bridge_factory(asterisk, sqlite_url)
    call_rows, ticket_rows = await _wait_for_tickets(sqlite_url, 1)
    assert len(call_rows) == 1 and len(ticket_rows) == 1, bridge.log_tail()
    call, ticket = call_rows[0], ticket_rows[0]
    assert call["channel_id"] == meta.channel_id
    assert call["caller_number"] == ticket["caller_number"] == "13800001111"
    assert ticket["origin"] == "message" and ticket["call_id"] == call["id"]
    assert call["ended_at"] == meta.ended_at and call["started_at"] == meta.started_at
    assert_message_recorded(call, asterisk)
    assert meta.answered_at is not None and meta.recording_started_at is not None
    assert 0 <= (meta.recording_started_at - meta.answered_at).total_seconds() < 0.5, \
        "the recording starts at the answer"
    recorded = (meta.ended_at - meta.recording_started_at).total_seconds()
    assert call["recording_seconds"] == pytest.approx(recorded, abs=1.0)
    tasks = await _callback_tasks(sqlite_url)
    assert [(t["ticket_no"], t["reason"]) for t in tasks] == [(ticket["ticket_no"], "left_message")]
    assert not entry.exists(), "an adopted entry stays in the spool"


async def _wait_until_set_up(redis_key_prefix: str, calls: int, timeout: float = 30.0,
                             log_tail: Callable[[], str] | None = None) -> None:
    """Until `calls` calls are greeted by the node; on failure says where each call stood and,
    with `log_tail`, what the backend logged (a run that failed here said only "never set up")."""
    client = aioredis.from_url(REDIS_URL)
    state: dict[bytes, bytes] = {}
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            state = await client.hgetall(f"{redis_key_prefix}calls:active:N01")
            if sum(b"greeted" in value for value in state.values()) >= calls:
                return
            await asyncio.sleep(0.1)
        stood = sorted(value.decode(errors="replace")[:200] for value in state.values())
        raise AssertionError(f"{calls} calls never set up within {timeout:g} s; in Redis: {stood}"
                             + (f"\nbackend log:\n{log_tail()}" if log_tail is not None else ""))
    finally:
        await client.aclose()


async def test_sigkill_with_calls_up_and_a_call_placed_while_down_loses_nothing(
    asterisk: AsteriskSandbox, sqlite_url: str, bridge_factory, redis_key_prefix: str
) -> None:
    bridge = await bridge_factory(asterisk, sqlite_url, redis_prefix=redis_key_prefix)
    # Long enough to outlast the down time: the greeting and prompt of the call placed meanwhile,
    # and the restart.
    live_hold_ms = 26000
    live = [asyncio.create_task(place_call(asterisk, number, hold_ms=live_hold_ms))
            for number in ("13900000001", "13900000002")]
    await _wait_until_set_up(redis_key_prefix, 2)
    bridge.kill()

    # Placed while the backend is down: the dialplan answers it and takes a message. The
    # backend comes back while this caller is still speaking (past the greeting and prompt,
    # where a caller would be handed to a backend that is back); the entry completes later.
    while_down = asyncio.create_task(place_call(asterisk, "13900000003", hold_ms=MESSAGE_HOLD_MS))
    await _wait_for_entry(asterisk.message_spool_dir, "tmp")
    assert not any(task.done() for task in live), "a live call dropped when the backend died"
    await _wait_for_message(asterisk)
    await bridge.start()

    for task in (*live, while_down):
        code, out = await task
        assert code == 0, out[-2000:]
    call_rows, ticket_rows = await _wait_for_tickets(sqlite_url, 3, timeout=30)
    assert len(call_rows) == 3 and len(ticket_rows) == 3, bridge.log_tail()
    assert len({c["channel_id"] for c in call_rows}) == 3
    assert sorted(t["call_id"] for t in ticket_rows) == sorted(c["id"] for c in call_rows)
    by_caller = {c["caller_number"]: c for c in call_rows}
    for number in ("13900000001", "13900000002"):
        assert_recorded_like_the_call(by_caller[number], live_hold_ms)
    assert_message_recorded(by_caller["13900000003"], asterisk)
    origins = sorted(t["origin"] for t in ticket_rows)
    assert origins == ["call", "call", "message"]


async def test_a_caller_still_hearing_the_fallback_prompts_is_answered_live_when_the_backend_returns(
    asterisk: AsteriskSandbox, in_process_bridge
) -> None:
    """The backend comes back while the caller hears the fallback's greeting: before the
    message is left, the dialplan hands the caller to it (Stasis again), and the call is
    answered like any other: one call record of the dialled number, no message left. The
    recording the fallback started at its answer goes on and is the call's, once: from the
    fallback's answer to the hang-up."""
    hold_ms = 14000
    call = asyncio.create_task(place_call(asterisk, "13900000007", hold_ms=hold_ms))
    entry = await _wait_for_entry(asterisk.message_spool_dir, "tmp")
    assert ("Playback", GREETING) in await channel_apps(asterisk), "the greeting is still playing"
    bridge = await in_process_bridge(asterisk)
    back_at = datetime.now(UTC)

    code, out = await call
    assert code == 0, out[-2000:]
    record, ticket_no = await asyncio.wait_for(bridge.finished.get(), 20)
    assert record.caller_number == "13900000007" and record.dialed_number == "12345"
    assert not record.is_message and record.end_reason != "message_while_backend_away"
    assert ticket_no and record.recording_path is not None and record.recording_path.exists()
    # Answered by the fallback, before the backend was back; recorded from then on, once.
    assert record.answered_at is not None and record.answered_at < back_at
    assert record.recording_path == asterisk.recording_dir / f"call-{record.call_id}.wav"
    assert_recorded_like_the_call({"answered_at": record.answered_at, "ended_at": record.ended_at,
                                   "recording_path": str(record.recording_path),
                                   "recording_seconds": record.recording_seconds}, hold_ms)
    assert sorted(asterisk.recording_dir.iterdir()) == [record.recording_path], "recorded twice"
    await _wait_until_gone(entry)
    new = asterisk.message_spool_dir / "new"
    assert not (new.exists() and list(new.iterdir())), "the call also left a message entry"
    handed_back = asterisk.message_spool_dir / HANDED_BACK_DIR
    assert not (handed_back.exists() and list(handed_back.iterdir())), "a recording was left behind"


async def test_a_caller_handed_back_to_a_full_backend_leaves_the_message_recorded_from_answer(
    asterisk: AsteriskSandbox, in_process_bridge
) -> None:
    """The backend comes back full (`max_concurrent_calls`) while the caller hears the
    fallback's greeting: handed back, the caller is sent on to the message path
    ([hotline-overflow]) and leaves the message after all. The recording started at the
    fallback's answer goes on: one message, recorded from that answer to the hang-up, and the
    backend that turned the caller away records nothing of it."""
    spool = asterisk.message_spool_dir
    first = asyncio.create_task(place_call(asterisk, "13900000008", hold_ms=22000))
    await _wait_for_entry(spool, "tmp")
    bridge = await in_process_bridge(asterisk, max_concurrent_calls=1)
    back_at = datetime.now(UTC)
    other = asyncio.create_task(place_call(asterisk, "13900000009", hold_ms=22000))
    deadline = asyncio.get_running_loop().time() + 10
    while len(bridge.flow.state.calls) < 1:  # the other caller takes the node's one place
        assert asyncio.get_running_loop().time() < deadline, "the other call was not taken"
        await asyncio.sleep(0.05)
    assert ("Playback", GREETING) in await channel_apps(asterisk), "handed back too early"

    code, out = await first
    assert code == 0, out[-2000:]
    entry = await _wait_for_entry(spool, "new")
    meta = parse_meta((entry / META_FILE).read_text())
    assert meta.caller_number == "13900000008" and bridge.flow.overflowed == 1
    assert meta.answered_at is not None and meta.answered_at < back_at
    seconds = wav_seconds(entry / MESSAGE_FILE)
    talk = (meta.ended_at - meta.answered_at).total_seconds()
    assert seconds is not None and abs(seconds - talk) <= 1.0, f"message {seconds}s vs call {talk:.2f}s"
    handed_back = spool / HANDED_BACK_DIR
    assert not (handed_back.exists() and list(handed_back.iterdir())), "taken as a live call too"

    code, out = await other
    assert code == 0, out[-2000:]
    record, _ = await asyncio.wait_for(bridge.finished.get(), 20)
    assert record.caller_number == "13900000009" and not record.is_message
    assert bridge.finished.empty()
