"""Who is calling the HTTP API: a person's session cookie, a program's API key, or (in tests
only) a signed bearer token.

`principal_of` (and `require`, built on it) is the one function every route uses to learn who is
calling, and the one place where credentials are checked:

- `Authorization: Bearer hk_<id>_<secret>`: a program's API key (`kernel.api_keys`), looked up by
  `api_key_middleware`; it acts as its account (role and unit), is refused once revoked or while
  the account is disabled, and opens no websocket. Not sent by browsers on their own, so no CSRF
  check is needed.
- `Authorization: Bearer v1.…`: a signed token (below), only where the app holds a signer (tests).
- never a token in the address: a request with `?access_token=` is refused on every route and
  websocket, since addresses end up in proxy logs and browser history. Pages use the cookie,
  which browsers send with websocket upgrades and `<audio src>` too.
- the session cookie (`SESSION_COOKIE`, set at sign-in by `accounts/`): a server-side session
  (`kernel.sessions`), refused once revoked, idle or past its absolute limit; every write made
  with it must carry the session's CSRF token in `X-CSRF-Token`; a websocket opened with it must
  come from the hotline's own origin (or `auth.allowed_origins`).

Open websockets are re-checked by `SessionGate` every `auth.socket_recheck_seconds` and closed
(code `SESSION_ENDED`) when their session ends; a socket opened with a token closes when the
token expires. Handlers wrap their socket loop in `watched(request, ws)`.

Tokens (tests only):

A token names a person, a role and, for a handling unit (承办单位), the unit's code, and it is
signed with HMAC-SHA256 under the hotline's key. It cannot be revoked, so production has none:
the composition root puts a `TOKEN_SIGNER` on the app only when `auth.test_tokens` is on (the
test harness, the development stack), and without one every token is refused. A token lives at
most `auth.token_hours`, which is checked when it is verified, not only when it is issued.

    v1.<base64url JSON claims>.<base64url HMAC-SHA256 of "v1." + claims>

`hotline token --role unit --unit city-housing --user zhang` issues one (with `auth.test_tokens`).
Each API maps the principal onto its own actor type and checks the role it needs (`require`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from kernel.api_keys import ApiKeyLookup, ApiKeyRecord, is_api_key, key_id_of, needs_touch
from kernel.api_keys import refusal as api_key_refusal
from kernel.clock import Clock, utc_now
from kernel.errors import ConfigError, HotlineError, InvalidInput, PermissionDenied, Unauthenticated
from kernel.roles import ROLE_NAMES
from kernel.sessions import SessionLimits, SessionLookup, SessionRecord, refusal, session_id_of

log = logging.getLogger(__name__)

VERSION = "v1"
MAX_TOKEN_LENGTH = 2048
#: A token's longest life unless settings say otherwise (`auth.token_hours`).
DEFAULT_TOKEN_HOURS = 12.0
#: How far ahead of this node's clock another node's clock may be when it issues a token.
CLOCK_SKEW_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of an API request."""

    user: str
    role: str
    #: The unit code (config/dispatch_catalogue.yaml) of a `unit` principal, else None.
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLE_NAMES:
            raise InvalidInput(f"unknown role {self.role!r}", allowed=sorted(ROLE_NAMES))
        if not self.user or len(self.user) > 64:
            raise InvalidInput("a user name of 1 to 64 characters is needed", user=self.user)
        if (self.role == "unit") != bool(self.unit):
            raise InvalidInput("a unit code is needed for role 'unit' and only for it",
                               role=self.role, unit=self.unit)
        if self.unit is not None and len(self.unit) > 64:
            raise InvalidInput("unit code too long", unit=self.unit)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and checks tokens under one key, and holds them to one lifetime cap.

    The cap (`max_hours`, `auth.token_hours`) is checked when a token is issued AND when it is
    verified: a token signed with the right key but made to live longer (an issuer that skipped
    the check, `--hours 87600`) is refused like a forged one."""

    def __init__(self, key: bytes, *, clock: Clock = utc_now, max_hours: float = DEFAULT_TOKEN_HOURS) -> None:
        if len(key) < 16:
            raise ConfigError("auth.secret", "the signing key must have at least 16 bytes")
        if not max_hours > 0:
            raise ConfigError("auth.token_hours", "a token must be allowed to live a while")
        self._key = key
        self._clock = clock
        self.max_hours = max_hours
        self._max_seconds = int(max_hours * 3600)

    def _sign(self, signed_part: str) -> str:
        return _b64(hmac.new(self._key, signed_part.encode("ascii"), hashlib.sha256).digest())

    def issue(self, principal: Principal, *, hours: float) -> str:
        if not 0 < int(hours * 3600) <= self._max_seconds:
            raise InvalidInput(f"a token lives more than 0 and at most {self.max_hours:g} hours (auth.token_hours)",
                               hours=hours)
        now = int(self._clock().timestamp())
        claims = {"sub": principal.user, "role": principal.role, "unit": principal.unit,
                  "iat": now, "exp": now + int(hours * 3600)}
        body = _b64(json.dumps(claims, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        signed_part = f"{VERSION}.{body}"
        return f"{signed_part}.{self._sign(signed_part)}"

    def verify(self, token: str) -> Principal:
        """The principal a token names; Unauthenticated if it is forged, malformed or expired."""
        return self.verify_until(token)[0]

    def verify_until(self, token: str) -> tuple[Principal, datetime]:
        """The principal a token names and when the token expires (an open websocket closes then)."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("access token too long")
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            raise Unauthenticated("malformed access token")
        signed_part = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._sign(signed_part), parts[2]):
            raise Unauthenticated("access token signature does not match")
        try:
            claims: dict[str, Any] = json.loads(_unb64(parts[1]))
            principal = Principal(user=str(claims["sub"]), role=str(claims["role"]),
                                  unit=claims.get("unit"))
            issued, expires = int(claims["iat"]), int(claims["exp"])
        except (ValueError, KeyError, TypeError, binascii.Error, InvalidInput) as exc:
            raise Unauthenticated("malformed access token claims") from exc
        now = self._clock().timestamp()
        if expires - issued > self._max_seconds:
            raise Unauthenticated(f"access token made to live longer than {self.max_hours:g} hours "
                                  "(auth.token_hours)", user=principal.user)
        if issued > now + CLOCK_SKEW_SECONDS:
            raise Unauthenticated("access token issued in the future", user=principal.user)
        if expires <= now:
            raise Unauthenticated("access token expired; sign in again", user=principal.user)
        return principal, datetime.fromtimestamp(expires, UTC)


