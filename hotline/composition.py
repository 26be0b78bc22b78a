"""The composition root: the one place that turns settings into a running backend.

Every external resource (database engine, Redis pool, ARI connection and call flow) is an
aiohttp cleanup context stored under a typed `web.AppKey`; nothing is global. `preflight`
checks each dependency once before start-up so a wrong setting fails in one line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import suppress
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_desk.live_feed import LIVE_PREFIX, LIVE_REDIS
from agent_desk.live_feed import routes as live_feed_routes
from asr.extract import load_gazetteer
from asr.live_calls import LiveCallTranscriber
from asr.service import AsrService, open_asr_service
from asr.transcript_store import TranscriptStore
from hotline.auth import TOKEN_SIGNER, TokenSigner, load_signing_key
from hotline.database import open_database
from hotline.event_bus import RedisEventBus
from hotline.leader_lease import LeaderLease
from hotline.errors import Unavailable
from hotline.settings import Settings
from telephony.ari.events import AriEventStream
from telephony.ari.rest import AriRest
from telephony.call_flow import CallFlow
from telephony.call_state import CallStateStore
from telephony.fastagi import FastAgiScreenServer
from telephony.sandbox import wait_for_ari
from tickets.abuse_api import ABUSE_SCREEN
from tickets.abuse_api import routes as abuse_routes
from tickets.abuse_settings import load_abuse_policy
from tickets.dispatch import load_catalogue, suggest_units
from tickets.api import DISPATCH_CATALOGUE, TICKET_STORE, WORKING_CALENDAR
from tickets.api import routes as ticket_routes
from tickets.deadlines import load_calendar
from tickets.evidence_api import EVIDENCE_STORE
from tickets.evidence_api import routes as evidence_routes
from tickets.evidence_store import EvidenceStore
from tickets.intake import CallIntake
from tickets.stats_api import routes as stats_routes
from tickets.store import TicketStore
from tickets.knowledge_api import KNOWLEDGE_STORE
from tickets.knowledge_api import routes as knowledge_routes
from tickets.knowledge_store import KnowledgeStore, load_seed
from tickets.limiter import AbuseScreen
from tickets.supervision_api import SUPERVISION_JOB
from tickets.supervision_api import routes as supervision_routes
from tickets.supervision_job import SupervisionJob

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parent.parent

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
REDIS = web.AppKey("redis", aioredis.Redis)
CALL_FLOW = web.AppKey("call_flow", CallFlow)
EVENT_BUS = web.AppKey("event_bus", RedisEventBus)
ASR = web.AppKey("asr", AsrService)


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


def token_signer(settings: Settings) -> TokenSigner:
    """The signer of access tokens, with the configured key or the one kept on disk."""
    return TokenSigner(load_signing_key(settings.auth.secret, resolve_path(settings.auth.secret_file)))


async def preflight(settings: Settings) -> None:
    """Fail fast, with one line, when a dependency is wrong or down."""
    load_abuse_policy(resolve_path(settings.abuse.policy_file))
    engine = await open_database(settings.database.url, migrate=True)
    await engine.dispose()
    await check_redis(settings.redis.url)
    await wait_for_ari(settings.ari.url, settings.ari.username, settings.ari.password,
                       settings.ari.connect_timeout)


async def _database(app: web.Application) -> AsyncIterator[None]:
    app[ENGINE] = await open_database(app[SETTINGS].database.url)
    app[KNOWLEDGE_STORE] = KnowledgeStore(app[ENGINE])
    app[TICKET_STORE] = TicketStore(app[ENGINE], app[SETTINGS].node.id)
    app[DISPATCH_CATALOGUE] = load_catalogue()
    app[WORKING_CALENDAR] = load_calendar()
    await load_seed(app[KNOWLEDGE_STORE])  # adds only seed articles not loaded before
    yield
    await app[ENGINE].dispose()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    app[REDIS] = aioredis.from_url(app[SETTINGS].redis.url, socket_connect_timeout=2,
                                   socket_timeout=2)
    app[EVENT_BUS] = RedisEventBus(app[REDIS], app[SETTINGS].redis.key_prefix)
    # Subscriptions wait for messages indefinitely: no socket read timeout on this client.
    app[LIVE_REDIS] = aioredis.from_url(app[SETTINGS].redis.url, socket_connect_timeout=2)
    app[LIVE_PREFIX] = app[SETTINGS].redis.key_prefix
    yield
    await app[LIVE_REDIS].aclose()
    await app[REDIS].aclose()


async def _abuse(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    screen = AbuseScreen(app[REDIS], load_abuse_policy(resolve_path(settings.abuse.policy_file)),
                         key_prefix=settings.redis.key_prefix,
                         decision_timeout=settings.abuse.decision_timeout)
    app[ABUSE_SCREEN] = screen
    async with FastAgiScreenServer(screen, host=settings.abuse.fastagi_host,
                                   port=settings.abuse.fastagi_port):
        yield


async def _supervision(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS].supervision
    job = SupervisionJob(app[TICKET_STORE], app[KNOWLEDGE_STORE])
    app[SUPERVISION_JOB] = job
    task: asyncio.Task[None] | None = None
    if settings.enabled:
        # The lease lives a little less than a round, so exactly one node scans per round.
        lease = LeaderLease(app[REDIS], f"{app[SETTINGS].redis.key_prefix}lease:supervision",
                            ttl_seconds=settings.interval_seconds * 0.9)
        task = asyncio.create_task(job.run_forever(settings.interval_seconds, lease),
                                   name="supervision-scanner")
    yield
    if task is not None:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def _asr(app: web.Application) -> AsyncIterator[None]:
    async with open_asr_service(app[SETTINGS].asr, app[EVENT_BUS].publish_event) as service:
        app[ASR] = service
        yield


async def _telephony(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    ari = settings.ari
    rest = AriRest(ari.url, ari.username, ari.password, ari.app)
    stream = AriEventStream(ari.url, ari.username, ari.password, ari.app)
    catalogue = load_catalogue()
    transcriber = LiveCallTranscriber(app[ASR], TranscriptStore(app[ENGINE]), load_gazetteer(),
                                      suggest_units=lambda text: suggest_units(catalogue, text))
    flow = CallFlow(rest, CallStateStore(app[REDIS], settings.redis.key_prefix),
                    CallIntake(app[ENGINE], settings.node.id), settings.call_flow,
                    settings.node.id, ari=ari, audio_consumer=transcriber,
                    media_format=SLIN_FORMAT_FOR_RATE[settings.asr.sample_rate],
                    screen=app[ABUSE_SCREEN],
                    message_max_seconds=settings.abuse.message_max_seconds)
    app[CALL_FLOW] = flow
    task = asyncio.create_task(flow.run(stream.events()), name="ari-call-flow")
    yield
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
    await flow.drain()
    await transcriber.aclose()
    await rest.close()


SLIN_FORMAT_FOR_RATE = {8000: "slin", 16000: "slin16"}

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    flow = request.app[CALL_FLOW]
    return web.json_response({"status": "ok", "active_calls": len(flow.state.calls),
                              "asr": request.app[ASR].health()})


def build_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[TOKEN_SIGNER] = token_signer(settings)
    app[EVIDENCE_STORE] = EvidenceStore(resolve_path(settings.evidence.dir),
                                        settings.evidence.max_bytes)
    app.cleanup_ctx.extend([_database, _redis, _supervision, _abuse, _asr, _telephony])
    app.add_routes(routes)
    app.add_routes(abuse_routes)
    app.add_routes(live_feed_routes)
    app.add_routes(knowledge_routes)
    app.add_routes(ticket_routes)
    app.add_routes(supervision_routes)
    app.add_routes(evidence_routes)
    app.add_routes(stats_routes)
    return app
