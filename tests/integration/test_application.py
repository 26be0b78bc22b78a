"""The whole backend as `hotline run` builds it, against real Asterisk, Redis and SQLite."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from devtools.sandbox import AsteriskSandbox, free_tcp_port
from hotline.composition import build_app, preflight
from hotline.settings import load_settings
from kernel import openapi
from tests.asterisk_harness import bridge_env

pytestmark = pytest.mark.asterisk


async def test_openapi_lists_every_route_of_the_running_app(
    asterisk: AsteriskSandbox, sqlite_url: str, redis_key_prefix: str, redis_client,
) -> None:
    settings = load_settings(environ=bridge_env(asterisk, sqlite_url, redis_key_prefix,
                                                free_tcp_port()))
    await preflight(settings)
    app = build_app(settings)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/api/openapi.json")
        assert response.status == 200
        document = await response.json()
        assert (await client.get("/health")).status == 200

    assert document == openapi.openapi_document(openapi.operations_of(app))
    assert openapi.undocumented_routes(app) == set()
    assert openapi.unserved_operations(app) == set()
    for path in ("/api/tickets", "/api/kb/search", "/api/abuse/restricted", "/api/evidence",
                 "/api/statistics/units", "/api/supervision/scan", "/health", "/ws/live",
                 "/api/calls", "/api/calls/{call_id}/recording", "/api/audit", "/api/live/calls",
                 "/api/live/calls/{call_id}/monitor", "/supervisor", "/recordings",
                 "/ws/wallboard", "/metrics", "/signin", "/api/session", "/api/users/{username}/sessions",
                 "/", "/live", "/admin", "/api/users", "/api/users/{username}/password", "/signin/session.js"):
        assert path in document["paths"], path