def load_signing_key(secret: str, secret_file: Path) -> bytes:
    """The configured key, else the one kept in `secret_file` (created on first use)."""
    if secret:
        return secret.encode("utf-8")
    try:
        key = secret_file.read_bytes().strip()
    except FileNotFoundError:
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        fresh = secrets.token_hex(32).encode("ascii")
        try:
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return secret_file.read_bytes().strip()
        with os.fdopen(fd, "wb") as out:
            out.write(fresh)
        return fresh
    except OSError as exc:
        raise ConfigError("auth.secret_file", f"cannot read {secret_file}: {exc}") from exc
    return key


# ---- aiohttp edge ----------------------------------------------------------------------------

TOKEN_SIGNER = web.AppKey("token_signer", TokenSigner)
_PRINCIPAL = web.RequestKey("principal", Principal)

#: The session cookie: HttpOnly, SameSite=Strict, set at sign-in (`accounts/api.py`).
SESSION_COOKIE = "hotline_session"
#: The header that carries the session's CSRF token on every write made with the cookie.
CSRF_HEADER = "X-CSRF-Token"
#: Websocket close code when the session (or token) behind a socket has ended: sign in again.
SESSION_ENDED = 4401
#: Set on a websocket that the server closed because its session or token ended (the close code
#: a handler sees afterwards is the browser's reply, not ours): see `credential_ended`.
_CREDENTIAL_ENDED = web.ResponseKey("credential_ended", bool)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Credential:
    """How a request authenticated: with a session (`session`), a program's API key
    (`api_key`) or a signed test token (`token_expires_at`)."""

    session: SessionRecord | None = None
    token_expires_at: datetime | None = None
    api_key: ApiKeyRecord | None = None


