"""Every response of the whole app carries the security headers (kernel/security_headers.py):
pages, the sign-in page, scripts, JSON answers, errors and aiohttp's own 404; pages also carry
the Content-Security-Policy that keeps scripts and connections to the backend (the softphone's
SIP goes through the backend's own `/sip` relay, so Asterisk's origin is not needed). On real
Redis and SQLite; the browser's side (no page breaks under
the policy) is tests/e2e/test_pages_sign_in.py."""

from __future__ import annotations

from pathlib import Path

from hotline.composition import signing_key
from kernel.auth import Principal, TokenSigner
from kernel.security_headers import origin_of
from tests.whole_app import whole_app, whole_app_settings

ALWAYS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


async def test_every_response_carries_the_headers_and_pages_the_policy(
    tmp_path: Path, sqlite_url: str, redis_key_prefix: str, redis_client: object,
) -> None:
    settings = whole_app_settings(tmp_path, sqlite_url, redis_key_prefix, auth_test_tokens="true")
    token = TokenSigner(signing_key(settings)).issue(Principal("sup1", "supervisor"), hours=1)
    supervisor = {"Authorization": f"Bearer {token}"}
    asterisk = origin_of(settings.ari.url.replace("http://", "ws://"))
    async with whole_app(settings) as client:
        answers = {
            "sign-in page": await client.get("/signin"),
            "staff page": await client.get("/supervisor", headers=supervisor),
            "live page": await client.get("/live", headers=supervisor),
            "page redirect": await client.get("/supervisor", allow_redirects=False),
            "script": await client.get("/static/live.js"),
            "json": await client.get("/api/abuse/restricted", headers=supervisor),
            "json error": await client.get("/api/session"),
            "not found": await client.get("/no-such-page"),
        }
        for what, response in answers.items():
            for name, value in ALWAYS.items():
                assert response.headers.get(name) == value, (what, name, dict(response.headers))
        assert answers["page redirect"].status == 303 and answers["not found"].status == 404
        for what in ("sign-in page", "staff page", "live page"):
            response = answers[what]
            assert response.status == 200 and response.content_type == "text/html", what
            policy = directives(response.headers["Content-Security-Policy"])
            assert policy["script-src"] == ["'self'"], what  # no inline script, no eval
            assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
            assert policy["connect-src"] == ["'self'"], what  # not Asterisk's HTTP port (ARI)
            assert asterisk not in response.headers["Content-Security-Policy"], what
            assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'self'"]
        for what in ("script", "json", "json error"):
            assert "Content-Security-Policy" not in answers[what].headers, what


def test_no_page_of_the_backend_has_an_inline_script_or_handler() -> None:
    """What `script-src 'self'` would block in the browser, found in the sources."""
    root = Path(__file__).resolve().parents[2]
    pages = [p for p in root.glob("*/**/*.html")
             if not {".venv", "tests", "vendor", "node_modules", ".git"} & set(p.relative_to(root).parts)]
    assert pages
    for html in pages:
        text = html.read_text(encoding="utf-8")
        for tag in text.split("<script")[1:]:
            opening = tag.split(">", 1)[0]
            assert "src=" in opening, f"{html}: an inline <script>"
        assert " onclick=" not in text and " onload=" not in text and "javascript:" not in text, html
