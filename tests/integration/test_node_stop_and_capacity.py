"""A node stops gracefully and, when full, still answers every caller.

Real Asterisk, real SIPp calls carrying speech, real `hotline run` processes:
- SIGTERM with calls up: the process gives the application up, hands its live calls over
  through the call mirror and exits within `call_flow.stop_timeout_seconds` (asserted on the
  process's own logged stop duration, not on a timer of the test). A caller who calls while
  no node runs leaves a message through the dialplan. The next process finishes the handed-over
  calls: every call ends with exactly one call record and one ticket.
- `call_flow.max_concurrent_calls`: a caller beyond the limit is answered by the dialplan's
  message path and becomes a ticket too; `/health` shows the limit and the load.
"""

from __future__ import annotations

import asyncio
import json
import signal

import aiohttp
import pytest

from devtools.sandbox import AsteriskSandbox
from tests.integration.test_backend_away import (
    MESSAGE_HOLD_MS,
    _wait_for_entry,
    _wait_for_message,
    _wait_until_set_up,
)
from tests.integration.test_call_to_ticket import _wait_for_tickets, place_call

pytestmark = pytest.mark.asterisk

LIVE_CALLS = 6
LIVE_HOLD_MS = 26000  # outlasts the down time, which runs until the message is being recorded
STOP_TIMEOUT = 10.0


def _logged(log_text: str, message: str) -> list[dict]:
    entries = []
    for line in log_text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("msg") == message:
            entries.append(entry)
    return entries


async def test_sigterm_with_live_calls_hands_them_over_and_exits_within_its_bound(
    asterisk: AsteriskSandbox, sqlite_url: str, bridge_factory, redis_key_prefix: str
) -> None:
    env = {"HOTLINE_CALL_FLOW_STOP_TIMEOUT_SECONDS": str(STOP_TIMEOUT)}
    bridge = await bridge_factory(asterisk, sqlite_url, redis_prefix=redis_key_prefix,
                                  env_overrides=env)
    live = [asyncio.create_task(place_call(asterisk, f"1390000{n:04d}", hold_ms=LIVE_HOLD_MS))
            for n in range(LIVE_CALLS)]
    await _wait_until_set_up(redis_key_prefix, LIVE_CALLS, log_tail=bridge.log_tail)

    assert bridge.process is not None
    bridge.process.send_signal(signal.SIGTERM)
    # Generous: the bound is checked below on the process's own measurement.
    code = await asyncio.to_thread(bridge.process.wait, 120)
    log_text = bridge.log_path.read_text(errors="replace")
    assert code == 0, bridge.log_tail()
    stopped = _logged(log_text, "hotline backend stopped")
    assert len(stopped) == 1, bridge.log_tail()
    assert stopped[0]["stop_timeout_seconds"] == STOP_TIMEOUT
    assert stopped[0]["stop_seconds"] <= STOP_TIMEOUT
    handed = _logged(log_text, "live calls handed over to the next owner")
    assert handed and handed[0]["calls"] == LIVE_CALLS, bridge.log_tail()
    assert not any(task.done() for task in live), "a live call dropped when the node stopped"

    # No node runs: the dialplan answers this caller, who leaves a message.
    while_down = asyncio.create_task(place_call(asterisk, "13900009999", hold_ms=MESSAGE_HOLD_MS))
    await _wait_for_entry(asterisk.message_spool_dir, "tmp")
    # Past the greeting and the prompt: a backend back before that would answer this caller
    # live (the fallback hands callers back); once past the beep, the message is the call.
    await _wait_for_message(asterisk)
    await bridge.start()  # the next process: adopts the mirror and the spool

    for task in (*live, while_down):
        sipp_code, out = await task
        assert sipp_code == 0, out[-2000:]
    total = LIVE_CALLS + 1
    call_rows, ticket_rows = await _wait_for_tickets(sqlite_url, total, timeout=40)
    assert len(call_rows) == total and len(ticket_rows) == total, bridge.log_tail()
    assert len({c["channel_id"] for c in call_rows}) == total
    assert sorted(t["call_id"] for t in ticket_rows) == sorted(c["id"] for c in call_rows)
    by_caller = {c["caller_number"]: c for c in call_rows}
    for n in range(LIVE_CALLS):
        call = by_caller[f"1390000{n:04d}"]
        assert call["answered_at"] is not None and call["recording_path"], call
    assert sorted(t["origin"] for t in ticket_rows) == ["call"] * LIVE_CALLS + ["message"]


async def test_caller_beyond_the_limit_is_answered_by_the_message_path(
    asterisk: AsteriskSandbox, sqlite_url: str, bridge_factory, redis_key_prefix: str
) -> None:
    bridge = await bridge_factory(asterisk, sqlite_url, redis_prefix=redis_key_prefix,
                                  env_overrides={"HOTLINE_CALL_FLOW_MAX_CONCURRENT_CALLS": "2"})
    first = [asyncio.create_task(place_call(asterisk, f"1370000000{n}", hold_ms=15000))
             for n in range(2)]
    await _wait_until_set_up(redis_key_prefix, 2)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{bridge.http_port}/health") as response:
            load = (await response.json())["load"]
    assert load == {"active": 2, "limit": 2, "overflowed": 0, "accepting": True,
                    "at_capacity": True}

    code, out = await place_call(asterisk, "13700000009", hold_ms=MESSAGE_HOLD_MS)
    assert code == 0, f"the caller beyond the limit was not answered: {out[-2000:]}"
    for task in first:
        sipp_code, out = await task
        assert sipp_code == 0, out[-2000:]

    call_rows, ticket_rows = await _wait_for_tickets(sqlite_url, 3, timeout=40)
    assert len(call_rows) == 3 and len(ticket_rows) == 3, bridge.log_tail()
    origins = {c["caller_number"]: t["origin"] for c in call_rows for t in ticket_rows
               if t["call_id"] == c["id"]}
    assert origins == {"13700000000": "call", "13700000001": "call", "13700000009": "message"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{bridge.http_port}/health") as response:
            load = (await response.json())["load"]
    assert load["overflowed"] == 1 and load["active"] == 0
