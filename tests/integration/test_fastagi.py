"""The FastAGI screen over real TCP, speaking the AGI protocol as Asterisk does, on real Redis.

A caller id is believed only when the call's own channel on the real Asterisk (read over ARI)
has it: the tests that count a number's calls ring real channels with that caller id. Peers
outside the allow-list, sessions without the secret, sessions beyond the cap and sessions
that outlast the deadline are refused or cut."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress

import pytest
import redis.asyncio as aioredis

from abuse.limiter import AbuseScreen
from abuse.policy_file import policy_from_mapping
from devtools.sandbox import AsteriskSandbox
from telephony.ari.events import AriEventStream
from telephony.ari.rest import AriRest
from telephony.fastagi import FastAgiScreenServer
from tests.asterisk_harness import SipPhones

POLICY = policy_from_mapping({
    "levels": {"warn": {"calls_short": 3}, "senior_queue": {"calls_short": 4},
               "restrict": {"calls_short": 5}},
    "emergency": {"keywords": ["火灾"]},
    "prompts": {"warn": "hotline/abuse-warning", "senior_queue": "hotline/abuse-warning",
                "restrict": "hotline/abuse-restricted"},
})


APP = "fastagi-test"


@pytest.fixture
async def screen(redis_client: aioredis.Redis, redis_key_prefix: str) -> AbuseScreen:
    return AbuseScreen(redis_client, POLICY, key_prefix=redis_key_prefix, decision_timeout=2.0)


@pytest.fixture
async def agi_server(screen: AbuseScreen) -> AsyncIterator[FastAgiScreenServer]:
    async with FastAgiScreenServer(screen, host="127.0.0.1", port=0, session_timeout=2.0) as server:
        yield server


@pytest.fixture
async def ari_rest(asterisk: AsteriskSandbox) -> AsyncIterator[AriRest]:
    """ARI with an application connected (Asterisk originates only into a connected one)."""
    stream = AriEventStream(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password, APP)

    async def drain() -> None:
        async for _ in stream.events():
            pass

    task = asyncio.create_task(drain())
    rest = AriRest(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password, APP)
    try:
        await asyncio.wait_for(stream.connected.wait(), 15)
        yield rest
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await rest.close()


async def ringing_calls(rest: AriRest, phone: str, number: str, count: int) -> list[str]:
    """`count` real channels ringing `phone` with caller id `number`; their ids (= uniqueids)."""
    ids = []
    for _ in range(count):
        channel_id = f"agi-{uuid.uuid4().hex[:12]}"
        await rest.originate(phone, channel_id=channel_id, caller_id=f'"" <{number}>', timeout=60)
        ids.append(channel_id)
    return ids


def environment(callerid: str, *, script: str = "screen", arg: str | None = None,
                uniqueid: str = "1700000000.1", extra: tuple[str, ...] = ()) -> bytes:
    lines = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1/{script}",
        "agi_channel": "PJSIP/caller-00000001",
        "agi_language": "zh",
        "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid,
        "agi_version": "22.0.0",
        "agi_callerid": callerid,
        "agi_calleridname": "unknown",
        "agi_context": "hotline",
        "agi_extension": "12345",
        "agi_priority": "2",
    }
    for index, value in enumerate((*([arg] if arg is not None else []), *extra), start=1):
        lines[f"agi_arg_{index}"] = value
    return "".join(f"{k}: {v}\n" for k, v in lines.items()).encode() + b"\n"


async def screen_call(port: int, callerid: str, **kwargs: object) -> dict[str, str]:
    """Play Asterisk: send the environment, answer every command with 200, collect variables."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    variables: dict[str, str] = {}
    try:
        writer.write(environment(callerid, **kwargs))  # type: ignore[arg-type]
        await writer.drain()
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), 5)
            except ConnectionResetError:  # refused: closed before reading what we sent
                return variables
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
        with suppress(ConnectionError):
            await writer.wait_closed()


@pytest.mark.asterisk
async def test_dialplan_gets_the_level_and_the_prompt(
    screen: AbuseScreen, ari_rest: AriRest, sip_phones: SipPhones,
) -> None:
    phone = await sip_phones.start("citizen", answer_after_ms=None, calls=5)
    calls = await ringing_calls(ari_rest, phone, "13800138000", 5)
    async with FastAgiScreenServer(screen, port=0, channels=ari_rest) as server:
        results = [await screen_call(server.port, "13800138000", uniqueid=call) for call in calls]
        # The same call screened again (a retry, or a replayed uniqueid) counts once.
        again = await screen_call(server.port, "13800138000", uniqueid=calls[0])
    for call in calls:
        await ari_rest.hangup(call)
    assert [r["HOTLINE_SCREEN"] for r in results] == ["allow", "allow", "warn", "senior_queue", "restrict"]
    assert results[0]["HOTLINE_SCREEN_PROMPT"] == ""
    assert results[2]["HOTLINE_SCREEN_PROMPT"] == "hotline/abuse-warning"
    assert results[4]["HOTLINE_SCREEN_PROMPT"] == "hotline/abuse-restricted"
    assert all(len(r["HOTLINE_SCREEN_ID"]) == 32 for r in results)
    assert again["HOTLINE_SCREEN"] == "restrict"  # the standing measure, not a sixth call
    assert (await screen.decide("13800138000", call_id=calls[0])).signals.calls_short == 5


