"""The composition root: the one place that turns settings into a running backend.

It is the only module that knows every capability. It builds the shared resources (database
engine, Redis clients), gives each capability what it needs through that capability's
`install(app, deps)`, and joins the call path's ports (`telephony.ports`) to their
implementations: intake records finished calls, the anti-abuse screen screens callers, live
transcription consumes audio. Resources that must be opened asynchronously (ASR models, the ARI
connection) are aiohttp cleanup contexts under typed `web.AppKey`s; nothing is global.
`preflight` checks each dependency once, and migrates the database once, before start-up, so
a wrong setting fails in one line.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from abuse import plugin as abuse_plugin
from abuse.limiter import AbuseScreen
from abuse.policy_file import load_abuse_policy
from accounts import plugin as accounts_plugin
from accounts.api_keys import ApiKeyStore
from accounts.passwords import Passwords
from accounts.store import AccountStore
from accounts.throttle import SignInThrottle, ThrottleLimits
from agent_desk import plugin as desk_plugin
from agent_desk.hub import BusDeskNotifier
from asr import plugin as asr_plugin
from asr.asr_metrics import AsrCollector, counting_sink
from asr.extract import TicketDraft
from asr.gazetteer import check_gazetteer_matches_catalogue, load_gazetteer
from asr.live_assist import LiveAssist
from asr.live_calls import LiveCallTranscriber, RepeatLookup
from asr.publish import with_listeners
from asr.service import AsrService, open_asr_service
from asr.transcript_store import TranscriptStore
from call_queue.acd import AcdStore
from call_queue.agent_state import AgentPolicy
from call_queue.distributor import OFFER_GRACE_SECONDS, CallDistributor
from hotline.assist_knowledge import knowledge_lookup
from hotline.callback_phone import DeskCallbackPhone
from hotline.desk_backend import AcdDeskBackend
from hotline.hotspots import hotspot_finder
from hotline.readiness import READINESS, Readiness, healthz, readyz
from hotline.sealing_recorder import SealingRecorder, seal_recording_file
from hotline.settings import Settings
from hotline.supervisor_backend import TelephonySupervisorBackend
from hotline.survey_answers import SpokenAnswerTranscriber
from hotline.wallboard_source import AcdWallboardSource, AnnouncingIntake
from kernel import openapi
from kernel.audit import AccessAudit
from kernel.auth import TOKEN_SIGNER, TokenSigner, load_signing_key
from kernel.background import background
from kernel.data_keys import load_data_keys
from kernel.database import create_engine, open_database
from kernel.errors import ConfigError, Unavailable
from kernel.event_bus import RedisEventBus
from kernel.http_edge import new_app
from kernel.idempotency import IdempotencyStore
from kernel.leader_lease import LeaderLease
from kernel.loop_lag import LoopLagCollector, LoopLagMonitor
from kernel.metrics import METRICS, Metrics
from kernel.metrics import serve as serve_metrics
from kernel.request_rate import RequestRate
from kernel.sealed_files import DataKeys, decrypt_into
from kernel.security_headers import allow_connections
from kernel.sessions import SessionLimits
from kernel.socket_caps import SocketCaps
from kernel.stall_watch import StallWatch
from kernel.supervisor import Supervisor
from knowledge import plugin as knowledge_plugin
from knowledge.public_search import install_public as install_public_knowledge
from knowledge.store import KnowledgeStore
from outbound.callback_dialer import CallbackDialer
from outbound.confidential_relay import ConfidentialRelay
from outbound.desk_callback import DeskCallbacks
from public_lookup import plugin as public_lookup_plugin
from public_lookup.codes import LookupCodes
from public_lookup.service import ProgressLookup
from recordings import plugin as recordings_plugin
from recordings.store import CallStore
from risk_warning import plugin as risk_plugin
from risk_warning.detector import RiskDetector
from risk_warning.store import RiskWarnings
from supervision import plugin as supervision_plugin
from supervision.job import SupervisionJob
from supervision.scan import SupervisionPolicy
from telephony import sip_proxy
from telephony.app_owner import AppOwnership, OwnershipLost
from telephony.ari.events import AriEventStream
from telephony.ari.rest import AriRest, wait_for_ari
from telephony.ari_boundary import refuse_open_cors
from telephony.call_flow import CallFlow
from telephony.call_metrics import CallLoadCollector, CallMetrics, CallPathCollector, observed
from telephony.call_record import CallRecord
from telephony.call_state import CallStateStore
from telephony.conference import ThreeWayCalls
from telephony.fastagi import FastAgiScreenServer
from telephony.message_spool import MessageSpool
from telephony.monitor import CallMonitor
from telephony.outbox import CallOutbox
from telephony.prompts import load_prompts
from telephony.softphone import SoftphonePasswords, SoftphoneProvisioner
from tickets import plugin as tickets_plugin
from tickets.announcements import TICKETS_TOPIC, notice
from tickets.callbacks import CallbackService
from tickets.deadlines import load_calendar
from tickets.dispatch import DispatchCatalogue, load_catalogue, suggest_units
from tickets.event_log import EventLogReader
from tickets.events import TicketEvent
from tickets.evidence_store import EvidenceStore
from tickets.intake import CallIntake
from tickets.model import Ticket
from tickets.relay import RelayService
from tickets.repeat_check import RepeatCheck
from tickets.retention import RetentionPurge, policy_from_days
from tickets.store import Announce, TicketStore
from tickets.unit_directory import UnitDirectoryStore, load_unit_directory
from unit_push import plugin as unit_push_plugin
from unit_push.delivery import Backoff
from unit_push.router import FeedRouter
from unit_push.settings import read_secret
from unit_push.store import PushStore, is_webhook_url
from workbenches import callback_calls
from workbenches import plugin as workbenches_plugin
from workbenches.queues import WorkbenchQueries

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parent.parent

SETTINGS = web.AppKey("settings", Settings)
CALL_FLOW = web.AppKey("call_flow", CallFlow)
ASR = web.AppKey("asr", AsrService)
LOOP_LAG = web.AppKey("loop_lag", LoopLagMonitor)
STALL_WATCH = web.AppKey("stall_watch", StallWatch)

SLIN_FORMAT_FOR_RATE = {8000: "slin", 16000: "slin16"}


async def check_redis(url: str, timeout: float = 3.0) -> None:
    client = aioredis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        raise Unavailable(f"Redis at {url} is unreachable: {exc}", url=url) from exc
    finally:
        await client.aclose()


def resolve_path(path: Path) -> Path:
    """Relative paths in settings are relative to the project root, not the working directory."""
    return path if path.is_absolute() else PROJECT_ROOT / path


def signing_key(settings: Settings) -> bytes:
    """The hotline's key: derives softphone passwords and signs the test harness's tokens."""
    return load_signing_key(settings.auth.secret, resolve_path(settings.auth.secret_file))


def data_keys(settings: Settings) -> DataKeys:
    """The keys that seal recordings and evidence at rest (`[storage]`; refuses to run without)."""
    return load_data_keys(settings.storage, resolve_path(settings.storage.data_key_file))


def token_signer(settings: Settings) -> TokenSigner:
    """The signer of the tests' access tokens (`auth.test_tokens`), with the configured key or
    the one kept on disk, and the lifetime cap `auth.token_hours`."""
    return TokenSigner(signing_key(settings), max_hours=settings.auth.token_hours)


async def preflight(settings: Settings) -> None:
    """Fail fast, with one line, when a dependency is wrong or down; migrate the database once."""
    check_gazetteer_matches_catalogue(load_gazetteer(), load_catalogue())
    load_abuse_policy(resolve_path(settings.abuse.policy_file))
    load_unit_directory(load_catalogue())  # a code the catalogue lacks is a one-line error
    data_keys(settings)  # no key, or a key file others may read: one line, before anything runs
    engine = await open_database(settings.database.url, migrate=True)
    await engine.dispose()
    await check_redis(settings.redis.url)
    settings.ari.check_credentials()
    await wait_for_ari(settings.ari.url, settings.ari.username, settings.ari.password,
                       settings.ari.connect_timeout)
    await refuse_open_cors(settings.ari.url, settings.ari.connect_timeout)


def _closing(*closers: Callable[[], object]) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that only closes resources built synchronously in `build_app`."""
    async def context(_: web.Application) -> AsyncIterator[None]:
        yield
        for close in closers:
            result = close()
            if asyncio.iscoroutine(result):
                await result

    return context