@dataclass(frozen=True, slots=True)
class _LoadedSession:
    """What the middleware found for the request's cookie: the record, or why it could not look."""

    record: SessionRecord | None
    error: HotlineError | None = None


@dataclass(frozen=True, slots=True)
class _LoadedApiKey:
    """What the middleware found for the request's API key: the record, or why it could not look."""

    record: ApiKeyRecord | None
    error: HotlineError | None = None


_CREDENTIAL = web.RequestKey("credential", Credential)
_LOADED_API_KEY = web.RequestKey("loaded_api_key", _LoadedApiKey)
_LOADED_SESSION = web.RequestKey("loaded_session", _LoadedSession)
_SESSION_REFUSED = web.RequestKey("session_refused", bool)
_Handler = TypeVar("_Handler", bound=Callable[..., Awaitable[web.StreamResponse]])
#: What ends a grant (`SessionGate.on_end`, `when_credential_ends`).
Withdraw = Callable[[], Coroutine[Any, Any, None]]


class SessionGate:
    """People's sessions on this node: the lookup, the limits, and the open websockets.

    One task (`run`) re-checks every open socket's session every `recheck_seconds` with ONE
    query for all of them (so the cost is per node, not per socket) and closes the sockets whose
    session has ended. An open socket counts as activity: the same round refreshes its session's
    idle clock, so a desk left open is not signed out while it is used over its socket alone;
    the absolute limit still ends it. A failed round (the database away) leaves sockets open
    and is retried at the next round: a database outage must not cut every desk off.

    The same round ends what was handed out for a session without a socket to carry it (a
    supervisor's monitor-leg SIP password, `on_end`): once every session it was given to has
    ended, its `withdraw` runs."""

    def __init__(self, lookup: SessionLookup, limits: SessionLimits, *, clock: Clock = utc_now,
                 recheck_seconds: float = 2.0, allowed_origins: Collection[str] = ()) -> None:
        self.lookup = lookup
        self.limits = limits
        self.now = clock
        self.recheck_seconds = recheck_seconds
        self.allowed_origins = frozenset(origin.rstrip("/").lower() for origin in allowed_origins)
        self._sockets: dict[web.WebSocketResponse, str] = {}
        self._closing: set[asyncio.Task[bool]] = set()
        #: key -> (the sessions it was given to, what withdraws it once they have all ended)
        self._grants: dict[str, tuple[set[str], Withdraw]] = {}
        self._withdrawing: set[asyncio.Task[None]] = set()

    async def load(self, secret: str) -> SessionRecord | None:
        session_id = session_id_of(secret)
        return (await self.lookup.find_sessions([session_id])).get(session_id)

    def attach(self, ws: web.WebSocketResponse, session_id: str) -> None:
        self._sockets[ws] = session_id

    def detach(self, ws: web.WebSocketResponse) -> None:
        self._sockets.pop(ws, None)

    def on_end(self, session_id: str, key: str, withdraw: Withdraw) -> None:
        """Run `withdraw` once `session_id`, and every other session `key` was given to on this
        node, has ended (the latest `withdraw` for a key is the one that runs)."""
        sessions = self._grants.get(key, (set(), withdraw))[0]
        self._grants[key] = (sessions | {session_id}, withdraw)

    def _ended(self, record: SessionRecord | None, now: datetime) -> str | None:
        return "this session no longer exists" if record is None else refusal(record, now, self.limits)

    async def recheck(self) -> int:
        """One round: close the sockets whose session ended, and withdraw what was given to
        sessions that have all ended; the number of sockets closed."""
        if not self._sockets and not self._grants:
            return 0
        watched = dict(self._sockets)
        granted = {sid for sessions, _ in self._grants.values() for sid in sessions}
        found = await self.lookup.find_sessions(set(watched.values()) | granted)
        now = self.now()
        for key, (sessions, withdraw) in list(self._grants.items()):
            live = {sid for sid in sessions if self._ended(found.get(sid), now) is None}
            if live:
                self._grants[key] = (live, withdraw)
                continue
            del self._grants[key]
            log.info("sessions ended: withdrawing what they were given", extra={"grant": key})
            task = asyncio.create_task(withdraw(), name=f"withdraw-{key}")
            self._withdrawing.add(task)
            task.add_done_callback(self._withdrawn)
        closed = 0
        for ws, session_id in watched.items():
            why = self._ended(found.get(session_id), now)
            if why is not None:
                self.detach(ws)
                self._close(ws, why)
                closed += 1
        stale = {sid for sid, record in found.items()
                 if refusal(record, now, self.limits) is None
                 and now - record.last_seen_at >= self.limits.touch_every}
        if stale:
            await self.lookup.touch_sessions(stale, now)
        return closed

    def _withdrawn(self, task: asyncio.Task[None]) -> None:
        self._withdrawing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("withdrawing a grant of an ended session failed", exc_info=task.exception())

    def _close(self, ws: web.WebSocketResponse, why: str) -> None:
        log.info("websocket closed: its session ended", extra={"reason": why})
        ws[_CREDENTIAL_ENDED] = True
        task = asyncio.create_task(ws.close(code=SESSION_ENDED, message=why.encode("utf-8")[:120]))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.recheck_seconds)
            try:
                await self.recheck()
            except HotlineError as exc:
                log.warning("open websockets not re-checked", extra={"error": str(exc)})
            except Exception:  # never let the re-check die: sockets would outlive their sessions
                log.exception("open websockets not re-checked")


