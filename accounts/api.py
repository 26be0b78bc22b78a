"""Sign-in over HTTP: the zh-CN sign-in page, the session (sign in, who am I, sign out), and the
script every page signs in with.

`POST /api/session` answers with the session's CSRF token, which the pages send in
`X-CSRF-Token` with every write (`kernel.auth` checks it); the session itself travels only in an
HttpOnly, SameSite=Strict cookie that scripts cannot read. The sign-in request must be JSON from
the hotline's own origin, so another site cannot sign a browser in under its own account.
Both answers name the pages the person's role may open and the one they land on
(`kernel.pages`); every page signs in through `static/session.js` (`/signin/session.js`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import Field

from accounts.model import MAX_PASSWORD_LENGTH
from accounts.sign_in import SignIn
from accounts.store import AccountStore
from kernel import auth
from kernel.audit import client_address
from kernel.errors import InvalidInput, PermissionDenied
from kernel.http_edge import RequestBody, read_body
from kernel.openapi import ANYONE, SIGNED_IN, Operation
from kernel.pages import home_for, pages_for
from kernel.roles import ROLE_TITLES, Role
from kernel.sessions import SessionLimits, session_id_of

STATIC_DIR = Path(__file__).resolve().parent / "static"

SIGN_IN = web.AppKey("sign_in", SignIn)
ACCOUNT_STORE = web.AppKey("account_store", AccountStore)
SESSION_LIMITS = web.AppKey("session_limits", SessionLimits)
#: Unit codes and names (the dispatch catalogue): the pages name a unit's staff's unit.
KNOWN_UNITS = web.AppKey("known_units", Mapping[str, str])
#: The cookie's Secure flag (`auth.session_cookie_secure`).
COOKIE_SECURE = web.AppKey("session_cookie_secure", bool)

routes = web.RouteTableDef()


class SignInBody(RequestBody):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


def _pages(request: web.Request, role: str) -> dict[str, object]:
    """The pages of `role` and its landing page, for the sign-in page and the pages' navigation."""
    home = home_for(request.app, role)
    return {"pages": [p.as_json() for p in pages_for(request.app, role)],
            "home": home.path if home is not None else None}


def _same_origin_json(request: web.Request) -> None:
    """A sign-in comes from our own page as JSON: a cross-site form cannot send JSON without a
    CORS preflight, and a cross-site script is named by its Origin."""
    if request.content_type != "application/json":
        raise InvalidInput("send the sign-in as application/json")
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin.strip().lower()).netloc != request.host.lower():
        raise PermissionDenied("sign-in refused: it came from another site", origin=origin[:200])


@routes.post("/api/session")
async def sign_in(request: web.Request) -> web.Response:
    _same_origin_json(request)
    body = await read_body(request, SignInBody)
    secret, record, account = await request.app[SIGN_IN].attempt(
        body.username, body.password, address=client_address(request) or "unknown",
        user_agent=request.headers.get("User-Agent"))
    replaced = request.cookies.get(auth.SESSION_COOKIE)
    if replaced and len(replaced) <= auth.MAX_TOKEN_LENGTH:
        # The browser's previous session ends: one browser, one session, never a fixed one.
        await request.app[ACCOUNT_STORE].revoke_session(session_id_of(replaced), "replaced")
    limits = request.app[SESSION_LIMITS]
    response = web.json_response({
        **account.as_json(), "csrf_token": record.csrf_token, **_pages(request, account.role.value),
        "idle_minutes": limits.idle.total_seconds() / 60,
        "expires_at": (record.created_at + limits.absolute).isoformat()})
    response.set_cookie(auth.SESSION_COOKIE, secret, path="/", httponly=True, samesite="Strict",
                        secure=request.app[COOKIE_SECURE], max_age=int(limits.absolute.total_seconds()))
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/api/session")
async def who_am_i(request: web.Request) -> web.Response:
    """The signed-in person and, for a session, its CSRF token (pages read it once on load)."""
    principal = auth.require(request)
    credential = auth.credential_of(request)
    session = credential.session if credential is not None else None
    body: dict[str, object] = {"username": principal.user, "role": principal.role,
                               "role_title": ROLE_TITLES[Role(principal.role)], "unit": principal.unit,
                               "unit_name": request.app[KNOWN_UNITS].get(principal.unit or "") or None,
                               "display_name": principal.user, "session": session is not None,
                               **_pages(request, principal.role)}
    if session is not None:
        account = await request.app[ACCOUNT_STORE].get(principal.user)
        limits = request.app[SESSION_LIMITS]
        body.update(display_name=account.display_name, csrf_token=session.csrf_token,
                    expires_at=(session.created_at + limits.absolute).isoformat())
    return web.json_response(body, headers={"Cache-Control": "no-store"})


@routes.delete("/api/session")
async def sign_out(request: web.Request) -> web.Response:
    principal = auth.require(request)  # with the cookie: the CSRF token too (a DELETE is a write)
    credential = auth.credential_of(request)
    if credential is None or credential.session is None:
        raise InvalidInput("no session to sign out of: this request came with an access token")
    await request.app[ACCOUNT_STORE].revoke_session(credential.session.id, "sign_out")
    response = web.json_response({"signed_out": principal.user})
    response.del_cookie(auth.SESSION_COOKIE, path="/")
    return response


@routes.get("/signin")
async def sign_in_page(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "signin.html", headers={"Cache-Control": "no-store"})


@routes.get("/signin/signin.js")
async def sign_in_script(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "signin.js", headers={"Content-Type": "text/javascript"})


@routes.get("/signin/session.js")
async def session_script(_: web.Request) -> web.FileResponse:
    """What every page shares: signing in, the CSRF token on writes, sign-out, the navigation."""
    return web.FileResponse(STATIC_DIR / "session.js", headers={"Content-Type": "text/javascript"})


def operations() -> list[Operation]:
    return [
        Operation("post", "/api/session", "Sign in with user name and password: sets the HttpOnly "
                  "session cookie and answers with the CSRF token for `X-CSRF-Token` (429 after too "
                  "many failures, with Retry-After)", ANYONE, SignInBody),
        Operation("get", "/api/session", "Who is signed in (and the session's CSRF token)", SIGNED_IN),
        Operation("delete", "/api/session", "Sign out: end this session (cookie and X-CSRF-Token)",
                  SIGNED_IN),
        Operation("get", "/signin", "The sign-in page (zh-CN)", ANYONE, content_type="text/html"),
        Operation("get", "/signin/signin.js", "The sign-in page's script", ANYONE,
                  content_type="text/javascript"),
        Operation("get", "/signin/session.js", "The pages' shared sign-in script (session, CSRF token, "
                  "sign-out, navigation)", ANYONE, content_type="text/javascript"),
    ]