def _asr(settings: Settings, bus: RedisEventBus,
         assist: LiveAssist | None) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        sink = counting_sink(bus.publish_event, app[METRICS])
        if assist is not None:
            # The assist notes the caller's words as they pass; the transcript is never held up.
            sink = with_listeners(sink, assist.hear)
        async with open_asr_service(settings.asr, sink) as service:
            app[ASR] = service
            yield
        if assist is not None:
            await assist.aclose()

    return context


def _live_assist(settings: Settings, bus: RedisEventBus, catalogue: DispatchCatalogue,
                 knowledge: KnowledgeStore) -> LiveAssist | None:
    """Suggestions from the caller's words for the desk, on the topic only desks read."""
    if not settings.asr.assist:
        return None

    async def publish(payload: dict[str, Any]) -> None:
        await bus.publish("assist", payload)

    return LiveAssist(load_gazetteer(),
                      lambda text, kind, district: suggest_units(catalogue, text, kind, district),
                      knowledge_lookup(knowledge), publish,
                      interval=settings.asr.assist_interval_seconds)


def _repeat_lookup(check: RepeatCheck) -> RepeatLookup:
    """Live transcription's repeat lookup (asr port), answered by the ticket store."""
    async def lookup(call_id: str, caller_number: str, text: str, draft: TicketDraft) -> str | None:
        match = await check.open_ticket_repeated(
            call_id, caller_number, text,
            request_type=str(draft.request_type.value) if draft.request_type else None,
            district=draft.district.value if draft.district else None)
        return match.ticket_no if match else None

    return lookup


