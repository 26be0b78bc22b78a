"""The agent's browser softphone against real Asterisk: provisioned through ARI, registered by
JsSIP over SIP-on-WebSocket in a real headless Chromium with a Mandarin-speaking fake
microphone, called through ARI, with audio measured in both directions.

Caller → agent: Asterisk plays a sound into the channel; the page's RTCPeerConnection stats
show packets and an audio level above silence. Agent → caller: Asterisk records what it
receives from the channel while the browser sends a counted number of RTP packets; the
recording carries speech, and digital silence while the agent is muted.

(TALK_DETECT is no use here: its "talking started" fires on the first frame, speech or not.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
import wave
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import create_async_engine

from accounts.model import NO_PASSWORD
from accounts.store import AccountStore
from call_queue.acd import AcdStore
from devtools.sandbox import AsteriskSandbox
from hotline.desk_backend import AcdDeskBackend
from hotline.supervisor_backend import TelephonySupervisorBackend
from kernel.auth import SessionGate
from kernel.database import open_database
from kernel.errors import AriError
from kernel.roles import Role
from kernel.sessions import SessionLimits
from telephony.ari.events import AriEventStream
from telephony.ari.models import AriEvent
from telephony.ari.rest import AriRest
from telephony.softphone import SoftphoneAccount, SoftphonePasswords, SoftphoneProvisioner, new_softphone_password
from tests.browser_harness import chromium_executable, speech_wav, wait_for, webrtc_flags

pytestmark = pytest.mark.asterisk
log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC = ROOT / "agent_desk" / "static"
TEST_PAGE = ROOT / "tests" / "softphone_page.html"
APP = "softphone-test"
#: One sign-in's password per agent for the whole module (re-provisioning pushes the same one).
PASSWORDS = {agent: new_softphone_password() for agent in ("a1", "a2")}
#: RTCInboundRtpStreamStats.audioLevel is 0..1; a silent call measured 0.00003, speech ~0.9.
SILENT = 0.05
#: What Asterisk records from the agent: the Mandarin microphone measured an RMS of 0.06-0.17 per
#: half second; a muted track arrives as exact zeros.
SPEECH_RMS = 0.02
MUTED_PEAK = 0.002
#: 20 ms RTP packets: 50 are one second of the agent's audio.
ONE_SECOND = 50
WAIT = 15.0


# --- ARI side ---------------------------------------------------------------------------------

class AriEvents:
    """Every event of the test's ARI application, with bounded waits for the ones a test needs."""

    def __init__(self) -> None:
        self.seen: list[AriEvent] = []
        self._changed = asyncio.Event()

    def add(self, event: AriEvent) -> None:
        self.seen.append(event)
        self._changed.set()

    def mark(self) -> int:
        return len(self.seen)

    async def wait_for(self, what: str, predicate: Callable[[AriEvent], bool], *, since: int = 0,
                       timeout: float = WAIT) -> AriEvent:
        async def scan() -> AriEvent:
            index = since
            while True:
                while index < len(self.seen):
                    if predicate(self.seen[index]):
                        return self.seen[index]
                    index += 1
                self._changed.clear()
                await self._changed.wait()

        started = asyncio.get_running_loop().time()
        try:
            event = await asyncio.wait_for(scan(), timeout)
            log.info("ARI: %s after %.2f s", what, asyncio.get_running_loop().time() - started)
            return event
        except TimeoutError:
            recent = [event.type for event in self.seen[since:]][-15:]
            raise AssertionError(f"no {what} within {timeout:.0f}s; ARI events since: {recent}") from None


def on_channel(kind: str, channel_id: str) -> Callable[[AriEvent], bool]:
    def match(event: AriEvent) -> bool:
        channel = getattr(event, "channel", None)
        return event.type == kind and channel is not None and channel.id == channel_id
    return match


