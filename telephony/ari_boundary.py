"""Asterisk's HTTP server behind its own boundary: start-up refusals of an ARI anyone could use.

ARI lists live callers' numbers, snoops calls and pushes endpoints. Two settings made it usable
by any page open in an agent's browser (issue 25): a known password (`hotline`/`hotline` in the
samples; `AriSettings.check_credentials` refuses it) and `allowed_origins = *` in ari.conf, with
which Asterisk answers every origin's cross-origin request *with credentials*
(`Access-Control-Allow-Origin: <that origin>`, `Access-Control-Allow-Credentials: true`).
The backend does not write Asterisk's configuration in production, so it checks what Asterisk
does: `refuse_open_cors` asks ARI a CORS preflight from an origin no deployment allows and
refuses to start if ARI would answer it.

What this cannot close, and why the softphones go through the backend's `/sip` relay
(`telephony.sip_proxy`) so that Asterisk's HTTP port can be firewalled to the backend nodes:
Asterisk checks no `Origin` on ARI websockets, and a simple cross-origin POST carrying
`api_key=` in its query needs no preflight; both still need the password.
"""

from __future__ import annotations

import aiohttp

from kernel.errors import ConfigError, Unavailable, cause_of

#: An origin no deployment would list in ari.conf's allowed_origins.
PROBE_ORIGIN = "https://ari-origin-probe.invalid"


async def refuse_open_cors(url: str, timeout: float) -> None:
    """ConfigError if ARI at `url` lets pages of any origin read its answers."""
    headers = {"Origin": PROBE_ORIGIN, "Access-Control-Request-Method": "GET",
               "Access-Control-Request-Headers": "authorization"}
    try:
        async with aiohttp.ClientSession() as session, \
                session.options(f"{url}/ari/asterisk/ping", headers=headers,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            allowed = response.headers.get("Access-Control-Allow-Origin")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable(f"ARI at {url} is unreachable: {cause_of(exc)}", url=url) from exc
    if allowed in (PROBE_ORIGIN, "*"):
        raise ConfigError("ari.url", "ARI answers pages of any origin (ari.conf allowed_origins = *): "
                          "list only the origins that need ARI from a browser, or none")
