"""The access audit cannot be edited: the database itself refuses UPDATE and DELETE.

On PostgreSQL a trigger refuses both (and TRUNCATE) for any client, even one that bypasses the
backend; only the retention purge, announcing itself in its transaction, may delete rows past
the legal six months. SQLite enforces the same with its own triggers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.audit import MIN_RETENTION_DAYS, AccessAudit, AccessKind, AccessRecord, AuditQuery
from kernel.clock import FixedClock
from kernel.schema import access_audit

NOW = datetime.now(UTC)


def row(at: datetime, actor: str = "sup1") -> AccessRecord:
    return AccessRecord(actor=actor, role="supervisor", unit=None, kind=AccessKind.RECORDING, allowed=True,
                        at=at, where="127.0.0.1", call_id="c1", detail="full file")


async def test_audit_rows_cannot_be_updated_or_deleted(engine: AsyncEngine) -> None:
    audit = AccessAudit(engine)
    await audit.record(row(NOW))
    for statement in (update(access_audit).values(actor="someone-else"), delete(access_audit)):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(statement)
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text("TRUNCATE access_audit"))
        # Saying one is the purge does not unlock young rows.
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text("SET LOCAL hotline.audit_purge = 'on'"))
                await conn.execute(delete(access_audit))
    assert [r.actor for r in await audit.search(AuditQuery())] == ["sup1"]


async def test_the_purge_removes_only_rows_past_the_retention(engine: AsyncEngine) -> None:
    audit = AccessAudit(engine, retention_days=200, clock=FixedClock(NOW))
    await audit.record(row(NOW - timedelta(days=250), actor="old"))
    await audit.record(row(NOW - timedelta(days=190), actor="within-retention"))
    await audit.record(row(NOW, actor="new"))
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):  # not the purge: refused even for old rows
            async with engine.begin() as conn:
                await conn.execute(delete(access_audit).where(access_audit.c.actor == "old"))
    assert await audit.purge() == 1
    assert {r.actor for r in await audit.search(AuditQuery())} == {"within-retention", "new"}
    with pytest.raises(ValueError):
        AccessAudit(engine, retention_days=MIN_RETENTION_DAYS - 1)