AUDIT_PURGE_INTERVAL_SECONDS = 24 * 3600


def _audit_purge(audit: AccessAudit) -> Callable[[web.Application], AsyncIterator[None]]:
    """Once a day, drop access-audit rows past their retention (the database refuses younger)."""
    async def purge_daily() -> None:
        while True:
            try:
                purged = await audit.purge()
                if purged:
                    log.info("access audit purged", extra={"rows": purged})
            except Exception:  # a failed purge is retried tomorrow, never fatal
                log.exception("access audit purge failed")
            await asyncio.sleep(AUDIT_PURGE_INTERVAL_SECONDS)

    return background("audit-purge", purge_daily)


def _retention_purge(settings: Settings, engine: AsyncEngine, redis: aioredis.Redis, evidence: EvidenceStore,
                     audit: AccessAudit) -> Callable[[web.Application], AsyncIterator[None]]:
    """Closed tickets' personal data past `[retention]`, purged on one node (a Redis lease) every
    `retention.interval_hours`, each batch audited (tickets/retention.py)."""
    retention = settings.retention
    interval = retention.interval_hours * 3600
    purge = RetentionPurge(engine, evidence, audit, policy_from_days(
        retention.recordings_days, retention.transcripts_days, retention.evidence_days,
        retention.caller_numbers_days, retention.batch_size))
    lease = LeaderLease(redis, f"{settings.redis.key_prefix}lease:retention-purge", ttl_seconds=interval * 0.9)
    return background("retention-purge", lambda: purge.run_forever(interval, lease))


@dataclass(frozen=True)
class _CallPath:
    """What the call path is joined to (the ports of `telephony.ports`, and the desk)."""

    intake: SealingRecorder
    screen: AbuseScreen
    catalogue: DispatchCatalogue
    transcripts: TranscriptStore
    repeat_lookup: RepeatLookup
    acd: AcdStore
    notifier: BusDeskNotifier
    desk: AcdDeskBackend
    callbacks: CallbackService
    lease: LeaderLease
    supervisor: TelephonySupervisorBackend
    relay: RelayService


