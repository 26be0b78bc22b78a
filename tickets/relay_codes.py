"""One-time codes of the confidential relay (保密联络): the rows, and how a code is made.

A confidential caller's number is never shown to a unit (`Caller.masked_for_unit`). To reach
the caller, the unit phones the hotline's relay number and keys in the ticket's code; the
hotline places the call (`tickets/relay.py`, `outbound/confidential_relay.py`). This module
only writes and reads `relay_codes` inside a caller's transaction, so the ticket store can
issue a code in the transaction that dispatches a confidential caller's ticket.

A code is digits only (keyed on a phone), random (`secrets`), and never the same as another
code that can still be keyed in. Issuing a new code for a ticket revokes the ticket's older
ones: there is one code to give out at a time.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.errors import Conflict
from kernel.schema import relay_codes

ACTIVE, IN_USE, USED, REVOKED = "active", "in_use", "used", "revoked"
#: How long after the handling deadline a code issued at dispatch may still be keyed in
#: (an extension moves the deadline; staff can issue a fresh code at any time).
DISPATCH_GRACE = timedelta(days=3)
DEFAULT_DIGITS = 8


@dataclass(frozen=True)
class RelayCode:
    """A code as the ticket view shows it (to the ticket's units and to hotline staff)."""

    code: str
    ticket_no: str
    status: str
    issued_at: datetime
    expires_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "ticket_no": self.ticket_no, "status": self.status,
                "issued_at": self.issued_at.isoformat(), "expires_at": self.expires_at.isoformat()}


def code_of_row(row: Any) -> RelayCode:
    return RelayCode(row.code, row.ticket_no, row.status, row.issued_at, row.expires_at)


def new_code(digits: int = DEFAULT_DIGITS) -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(digits))


async def insert_code(conn: AsyncConnection, ticket_no: str, issued_by: str, now: datetime,
                      expires_at: datetime, digits: int = DEFAULT_DIGITS) -> RelayCode:
    """Revoke the ticket's earlier codes and write a fresh one (inside the caller's transaction)."""
    await conn.execute(update(relay_codes).where(
        relay_codes.c.ticket_no == ticket_no, relay_codes.c.status.in_((ACTIVE, IN_USE)))
        .values(status=REVOKED, updated_at=now))
    for _ in range(20):
        code = new_code(digits)
        taken = await conn.scalar(select(relay_codes.c.id).where(and_(
            relay_codes.c.code == code, relay_codes.c.status.in_((ACTIVE, IN_USE)),
            relay_codes.c.expires_at > now)))
        if taken is None:
            break
    else:
        raise Conflict("no free relay code; use more digits", ticket_no=ticket_no)
    await conn.execute(relay_codes.insert().values(
        id=str(uuid.uuid4()), code=code, ticket_no=ticket_no, status=ACTIVE, issued_at=now,
        issued_by=issued_by[:64], expires_at=expires_at, updated_at=now))
    return RelayCode(code, ticket_no, ACTIVE, now, expires_at)