class Ari:
    def __init__(self, rest: AriRest, events: AriEvents) -> None:
        self.rest = rest
        self.events = events

    async def call_agent(self, endpoint: str, caller: str = "13800138000") -> str:
        """Originate a call to the agent's endpoint; return the channel id once it is answered."""
        channel_id = f"{APP}-{uuid.uuid4().hex[:12]}"
        mark = self.events.mark()
        await self.rest.request("POST", "/channels", params={
            "endpoint": f"PJSIP/{endpoint}", "app": APP, "channelId": channel_id,
            "callerId": f"12345 <{caller}>", "timeout": 20,
        })
        # An originated channel enters Stasis only once the far end (the page) has answered.
        await self.events.wait_for("StasisStart of the answered agent channel",
                                   on_channel("StasisStart", channel_id), since=mark)
        return channel_id

    async def record_agent(self, asterisk: AsteriskSandbox, channel_id: str, page: Page,
                           packets: int = ONE_SECOND) -> np.ndarray:
        """What Asterisk receives from the agent's channel while the browser sends `packets`
        more RTP packets, as samples in [-1, 1]. (While it records, ARI queues other operations
        on the channel, so nothing else is asked of it meanwhile.)"""
        name = f"agent-voice-{uuid.uuid4().hex[:8]}"

        def recording(kind: str) -> Callable[[AriEvent], bool]:
            return lambda e: e.type == kind and e.raw.get("recording", {}).get("name") == name

        mark = self.events.mark()
        await self.rest.request("POST", f"/channels/{channel_id}/record", params={
            "name": name, "format": "wav", "ifExists": "fail", "beep": False, "terminateOn": "none"})
        await self.events.wait_for(f"RecordingStarted of {name}", recording("RecordingStarted"), since=mark)
        sent = (await page.stats())["outbound"]["packetsSent"]
        await page.wait_for_stats(f"{packets} more RTP packets from the browser",
                                  lambda stats: stats["outbound"]["packetsSent"] >= sent + packets)
        await self.rest.stop_recording(name)
        await self.events.wait_for(f"RecordingFinished of {name}", recording("RecordingFinished"), since=mark)
        return read_wav(asterisk.recording_dir / f"{name}.wav")


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2 and wav.getnchannels() == 1, path
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64) / 32768


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples ** 2))) if samples.size else 0.0


async def skip_packets(page: Page, packets: int) -> None:
    """Let the browser send `packets` more RTP packets (a mute or unmute reaches the wire)."""
    sent = (await page.stats())["outbound"]["packetsSent"]
    await page.wait_for_stats(f"{packets} more RTP packets from the browser",
                              lambda stats: stats["outbound"]["packetsSent"] >= sent + packets)


@pytest.fixture
async def ari(asterisk: AsteriskSandbox) -> AsyncIterator[Ari]:
    stream = AriEventStream(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password, APP)
    events = AriEvents()

    async def collect() -> None:
        async for event in stream.events():
            events.add(event)

    task = asyncio.create_task(collect())
    rest = AriRest(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password, APP)
    try:
        # Asterisk refuses to originate into an application nobody has connected.
        await asyncio.wait_for(stream.connected.wait(), WAIT)
        yield Ari(rest, events)
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await rest.close()


@pytest.fixture
async def provisioner(asterisk: AsteriskSandbox) -> AsyncIterator[SoftphoneProvisioner]:
    async with SoftphoneProvisioner(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password) as p:
        yield p


# --- browser side -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def microphone_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speech_wav(tmp_path_factory.mktemp("softphone") / "caller-mandarin-48k.wav")


@pytest.fixture
async def page_server() -> AsyncIterator[TestServer]:
    """The desk's static files under /static/ and the test page at /, on 127.0.0.1."""
    async def test_page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(TEST_PAGE)

    app = web.Application()
    app.router.add_get("/", test_page)
    app.router.add_static("/static/", STATIC)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


