"""Security headers on every response the backend sends (issue 25 item 5).

Why on every response, and through `on_response_prepare` rather than a middleware: static
files, websocket upgrades, aiohttp's own 404/405 answers and errors raised as `HTTPException`
never pass a middleware's return value, but every one of them is prepared.

- `X-Content-Type-Options: nosniff` everywhere: an uploaded evidence file or a JSON answer is
  never run as a script or rendered as a page because its bytes look like one.
- `Referrer-Policy: no-referrer`: a ticket number or a recording's address in a page's URL
  never leaves with a link followed from it.
- `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'`: no page of the hotline can be framed
  by another site (click-jacking a supervisor's barge or a dispatcher's one-key dispatch).
- A Content-Security-Policy on HTML pages: scripts only from the backend itself (no inline
  script, no eval), connections only to the backend and the softphone's SIP websocket,
  no plugins, no `<base>` rewriting, forms post only here. Inline `style` attributes stay
  allowed: the pages use a few, and a style cannot run code.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from aiohttp import web

#: Extra `connect-src` sources of the pages (the softphone's SIP-over-WebSocket origin).
CONNECT_SOURCES = web.AppKey("security_connect_sources", tuple)

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def origin_of(url: str) -> str:
    """`ws://127.0.0.1:8088/ws` -> `ws://127.0.0.1:8088` (a CSP source); "" for no URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(connect_sources: Sequence[str] = ()) -> str:
    """The pages' policy; `connect_sources` are origins the pages may open connections to
    besides their own (the backend's `ws(s)://` is covered by `'self'`)."""
    connect = " ".join(["'self'", *sorted({s for s in connect_sources if s})])
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        f"connect-src {connect}",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in ALWAYS.items():
        response.headers.setdefault(name, value)
    if response.content_type == "text/html":
        sources = request.app.get(CONNECT_SOURCES, ())
        response.headers.setdefault("Content-Security-Policy", content_security_policy(sources))


def install_security_headers(app: web.Application) -> None:
    """Every response of `app` carries the headers above (`kernel.http_edge.new_app` does this
    for every app of the backend)."""
    app[CONNECT_SOURCES] = ()
    app.on_response_prepare.append(_add_headers)


def allow_connections(app: web.Application, urls: Sequence[str]) -> None:
    """The pages of `app` may also open connections to these URLs' origins (the composition
    root names the softphone's SIP websocket)."""
    app[CONNECT_SOURCES] = tuple(origin for origin in map(origin_of, urls) if origin)
