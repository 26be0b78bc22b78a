"""A person's browser softphone account, handed to a page for as long as their session lasts.

The supervisor's page (live calls) and the callback page (survey calls) each ask for the
person's SIP account with a POST; the password it carries must stop registering the moment the
session it was given to ends (signed out, revoked, disabled, idle or past its limit), like an
agent's when their desk's session ends. The rule is here once: the withdrawal is bound to the
session *before* the password exists, so no password is ever handed out that nothing withdraws.

The telephony behind it is the caller's (`Softphones`, a port each page's capability fills);
this module knows nothing of SIP.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from kernel import auth


class Softphones(Protocol):
    """Where a person's browser softphone account comes from, and goes back to."""

    async def softphone(self, person: str) -> dict[str, Any]:
        """The person's account: ws_url, sip_uri, username, password (provisioned now)."""

    async def softphone_ended(self, person: str) -> None:
        """The session the password was given to ended: it stops registering now."""


async def softphone_response(request: web.Request, person: str, phones: Softphones, *,
                             line: str = "softphone") -> web.Response:
    """The account of `person` (the request's signed-in person), withdrawn at the end of the
    request's session; never cached (it holds a password). Refused (PermissionDenied) to a
    program's API key or a test token, which have no end to withdraw it at. `line` names which
    of the person's softphones this is: each is withdrawn on its own (the gate keeps one
    withdrawal per key)."""

    async def withdraw() -> None:
        await phones.softphone_ended(person)

    auth.when_credential_ends(request, f"{line}:{person}", withdraw)
    account = await phones.softphone(person)
    return web.json_response(account, headers={"Cache-Control": "no-store"})