SESSION_GATE = web.AppKey("session_gate", SessionGate)


def when_credential_ends(request: web.Request, key: str, withdraw: Withdraw) -> None:
    """Run `withdraw` when the session of `request` ends (signed out, revoked, disabled, idle or
    past its limit), as the app's `SessionGate` checks it: for what a person is handed for as
    long as they are signed in, without a socket to carry it (a supervisor's SIP password).
    Only a person's session is given such things: a program's API key, or a test token, is
    refused (neither has an end the gate watches)."""
    credential = credential_of(request)
    if credential is None:
        raise RuntimeError("when_credential_ends before the request was authenticated")
    if credential.session is None:
        raise PermissionDenied("only a person signed in with a session is given this", key=key)
    request.app[SESSION_GATE].on_end(credential.session.id, key, withdraw)


def install_sessions(app: web.Application, gate: SessionGate) -> None:
    """Accept session cookies on this app (`session_middleware` is in every `new_app`), and
    re-check its open websockets for as long as it runs."""
    app[SESSION_GATE] = gate

    async def recheck_sockets(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(gate.run(), name="session-recheck")
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(recheck_sockets)


@dataclass(frozen=True, slots=True)
class ApiKeyGate:
    """Programs' API keys on this node: where they are read, and the clock of their last use."""

    lookup: ApiKeyLookup
    now: Clock = utc_now


API_KEY_GATE = web.AppKey("api_key_gate", ApiKeyGate)


def install_api_keys(app: web.Application, gate: ApiKeyGate) -> None:
    """Accept programs' API keys on this app (`api_key_middleware` is in every `new_app`)."""
    app[API_KEY_GATE] = gate


def _header_credential(request: web.Request) -> str | None:
    """The credential of `Authorization: Bearer <credential>`, unchecked; None without one."""
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credential.strip() or None


@web.middleware
async def api_key_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Look the request's API key up before the handler runs (`principal_of` cannot wait), and
    record its use after it (at most once a minute per key). Whether the key may be used is
    decided by `principal_of`."""
    gate = request.app.get(API_KEY_GATE)
    credential = _header_credential(request)
    if gate is not None and credential is not None and is_api_key(credential):
        key_id = key_id_of(credential)
        try:
            request[_LOADED_API_KEY] = _LoadedApiKey(None if key_id is None else await gate.lookup.find_api_key(key_id))
        except HotlineError as exc:
            request[_LOADED_API_KEY] = _LoadedApiKey(None, exc)
    response = await handler(request)
    used = request.get(_CREDENTIAL)
    if gate is not None and used is not None and used.api_key is not None:
        now = gate.now()
        if needs_touch(used.api_key, now):
            try:
                await gate.lookup.touch_api_key(used.api_key.id, now)
            except HotlineError as exc:  # the request was served; the next one touches again
                log.warning("API key use not recorded", extra={"error": str(exc)})
    return response


@web.middleware
async def session_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Look the request's session cookie up before the handler runs (`principal_of` cannot wait),
    write the session's activity after it, and drop a cookie that was refused.

    Only looking happens here; whether the session may be used is decided by `principal_of`, so
    a route that needs nobody (a page, `/health`) is served even with a stale cookie."""
    gate = request.app.get(SESSION_GATE)
    secret = request.cookies.get(SESSION_COOKIE)
    # An explicit token wins over the cookie (`_authenticate`): then the session is not read.
    explicit = "Authorization" in request.headers
    if gate is not None and secret and not explicit and len(secret) <= MAX_TOKEN_LENGTH:
        try:
            request[_LOADED_SESSION] = _LoadedSession(await gate.load(secret))
        except HotlineError as exc:
            request[_LOADED_SESSION] = _LoadedSession(None, exc)
    response = await handler(request)
    credential = request.get(_CREDENTIAL)
    if gate is not None and credential is not None and credential.session is not None:
        now = gate.now()
        if now - credential.session.last_seen_at >= gate.limits.touch_every:
            try:
                await gate.lookup.touch_sessions([credential.session.id], now)
            except HotlineError as exc:  # the request was served; the next one touches again
                log.warning("session activity not recorded", extra={"error": str(exc)})
    if request.get(_SESSION_REFUSED) and not response.prepared:
        response.del_cookie(SESSION_COOKIE, path="/")
    return response


def is_websocket_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _check_origin(request: web.Request, *, required: bool) -> None:
    """A websocket must be opened by the hotline's own pages (same host) or an allowed origin;
    browsers always send `Origin` on a websocket, so one opened with the cookie must have it."""
    origin = request.headers.get("Origin")
    if origin is None:
        if required:
            raise PermissionDenied("a websocket opened with the session cookie needs an Origin header")
        return
    parsed = urlsplit(origin.strip().lower())
    gate = request.app.get(SESSION_GATE)
    allowed = gate.allowed_origins if gate is not None else frozenset()
    if parsed.netloc and parsed.netloc == request.host.lower():
        return
    if origin.strip().rstrip("/").lower() in allowed:
        return
    raise PermissionDenied("websocket refused: it was opened from another site", origin=origin[:200])


def _from_token(request: web.Request, token: str) -> tuple[Principal, Credential]:
    signer = request.app.get(TOKEN_SIGNER)
    if signer is None:  # production: signed tokens are for tests only (`auth.test_tokens`)
        raise Unauthenticated("signed access tokens are not accepted here: people sign in, "
                              "programs send an API key")
    principal, expires = signer.verify_until(token)
    return principal, Credential(token_expires_at=expires)


def _from_api_key(request: web.Request, key: str, socket: bool) -> tuple[Principal, Credential]:
    loaded = request.get(_LOADED_API_KEY)
    if loaded is not None and loaded.error is not None:
        raise loaded.error
    record = loaded.record if loaded is not None else None
    if record is None:
        raise Unauthenticated("unknown API key")
    why = api_key_refusal(record, key)
    if why is not None:
        raise Unauthenticated(why, key=record.id)
    if socket:
        raise PermissionDenied("an API key opens no websocket: websockets are for signed-in people",
                               user=record.user, key=record.id)
    return Principal(user=record.user, role=record.role, unit=record.unit), Credential(api_key=record)


def _from_session(request: web.Request, loaded: _LoadedSession, socket: bool) -> tuple[Principal, Credential]:
    if loaded.error is not None:
        raise loaded.error
    record = loaded.record
    if record is None:
        request[_SESSION_REFUSED] = True
        raise Unauthenticated("unknown session; sign in again")
    gate = request.app[SESSION_GATE]
    why = refusal(record, gate.now(), gate.limits)
    if why is not None:
        request[_SESSION_REFUSED] = True
        raise Unauthenticated(why, user=record.user)
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode("utf-8"), record.csrf_token.encode("utf-8")):
            raise PermissionDenied(f"a write made with the session cookie needs the session's {CSRF_HEADER}",
                                   user=record.user)
    if socket:
        _check_origin(request, required=True)
    return Principal(user=record.user, role=record.role, unit=record.unit), Credential(session=record)


