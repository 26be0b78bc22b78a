"""Ticket numbers people can read out on the phone: `20261125-N01-000123`.

Beijing date of intake, the backend node that allocated it, and that node's daily sequence.
The node id makes numbers unique across backend nodes without a shared counter; the sequence
source (a database row or a Redis INCR per node and day) is an adapter, not this module's job.
Pure formatting and parsing only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from kernel.clock import HOTLINE_TZ
from kernel.errors import InvalidInput

SEQUENCE_DIGITS = 6
MAX_SEQUENCE = 10**SEQUENCE_DIGITS - 1
_NODE = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")
_NUMBER = re.compile(r"^(\d{8})-([A-Z][A-Z0-9]{0,7})-(\d{6})$")


@dataclass(frozen=True, order=True)
class TicketNumber:
    local_date: date
    node_id: str
    sequence: int

    def __post_init__(self) -> None:
        if not _NODE.match(self.node_id):
            raise InvalidInput(
                "node id must be 1-8 upper-case letters/digits starting with a letter",
                node_id=self.node_id,
            )
        if not 1 <= self.sequence <= MAX_SEQUENCE:
            raise InvalidInput(
                f"ticket sequence must be within 1..{MAX_SEQUENCE}",
                node_id=self.node_id, sequence=self.sequence,
            )

    def __str__(self) -> str:
        return f"{self.local_date:%Y%m%d}-{self.node_id}-{self.sequence:0{SEQUENCE_DIGITS}d}"

    @property
    def prefix(self) -> str:
        """`YYYYMMDD-NODE-`: what a node's sequence for one day is keyed on."""
        return f"{self.local_date:%Y%m%d}-{self.node_id}-"


def local_date_of(moment: datetime) -> date:
    """The Beijing calendar date of an aware instant (00:30 Beijing is still that day)."""
    if moment.tzinfo is None:
        raise InvalidInput("naive datetime given for a ticket number", moment=moment.isoformat())
    return moment.astimezone(HOTLINE_TZ).date()


def format_ticket_number(created_at: datetime, node_id: str, sequence: int) -> str:
    return str(TicketNumber(local_date_of(created_at), node_id, sequence))


def parse_ticket_number(text: str) -> TicketNumber:
    match = _NUMBER.match(text.strip())
    if not match:
        raise InvalidInput("not a ticket number (YYYYMMDD-NODE-NNNNNN)", ticket_no=text)
    day, node, seq = match.groups()
    try:
        local = date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError as exc:
        raise InvalidInput("ticket number has an impossible date", ticket_no=text) from exc
    return TicketNumber(local, node, int(seq))
