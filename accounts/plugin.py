"""Installs accounts and sign-in into an application: the session cookie accepted by
`kernel.auth` (with the socket re-check), the sign-in page and the session API, programs' API
keys (accepted by `kernel.auth`, managed over HTTP), the administrator's page and its API
(audited), and a daily purge of long-ended sessions. The composition root and tests use it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta

from aiohttp import web

from accounts import admin_api, api, api_keys_api
from accounts.api_keys import ApiKeyStore
from accounts.passwords import Passwords
from accounts.sign_in import SignIn
from accounts.store import AccountStore
from accounts.throttle import SignInThrottle
from kernel.audit import AccessAudit, install_audit
from kernel.auth import ApiKeyGate, SessionGate, install_api_keys, install_sessions
from kernel.clock import Clock, utc_now
from kernel.openapi import ANYONE, Operation, contribute
from kernel.pages import install_page
from kernel.sessions import SessionLimits

log = logging.getLogger(__name__)

#: Ended sessions are kept this long past any absolute limit (who was signed in, when), then purged.
KEEP_ENDED = timedelta(days=30)
PURGE_INTERVAL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class AccountsDeps:
    store: AccountStore
    passwords: Passwords
    throttle: SignInThrottle
    limits: SessionLimits
    cookie_secure: bool = True
    socket_recheck_seconds: float = 2.0
    allowed_origins: Collection[str] = ()
    clock: Clock = utc_now
    #: Programs' API keys; None: the app accepts none (and serves no key management).
    api_keys: ApiKeyStore | None = None
    #: Where administrators' changes are audited: the app's one writer (the composition root
    #: always gives it; a test app without it only logs them).
    audit: AccessAudit | None = None
    #: Unit codes and names (the dispatch catalogue) a unit's staff may have; empty: any code.
    units: Mapping[str, str] = field(default_factory=dict)


async def admin_script(_: web.Request) -> web.FileResponse:
    return web.FileResponse(api.STATIC_DIR / "admin.js", headers={"Content-Type": "text/javascript"})


def install(app: web.Application, deps: AccountsDeps) -> SessionGate:
    gate = SessionGate(deps.store, deps.limits, clock=deps.clock,
                       recheck_seconds=deps.socket_recheck_seconds, allowed_origins=deps.allowed_origins)
    install_sessions(app, gate)
    app[api.SIGN_IN] = SignIn(deps.store, deps.passwords, deps.throttle)
    app[api.ACCOUNT_STORE] = deps.store
    app[api.SESSION_LIMITS] = deps.limits
    app[api.COOKIE_SECURE] = deps.cookie_secure
    app.add_routes(api.routes)
    contribute(app, api.operations())
    if deps.api_keys is not None:
        install_api_keys(app, ApiKeyGate(deps.api_keys, deps.clock))
        app[api_keys_api.API_KEY_STORE] = deps.api_keys
        app.add_routes(api_keys_api.routes)
        contribute(app, api_keys_api.operations())
    if deps.audit is not None:
        install_audit(app, deps.audit)
    app[admin_api.ADMIN_PASSWORDS] = deps.passwords
    app[api.KNOWN_UNITS] = dict(deps.units)  # codes a unit's staff may have; empty: any code
    app.add_routes(admin_api.routes)
    install_page(app, admin_api.ADMIN_PAGE, api.STATIC_DIR / "admin.html")
    app.router.add_get("/admin/admin.js", admin_script)
    contribute(app, [*admin_api.operations(), Operation(
        "get", "/admin/admin.js", "The administrator's page script", ANYONE, content_type="text/javascript")])

    async def purge_daily() -> None:
        while True:
            try:
                purged = await deps.store.purge_sessions(deps.clock() - deps.limits.absolute - KEEP_ENDED)
                if purged:
                    log.info("ended sessions purged", extra={"rows": purged})
            except Exception:  # retried tomorrow, never fatal
                log.exception("session purge failed")
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)

    async def purge(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(purge_daily(), name="session-purge")
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(purge)
    return gate
