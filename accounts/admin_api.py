"""Account administration over HTTP, for the administrator's page (`/admin`, zh-CN):

    GET    /api/users                         every account, with its sessions in use now
    POST   /api/users                         add a person; the answer shows their password, once
    POST   /api/users/{username}/disable      disable them and end their sessions (sockets close)
    POST   /api/users/{username}/enable       enable them again
    POST   /api/users/{username}/password     a new random password, shown once; ends the sessions
    DELETE /api/users/{username}/sessions     end every session of the person

Administrators only (`kernel.roles.ACCOUNT_ADMINS`), who see no citizen's data here. Accounts
decide who may read citizens' data, so every change, and every refused attempt at one, is a row
of the access audit (`kernel.audit`, kind `account`), beside the reads it makes possible.
Passwords are made by the hotline (`random_password`), stored only as argon2id hashes, never
logged, and shown in one `no-store` answer; an administrator cannot disable their own account
or reset their own password here (another administrator, or `hotline user`, does).
"""

from __future__ import annotations

import logging
from collections import Counter

from aiohttp import web
from pydantic import Field

from accounts.api import ACCOUNT_STORE, KNOWN_UNITS
from accounts.model import MAX_DISPLAY_NAME, check_account, check_username
from accounts.passwords import Passwords, random_password
from kernel import auth
from kernel.audit import ACCESS_AUDIT, AccessKind, audit_access
from kernel.auth import Principal
from kernel.errors import InvalidInput, PermissionDenied
from kernel.http_edge import RequestBody, read_body
from kernel.openapi import Operation
from kernel.pages import page
from kernel.roles import ACCOUNT_ADMINS, ROLE_TITLES, Role
from kernel.sessions import refusal

log = logging.getLogger(__name__)

#: The password hasher (the sign-in's).
ADMIN_PASSWORDS = web.AppKey("admin_passwords", Passwords)
ADMINS = frozenset(role.value for role in ACCOUNT_ADMINS)
#: The administrator's page: where administrators land after signing in.
ADMIN_PAGE = page("/admin", "账号管理", ADMINS, home_of=ADMINS, rank=90)
#: Roles offered on the page, in this order (every role a person's account may have).
ROLE_ORDER = (Role.AGENT, Role.SENIOR_AGENT, Role.DISPATCHER, Role.CALLBACK_AGENT, Role.SUPERVISOR,
              Role.KB_ADMIN, Role.UNIT, Role.AUDITOR, Role.ADMIN)

routes = web.RouteTableDef()


class AddUserBody(RequestBody):
    username: str = Field(min_length=1, max_length=32)
    display_name: str = Field(min_length=1, max_length=MAX_DISPLAY_NAME)
    role: str = Field(min_length=1, max_length=32)
    unit: str | None = Field(default=None, max_length=64)


async def _admin(request: web.Request, action: str, target: str | None = None) -> Principal:
    """The administrator making `action`; anyone else is refused, and the attempt audited."""
    principal = auth.require(request)
    if principal.role not in ADMINS:
        await _audit(request, principal, f"{action} {target or ''}".strip(), allowed=False,
                     why=f"role {principal.role}")
        raise PermissionDenied(f"role {principal.role!r} may not manage accounts",
                               needed=sorted(ADMINS), user=principal.user)
    return principal


async def _audit(request: web.Request, principal: Principal, detail: str, *, allowed: bool = True,
                 why: str | None = None) -> None:
    """One audit row for an administrator's change (the composition root gives the app's one
    audit writer; an app built without it, in a test, only logs)."""
    text = detail if allowed else f"{detail}; refused: {why}"
    log.info("account administration", extra={"user": principal.user, "detail": text, "allowed": allowed})
    if ACCESS_AUDIT in request.app:
        await audit_access(request, principal, AccessKind.ACCOUNT, allowed=allowed, detail=text)


def _named(request: web.Request) -> str:
    """The user name in the path, as given (checked by `check_username` once the caller may act)."""
    return request.match_info["username"][:64]


async def _live_sessions(request: web.Request) -> Counter[str]:
    """Sessions that may still be used now, by user name: `kernel.sessions.refusal`, the rule
    every request and socket is held to, applied to the sessions not revoked."""
    gate = request.app[auth.SESSION_GATE]
    now = gate.now()
    records = await request.app[ACCOUNT_STORE].unrevoked_sessions(created_after=now - gate.limits.absolute)
    return Counter(r.user for r in records if refusal(r, now, gate.limits) is None)


