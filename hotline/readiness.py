"""`/healthz` (the process is up) and `/readyz` (this node can answer calls now).

Readiness is what a load balancer or an operator asks before sending calls or blaming a
node: the ARI event connection, the database and Redis each answer within a second, and every
supervised task is running. Faults that do not stop calls being answered (events Asterisk sent
that could not be read, unreadable entries in the call mirror, calls waiting in the outbox or
messages in the spool) are listed too, with the node still ready: taking the node out of
service for them would drop calls, not save them. Each check is bounded, so a dead dependency
makes `/readyz` say so within about a second instead of hanging.

The checks and faults are for the hotline's staff and its monitoring (a `system` API key): to
anyone else `/readyz` says only `ready` or `not_ready`, with the same status code. Their text
comes from drivers and tasks (a database error, a task's last exception) and names hosts,
versions and sometimes citizens' data, which an unauthenticated prober must not read (issue 25).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel import auth
from kernel.errors import HotlineError
from kernel.roles import HOTLINE_STAFF, Role
from kernel.supervisor import Supervisor
from telephony.app_owner import AppOwnership
from telephony.ari.events import AriEventStream
from telephony.call_flow import CallFlow
from telephony.message_spool import MessageSpool
from telephony.outbox import CallOutbox

#: How long a fault seen once (a malformed event) is reported.
RECENT_SECONDS = 60.0
CHECK_TIMEOUT = 1.0


@dataclass
class Readiness:
    engine: AsyncEngine
    redis: aioredis.Redis
    supervisor: Supervisor = field(default_factory=Supervisor)
    stream: AriEventStream | None = None
    flow: CallFlow | None = None
    outbox: CallOutbox | None = None
    spool: MessageSpool | None = None
    ownership: AppOwnership | None = None

    async def _database(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def _redis(self) -> None:
        await self.redis.ping()

    async def _bounded(self, probe: Any) -> dict[str, Any]:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                await probe()
        except TimeoutError:
            return {"ok": False, "error": f"no answer within {CHECK_TIMEOUT:.0f}s"}
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            return {"ok": False, "error": (str(exc) or type(exc).__name__).splitlines()[0]}
        return {"ok": True}

    async def report(self) -> tuple[bool, dict[str, Any]]:
        database, redis = await asyncio.gather(self._bounded(self._database),
                                               self._bounded(self._redis))
        connected = self.stream is not None and self.stream.connected.is_set()
        ari: dict[str, Any] = {"ok": connected}
        if self.ownership is not None and not self.ownership.owned:
            # A standby is ready: it takes over the application when its owner dies.
            ari = {"ok": True, "role": "standby", "owner": await self.ownership.holder()}
        elif not connected:
            ari["error"] = "ARI events not connected"
        tasks = self.supervisor.health()
        checks: dict[str, Any] = {
            "ari": ari,
            "database": database,
            "redis": redis,
            "tasks": {"ok": self.supervisor.all_running, "tasks": tasks},
        }
        ready = all(check["ok"] for check in checks.values())
        faults: dict[str, Any] = {}
        now = time.time()
        if self.stream is not None and self.stream.last_malformed_at is not None \
                and now - self.stream.last_malformed_at < RECENT_SECONDS:
            faults["ari_events"] = {"malformed": self.stream.malformed,
                                    "last_error": self.stream.last_malformed_error}
        if self.flow is not None:
            if self.flow.last_event_failure_at is not None \
                    and now - self.flow.last_event_failure_at < RECENT_SECONDS:
                faults["ari_event_handling"] = {"failures": self.flow.event_failures}
            unreadable = await self.flow.state.unreadable_entries()
            if unreadable:
                faults["call_mirror"] = {"unreadable": unreadable}
            if self.flow.state.mirror_paused:
                faults["call_mirror_writes"] = {"error": "Redis did not answer a mirror write"}
            load = self.flow.load()
            if load.at_capacity:
                # Still ready: callers beyond the limit are answered by the dialplan's message path.
                faults["capacity"] = load.as_dict()
        if self.outbox is not None and (depth := self.outbox.depth):
            faults["outbox"] = {"calls_waiting": depth, "last_error": self.outbox.last_error}
        if self.spool is not None and (waiting := len(self.spool.pending())):
            faults["message_spool"] = {"messages_waiting": waiting}
        for name, state in tasks.items():
            failed_at = state.get("failed_at")
            if isinstance(failed_at, float) and now - failed_at < RECENT_SECONDS:
                faults[f"task:{name}"] = {"last_error": state["last_error"],
                                          "restarts": state["restarts"]}
        return ready, {"status": "ready" if ready else "not_ready", "checks": checks,
                       "faults": faults}


READINESS = web.AppKey("readiness", Readiness)


async def healthz(_: web.Request) -> web.Response:
    """The process is up and serving HTTP; says nothing about its dependencies."""
    return web.json_response({"status": "ok"})


#: Who reads the checks and faults: the hotline's staff, its administrators and its programs.
DETAIL_READERS: frozenset[str] = frozenset(role.value for role in HOTLINE_STAFF | {Role.ADMIN, Role.SYSTEM})


def _reads_detail(request: web.Request) -> bool:
    """Whether the request is signed in as a detail reader; a missing or bad credential is not
    an error here (a load balancer probes without one), only a reason to say less."""
    try:
        return auth.principal_of(request).role in DETAIL_READERS
    except HotlineError:
        return False


async def readyz(request: web.Request) -> web.Response:
    ready, body = await request.app[READINESS].report()
    if not _reads_detail(request):
        body = {"status": body["status"]}
    return web.json_response(body, status=200 if ready else 503, headers={"Cache-Control": "no-store"})