class Page:
    """The test page in Chromium, with the softphone's events and the console for diagnostics."""

    def __init__(self, page: Any, console: list[str]) -> None:
        self.page = page
        self.console = console

    async def evaluate(self, expression: str, arg: Any = None) -> Any:
        return await self.page.evaluate(expression, arg)

    async def events(self, kind: str) -> list[dict[str, Any]]:
        return list(await self.page.evaluate("kind => window.eventsOf(kind)", kind))

    async def wait_for(self, what: str, predicate: str, timeout: float = WAIT) -> None:
        """Wait until the JavaScript `predicate` is true, polling every 100 ms. (A promise counts
        as true for Playwright, so an async predicate would always pass: see `wait_for_stats`.)"""
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        started = asyncio.get_running_loop().time()
        try:
            await wait_for(self.page, predicate, timeout=timeout * 1000)
            log.info("page: %s after %.2f s", what, asyncio.get_running_loop().time() - started)
        except PlaywrightTimeout:
            events = await self.page.evaluate("window.softphoneEvents")
            raise AssertionError(
                f"page: no {what} within {timeout:.0f}s; softphone events: "
                f"{json.dumps(events, ensure_ascii=False)}; console: {self.console[-10:]}") from None

    async def wait_for_event(self, kind: str, count: int = 1, *, phone: int | None = None) -> dict[str, Any]:
        """The `count`-th event of this kind (of the `phone`-th softphone started, if given)."""
        which = f"window.eventsOf({kind!r}).filter(e => {phone or 0} === 0 || e.phone === {phone or 0})"
        await self.wait_for(f"{kind!r} event #{count}" + (f" of phone #{phone}" if phone else ""),
                            f"() => {which}.length >= {count}")
        return list(await self.page.evaluate(f"() => {which}"))[count - 1]

    async def stats(self) -> dict[str, dict[str, float]]:
        return dict(await self.page.evaluate("() => window.phone.stats()"))

    async def wait_for_stats(self, what: str, predicate: Callable[[dict[str, dict[str, float]]], bool],
                             timeout: float = WAIT) -> dict[str, dict[str, float]]:
        """Poll the softphone's stats every 100 ms until `predicate` holds; return them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            stats = await self.stats()
            if predicate(stats):
                return stats
            if loop.time() > deadline:
                raise AssertionError(f"page: no {what} within {timeout:.0f}s; last stats {stats}; "
                                     f"console: {self.console[-10:]}")
            await asyncio.sleep(0.1)

    async def start_phone(self, account: SoftphoneAccount) -> None:
        await self.page.evaluate("account => window.startPhone(account)", asdict(account))


@pytest.fixture
async def browser_page(microphone_wav: Path, page_server: TestServer) -> AsyncIterator[Page]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_executable(),
                                                   args=webrtc_flags(microphone_wav))
        try:
            page = await browser.new_page()
            console: list[str] = []
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
            await page.goto(f"http://127.0.0.1:{page_server.port}/")
            await wait_for(page, "window.pageReady === true", timeout=WAIT * 1000)
            yield Page(page, console)
        finally:
            await browser.close()


async def registered_agent(provisioner: SoftphoneProvisioner, page: Page,
                           agent_id: str) -> SoftphoneAccount:
    account = await provisioner.provision(agent_id, PASSWORDS[agent_id])
    await page.start_phone(account)
    await page.wait_for_event("registered")
    return account


# --- tests ------------------------------------------------------------------------------------

async def test_agent_hears_the_caller_and_asterisk_hears_the_agent(
    asterisk: AsteriskSandbox, ari: Ari, provisioner: SoftphoneProvisioner, browser_page: Page,
) -> None:
    account = await registered_agent(provisioner, browser_page, "a1")
    assert account.endpoint == "agent-a1"
    assert account.sip_uri == "sip:agent-a1@127.0.0.1"
    assert account.ws_url == f"ws://127.0.0.1:{asterisk.http_port}/ws"

    channel_id = await ari.call_agent(account.endpoint, caller="13800138000")
    incoming = (await browser_page.events("incoming"))[0]
    assert incoming["from"] == "13800138000"
    await browser_page.wait_for_event("confirmed")

    # Agent → Asterisk: one second of the looping Mandarin microphone, as speech.
    voice = await ari.record_agent(asterisk, channel_id, browser_page)
    assert voice.size >= 0.8 * 8000, f"{voice.size} samples recorded for one second of packets"
    assert rms(voice) > SPEECH_RMS, f"Asterisk heard no speech from the agent (RMS {rms(voice):.4f})"

    # Caller → agent: silence until Asterisk plays something, then a real audio level.
    before = await browser_page.stats()
    assert before["inbound"]["audioLevel"] < SILENT, before
    await ari.rest.play_on_channel(channel_id, "sound:demo-congrats")
    during = await browser_page.wait_for_stats(
        f"inbound audioLevel above {SILENT} while Asterisk plays demo-congrats",
        lambda stats: stats["inbound"]["audioLevel"] > SILENT)
    assert during["inbound"]["packetsReceived"] > 0, during
    assert during["inbound"]["totalSamplesReceived"] > 0, during
    assert during["outbound"]["packetsSent"] > 0, during
    print(f"softphone stats during playback: {during}")

    # Asterisk hangs up: the page learns it from the BYE.
    await ari.rest.hangup(channel_id)
    ended = await browser_page.wait_for_event("ended")
    assert ended["originator"] == "remote", ended


async def test_mute_hold_dtmf_and_hangup_from_the_page_reach_asterisk(
    asterisk: AsteriskSandbox, ari: Ari, provisioner: SoftphoneProvisioner, browser_page: Page,
) -> None:
    account = await registered_agent(provisioner, browser_page, "a1")
    channel_id = await ari.call_agent(account.endpoint)
    await browser_page.wait_for_event("confirmed")
    speaking = await ari.record_agent(asterisk, channel_id, browser_page)
    assert rms(speaking) > SPEECH_RMS, f"no speech before muting (RMS {rms(speaking):.4f})"

    # Muted: packets keep flowing (no re-INVITE), but they carry digital silence.
    await browser_page.evaluate("() => window.phone.mute(true)")
    await skip_packets(browser_page, ONE_SECOND // 2)
    muted = await ari.record_agent(asterisk, channel_id, browser_page)
    assert muted.size >= 0.8 * 8000, f"{muted.size} samples recorded while muted"
    assert float(np.abs(muted).max()) < MUTED_PEAK, f"muted agent still heard (peak {np.abs(muted).max():.4f})"
    await browser_page.evaluate("() => window.phone.mute(false)")
    await skip_packets(browser_page, ONE_SECOND // 2)
    unmuted = await ari.record_agent(asterisk, channel_id, browser_page)
    assert rms(unmuted) > SPEECH_RMS, f"no speech after unmuting (RMS {rms(unmuted):.4f})"
    print(f"agent audio at Asterisk: RMS {rms(speaking):.3f} speaking, peak {np.abs(muted).max():.4f} "
          f"muted, RMS {rms(unmuted):.3f} unmuted")

    mark = ari.events.mark()
    await browser_page.evaluate("() => window.phone.sendDtmf('12#')")
    digits: list[str] = []
    for _ in range(3):
        event = await ari.events.wait_for(
            f"ChannelDtmfReceived #{len(digits) + 1} of '12#'",
            on_channel("ChannelDtmfReceived", channel_id), since=mark)
        digits.append(event.raw["digit"])
        mark = ari.events.seen.index(event) + 1
    assert digits == ["1", "2", "#"]

    mark = ari.events.mark()
    await browser_page.evaluate("() => window.phone.hold(true)")
    await ari.events.wait_for("ChannelHold", on_channel("ChannelHold", channel_id), since=mark)
    assert (await browser_page.wait_for_event("hold"))["held"] is True
    mark = ari.events.mark()
    await browser_page.evaluate("() => window.phone.hold(false)")
    await ari.events.wait_for("ChannelUnhold", on_channel("ChannelUnhold", channel_id), since=mark)
    assert (await browser_page.wait_for_event("hold", 2))["held"] is False

    mark = ari.events.mark()
    await browser_page.evaluate("() => window.phone.hangup()")
    await ari.events.wait_for("ChannelDestroyed after the page hung up",
                              on_channel("ChannelDestroyed", channel_id), since=mark)
    assert await ari.rest.get_channel(channel_id) is None
    ended = await browser_page.wait_for_event("ended")
    assert ended["originator"] == "local", ended


async def test_reprovisioning_keeps_the_agent_reachable_and_removal_refuses_registration(
    ari: Ari, provisioner: SoftphoneProvisioner, browser_page: Page,
) -> None:
    account = await registered_agent(provisioner, browser_page, "a1")

    # What the backend does on every ARI reconnect: provision again, while registered.
    again = await provisioner.provision("a1", PASSWORDS["a1"])
    assert again == account
    endpoint = await ari.rest.request("GET", f"/endpoints/PJSIP/{account.endpoint}")
    assert endpoint["state"] == "online", endpoint
    channel_id = await ari.call_agent(account.endpoint)
    await browser_page.wait_for_event("confirmed")
    await ari.rest.hangup(channel_id)
    await browser_page.wait_for_event("ended")

    await provisioner.remove("a1")
    await provisioner.remove("a1")  # removing twice is fine
    # The configuration objects are deleted at once, but ARI lists the endpoint until Asterisk
    # has released it, which also waits for the channel just hung up to be destroyed: under
    # load that takes a moment (seen in a full-suite run). Bounded wait, then it must be gone.
    deadline = asyncio.get_running_loop().time() + 10.0
    while (listed := await ari.rest.request("GET", f"/endpoints/PJSIP/{account.endpoint}",
                                            missing_ok=True)) is not None:
        assert asyncio.get_running_loop().time() < deadline, f"endpoint still listed: {listed}"
        await asyncio.sleep(0.1)
    with pytest.raises(AriError):
        await ari.rest.request("POST", "/channels", params={
            "endpoint": f"PJSIP/{account.endpoint}", "app": APP, "timeout": 5})

    # A browser (re)registering for a removed agent is refused.
    await browser_page.evaluate("() => window.phone.stop()")
    await browser_page.start_phone(account)
    failed = await browser_page.wait_for_event("registrationFailed", phone=2)
    print(f"registration after removal: {failed}")
    assert not [e for e in await browser_page.events("registered") if e["phone"] == 2]


async def test_a_password_from_an_ended_session_no_longer_registers_while_the_current_one_does(
    provisioner: SoftphoneProvisioner, browser_page: Page, redis_client: Any, redis_key_prefix: str,
) -> None:
    """Issue 22: softphone passwords are random per sign-in and withdrawn when the session ends."""
    unused = create_async_engine("sqlite+aiosqlite://")  # the desk needs the database only at wrap-up
    desk = AcdDeskBackend(AcdStore(redis_client, redis_key_prefix), provisioner, None, unused,
                          passwords=SoftphonePasswords(redis_client, redis_key_prefix))

    def account(view: dict[str, Any]) -> SoftphoneAccount:
        return SoftphoneAccount(agent_id="a3", endpoint=view["endpoint"], sip_uri=view["sip_uri"],
                                username=view["username"], password=view["password"], ws_url=view["ws_url"])

    first = await desk.softphone("a3")
    # A desk reconnecting within its session keeps the phone it registered.
    assert (await desk.softphone("a3"))["password"] == first["password"]
    await browser_page.start_phone(account(first))
    await browser_page.wait_for_event("registered", phone=1)

    # The session ends (signed out, revoked, disabled, expired): what the desk does at once.
    await desk.softphone_ended("a3")
    await browser_page.evaluate("() => window.phone.stop()")
    await browser_page.start_phone(account(first))
    await browser_page.wait_for_event("registrationFailed", phone=2)
    assert not [e for e in await browser_page.events("registered") if e["phone"] == 2]

    # The next sign-in gets a new password, which registers.
    second = await desk.softphone("a3")
    assert second["password"] != first["password"]
    await browser_page.evaluate("() => window.phone.stop()")
    await browser_page.start_phone(account(second))
    await browser_page.wait_for_event("registered", phone=3)

    # Its desk gone past the grace (signed in, on a break): the softphone and its password go.
    await desk.sign_in("a3")
    await desk.desk_closed("a3")
    await browser_page.evaluate("() => window.phone.stop()")
    await browser_page.start_phone(account(second))
    await browser_page.wait_for_event("registrationFailed", phone=4)
    assert not [e for e in await browser_page.events("registered") if e["phone"] == 4]
    assert (await desk.softphone("a3"))["password"] not in (first["password"], second["password"])
    await provisioner.remove("a3")
    await unused.dispose()


async def test_a_supervisors_monitor_leg_password_stops_registering_when_their_session_ends(
    provisioner: SoftphoneProvisioner, browser_page: Page, redis_client: Any, redis_key_prefix: str,
    sqlite_url: str,
) -> None:
    """Issue 22 item 4: the monitor leg's random password goes with the session it was given to
    (the session gate's round, on a real session store; here the session is revoked)."""
    engine = await open_database(sqlite_url)
    accounts = AccountStore(engine)
    await accounts.add("sup9", "班长", Role.SUPERVISOR, None, NO_PASSWORD)
    _, session = await accounts.create_session("sup9", remote=None, user_agent=None)
    gate = SessionGate(accounts, SessionLimits(idle=timedelta(minutes=30), absolute=timedelta(hours=12)))
    passwords = SoftphonePasswords(redis_client, redis_key_prefix)
    floor = TelephonySupervisorBackend(provisioner, passwords=passwords)

    withdrawn = asyncio.Event()

    async def withdraw() -> None:
        await floor.softphone_ended("sup9")
        withdrawn.set()

    gate.on_end(session.id, "softphone:sup9", withdraw)  # what POST /api/live/softphone does
    view = await floor.softphone("sup9")
    leg = SoftphoneAccount(agent_id="sup9", endpoint=view["endpoint"], sip_uri=view["sip_uri"],
                           username=view["username"], password=view["password"], ws_url=view["ws_url"])
    await browser_page.start_phone(leg)
    await browser_page.wait_for_event("registered", phone=1)

    await gate.recheck()  # the session is valid: nothing is withdrawn
    assert await passwords.current("sup9") == view["password"]
    assert await accounts.revoke_user_sessions("sup9", "administrator") == 1
    await gate.recheck()
    await asyncio.wait_for(withdrawn.wait(), 5.0)  # the withdrawal runs as its own task
    assert await passwords.current("sup9") is None

    await browser_page.evaluate("() => window.phone.stop()")
    await browser_page.start_phone(leg)
    await browser_page.wait_for_event("registrationFailed", phone=2)
    assert not [e for e in await browser_page.events("registered") if e["phone"] == 2]
    await provisioner.remove("sup9")
    await engine.dispose()


async def test_an_asterisk_restart_forgets_agents_until_they_are_provisioned_again(
    asterisk: AsteriskSandbox, provisioner: SoftphoneProvisioner,
) -> None:
    """Why the backend re-provisions on every ARI (re)connect: pushed objects live in memory."""
    async with AriRest(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password, APP) as rest:
        await provisioner.provision("a1", PASSWORDS["a1"])
        assert await rest.request("GET", "/endpoints/PJSIP/agent-a1", missing_ok=True) is not None
        await asyncio.to_thread(asterisk.stop)
        await asyncio.to_thread(asterisk.start)
        assert await rest.request("GET", "/endpoints/PJSIP/agent-a1", missing_ok=True) is None
        await provisioner.provision("a1", PASSWORDS["a1"])
        endpoint = await rest.request("GET", "/endpoints/PJSIP/agent-a1")
        assert endpoint["resource"] == "agent-a1" and endpoint["state"] == "offline", endpoint