@pytest.mark.asterisk
async def test_a_spoofed_caller_id_does_not_restrict_the_citizen(
    screen: AbuseScreen, ari_rest: AriRest, sip_phones: SipPhones,
) -> None:
    """A stranger claims a citizen's number: on a uniqueid that no channel has, or on a real
    call whose channel has another caller id. Nothing is counted against the citizen."""
    phone = await sip_phones.start("stranger", answer_after_ms=None, calls=1)
    (real,) = await ringing_calls(ari_rest, phone, "13912345678", 1)
    async with FastAgiScreenServer(screen, port=0, channels=ari_rest) as server:
        claims = [f"1700000000.{i}" for i in range(5)] + [real] * 3
        levels = [(await screen_call(server.port, "13800138000", uniqueid=u))["HOTLINE_SCREEN"]
                  for u in claims]
    await ari_rest.hangup(real)
    assert levels == ["allow"] * len(claims)
    assert await screen.history("13800138000") == []
    assert await screen.measure("13800138000") is None


async def test_a_peer_outside_the_allow_list_is_refused(screen: AbuseScreen) -> None:
    async with FastAgiScreenServer(screen, port=0, allowed_peers=("10.9.8.7/32",)) as server:
        assert await screen_call(server.port, "13800138000") == {}
        assert server.sessions_refused == 1
    assert await screen.history("anonymous") == []


async def test_without_the_shared_secret_a_session_is_refused(screen: AbuseScreen) -> None:
    async with FastAgiScreenServer(screen, port=0, secret="s3cret-agi") as server:
        assert await screen_call(server.port, "13800138000") == {}
        assert await screen_call(server.port, "13800138000", extra=("secret=guess",)) == {}
        answered = await screen_call(server.port, "13800138000", arg="路灯坏了",
                                     extra=("secret=s3cret-agi",))
        assert answered["HOTLINE_SCREEN"] == "allow"
        assert server.sessions_refused == 2


async def test_sessions_beyond_the_cap_are_closed_at_once(screen: AbuseScreen) -> None:
    async with FastAgiScreenServer(screen, port=0, max_connections=1, session_timeout=30,
                                   session_deadline=30) as server:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"agi_network: yes\n")  # the first session is held open
        await writer.drain()
        while server.active_sessions < 1:
            await asyncio.sleep(0.01)
        try:
            assert await screen_call(server.port, "13800138000") == {}
            assert server.sessions_refused == 1
        finally:
            writer.close()
            await writer.wait_closed()
        assert await screen_call(server.port, "13800138000") != {}  # a slot again


async def test_a_session_that_trickles_is_cut_at_the_whole_session_deadline(screen: AbuseScreen) -> None:
    """Each line comes well within the per-line timeout; the session as a whole may not last."""
    async with FastAgiScreenServer(screen, port=0, session_timeout=5, session_deadline=1) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        closed_after = None
        for sent in range(100):
            try:
                writer.write(f"agi_padding_{sent}: x\n".encode())
                await writer.drain()
                await asyncio.wait_for(reader.read(), 0.3)  # returns only at the server's close
            except TimeoutError:
                continue
            except ConnectionError:
                pass
            closed_after = sent
            break
        writer.close()
        assert closed_after is not None and closed_after < 99


@pytest.mark.asterisk
async def test_fastagi_and_direct_calls_share_one_screen(
    screen: AbuseScreen, ari_rest: AriRest, sip_phones: SipPhones,
    redis_client: aioredis.Redis, redis_key_prefix: str,
) -> None:
    other_node = AbuseScreen(redis_client, POLICY, key_prefix=redis_key_prefix)
    await other_node.decide("+86 138 0013 8000")
    await other_node.decide("13800138000")
    phone = await sip_phones.start("citizen", answer_after_ms=None, calls=1)
    (call,) = await ringing_calls(ari_rest, phone, "13800138000", 1)
    async with FastAgiScreenServer(screen, port=0, channels=ari_rest) as server:
        assert (await screen_call(server.port, "8613800138000", uniqueid=call))["HOTLINE_SCREEN"] == "warn"
    await ari_rest.hangup(call)
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