def _telephony(settings: Settings, redis: aioredis.Redis,
               path: _CallPath) -> Callable[[web.Application], AsyncIterator[None]]:
    """The call path, with its ports joined: intake, the screen, live transcription, the
    distributor that puts callers in front of agents, and the agents' desks."""
    intake, screen, catalogue = path.intake, path.screen, path.catalogue
    path_keys = intake.keys
    transcripts, repeat_lookup = path.transcripts, path.repeat_lookup

    async def context(app: web.Application) -> AsyncIterator[None]:
        ari = settings.ari
        rest = AriRest(ari.url, ari.username, ari.password, ari.app,
                       timeout=ari.request_timeout, connections=ari.http_connections)
        stream = AriEventStream(ari.url, ari.username, ari.password, ari.app)
        # A call ending while the database is away waits in the outbox with its transcript.
        outbox = CallOutbox(resolve_path(settings.call_flow.outbox_dir), intake,
                            write_timeout=settings.call_flow.persist_timeout_seconds,
                            transcripts=transcripts.save_payload)

        async def request_heard(call_id: str, caller: str, text: str) -> object:
            # The screen hears the words through the flow (built below), which flags and
            # un-restricts a caller whose words match the emergency rules.
            return await flow.request_heard(call_id, caller, text)

        transcriber = LiveCallTranscriber(app[ASR], transcripts, load_gazetteer(),
                                          suggest_units=lambda text: suggest_units(catalogue, text),
                                          repeat_lookup=repeat_lookup, request_heard=request_heard,
                                          keep_transcript=outbox.keep_transcript)
        metrics = app[METRICS]
        call_metrics = CallMetrics(metrics)
        state = CallStateStore(redis, settings.redis.key_prefix, owner=settings.node.id,
                               ttl_seconds=round(settings.redis.personal_data_ttl_hours * 3600))
        ownership = AppOwnership(redis, settings.redis.key_prefix, ari.app, settings.node.id)
        distributor = CallDistributor(rest, path.acd, state, settings.queue, load_prompts(),
                                      notifier=path.notifier, metrics=call_metrics)
        flow = CallFlow(rest, state, intake,
                        settings.call_flow, settings.node.id, ari=ari, audio_consumer=transcriber,
                        media_format=SLIN_FORMAT_FOR_RATE[settings.asr.sample_rate],
                        screen=screen, message_max_seconds=settings.abuse.message_max_seconds,
                        distributor=distributor, outbox=outbox,
                        persist_timeout=settings.call_flow.persist_timeout_seconds,
                        metrics=call_metrics)
        flow.conference = ThreeWayCalls(rest, state, settings.transfer, notifier=path.notifier)
        flow.conference.requeue = distributor.requeue
        dialer: CallbackDialer | None = None
        if settings.callback.enabled:
            flow.callbacks = dialer = CallbackDialer(rest, path.callbacks, settings.callback,
                                                     recording_dir=settings.call_flow.recording_dir,
                                                     transcriber=SpokenAnswerTranscriber(app[ASR]),
                                                     seal=partial(seal_recording_file, keys=intake.keys))
        if settings.relay.enabled:
            flow.side_calls.append(ConfidentialRelay(rest, path.relay, settings.relay, node_id=settings.node.id,
                                           recording_dir=settings.call_flow.recording_dir,
                                           recording_format=settings.call_flow.recording_format,
                                           seal=intake.sealed))
        flow.side_calls.append(DeskCallbacks(rest, path.callbacks, settings.callback,
                                             notifier=path.notifier, node_id=settings.node.id,
                                             recording_dir=settings.call_flow.recording_dir,
                                             recording_format=settings.call_flow.recording_format,
                                             seal=intake.sealed))
        distributor.start_message = flow.start_message
        flow.on_connected.append(path.desk.reprovision)
        flow.monitor = CallMonitor(rest, flow.waiter, state, notifier=path.notifier)
        path.desk.attach(flow, distributor)
        path.supervisor.attach(flow)
        app[CALL_FLOW] = flow

        async def transcribe_message(record: CallRecord, _ticket_no: str) -> None:
            call_metrics.fallback_calls.inc()
            # The spool hands over the record as it was before sealing: find the sealed file.
            sealed = await intake.sealed(record)
            path, digest = sealed.recording_path, sealed.recording_sha256
            if path is None:
                return
            if digest is None:
                await transcriber.transcribe_message(record.call_id, record.caller_number, path)
                return
            with tempfile.TemporaryDirectory(prefix="hotline-plain-") as folder:  # 0700, removed after
                plain = await asyncio.to_thread(decrypt_into, path, path_keys, digest, Path(folder))
                await transcriber.transcribe_message(record.call_id, record.caller_number, plain)

        spool = MessageSpool(settings.call_flow.message_spool_dir, settings.call_flow.recording_dir,
                             intake, settings.node.id, on_adopted=transcribe_message,
                             interval=settings.call_flow.message_spool_interval_seconds)

        async def adopt_messages() -> None:
            spool.wake()

        flow.on_connected.append(adopt_messages)
        metrics.add_collector(CallPathCollector(
            flow.state.calls.values,
            lambda call_id: any(c == call_id for c, _ in distributor.offers.values()),
            lambda: outbox.depth, lambda: len(spool.pending())))
        metrics.add_collector(AsrCollector(transcriber))
        metrics.add_collector(CallLoadCollector(flow.load))

        async def read_events() -> None:
            """Stand by until this node owns the application; then adopt the calls of the
            nodes before it and handle events until the lease is lost to another node."""
            while True:
                await ownership.wait_until_owned()
                await state.adopt_orphans()
                # A new connection per (re)start; the old one is closed, not left to own the app.
                reader = asyncio.current_task()
                assert reader is not None
                lost = asyncio.Event()

                async def keep_lease(lost: asyncio.Event, reader: asyncio.Task[None]) -> None:
                    try:
                        await ownership.keep()
                    except OwnershipLost:
                        lost.set()
                        reader.cancel()

                keeper = asyncio.create_task(keep_lease(lost, reader), name="ari-lease")
                events = stream.events()
                measured = observed(events, call_metrics)
                try:
                    await flow.run(measured)
                except asyncio.CancelledError:
                    if not lost.is_set():
                        raise
                    reader.uncancel()
                    # The new owner adopts this node's mirror; the working copy is not ours.
                    state.calls.clear()
                    log.warning("another node owns the ARI application now; standing by")
                finally:
                    keeper.cancel()
                    with suppress(asyncio.CancelledError):
                        await keeper
                    await measured.aclose()
                    await events.aclose()

        async def serve_fastagi() -> None:
            agi = settings.abuse
            async with FastAgiScreenServer(screen, host=agi.fastagi_host, port=agi.fastagi_port,
                                           session_deadline=agi.fastagi_session_seconds,
                                           allowed_peers=agi.fastagi_allowed_peers,
                                           secret=agi.fastagi_secret,
                                           max_connections=agi.fastagi_max_connections, channels=rest):
                await asyncio.Event().wait()  # serves until cancelled

        readiness = app[READINESS]
        readiness.stream, readiness.flow, readiness.outbox, readiness.spool = \
            stream, flow, outbox, spool
        readiness.ownership = ownership
        supervisor = readiness.supervisor
        supervisor.start("ari-events", read_events)
        supervisor.start("call-distributor", distributor.run)
        supervisor.start("message-spool", spool.run)
        supervisor.start("call-outbox", outbox.run)
        supervisor.start("fastagi", serve_fastagi)
        supervisor.start("loop-lag", app[LOOP_LAG].run)
        supervisor.start("loop-stall-watch", app[STALL_WATCH].run)
        if dialer is not None:
            lease = path.lease

            async def holds_lease() -> bool:
                # One node places survey calls; the lease outlives two rounds of the dialer.
                return await lease.renew() or await lease.acquire()

            supervisor.start("callback-dialer", lambda: dialer.run(holds_lease))
        yield
        await _hand_over(settings, flow, state, ownership, supervisor)
        await transcriber.aclose()
        await rest.close()

    return context


