"""The access audit: one append-only row for every read of a citizen's data, allowed or not,
and for every change an administrator makes to who may read it (accounts and their sessions).

Personal-information law (PIPL) requires knowing who read which citizen's data: a call's
recording, its transcript, a caller's history, a confidential caller's identity. Every
capability that serves such data writes here, through this one writer in the shared kernel, so
no capability imports another to be audited and the row has one shape everywhere. A denied
attempt is written too: the attempts are what an auditor looks for.

The table (`kernel.schema.access_audit`, migration 0008) is append-only: the database itself
refuses UPDATE and DELETE (a trigger), except that the retention purge may delete rows older
than the legal minimum (`MIN_RETENTION_DAYS`); see the migration. This module never updates a
row and only deletes through `purge`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.access_policy import AccessKind, Decision, Reader, audit_number
from kernel.auth import Principal
from kernel.clock import Clock, utc_now
from kernel.privacy import mask_phone
from kernel.schema import access_audit

__all__ = ["ACCESS_AUDIT", "MIN_RETENTION_DAYS", "AccessAudit", "AccessKind", "AccessRecord", "AuditQuery",
           "audit_access", "audit_read", "client_address", "install_audit", "reader_of"]

#: Network logs must be kept at least six months (网络安全法 第二十一条); the database trigger
#: refuses to delete anything younger, whatever the setting says.
MIN_RETENTION_DAYS = 183


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One read of personal data. `where` is the client's address; `detail` what exactly was
    read (a byte range of a recording, "full"), or why it was refused."""

    actor: str
    role: str
    unit: str | None
    kind: AccessKind
    allowed: bool
    at: datetime
    where: str | None = None
    call_id: str | None = None
    ticket_no: str | None = None
    caller_number: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of `GET /api/audit`; None matches everything."""

    actor: str | None = None
    kind: AccessKind | None = None
    call_id: str | None = None
    ticket_no: str | None = None
    caller_number: str | None = None
    allowed: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


class AccessAudit:
    """Writes and searches the access audit table."""

    def __init__(self, engine: AsyncEngine, *, retention_days: int = 365, clock: Clock = utc_now) -> None:
        if retention_days < MIN_RETENTION_DAYS:
            raise ValueError(f"audit retention must be at least {MIN_RETENTION_DAYS} days")
        self._engine = engine
        self._clock = clock
        self.retention_days = retention_days

    def now(self) -> datetime:
        return self._clock()

    async def record(self, entry: AccessRecord) -> None:
        """Append one row. Called before the data is sent, so a read that fails to be audited
        is not served (the error reaches the client as 503/500)."""
        async with self._engine.begin() as conn:
            await conn.execute(insert(access_audit).values(
                at=entry.at, actor=entry.actor, role=entry.role, unit=entry.unit,
                kind=entry.kind.value, allowed=entry.allowed, remote=entry.where,
                call_id=entry.call_id, ticket_no=entry.ticket_no,
                caller_number=entry.caller_number, detail=entry.detail[:500]))

    async def search(self, query: AuditQuery) -> list[AccessRecord]:
        """Rows matching `query`, newest first."""
        c = access_audit.c
        statement = select(access_audit)
        conditions = [
            (query.actor, c.actor), (query.kind.value if query.kind else None, c.kind),
            (query.call_id, c.call_id), (query.ticket_no, c.ticket_no), (query.allowed, c.allowed)]
        for value, column in conditions:
            if value is not None:
                statement = statement.where(column == value)
        if query.caller_number is not None:
            # A confidential caller's rows keep the number masked (kernel.access_policy): a search
            # by the number finds them by its masked form (and so may find a caller whose masked
            # number is the same; those rows show no more than that mask).
            statement = statement.where(c.caller_number.in_({query.caller_number, mask_phone(query.caller_number)}))
        if query.since is not None:
            statement = statement.where(c.at >= query.since)
        if query.until is not None:
            statement = statement.where(c.at < query.until)
        statement = statement.order_by(c.at.desc(), c.id.desc()).limit(query.limit).offset(query.offset)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        return [AccessRecord(
            actor=row["actor"], role=row["role"], unit=row["unit"], kind=AccessKind(row["kind"]),
            allowed=bool(row["allowed"]), at=row["at"], where=row["remote"], call_id=row["call_id"],
            ticket_no=row["ticket_no"], caller_number=row["caller_number"], detail=row["detail"])
            for row in rows]

    async def purge(self) -> int:
        """Delete the rows older than the retention; the number deleted.

        On PostgreSQL the trigger lets a DELETE through only inside a transaction that says it
        is the purge (`hotline.audit_purge`) and only for rows past the legal minimum."""
        cutoff = self._clock() - timedelta(days=self.retention_days)
        async with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SET LOCAL hotline.audit_purge = 'on'"))
            result = await conn.execute(delete(access_audit).where(access_audit.c.at < cutoff))
        return int(result.rowcount or 0)

    async def count(self) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(access_audit))).scalar_one())


# ---- aiohttp edge ----------------------------------------------------------------------------

ACCESS_AUDIT = web.AppKey("access_audit", AccessAudit)


def install_audit(app: web.Application, audit: AccessAudit) -> None:
    """Put the app's one audit writer on it; capabilities that audit each call this with the
    writer the composition root gave them, which must be the same one."""
    present = app.get(ACCESS_AUDIT)
    if present is not None and present is not audit:
        raise RuntimeError("two access-audit writers in one application")
    app[ACCESS_AUDIT] = audit


def client_address(request: web.Request) -> str | None:
    """Where the request came from: the peer address (a proxy in front must be trusted to
    be the peer; forwarded headers are client claims and are not written as fact)."""
    return request.remote


async def audit_access(request: web.Request, principal: Principal, kind: AccessKind, *, allowed: bool,
                       call_id: str | None = None, ticket_no: str | None = None,
                       caller_number: str | None = None, detail: str = "") -> None:
    """Write one row for a read by `principal` through `request`."""
    audit = request.app[ACCESS_AUDIT]
    await audit.record(AccessRecord(
        actor=principal.user, role=principal.role, unit=principal.unit, kind=kind, allowed=allowed,
        at=audit.now(), where=client_address(request), call_id=call_id, ticket_no=ticket_no,
        caller_number=caller_number, detail=detail))



def reader_of(principal: Principal) -> Reader:
    """The policy's view of an authenticated principal."""
    return Reader(principal.user, principal.role, principal.unit)


async def audit_read(request: web.Request, principal: Principal, decision: Decision, *,
                     call_id: str | None = None, ticket_no: str | None = None,
                     caller_number: str | None = None, confidential: bool = False,
                     detail: str = "") -> None:
    """Write the one row of a read that `kernel.access_policy.decide` answered: its kind, and
    whether it was allowed (a refusal's reason in the detail). A confidential caller's number
    is stored masked (`audit_number`)."""
    await audit_access(request, principal, decision.kind, allowed=decision.allowed, call_id=call_id,
                       ticket_no=ticket_no, caller_number=audit_number(caller_number, confidential=confidential),
                       detail=detail if decision.allowed else f"{detail}; refused: {decision.reason}")
