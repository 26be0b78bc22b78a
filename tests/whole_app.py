"""The whole backend as `hotline run` builds it (`hotline.composition.build_app`), served by a
test server on real Redis and a real database, with no Asterisk: ARI points at a closed port,
so the call path keeps retrying in the background while every HTTP route and websocket answers.
For tests of the HTTP edge of the real app (who may call what) that must not pay for a sandbox.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from devtools.sandbox import free_tcp_port
from hotline.composition import build_app
from hotline.settings import Settings, load_settings
from kernel.database import open_database


def whole_app_settings(tmp_path: Path, database_url: str, redis_prefix: str, **overrides: str) -> Settings:
    """Settings of a backend of its own: its database, key prefix, directories and ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({
        "HOTLINE_DATABASE_URL": database_url,
        "HOTLINE_REDIS_URL": os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "HOTLINE_REDIS_KEY_PREFIX": redis_prefix,
        "HOTLINE_ARI_URL": f"http://127.0.0.1:{free_tcp_port()}",  # nobody listens: no Asterisk
        "HOTLINE_CALL_FLOW_RECORDING_DIR": str(tmp_path / "recordings"),
        "HOTLINE_CALL_FLOW_MESSAGE_SPOOL_DIR": str(tmp_path / "messages"),
        "HOTLINE_CALL_FLOW_OUTBOX_DIR": str(tmp_path / "outbox"),
        "HOTLINE_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "HOTLINE_AUTH_SECRET_FILE": str(tmp_path / "auth-secret"),
        "HOTLINE_STORAGE_DATA_KEY_FILE": str(tmp_path / "data-key"),
        "HOTLINE_STORAGE_GENERATE_KEY": "true",
        "HOTLINE_ABUSE_FASTAGI_PORT": str(free_tcp_port()),
        "HOTLINE_SUPERVISION_ENABLED": "false",
        "HOTLINE_CALLBACK_ENABLED": "false",
        "HOTLINE_AUTH_SESSION_COOKIE_SECURE": "false",
    })
    env.update({f"HOTLINE_{key.upper()}": value for key, value in overrides.items()})
    return load_settings(environ=env)


@asynccontextmanager
async def whole_app(settings: Settings) -> AsyncIterator[TestClient]:
    """The app `hotline run` would serve with `settings`, started; the database migrated first
    (what `preflight` does, without its ARI check)."""
    engine = await open_database(settings.database.url, migrate=True)
    await engine.dispose()
    client = TestClient(TestServer(build_app(settings), host="127.0.0.1"), cookie_jar=DummyCookieJar())
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