@routes.get("/api/users")
async def list_users(request: web.Request) -> web.Response:
    auth.require(request, ADMINS)
    store = request.app[ACCOUNT_STORE]
    live = await _live_sessions(request)
    units = request.app[KNOWN_UNITS]
    return web.json_response({
        "users": [{**account.as_json(), "sessions": live.get(account.username, 0),
                   "unit_name": units.get(account.unit) if account.unit else None}
                  for account in await store.list()],
        "roles": [{"role": role.value, "title": ROLE_TITLES[role]} for role in ROLE_ORDER],
        "units": [{"code": code, "name": name} for code, name in sorted(units.items())],
    }, headers={"Cache-Control": "no-store"})


@routes.post("/api/users")
async def add_user(request: web.Request) -> web.Response:
    admin = await _admin(request, "add")
    body = await read_body(request, AddUserBody)
    username, name, role, unit = check_account(body.username.lower(), body.display_name, body.role,
                                               body.unit or None)
    units = request.app[KNOWN_UNITS]
    if unit is not None and units and unit not in units:
        raise InvalidInput(f"unknown unit {unit!r}: not in the dispatch catalogue", field="unit")
    password = random_password()
    account = await request.app[ACCOUNT_STORE].add(username, name, role, unit,
                                                 await request.app[ADMIN_PASSWORDS].hash(password))
    await _audit(request, admin, f"add {username} ({role.value}{', ' + unit if unit else ''})")
    return web.json_response({"user": {**account.as_json(), "sessions": 0}, "password": password},
                             status=201, headers={"Cache-Control": "no-store"})


@routes.post("/api/users/{username}/disable")
async def disable_user(request: web.Request) -> web.Response:
    admin = await _admin(request, "disable", _named(request))
    username = check_username(_named(request))
    if username == admin.user:
        raise PermissionDenied("you cannot disable your own account: another administrator must",
                               user=admin.user)
    ended = (await _live_sessions(request))[username]
    account = await request.app[ACCOUNT_STORE].set_active(username, False)  # revokes every session too
    await _audit(request, admin, f"disable {username}; {ended} session(s) ended")
    return web.json_response({"user": {**account.as_json(), "sessions": 0}, "sessions_ended": ended})


@routes.post("/api/users/{username}/enable")
async def enable_user(request: web.Request) -> web.Response:
    admin = await _admin(request, "enable", _named(request))
    username = check_username(_named(request))
    account = await request.app[ACCOUNT_STORE].set_active(username, True)
    await _audit(request, admin, f"enable {username}")
    return web.json_response({"user": {**account.as_json(), "sessions": 0}})


@routes.post("/api/users/{username}/password")
async def reset_password(request: web.Request) -> web.Response:
    admin = await _admin(request, "reset password of", _named(request))
    username = check_username(_named(request))
    if username == admin.user:
        raise PermissionDenied("you cannot reset your own password here: another administrator, or "
                               "`hotline user reset-password`, does", user=admin.user)
    ended = (await _live_sessions(request))[username]
    password = random_password()
    await request.app[ACCOUNT_STORE].set_password(  # ends the sessions too
        username, await request.app[ADMIN_PASSWORDS].hash(password))
    await _audit(request, admin, f"reset password of {username}; {ended} session(s) ended")
    return web.json_response({"username": username, "password": password, "sessions_ended": ended},
                             headers={"Cache-Control": "no-store"})


@routes.delete("/api/users/{username}/sessions")
async def revoke_sessions(request: web.Request) -> web.Response:
    """End every session of a person (their open websockets close within
    `auth.socket_recheck_seconds`)."""
    username = _named(request)
    admin = await _admin(request, "end sessions of", username)
    revoked = await request.app[ACCOUNT_STORE].revoke_user_sessions(username, "administrator")
    await _audit(request, admin, f"end sessions of {username}; {revoked} session(s) ended")
    return web.json_response({"username": username, "revoked": revoked, "by": admin.user})


def operations() -> list[Operation]:
    return [
        Operation("get", "/api/users", "Every account, with its sessions in use now, and the roles and "
                  "units an account may have", ACCOUNT_ADMINS),
        Operation("post", "/api/users", "Add a person; the answer holds their password, shown this once "
                  "(audited)", ACCOUNT_ADMINS, AddUserBody, success=201),
        Operation("post", "/api/users/{username}/disable", "Disable a person and end every session of "
                  "theirs; their websockets close within seconds (audited)", ACCOUNT_ADMINS),
        Operation("post", "/api/users/{username}/enable", "Enable a disabled person again (audited)", ACCOUNT_ADMINS),
        Operation("post", "/api/users/{username}/password", "A new random password, shown this once; ends "
                  "the person's sessions (audited)", ACCOUNT_ADMINS),
        Operation("delete", "/api/users/{username}/sessions", "End every session of a person; their "
                  "websockets close within seconds (audited)", ACCOUNT_ADMINS),
    ]
