"""Several nodes starting together migrate the database once, not in a race."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from kernel.database import open_database

pytestmark = pytest.mark.postgres


async def test_nodes_starting_together_migrate_a_fresh_postgres_once(postgres_url: str) -> None:
    engines = await asyncio.gather(*(open_database(postgres_url, migrate=True) for _ in range(4)))
    try:
        async with engines[0].connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        assert len(versions) == 1
    finally:
        for engine in engines:
            await engine.dispose()
