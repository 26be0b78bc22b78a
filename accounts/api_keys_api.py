"""Programs' API keys over HTTP: an administrator, or the account's owner, lists, makes and
revokes the named keys of an account (`hotline api-key` does the same on the server).

    GET    /api/users/{username}/api-keys             the account's keys (never a key itself)
    POST   /api/users/{username}/api-keys             {"name": "网站受理"}: the key, shown once
    DELETE /api/users/{username}/api-keys/{key_id}    revoke it for good

A key is made only by a person with a session (or on the server's command line), never with
another key: a leaked key must not be able to mint its successors.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from accounts.api_keys import ApiKeyStore
from accounts.model import MAX_KEY_NAME
from kernel import auth
from kernel.auth import Principal
from kernel.errors import NotFound, PermissionDenied
from kernel.http_edge import RequestBody, read_body
from kernel.openapi import Operation
from kernel.roles import ACCOUNT_ADMINS

API_KEY_STORE = web.AppKey("api_key_store", ApiKeyStore)

routes = web.RouteTableDef()


class NewKeyBody(RequestBody):
    name: str = Field(min_length=1, max_length=MAX_KEY_NAME)


def _admin_or_owner(request: web.Request) -> tuple[Principal, str]:
    """The caller and the account named in the path, if the caller administers accounts or is
    that account."""
    principal = auth.require(request)
    username = request.match_info["username"][:64]
    if principal.role not in ACCOUNT_ADMINS and principal.user != username:
        raise PermissionDenied("only an administrator or the account itself manages its API keys",
                               user=principal.user)
    return principal, username


@routes.get("/api/users/{username}/api-keys")
async def list_keys(request: web.Request) -> web.Response:
    _, username = _admin_or_owner(request)
    keys = await request.app[API_KEY_STORE].list(username)
    return web.json_response({"username": username, "api_keys": [key.as_json() for key in keys]},
                             headers={"Cache-Control": "no-store"})


@routes.post("/api/users/{username}/api-keys")
async def create_key(request: web.Request) -> web.Response:
    principal, username = _admin_or_owner(request)
    credential = auth.credential_of(request)
    if credential is not None and credential.api_key is not None:
        raise PermissionDenied("an API key makes no API keys: sign in to make one", user=principal.user)
    body = await read_body(request, NewKeyBody)
    key, listed = await request.app[API_KEY_STORE].create(username, body.name, created_by=principal.user)
    return web.json_response({"key": key, "api_key": listed.as_json(),
                              "note": "the key is shown once: keep it in the program's secret store"},
                             status=201, headers={"Cache-Control": "no-store"})


@routes.delete("/api/users/{username}/api-keys/{key_id}")
async def revoke_key(request: web.Request) -> web.Response:
    principal, username = _admin_or_owner(request)
    store = request.app[API_KEY_STORE]
    key = await store.get(request.match_info["key_id"])
    if key.username != username:
        raise NotFound(f"no API key {key.id!r} of {username!r}", key=key.id)
    revoked = await store.revoke(key.id, by=principal.user)
    return web.json_response({"api_key": revoked.as_json()})


def operations() -> list[Operation]:
    return [
        Operation("get", "/api/users/{username}/api-keys", "The account's API keys (names, last use; "
                  "never a key)", ACCOUNT_ADMINS, owner="username"),
        Operation("post", "/api/users/{username}/api-keys", "Make a named API key for the account: the key "
                  "is in this answer only (needs a session: no key makes keys)", ACCOUNT_ADMINS, NewKeyBody,
                  success=201, owner="username", api_keys=False),
        Operation("delete", "/api/users/{username}/api-keys/{key_id}", "Revoke an API key for good",
                  ACCOUNT_ADMINS, owner="username"),
    ]
