"""The anti-abuse screen against real Redis: atomicity, sliding windows, expiry, fail-open."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from abuse.limiter import AbuseScreen
from abuse.policy import ANONYMOUS, AbusePolicy, AuditEvent, Level, from_ms
from abuse.policy_file import policy_from_mapping
from kernel.errors import Conflict, NotFound

REDIS_URL = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

NUMBER = "13800138000"


def make_policy(**overrides: Any) -> AbusePolicy:
    raw: dict[str, Any] = {
        "windows": {"short_seconds": 600, "medium_seconds": 3600, "long_seconds": 86400},
        "levels": {
            "warn": {"calls_short": 4, "repeats": 3, "harassment_flags": 1},
            "senior_queue": {"calls_short": 6, "harassment_flags": 2, "long_occupations": 2},
            "restrict": {"calls_short": 10, "harassment_flags": 3},
            "supervisor_review": {"after_restrictions": 2},
        },
        "measures": {"senior_queue_seconds": 3600, "restrict_seconds": 1800,
                     "supervisor_review_seconds": 7200, "max_seconds": 86400},
        "anonymous": {"scale": 3, "max_level": "senior_queue"},
        "allow_list": {"numbers": ["12345678"]},
        "emergency": {"keywords": ["火灾", "受伤", "打人", "fire"]},
        "prompts": {"warn": "hotline/abuse-warning", "restrict": "hotline/abuse-restricted"},
    }
    for section, values in overrides.items():
        raw[section] = {**raw.get(section, {}), **values}
    return policy_from_mapping(raw)


@pytest.fixture
def screen(redis_client: aioredis.Redis, redis_key_prefix: str) -> AbuseScreen:
    return AbuseScreen(redis_client, make_policy(), key_prefix=redis_key_prefix, decision_timeout=2.0)


async def test_concurrent_decisions_from_several_nodes_allow_exactly_the_configured_number(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    policy = make_policy()
    other_node = aioredis.from_url(REDIS_URL)
    try:
        nodes = [
            AbuseScreen(redis_client, policy, key_prefix=redis_key_prefix, decision_timeout=5.0),
            AbuseScreen(other_node, policy, key_prefix=redis_key_prefix, decision_timeout=5.0),
        ]
        decisions = await asyncio.gather(*(nodes[i % 2].decide(NUMBER) for i in range(100)))
    finally:
        await other_node.aclose()
    levels = Counter(d.level for d in decisions)
    assert levels[Level.ALLOW] == 3  # warn from the 4th call in the short window
    assert levels[Level.WARN] == 2
    assert levels[Level.SENIOR_QUEUE] == 4
    assert levels[Level.RESTRICT] == 91
    assert sorted(d.signals.calls_short for d in decisions) == list(range(1, 101))
    assert sum(d.new_measure for d in decisions) == 2  # one senior_queue, then one restrict
    assert all(n.stats.divergences == 0 and n.stats.fail_open == 0 for n in nodes)


async def test_short_windows_slide_on_redis_server_time(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    policy = make_policy(windows={"short_seconds": 1, "medium_seconds": 2, "long_seconds": 2})
    screen = AbuseScreen(redis_client, policy, key_prefix=redis_key_prefix, decision_timeout=2.0)
    first = [await screen.decide(NUMBER) for _ in range(4)]
    assert [d.level for d in first] == [Level.ALLOW] * 3 + [Level.WARN]
    seconds, micros = await redis_client.time()
    server_now = from_ms(seconds * 1000 + micros // 1000)
    assert abs((first[-1].at - server_now).total_seconds()) < 1.0
    stored = await redis_client.zrange(f"{redis_key_prefix}abuse:{{{NUMBER}}}:calls", 0, -1, withscores=True)
    assert [from_ms(int(score)) for _, score in stored] == [d.at for d in first]
    await asyncio.sleep(1.2)
    after_short = await screen.decide(NUMBER)
    assert after_short.signals.calls_short == 1
    assert after_short.signals.calls_medium == 5
    assert after_short.level == Level.ALLOW
    await asyncio.sleep(1.0)
    later = await screen.decide(NUMBER)
    assert (later.signals.calls_short, later.signals.calls_medium) == (1, 2)


async def test_measures_expire_by_themselves(redis_client: aioredis.Redis, redis_key_prefix: str) -> None:
    policy = make_policy(
        windows={"short_seconds": 1, "medium_seconds": 1, "long_seconds": 1},
        measures={"senior_queue_seconds": 1, "restrict_seconds": 1, "supervisor_review_seconds": 1},
    )
    screen = AbuseScreen(redis_client, policy, key_prefix=redis_key_prefix, decision_timeout=2.0)
    decisions = [await screen.decide(NUMBER) for _ in range(10)]
    assert decisions[-1].level == Level.RESTRICT and decisions[-1].new_measure
    assert [m.caller for m in await screen.list_restricted()] == [NUMBER]
    ttl = await redis_client.pttl(f"{redis_key_prefix}abuse:{{{NUMBER}}}:measure")
    assert 0 < ttl <= 1000
    await asyncio.sleep(1.3)
    assert await screen.measure(NUMBER) is None
    assert await screen.list_restricted() == []
    assert (await screen.decide(NUMBER)).level == Level.ALLOW


async def test_a_standing_measure_outlasts_the_window_that_caused_it(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    policy = make_policy(windows={"short_seconds": 1, "medium_seconds": 1, "long_seconds": 1})
    screen = AbuseScreen(redis_client, policy, key_prefix=redis_key_prefix, decision_timeout=2.0)
    for _ in range(10):
        await screen.decide(NUMBER)
    await asyncio.sleep(1.2)
    decision = await screen.decide(NUMBER)
    assert decision.signals.calls_short == 1
    assert decision.level == Level.RESTRICT
    assert decision.reasons == ("active_measure:restrict",)
    assert decision.offers_message and decision.prompt == "hotline/abuse-restricted"


async def test_emergency_words_get_through_a_restriction(screen: AbuseScreen) -> None:
    for _ in range(10):
        await screen.decide(NUMBER)
    decision = await screen.decide(NUMBER, request_text="楼里着火了！火灾！")
    assert decision.level == Level.ALLOW and decision.reasons == ("emergency",)
    assert (await screen.decide(NUMBER)).level == Level.RESTRICT


async def test_repeating_the_same_request_is_a_signal(screen: AbuseScreen) -> None:
    levels = [(await screen.decide(NUMBER, request_text="小区路灯坏了")).level for _ in range(2)]
    other = await screen.decide(NUMBER, request_text="井盖丢了")
    third = await screen.decide(NUMBER, request_text="小区 路灯 坏了。")
    assert levels == [Level.ALLOW, Level.ALLOW] and other.level == Level.ALLOW
    assert third.signals.repeats == 3 and third.level == Level.WARN
    assert third.reasons == ("calls_short>=4", "repeats>=3")


async def test_words_heard_after_screening_count_as_requests_not_as_calls(screen: AbuseScreen) -> None:
    # Three calls, each screened before a word was said, then heard: the same request each time.
    heard = []
    for call in ("c1", "c2", "c3"):
        await screen.decide(NUMBER, call_id=call)
        heard.append(await screen.hear_request(NUMBER, "小区路灯坏了，一直没人修", call_id=call))
    assert [d.signals.repeats for d in heard] == [1, 2, 3]
    assert [d.signals.calls_short for d in heard] == [3 - 2, 3 - 1, 3]  # never counted twice
    assert heard[-1].level == Level.WARN and "repeats>=3" in heard[-1].reasons


async def test_emergency_words_heard_in_a_call_are_recognised_and_audited(screen: AbuseScreen) -> None:
    await screen.decide(NUMBER)
    decision = await screen.hear_request(NUMBER, "我家楼下着火了，火灾，快来人", call_id="c9")
    assert decision.level == Level.ALLOW and decision.reasons == ("emergency",)
    assert decision.signals.calls_short == 1
    assert any(r.reasons == ("emergency",) for r in await screen.history(NUMBER))


async def test_staff_flags_and_long_occupation_raise_the_level(screen: AbuseScreen) -> None:
    record = await screen.flag_harassment(NUMBER, agent="agent7", call_id="c-1", note="辱骂工作人员")
    assert record.event == AuditEvent.HARASSMENT_FLAG
    assert (await screen.decide(NUMBER)).level == Level.WARN
    assert await screen.record_call_end(NUMBER, call_id="c-2", duration=timedelta(minutes=30),
                                        new_content=True) is None
    for call in ("c-3", "c-4"):
        await screen.record_call_end(NUMBER, call_id=call, duration=timedelta(minutes=30), new_content=False)
    decision = await screen.decide(NUMBER)
    assert decision.signals.long_occupations == 2
    assert decision.level == Level.SENIOR_QUEUE
    for _ in range(3):  # one agent marking the same call again and again: one flag
        await screen.flag_harassment(NUMBER, agent="agent7", call_id="c-5")
    assert (await screen.decide(NUMBER)).signals.harassment_flags == 2
    # A third call flagged by the same agent: one person's word alone does not restrict.
    await screen.flag_harassment(NUMBER, agent="agent7", call_id="c-6")
    decision = await screen.decide(NUMBER)
    assert decision.signals.harassment_flags == 2 and decision.level == Level.SENIOR_QUEUE
    await screen.flag_harassment(NUMBER, agent="agent9", call_id="c-7")  # a second person
    decision = await screen.decide(NUMBER)
    assert decision.signals.harassment_flags == 3 and decision.level == Level.RESTRICT


async def test_allow_list_and_anonymous_class(screen: AbuseScreen) -> None:
    assert {(await screen.decide("12345678")).level for _ in range(12)} == {Level.ALLOW}
    anonymous = [await screen.decide(None) for _ in range(40)]
    assert {d.caller for d in anonymous} == {ANONYMOUS}
    assert [d.level for d in anonymous][10:12] == [Level.ALLOW, Level.WARN]  # scale 3: from the 12th
    assert anonymous[-1].level == Level.SENIOR_QUEUE
    assert anonymous[-1].reasons == ("calls_short>=30", "anonymous_cap", "active_measure:senior_queue")


async def test_lift_extend_appeal_and_history(screen: AbuseScreen) -> None:
    decisions = [await screen.decide(NUMBER) for _ in range(10)]
    measure = await screen.measure(NUMBER)
    assert measure is not None and measure.level == Level.RESTRICT
    appealed = await screen.appeal(NUMBER, statement="我反映的是不同的问题", received_by="agent7")
    assert appealed.appealed
    [listed] = await screen.list_restricted()
    assert listed.appealed and listed.caller == NUMBER
    extended = await screen.extend(NUMBER, supervisor="sup1", by=timedelta(minutes=10), reason="继续观察")
    assert extended.expires_at == measure.expires_at + timedelta(minutes=10)
    assert (await screen.measure(NUMBER)) == extended
    lifted = await screen.lift(NUMBER, supervisor="sup1", reason="核实为正当诉求")
    assert lifted.event == AuditEvent.LIFT
    assert await screen.measure(NUMBER) is None
    after = await screen.decide(NUMBER)
    assert after.level == Level.ALLOW and after.signals.calls_short == 1  # the lift resets the counts
    assert after.signals.prior_restrictions == 1
    with pytest.raises(NotFound):
        await screen.lift(NUMBER, supervisor="sup1", reason="再次解除")
    history = await screen.history(NUMBER, limit=1000)
    assert [r.event for r in history[:4]] == [AuditEvent.DECISION, AuditEvent.LIFT, AuditEvent.EXTEND,
                                             AuditEvent.APPEAL]
    assert history[0] == after.audit
    assert list(reversed(history[4:])) == [d.audit for d in decisions]


async def test_concurrent_lifts_write_once(screen: AbuseScreen) -> None:
    for _ in range(10):
        await screen.decide(NUMBER)
    results = await asyncio.gather(
        *(screen.lift(NUMBER, supervisor=f"sup{i}", reason="核实") for i in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, (Conflict, NotFound)) for r in results if isinstance(r, Exception))
    assert sum(r.event == AuditEvent.LIFT for r in await screen.history(NUMBER)) == 1


async def test_lua_script_and_pure_policy_agree_on_random_traffic(screen: AbuseScreen) -> None:
    rng = random.Random(12345)
    numbers = ["13800000001", "13800000002", "anonymous", "12345678"]
    texts = [None, None, "路灯坏了", "噪音扰民", "有人受伤"]
    decisions = []
    for _ in range(250):
        number = rng.choice(numbers)
        roll = rng.random()
        if roll < 0.08:
            await screen.flag_harassment(number, agent="a1", call_id=f"c{rng.random()}")
        elif roll < 0.12:
            await screen.record_call_end(number, call_id="c", duration=timedelta(hours=1), new_content=False)
        elif roll < 0.14 and await screen.measure(number) is not None:
            await screen.lift(number, supervisor="s1", reason="核实")
        else:
            decisions.append(await screen.decide(number, request_text=rng.choice(texts)))
    assert screen.stats.divergences == 0
    assert len({d.level for d in decisions}) >= 4
    for number in numbers[:2]:
        stored = {r.decision_id: r for r in await screen.history(number, limit=1000)}
        for d in decisions:
            if d.caller == number:
                assert stored[d.decision_id] == d.audit


async def test_every_abuse_key_carries_a_ttl(screen: AbuseScreen, redis_client: aioredis.Redis,
                                            redis_key_prefix: str) -> None:
    """Per-caller keys, and the global audit stream and measures list that name callers too
    (PIPL: no caller's number in Redis without an expiry)."""
    decisions = [await screen.decide(NUMBER, request_text="路灯坏了") for _ in range(10)]
    assert any(d.new_measure for d in decisions)
    await screen.flag_harassment(NUMBER, agent="a", call_id="c")
    keys = [k.decode() async for k in redis_client.scan_iter(match=f"{redis_key_prefix}abuse:*")]
    assert len([k for k in keys if "abuse:{" in k]) >= 6
    assert {f"{redis_key_prefix}abuse:audit", f"{redis_key_prefix}abuse:measures"} <= set(keys)
    for key in keys:
        assert await redis_client.pttl(key) > 0, key


# --------------------------------------------------------------------------- fail open


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowAwayRedis:
    """Our own redis-server on a free loopback port, so stopping it never touches the shared one."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is required (scripts/ensure-services installs it)"
        self.process = await asyncio.create_subprocess_exec(
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.workdir), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        probe = aioredis.Redis(host="127.0.0.1", port=self.port)
        try:
            for _ in range(100):
                try:
                    await probe.ping()
                    return
                except Exception:
                    await asyncio.sleep(0.05)
            raise RuntimeError("throw-away redis-server did not start")
        finally:
            await probe.aclose()

    async def stop(self) -> None:
        if self.process and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()

    def pause(self) -> None:
        assert self.process
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[ThrowAwayRedis]:
    server = ThrowAwayRedis(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        if server.process and server.process.returncode is None:
            server.resume()
        await server.stop()


async def test_redis_down_fails_open_within_the_timeout_and_resumes(own_redis: ThrowAwayRedis) -> None:
    client = aioredis.Redis(host="127.0.0.1", port=own_redis.port, socket_connect_timeout=0.2,
                            socket_timeout=0.5)
    screen = AbuseScreen(client, make_policy(), key_prefix="t:", decision_timeout=0.3)
    try:
        assert [(await screen.decide(NUMBER)).level for _ in range(4)][-1] == Level.WARN
        await own_redis.stop()
        for _ in range(3):
            started = time.monotonic()
            decision = await screen.decide(NUMBER)
            elapsed = time.monotonic() - started
            assert decision.level == Level.ALLOW and decision.fail_open
            assert decision.reasons == ("fail_open",)
            assert elapsed < 0.3 + 0.5  # the timeout, plus scheduling slack on a busy CI machine
        assert screen.stats.fail_open == 3

        await own_redis.start()  # same port, empty data, empty script cache
        resumed = None
        for _ in range(20):
            resumed = await screen.decide(NUMBER)
            if not resumed.fail_open:
                break
            await asyncio.sleep(0.1)
        assert resumed is not None and not resumed.fail_open
        assert resumed.signals.calls_short >= 1 and screen.stats.divergences == 0
    finally:
        await client.aclose()


async def test_hanging_redis_fails_open_on_the_decision_timeout(own_redis: ThrowAwayRedis) -> None:
    client = aioredis.Redis(host="127.0.0.1", port=own_redis.port, socket_connect_timeout=5, socket_timeout=5)
    screen = AbuseScreen(client, make_policy(), key_prefix="t:", decision_timeout=0.3)
    try:
        assert not (await screen.decide(NUMBER)).fail_open
        own_redis.pause()
        started = time.monotonic()
        decision = await screen.decide(NUMBER)
        elapsed = time.monotonic() - started
        assert decision.fail_open and decision.level == Level.ALLOW
        assert elapsed < 0.3 + 0.5
        own_redis.resume()
        resumed = None
        for _ in range(20):
            resumed = await screen.decide(NUMBER)
            if not resumed.fail_open:
                break
            await asyncio.sleep(0.1)
        assert resumed is not None and not resumed.fail_open
    finally:
        await client.aclose()