def _authenticate(request: web.Request) -> tuple[Principal, Credential]:
    if "access_token" in request.query:
        # Refused even beside a valid credential: a token in an address is a leaked token.
        raise Unauthenticated("an access token in the address is never accepted: send it in the "
                              "Authorization header, or sign in")
    socket = is_websocket_upgrade(request)
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("use 'Authorization: Bearer <API key>'")
        if is_api_key(token.strip()):
            return _from_api_key(request, token.strip(), socket)
        if socket:
            _check_origin(request, required=False)
        return _from_token(request, token.strip())
    loaded = request.get(_LOADED_SESSION)
    if loaded is not None:
        return _from_session(request, loaded, socket)
    raise Unauthenticated("sign in first: no session and no access token")


def bearer_token(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer …` (a token in the address is never read)."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("use 'Authorization: Bearer <token>'")
        return token.strip()
    return None


def principal_of(request: web.Request) -> Principal:
    """The request's authenticated principal (checked once per request, then remembered)."""
    cached: Principal | None = request.get(_PRINCIPAL)
    if cached is not None:
        return cached
    principal, credential = _authenticate(request)
    request[_PRINCIPAL] = principal
    request[_CREDENTIAL] = credential
    return principal


def credential_of(request: web.Request) -> Credential | None:
    """How the request authenticated, once `principal_of` has accepted it."""
    return request.get(_CREDENTIAL)


def require(request: web.Request, allowed: Collection[str] | None = None) -> Principal:
    """The principal, if its role is one of `allowed` (any role when None)."""
    principal = principal_of(request)
    if allowed is not None and principal.role not in allowed:
        raise PermissionDenied(f"role {principal.role!r} may not do this",
                               needed=sorted(allowed), user=principal.user)
    return principal


async def _close_at(ws: web.WebSocketResponse, delay: float) -> None:
    await asyncio.sleep(max(0.0, delay))
    log.info("websocket closed: its access token expired")
    ws[_CREDENTIAL_ENDED] = True
    await ws.close(code=SESSION_ENDED, message=b"access token expired")


def credential_ended(ws: web.WebSocketResponse) -> bool:
    """Whether the server closed `ws` because the session or token it was opened with ended
    (signed out, revoked, disabled, expired), rather than the browser leaving: what the socket's
    owner may still have to withdraw (the desk: its softphone password)."""
    return bool(ws.get(_CREDENTIAL_ENDED, False))


@asynccontextmanager
async def watched(request: web.Request, ws: web.WebSocketResponse) -> AsyncIterator[None]:
    """Keep `ws` open only while the credential it was opened with is valid: a session is
    re-checked by the app's `SessionGate`; a token closes the socket when it expires. Wrap the
    socket's receive loop in it, after `require` and `ws.prepare`."""
    credential = request[_CREDENTIAL]  # KeyError: the handler never authenticated (a bug)
    if credential.session is not None:
        gate = request.app[SESSION_GATE]
        gate.attach(ws, credential.session.id)
        try:
            yield
        finally:
            gate.detach(ws)
        return
    closer: asyncio.Task[None] | None = None
    if credential.token_expires_at is not None:
        delay = (credential.token_expires_at - utc_now()).total_seconds()
        closer = asyncio.create_task(_close_at(ws, delay), name="token-expiry")
    try:
        yield
    finally:
        if closer is not None:
            closer.cancel()
            with suppress(asyncio.CancelledError):
                await closer
