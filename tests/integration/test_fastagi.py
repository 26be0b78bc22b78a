"""The FastAGI screen over real TCP, speaking the AGI protocol as Asterisk does, on real Redis."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from abuse.limiter import AbuseScreen
from abuse.policy_file import policy_from_mapping
from telephony.fastagi import FastAgiScreenServer

POLICY = policy_from_mapping({
    "levels": {"warn": {"calls_short": 3}, "senior_queue": {"calls_short": 4},
               "restrict": {"calls_short": 5}},
    "emergency": {"keywords": ["火灾"]},
    "prompts": {"warn": "hotline/abuse-warning", "senior_queue": "hotline/abuse-warning",
                "restrict": "hotline/abuse-restricted"},
})


@pytest.fixture
async def agi_server(redis_client: aioredis.Redis, redis_key_prefix: str) -> AsyncIterator[FastAgiScreenServer]:
    screen = AbuseScreen(redis_client, POLICY, key_prefix=redis_key_prefix, decision_timeout=2.0)
    async with FastAgiScreenServer(screen, host="127.0.0.1", port=0, session_timeout=2.0) as server:
        yield server


def environment(callerid: str, *, script: str = "screen", arg: str | None = None) -> bytes:
    lines = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1/{script}",
        "agi_channel": "PJSIP/caller-00000001",
        "agi_language": "zh",
        "agi_type": "PJSIP",
        "agi_uniqueid": "1700000000.1",
        "agi_version": "22.0.0",
        "agi_callerid": callerid,
        "agi_calleridname": "unknown",
        "agi_context": "hotline",
        "agi_extension": "12345",
        "agi_priority": "2",
    }
    if arg is not None:
        lines["agi_arg_1"] = arg
    return "".join(f"{k}: {v}\n" for k, v in lines.items()).encode() + b"\n"


async def screen_call(port: int, callerid: str, **kwargs: str) -> dict[str, str]:
    """Play Asterisk: send the environment, answer every command with 200, collect variables."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    variables: dict[str, str] = {}
    try:
        writer.write(environment(callerid, **kwargs))
        await writer.drain()
        while True:
            line = await asyncio.wait_for(reader.readline(), 5)
            if not line:
                return variables
            command = line.decode().rstrip("\n")
            assert command.startswith("SET VARIABLE "), command
            _, _, name, value = command.split(" ", 3)
            variables[name] = value.strip('"')
            writer.write(b"200 result=1\n")
            await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_dialplan_gets_the_level_and_the_prompt(agi_server: FastAgiScreenServer) -> None:
    results = [await screen_call(agi_server.port, "13800138000") for _ in range(5)]
    assert [r["HOTLINE_SCREEN"] for r in results] == ["allow", "allow", "warn", "senior_queue", "restrict"]
    assert results[0]["HOTLINE_SCREEN_PROMPT"] == ""
    assert results[2]["HOTLINE_SCREEN_PROMPT"] == "hotline/abuse-warning"
    assert results[4]["HOTLINE_SCREEN_PROMPT"] == "hotline/abuse-restricted"
    assert all(len(r["HOTLINE_SCREEN_ID"]) == 32 for r in results)


async def test_fastagi_and_direct_calls_share_one_screen(
    agi_server: FastAgiScreenServer, redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    other_node = AbuseScreen(redis_client, POLICY, key_prefix=redis_key_prefix)
    await other_node.decide("+86 138 0013 8000")
    await other_node.decide("13800138000")
    assert (await screen_call(agi_server.port, "8613800138000"))["HOTLINE_SCREEN"] == "warn"
    history = await other_node.history("13800138000")
    assert len(history) == 3


async def test_emergency_words_in_the_first_argument_override(agi_server: FastAgiScreenServer) -> None:
    for _ in range(5):
        await screen_call(agi_server.port, "13800138000")
    result = await screen_call(agi_server.port, "13800138000", arg="家里火灾了")
    assert result["HOTLINE_SCREEN"] == "allow"


async def test_withheld_callers_are_screened_as_one_class(agi_server: FastAgiScreenServer) -> None:
    levels = [(await screen_call(agi_server.port, cid))["HOTLINE_SCREEN"]
              for cid in ("unknown", "anonymous", "")]
    assert levels == ["allow", "allow", "allow"]  # anonymous thresholds are scaled (default x5)


async def test_redis_unreachable_still_answers_allow(redis_key_prefix: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    client = aioredis.Redis(host="127.0.0.1", port=dead_port, socket_connect_timeout=0.2)
    screen = AbuseScreen(client, POLICY, key_prefix=redis_key_prefix, decision_timeout=0.3)
    try:
        async with FastAgiScreenServer(screen, port=0) as server:
            result = await screen_call(server.port, "13800138000")
        assert result["HOTLINE_SCREEN"] == "allow"
        assert screen.stats.fail_open == 1
    finally:
        await client.aclose()


async def test_hangup_and_garbage_do_not_break_the_server(agi_server: FastAgiScreenServer) -> None:
    # Asterisk hangs up after the environment: the server notices and moves on.
    reader, writer = await asyncio.open_connection("127.0.0.1", agi_server.port)
    writer.write(environment("13800138000"))
    await writer.drain()
    assert (await reader.readline()).startswith(b"SET VARIABLE HOTLINE_SCREEN")
    writer.write(b"HANGUP\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    # Not AGI at all.
    reader, writer = await asyncio.open_connection("127.0.0.1", agi_server.port)
    writer.write(b"GET / HTTP/1.1\r\n\r\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    # An unknown script name.
    assert await screen_call(agi_server.port, "13800138000", script="other") == {}
    # Still serving.
    assert (await screen_call(agi_server.port, "13900139000"))["HOTLINE_SCREEN"] == "allow"
    assert agi_server.sessions_served == 4


async def test_failed_command_reply_ends_the_session(agi_server: FastAgiScreenServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", agi_server.port)
    writer.write(environment("13800138000"))
    await writer.drain()
    await reader.readline()
    writer.write(b"510 Invalid or unknown command\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