async def _hand_over(settings: Settings, flow: CallFlow, state: CallStateStore,
                     ownership: AppOwnership, supervisor: Supervisor) -> None:
    """The node's graceful stop, within a share of `call_flow.stop_timeout_seconds`.

    1. Stop taking calls: the ARI event websocket closes with the supervised reader, so
       Asterisk's `Stasis()` fails for new callers and the dialplan takes them (`[hotline-
       message]`), and the application lease is released so a standby node takes over now
       rather than when the lease expires.
    2. Hand live calls over: handlers in flight get a bounded time; every call's state is
       in the Redis mirror step by step, and the next owner adopts the mirror and finishes
       each call (the caller is never hung up by a deploy)."""
    budget = settings.call_flow.stop_timeout_seconds
    flow.accepting = False
    await supervisor.aclose(timeout=budget * 0.2)
    await ownership.release()
    finished = await flow.drain(timeout=budget * 0.3)
    log.info("live calls handed over to the next owner", extra={
        "calls": len(state.calls), "handlers_cut_short": not finished})



async def health(request: web.Request) -> web.Response:
    flow = request.app[CALL_FLOW]
    try:
        window = min(600.0, max(1.0, float(request.query.get("lag_window", "60"))))
    except ValueError:
        window = 60.0
    return web.json_response({"status": "ok", "active_calls": len(flow.state.calls),
                              "load": flow.load().as_dict(),
                              "loop_lag": request.app[LOOP_LAG].snapshot(window).as_dict(),
                              "asr": request.app[ASR].health()})


