"""Websocket caps per person and per node, on a real staff websocket (the dispatch workbench's
feed, relayed from real Redis): one more socket than allowed is accepted and closed at once
with a close code the page can show; closing one frees its place.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from kernel.http_edge import new_app
from kernel.socket_caps import OVER_NODE_CAP, OVER_PERSONAL_CAP, SOCKET_CAPS, SocketCaps
from tests.auth_tokens import bearer, with_test_signer
from workbenches import feed

PATH = "/ws/workbench/dispatch"


@pytest.fixture
async def client(redis_client: aioredis.Redis, redis_key_prefix: str) -> AsyncIterator[TestClient]:
    app = with_test_signer(new_app(SocketCaps(per_person=2, total=3)))
    app[feed.FEED_REDIS] = redis_client
    app[feed.FEED_PREFIX] = redis_key_prefix
    app.router.add_get(PATH, feed.dispatch_feed)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


async def opened(client: TestClient, user: str) -> aiohttp.ClientWebSocketResponse:
    return await client.ws_connect(PATH, headers=bearer("dispatcher", user))


async def ready(ws: aiohttp.ClientWebSocketResponse) -> None:
    assert (await ws.receive_json()) == {"type": "ready"}


async def refused_with(ws: aiohttp.ClientWebSocketResponse) -> tuple[int | None, str]:
    message = await ws.receive()
    assert message.type is aiohttp.WSMsgType.CLOSE, message
    return ws.close_code, message.extra or ""


async def test_one_socket_over_the_personal_cap_is_closed_with_4429(client: TestClient) -> None:
    first, second = await opened(client, "pai"), await opened(client, "pai")
    await ready(first)
    await ready(second)
    third = await opened(client, "pai")
    code, reason = await refused_with(third)
    assert code == OVER_PERSONAL_CAP
    assert "连接过多" in reason
    other = await opened(client, "zhao")  # another person is not held to pai's count
    await ready(other)
    await first.close()
    await released_to(client, 2)
    again = await opened(client, "pai")  # the closed socket's place is free again
    await ready(again)
    for ws in (second, other, again):
        await ws.close()


async def test_the_node_cap_counts_everyone(client: TestClient) -> None:
    sockets = [await opened(client, user) for user in ("a1", "a2", "a3")]
    for ws in sockets:
        await ready(ws)
    code, reason = await refused_with(await opened(client, "a4"))
    assert code == OVER_NODE_CAP
    assert "稍后重试" in reason
    for ws in sockets:
        await ws.close()


async def test_a_refused_credential_is_not_counted(client: TestClient) -> None:
    for _ in range(4):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(PATH, headers=bearer("unit", "u1", "city-housing"))
        assert refused.value.status == 403
    assert client.app[SOCKET_CAPS].open == 0


async def released_to(client: TestClient, expected: int) -> None:
    """The server counts a socket out when its handler returns (after unsubscribing from Redis),
    a moment after the client's close completes: wait for that, bounded."""
    async with asyncio.timeout(10):
        while client.app[SOCKET_CAPS].open != expected:
            await asyncio.sleep(0.01)
