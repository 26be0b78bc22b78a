"""Fixtures for tests that need real Asterisk and a real bridge process.

`asterisk` starts a fresh Asterisk instance in the project's sid chroot (built once per
machine by telephony/sandbox.py); `bridge_factory` starts `hotline run` as a separate OS
process wired to it, so tests can kill and restart the bridge like an operator would.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from devtools.sandbox import AsteriskSandbox, ensure_rootfs, free_tcp_port
from tests.data_keys import TEST_KEYS
from tests.log_scan import scan_file_now, watch_file

if TYPE_CHECKING:
    from call_queue.acd import AcdStore
    from telephony.call_flow import CallFlow
    from telephony.call_record import CallRecord
    from telephony.ports import CallbackTasks, CallRecorder, RelayDirectory
    from telephony.settings import CallbackSettings, QueueSettings, RelaySettings, TransferSettings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def asterisk_rootfs() -> Path:
    return ensure_rootfs()


@pytest.fixture
def asterisk(asterisk_rootfs: Path) -> Iterator[AsteriskSandbox]:
    sandbox = AsteriskSandbox(asterisk_rootfs)
    sandbox.start()
    watch_file(sandbox.log_path)  # Asterisk's own log holds no caller's data either (tests/log_scan.py)
    try:
        yield sandbox
    finally:
        sandbox.stop()
        scan_file_now(sandbox.log_path)
        sandbox.remove()


@dataclass
class BridgeProcess:
    """One `hotline run` process; restartable with the same settings."""

    env: dict[str, str]
    http_port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    async def start(self, timeout: float = 30.0, *, wait_for_ari: bool = True) -> None:
        """Start the process and wait until it can take calls.

        `/health` answers as soon as HTTP is served, before the ARI event socket is connected;
        a call placed in between goes to the dialplan's fallback, not to this process. So by
        default this also waits for `/readyz` to say ARI is connected (or that the node is a
        standby). `wait_for_ari=False` is for tests that start a node while Asterisk is away.
        """
        watch_file(self.log_path)  # no caller's data in its log (tests/log_scan.py)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hotline.cli", "run"], cwd=ROOT, env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        self.starts += 1
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as session:
            while asyncio.get_running_loop().time() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(f"bridge exited {self.process.returncode}: {self.log_tail()}")
                with suppress(aiohttp.ClientError, OSError):
                    if await self._can_take_calls(session, wait_for_ari):
                        return
                await asyncio.sleep(0.2)
        raise AssertionError(f"bridge not ready within {timeout}s: {self.log_tail()}")

    async def _can_take_calls(self, session: aiohttp.ClientSession, wait_for_ari: bool) -> bool:
        base = f"http://127.0.0.1:{self.http_port}"
        async with session.get(f"{base}/health") as r:
            if r.status != 200:
                return False
        if not wait_for_ari:
            return True
        async with session.get(f"{base}/readyz", headers=self.staff_headers()) as r:
            body = await r.json()
        return bool(body["checks"]["ari"]["ok"])

    def staff_headers(self) -> dict[str, str]:
        """A `system` test token of this process's key: `/readyz` shows its checks only to staff."""
        from hotline.composition import token_signer
        from hotline.settings import load_settings
        from kernel.auth import Principal

        signer = token_signer(load_settings(environ=self.env))
        return {"Authorization": f"Bearer {signer.issue(Principal('readiness-probe', 'system'), hours=1)}"}

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, like a crash."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 30) -> str:
        with suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def bridge_env(sandbox: AsteriskSandbox, database_url: str, redis_prefix: str,
               http_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({
        "HOTLINE_DATABASE_URL": database_url,
        "HOTLINE_REDIS_URL": os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "HOTLINE_REDIS_KEY_PREFIX": redis_prefix,
        "HOTLINE_ARI_URL": sandbox.ari_url,
        "HOTLINE_ARI_USERNAME": sandbox.ari_user,
        "HOTLINE_ARI_PASSWORD": sandbox.ari_password,
        "HOTLINE_CALL_FLOW_RECORDING_DIR": str(sandbox.recording_dir),
        "HOTLINE_CALL_FLOW_MESSAGE_SPOOL_DIR": str(sandbox.message_spool_dir),
        "HOTLINE_HTTP_PORT": str(http_port),
        "HOTLINE_ABUSE_FASTAGI_PORT": str(free_tcp_port()),
        # The tests' signed tokens (tests/auth_tokens.py, `token_signer`): never in production.
        "HOTLINE_AUTH_TEST_TOKENS": "true",
        # Recordings and evidence sealed with the tests' key, which opens them in the tests too.
        "HOTLINE_STORAGE_DATA_KEY": base64.b64encode(TEST_KEYS.keys[TEST_KEYS.current_id]).decode(),
        "HOTLINE_STORAGE_DATA_KEY_ID": TEST_KEYS.current_id,
        "PYTHONPATH": str(ROOT),
    })
    # No `asr.warm_up_audio` here (scripts/run sets it): every bridge with a model would spend
    # ~1.6 s of CPU per warm recognizer on it, ~13 s per start, which the suite cannot afford on
    # 2 cores; tests/integration/test_asr_warm.py covers it.
    return env


Bearer = Callable[..., dict[str, str]]


@asynccontextmanager
async def whole_app_on(sandbox: AsteriskSandbox, database_url: str, redis_prefix: str,
                       **env_overrides: str) -> AsyncIterator[tuple[Any, Bearer]]:
    """The whole backend as `hotline run` builds it, served in this process on `sandbox`
    (preflight first), with a maker of test tokens' headers: `bearer(role, user, unit=None)`."""
    from aiohttp.test_utils import TestClient, TestServer

    from hotline.composition import build_app, preflight, token_signer
    from hotline.settings import load_settings
    from kernel.auth import Principal

    env = bridge_env(sandbox, database_url, redis_prefix, free_tcp_port()) | env_overrides
    settings = load_settings(environ=env)
    await preflight(settings)
    signer = token_signer(settings)

    def bearer(role: str, user: str, unit: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {signer.issue(Principal(user, role, unit), hours=1)}"}

    async with TestClient(TestServer(build_app(settings), host="127.0.0.1")) as client:
        yield client, bearer


@pytest.fixture
async def bridge_factory(tmp_path: Path) -> AsyncIterator[list[BridgeProcess]]:
    """Call `make(sandbox, database_url)` to get a started bridge; all are stopped afterwards."""
    made: list[BridgeProcess] = []

    async def make(sandbox: AsteriskSandbox, database_url: str,
                   redis_prefix: str | None = None,
                   env_overrides: dict[str, str] | None = None) -> BridgeProcess:
        port = free_tcp_port()
        prefix = redis_prefix or f"hotline-test-{uuid.uuid4().hex[:12]}:"
        env = bridge_env(sandbox, database_url, prefix, port) | (env_overrides or {})
        # Each bridge keeps its own outbox (kept across its restarts), never another test's.
        env["HOTLINE_CALL_FLOW_OUTBOX_DIR"] = str(tmp_path / f"outbox-{len(made)}")
        bridge = BridgeProcess(env=env, http_port=port,
                               log_path=tmp_path / f"bridge-{len(made)}.log")
        made.append(bridge)
        await bridge.start()
        return bridge

    yield make  # type: ignore[misc]
    for bridge in made:
        bridge.stop()


@dataclass
class InProcessBridge:
    """The call flow running inside the test's own event loop (to observe its hooks)."""

    flow: CallFlow
    task: asyncio.Task[None]
    engine: object
    redis: object
    #: (call record, ticket number) of every call the bridge recorded, in order.
    finished: asyncio.Queue[tuple[CallRecord, str]]
    #: The ACD of a bridge that queues calls (`start(..., queue=QueueSettings(...))`).
    acd: AcdStore | None = None
    extra_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    #: What the desks were told (the distributor's and three-way calls' notices), in order.
    notices: RecordingNotifier | None = None


class RecordingNotifier:
    """The call path's `DeskNotifier`, keeping what each agent's desk would have been told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []
        self.changed = asyncio.Event()

    async def notify_agent(self, agent_id: str, event: dict[str, object]) -> None:
        self.events.append((agent_id, event))
        self.changed.set()

    async def wait_for(self, kind: str, timeout: float = 20.0) -> dict[str, object]:
        """The first event of `kind` (waiting for it if needed)."""
        async with asyncio.timeout(timeout):
            while True:
                found = next((e for _, e in self.events if e.get("type") == kind), None)
                if found is not None:
                    return found
                self.changed.clear()
                await self.changed.wait()


class RecordingIntake:
    """The real intake (the call flow's `CallRecorder` port), telling the test what it wrote."""

    def __init__(self, intake: CallRecorder) -> None:
        self._intake = intake
        self.finished: asyncio.Queue[tuple[CallRecord, str]] = asyncio.Queue()

    async def record_finished_call(self, record: CallRecord) -> str:
        ticket_no = await self._intake.record_finished_call(record)
        self.finished.put_nowait((record, ticket_no))
        return ticket_no


@pytest.fixture
async def in_process_bridge(sqlite_url: str, redis_key_prefix: str) -> AsyncIterator[object]:
    """Call `start(sandbox, audio_consumer=None)` to run a CallFlow in this event loop."""
    import redis.asyncio as aioredis

    from call_queue.acd import AcdStore
    from call_queue.agent_state import AgentPolicy
    from call_queue.distributor import CallDistributor
    from kernel.database import open_database
    from outbound.callback_dialer import CallbackDialer
    from telephony.ari.events import AriEventStream
    from telephony.ari.rest import AriRest
    from telephony.call_flow import CallFlow
    from telephony.call_state import CallStateStore
    from telephony.conference import ThreeWayCalls
    from telephony.prompts import load_prompts
    from telephony.settings import AriSettings, CallFlowSettings
    from tickets.intake import CallIntake

    started: list[InProcessBridge] = []

    async def start(sandbox: AsteriskSandbox, audio_consumer: object = None, *,
                    consumer_factory: object = None,
                    greeting: str = "sound:hello-world",
                    media_format: str = "slin16", screen: object = None,
                    message_max_seconds: float = 60.0,
                    queue: QueueSettings | None = None,
                    transfer: TransferSettings | None = None,
                    callback: tuple[CallbackSettings, Callable[[Any], CallbackTasks]] | None = None,
                    relay: tuple[RelaySettings, Callable[[Any], RelayDirectory]] | None = None,
                    desk_callbacks: tuple[CallbackSettings, Callable[[Any], CallbackTasks]] | None = None,
                    survey_transcriber: object = None,
                    seal_answers: object = None,
                    special_lines: tuple[Any, ...] = (),
                    max_concurrent_calls: int | None = None,
                    ) -> InProcessBridge:
        """`consumer_factory(engine)` builds a consumer that needs the bridge's database."""
        ari = AriSettings(url=sandbox.ari_url, username=sandbox.ari_user,
                          password=sandbox.ari_password, app=sandbox.ari_app)
        engine = await open_database(sqlite_url)
        if consumer_factory is not None:
            audio_consumer = consumer_factory(engine)  # type: ignore[operator]
        redis = aioredis.from_url(os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
        rest = AriRest(ari.url, ari.username, ari.password, ari.app)
        stream = AriEventStream(ari.url, ari.username, ari.password, ari.app)
        intake = RecordingIntake(CallIntake(engine, "T01"))
        notices = RecordingNotifier()
        state = CallStateStore(redis, redis_key_prefix)
        acd = distributor = None
        if queue is not None:
            acd = AcdStore(redis, redis_key_prefix, policy=AgentPolicy(
                wrap_up_limit=timedelta(seconds=max(1.0, queue.wrap_up_limit_seconds)),
                offer_limit=timedelta(seconds=queue.offer_timeout_seconds + 3)))
            distributor = CallDistributor(rest, acd, state, queue, load_prompts(), notifier=notices)
        flow = CallFlow(rest, state, intake,
                        CallFlowSettings(recording_dir=sandbox.recording_dir, greeting=greeting,
                                         message_spool_dir=sandbox.message_spool_dir,
                                         special_lines=special_lines,
                                         **({} if max_concurrent_calls is None
                                            else {"max_concurrent_calls": max_concurrent_calls})),
                        "T01",
                        ari=ari, audio_consumer=audio_consumer,  # type: ignore[arg-type]
                        media_format=media_format, screen=screen,  # type: ignore[arg-type]
                        message_max_seconds=message_max_seconds, distributor=distributor,
                        conference=None if transfer is None else ThreeWayCalls(
                            rest, state, transfer, notifier=notices),
                        callbacks=None if callback is None else CallbackDialer(
                            rest, callback[1](engine), callback[0],
                            recording_dir=sandbox.recording_dir,
                            transcriber=survey_transcriber,  # type: ignore[arg-type]
                            seal=seal_answers))  # type: ignore[arg-type]
        if flow.conference is not None and distributor is not None:
            flow.conference.requeue = distributor.requeue
        if relay is not None:
            from outbound.confidential_relay import ConfidentialRelay
            flow.side_calls.append(ConfidentialRelay(rest, relay[1](engine), relay[0], node_id="T01",
                                           recording_dir=sandbox.recording_dir))
        if desk_callbacks is not None:
            from outbound.desk_callback import DeskCallbacks
            flow.side_calls.append(DeskCallbacks(rest, desk_callbacks[1](engine), desk_callbacks[0],
                                                 notifier=notices, node_id="T01",
                                                 recording_dir=sandbox.recording_dir))
        if distributor is not None:
            distributor.start_message = flow.start_message
            distributor_task = asyncio.create_task(distributor.run())
        task = asyncio.create_task(flow.run(stream.events()))
        await asyncio.wait_for(stream.connected.wait(), 10)
        bridge = InProcessBridge(flow=flow, task=task, engine=engine, redis=redis,
                                 finished=intake.finished, acd=acd, notices=notices)
        if distributor is not None:
            bridge.extra_tasks.append(distributor_task)
        if flow.callbacks is not None:
            bridge.extra_tasks.append(asyncio.create_task(flow.callbacks.run()))
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        for extra in bridge.extra_tasks:
            extra.cancel()
            with suppress(asyncio.CancelledError):
                await extra
        bridge.task.cancel()
        with suppress(asyncio.CancelledError):
            await bridge.task
        await bridge.flow.drain()
        await bridge.flow.rest.close()
        await bridge.engine.dispose()  # type: ignore[attr-defined]
        await bridge.redis.aclose()  # type: ignore[attr-defined]


@pytest.fixture
async def ari_observer(asterisk: AsteriskSandbox) -> AsyncIterator[list[object]]:
    """Every ARI event of the sandbox's Asterisk, collected by a second, observing app."""
    from telephony.ari.events import AriEventStream

    stream = AriEventStream(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password,
                            "hotline-observer", subscribe_all=True)
    events: list[object] = []

    async def collect() -> None:
        async for event in stream.events():
            events.append(event)

    task = asyncio.create_task(collect())
    await asyncio.wait_for(stream.connected.wait(), 10)
    yield events
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


class SipPhones:
    """SIP phones for tests: SIPp in server mode, each behind an `agent-<name>` endpoint pushed
    through ARI (an agent's desk phone, a handling unit, an emergency trunk, a citizen)."""

    def __init__(self, sandbox: AsteriskSandbox) -> None:
        self.sandbox = sandbox
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(self, name: str, *, answer_after_ms: int | None = None, calls: int = 1,
                    scenario: str | None = None, sipp_args: tuple[str, ...] = ()) -> str:
        """Start the phone; returns its dial string. `scenario` overrides the default phone
        (rings, answers after `answer_after_ms`, or never when None)."""
        from devtools.sandbox import free_udp_port
        from devtools.sipp_scenarios import agent_phone_scenario
        from telephony.softphone import SoftphoneProvisioner

        port = free_udp_port()
        async with SoftphoneProvisioner(self.sandbox.ari_url, self.sandbox.ari_user,
                                        self.sandbox.ari_password) as provisioner:
            endpoint = await provisioner.provision_desk_phone(name, f"sip:{name}@127.0.0.1:{port}")
        path = self.sandbox.write_sipp_file(f"phone-{name}-{uuid.uuid4().hex[:6]}.xml",
                                            scenario or agent_phone_scenario(answer_after_ms))
        self.processes.append(await self.sandbox.start_sipp("-sf", path, "-m", str(calls),
                                                            *sipp_args, local_port=port))
        return f"PJSIP/{endpoint}"

    async def stop(self) -> None:
        for process in self.processes:
            await self.sandbox.stop_sipp(process)


@pytest.fixture
async def sip_phones(asterisk: AsteriskSandbox) -> AsyncIterator[SipPhones]:
    phones = SipPhones(asterisk)
    yield phones
    await phones.stop()