def _announcer(bus: RedisEventBus) -> Announce:
    """Every committed ticket transition, as a notice on the bus (a unit's inbox is pushed)."""
    async def announce(ticket: Ticket, event: TicketEvent) -> None:
        await bus.publish(TICKETS_TOPIC, notice(ticket, event))
    return announce


def _right_to_know(settings: Settings, engine: AsyncEngine, redis: aioredis.Redis, tickets: TicketStore,
                   catalogue: DispatchCatalogue, metrics: Metrics) -> public_lookup_plugin.LookupDeps:
    """The public progress lookup, its codes hashed under the hotline's key, its limits in Redis."""
    lookup, prefix = settings.public_lookup, settings.redis.key_prefix
    codes = LookupCodes(engine, signing_key(settings), digits=lookup.code_digits,
                        ttl=timedelta(days=lookup.code_days))
    failures = SignInThrottle(redis, prefix, ThrottleLimits(
        per_account=lookup.failures_per_ticket, per_address=lookup.failures_per_address,
        window=timedelta(minutes=lookup.failure_window_minutes)), namespace="public-lookup")
    rate = RequestRate(redis, prefix, lookup.requests_per_minute, timedelta(minutes=1))
    names = {code: unit.name for code, unit in catalogue.units.items()}
    return public_lookup_plugin.LookupDeps(ProgressLookup(tickets, codes, failures, rate, names, metrics), codes,
                                           tickets)


def _unit_push(settings: Settings, engine: AsyncEngine, redis: aioredis.Redis,
               catalogue: DispatchCatalogue) -> unit_push_plugin.PushDeps:
    """The units' feeds and webhooks; the worker leased to one node at a time."""
    push = settings.unit_push
    worker = None
    if push.enabled:
        ttl = max(30.0, 3 * push.poll_seconds, 3 * push.timeout_seconds)
        worker = unit_push_plugin.Worker(
            FeedRouter(engine, EventLogReader(engine, push.gap_grace_seconds)),
            LeaderLease(redis, f"{settings.redis.key_prefix}lease:unit-push", ttl_seconds=ttl),
            Backoff(first=push.backoff_first_seconds, cap=push.backoff_cap_seconds),
            push.poll_seconds, push.timeout_seconds)
    configured = []
    for hook in push.webhooks:  # a wrong one fails start-up in one line, named
        if hook.unit not in catalogue.units or not is_webhook_url(hook.url):
            raise ConfigError("unit_push.webhooks", f"{hook.unit}: not a unit of the catalogue, or "
                                                    f"not an http(s) URL: {hook.url}")
        configured.append((hook.unit, hook.url, read_secret(hook, resolve_path(hook.secret_file))))
    return unit_push_plugin.PushDeps(PushStore(engine), catalogue.units.keys(), worker, configured)


def _risk_warning(settings: Settings, engine: AsyncEngine, redis: aioredis.Redis, bus: RedisEventBus,
                  catalogue: DispatchCatalogue, metrics: Metrics) -> risk_plugin.RiskDeps:
    """The live risk detector over intake, leased to one node at a time, warning on the bus."""
    risk = settings.risk_warning
    detection = None
    if risk.enabled:
        detector = RiskDetector(engine, EventLogReader(engine, settings.unit_push.gap_grace_seconds),
                                hotspot_finder(load_gazetteer(), catalogue), risk.thresholds(), bus.publish,
                                metrics=metrics)
        detection = risk_plugin.Detection(detector, LeaderLease(
            redis, f"{settings.redis.key_prefix}lease:risk-warning",
            ttl_seconds=max(30.0, 3 * risk.poll_seconds)), risk.poll_seconds)
    return risk_plugin.RiskDeps(RiskWarnings(engine), detection)


