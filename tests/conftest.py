"""Fixtures that hand tests REAL services: Redis, SQLite, PostgreSQL, Asterisk.

Isolation: every Redis user gets its own key prefix (deleted afterwards), every PostgreSQL
user its own freshly created database (dropped afterwards), every SQLite user its own file.
`scripts/test` has made sure Redis and PostgreSQL are reachable before pytest starts.
"""

from __future__ import annotations

import os

# pytest-xdist runs the suite in several worker processes: give each its own slice of the
# sandboxes' UDP port ranges (devtools.sandbox.port_slice) before devtools.sandbox is imported.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ["HOTLINE_PORT_SLICE"] = (
        f"{int(os.environ['PYTEST_XDIST_WORKER'].removeprefix('gw'))}/{os.environ['PYTEST_XDIST_WORKER_COUNT']}"
    )
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.scratch_database import create_scratch_database, drop_scratch_database
from kernel.database import open_database

REDIS_URL = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_ADMIN_URL = os.environ.get(
    "HOTLINE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres:postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def redis_key_prefix() -> str:
    """A key prefix no other test or run shares."""
    return f"hotline-test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def redis_client(redis_key_prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL, decode_responses=False)
    await client.ping()
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"{redis_key_prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def _create_postgres_database() -> str:
    """Create a throw-away database on the real server and return its async URL."""
    return await create_scratch_database(POSTGRES_ADMIN_URL, "hotline_test")


async def _drop_postgres_database(url: str) -> None:
    await drop_scratch_database(POSTGRES_ADMIN_URL, url)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    url = await _create_postgres_database()
    try:
        yield url
    finally:
        await _drop_postgres_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'hotline.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database URL, once for SQLite and once for real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'hotline.sqlite3'}"
    else:
        url = await _create_postgres_database()
        try:
            yield url
        finally:
            await _drop_postgres_database(url)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database (SQLite, then PostgreSQL) migrated to the newest schema."""
    engine = await open_database(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def project_root() -> Iterator[Path]:
    yield Path(__file__).resolve().parent.parent


pytest_plugins = ["tests.log_scan", "tests.asterisk_harness", "tests.asr_fixtures", "tests.scheduling"]
