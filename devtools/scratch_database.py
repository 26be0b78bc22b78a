"""Throw-away PostgreSQL databases for tests and benchmarks, created next to an admin URL.

Each test and each bench run gets its own database with a unique name and drops it afterwards
(`WITH (FORCE)`, so a leftover connection cannot keep it alive), so runs never see each
other's rows.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


async def create_scratch_database(admin_url: str, prefix: str) -> str:
    """Create an empty database on `admin_url`'s server; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_scratch_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