def build_app(settings: Settings) -> web.Application:
    """The whole backend. The database must be migrated already (`preflight` does it)."""
    app = new_app(SocketCaps(settings.http.websockets_per_person, settings.http.websockets_total))
    metrics = serve_metrics(app)
    app[SETTINGS] = settings
    if settings.auth.test_tokens:
        # Without a signer `kernel.auth` refuses every signed token: production has none.
        log.warning("auth.test_tokens is on: signed test tokens are accepted (never in production)")
        app[TOKEN_SIGNER] = token_signer(settings)
    prefix = settings.redis.key_prefix
    engine = create_engine(settings.database.url)
    redis = aioredis.from_url(settings.redis.url, socket_connect_timeout=2, socket_timeout=2)
    # Subscriptions wait for messages indefinitely: no socket read timeout on this client.
    feed_redis = aioredis.from_url(settings.redis.url, socket_connect_timeout=2)
    app.cleanup_ctx.append(_closing(feed_redis.aclose, redis.aclose, engine.dispose))
    bus = RedisEventBus(redis, prefix)

    catalogue = load_catalogue()
    tickets = TicketStore(engine, settings.node.id, metrics=metrics, announce=_announcer(bus),
                          policy=settings.workflow.policy())
    knowledge = KnowledgeStore(engine)
    screen = AbuseScreen(redis, load_abuse_policy(resolve_path(settings.abuse.policy_file)),
                         key_prefix=prefix, decision_timeout=settings.abuse.decision_timeout,
                         metrics=metrics)

    audit = AccessAudit(engine, retention_days=settings.audit.retention_days)
    app.cleanup_ctx.append(_audit_purge(audit))
    keys = data_keys(settings)
    accounts = AccountStore(engine)
    auth = settings.auth
    accounts_plugin.install(app, accounts_plugin.AccountsDeps(
        accounts, Passwords(),
        SignInThrottle(redis, prefix, ThrottleLimits(
            per_account=auth.signin_failures_per_account, per_address=auth.signin_failures_per_address,
            window=timedelta(minutes=auth.signin_window_minutes))),
        SessionLimits(idle=timedelta(minutes=auth.session_idle_minutes),
                      absolute=timedelta(hours=auth.session_absolute_hours)),
        cookie_secure=auth.session_cookie_secure, socket_recheck_seconds=auth.socket_recheck_seconds,
        allowed_origins=auth.allowed_origins, api_keys=ApiKeyStore(engine), audit=audit,
        units={code: unit.name for code, unit in catalogue.units.items()}))

    acd = AcdStore(redis, prefix, bus=bus, policy=AgentPolicy(
        wrap_up_limit=timedelta(seconds=max(1.0, settings.queue.wrap_up_limit_seconds)),
        offer_limit=timedelta(seconds=settings.queue.offer_timeout_seconds + OFFER_GRACE_SECONDS)))
    units = UnitDirectoryStore(engine)
    calendar = load_calendar()
    callbacks = CallbackService(engine, tickets, catalogue, calendar, retry_delays=[
        timedelta(seconds=s) for s in settings.callback.retry_after_seconds])
    desk = AcdDeskBackend(
        acd, SoftphoneProvisioner(settings.ari.url, settings.ari.username, settings.ari.password,
                                  ws_url=settings.softphone.ws_url or sip_proxy.PATH),
        screen, engine, passwords=SoftphonePasswords(redis, prefix),
        senior_agents=frozenset(settings.queue.senior_agents), units=units, is_senior=accounts.is_senior_agent)
    app.cleanup_ctx.append(_closing(desk.provisioner.close))
    allow_connections(app, [desk.provisioner.ws_url])  # the desk's softphone registers there
    sip_proxy.install(app, settings.softphone.upstream_for(settings.ari.url))
    openapi.contribute(app, sip_proxy.operations())

    relay = RelayService(engine, tickets, audit, units, digits=settings.relay.code_digits,
                         ttl=timedelta(hours=settings.relay.code_hours),
                         max_failures=settings.relay.max_failures,
                         global_max_failures=settings.relay.global_max_failures,
                         lockout=timedelta(minutes=settings.relay.lockout_minutes), metrics=app[METRICS])
    evidence = EvidenceStore(resolve_path(settings.evidence.dir), settings.evidence.max_bytes, keys)
    app.cleanup_ctx.append(_retention_purge(settings, engine, redis, evidence, audit))
    tickets_plugin.install(app, tickets_plugin.TicketDeps(
        tickets, catalogue, calendar,
        evidence, audit,
        units=units, seed_units=load_unit_directory(catalogue), callbacks=callbacks,
        relay=relay, relay_number=settings.relay.numbers[0] if settings.relay.numbers else "",
        idempotency=IdempotencyStore(engine, ttl=timedelta(hours=settings.http.idempotency_hours)),
        public_limit=RequestRate(redis, prefix, settings.http.public_requests_per_minute, timedelta(minutes=1),
                                 namespace="public", fail_open=True)))
    recordings_plugin.install(app, recordings_plugin.RecordingsDeps(CallStore(engine), audit, keys))
    knowledge_plugin.install(app, knowledge_plugin.KnowledgeDeps(knowledge, load_seed=True))
    install_public_knowledge(app, knowledge, RequestRate(
        redis, settings.redis.key_prefix, settings.public_lookup.kb_searches_per_minute, timedelta(minutes=1),
        namespace="public-kb"), {code: unit.name for code, unit in catalogue.units.items()})
    abuse_plugin.install(app, screen, audit, tickets.caller_is_confidential)
    supervision = settings.supervision
    schedule = None
    if supervision.enabled:
        # The lease lives a little less than a round, so exactly one node scans per round.
        schedule = supervision_plugin.Schedule(supervision.interval_seconds, LeaderLease(
            redis, f"{prefix}lease:supervision", ttl_seconds=supervision.interval_seconds * 0.9))
    supervision_plugin.install(app, supervision_plugin.SupervisionDeps(
        SupervisionJob(tickets, knowledge, policy=SupervisionPolicy(
            review_within=timedelta(hours=supervision.review_hours),
            draft_max_age=timedelta(hours=supervision.draft_max_age_hours),
            quality_check_within=timedelta(hours=supervision.quality_check_hours)),
            deadline_callbacks=callbacks), schedule))
    supervisor = TelephonySupervisorBackend(desk.provisioner, passwords=desk.passwords,
                                            confidential=tickets.caller_is_confidential)
    desk_plugin.install(app, desk_plugin.DeskDeps(feed_redis, prefix, backend=desk, supervisor=supervisor,
                                                  audit=audit, wallboard=AcdWallboardSource(acd, engine)))
    workbenches_plugin.install(app, workbenches_plugin.WorkbenchDeps(
        WorkbenchQueries(engine), tickets, catalogue, calendar, callbacks, feed_redis, prefix, audit,
        phone=DeskCallbackPhone(desk, SoftphonePasswords(redis, prefix, line=callback_calls.SOFTPHONE_LINE))))
    public_lookup_plugin.install(app, _right_to_know(settings, engine, redis, tickets, catalogue, metrics))
    unit_push_plugin.install(app, _unit_push(settings, engine, redis, catalogue))
    risk_plugin.install(app, _risk_warning(settings, engine, redis, bus, catalogue, metrics))
    asr_plugin.install(app, load_gazetteer(), lambda text: suggest_units(catalogue, text))
    openapi.install(app)

    app.cleanup_ctx.append(_asr(settings, bus, _live_assist(settings, bus, catalogue, knowledge)))
    app.cleanup_ctx.append(_telephony(settings, redis, _CallPath(
        SealingRecorder(AnnouncingIntake(CallIntake(engine, settings.node.id, metrics=metrics), bus.publish),
                        keys), screen, catalogue,
        TranscriptStore(engine),
        _repeat_lookup(RepeatCheck(tickets)), acd, BusDeskNotifier(bus.publish), desk, callbacks,
        LeaderLease(redis, f"{prefix}lease:callbacks",
                    ttl_seconds=max(30.0, 3 * settings.callback.poll_seconds)), supervisor, relay)))
    app[READINESS] = Readiness(engine, redis)
    app[LOOP_LAG] = LoopLagMonitor()
    app[STALL_WATCH] = StallWatch()
    app[METRICS].add_collector(LoopLagCollector(app[LOOP_LAG]))
    app.router.add_get("/health", health)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    openapi.contribute(app, [
        openapi.Operation("get", "/health", "Liveness: active calls, the node's load against "
                          "its call limit, event-loop lag percentiles over the last `lag_window` "
                          "seconds (query, default 60), ASR model and workers", openapi.ANYONE),
        openapi.Operation("get", "/healthz", "The process is up (says nothing of its dependencies)",
                          openapi.ANYONE),
        openapi.Operation("get", "/readyz", "Can this node answer calls now: ARI connected, "
                          "database and Redis reachable, supervised tasks running (503 and the "
                          "failed check otherwise); faults that do not stop calls are listed. "
                          "Anyone gets the status; the checks and faults only hotline staff, "
                          "administrators and system keys",
                          openapi.ANYONE),
    ])
    return app
