"""The tickets a store has just written or read, kept folded in memory (a bounded LRU).

A snapshot at version v is the ticket at v for good: events are immutable and `workflow.fold`
is deterministic, so it never goes stale *as a snapshot of v*. Whether v is still the ticket's
current version is another matter, which this cache never answers: the store writes only with
`UPDATE ... WHERE version = v`, exactly as without the cache, and reads the ticket afresh from
its events whenever that update finds the row moved on (another node, another process) or the
cached snapshot refuses the command. What the cache saves is the read of the row and its
events, their decoding and the fold, on every transition of a ticket this process touched last.

Pure and synchronous: no I/O, no clock.
"""

from __future__ import annotations

from collections import OrderedDict

from tickets.model import Ticket

#: Tickets kept: the ones being worked on now, a few kB each.
DEFAULT_SIZE = 10_000


class SnapshotCache:
    """ticket_no -> (row id, ticket), least recently used dropped first."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = max(0, size)
        self._entries: OrderedDict[str, tuple[str, Ticket]] = OrderedDict()

    def get(self, ticket_no: str, version: int) -> tuple[str, Ticket] | None:
        """The row id and snapshot of `ticket_no` at exactly `version`, if kept."""
        entry = self._entries.get(ticket_no)
        if entry is None or entry[1].version != version:
            return None
        self._entries.move_to_end(ticket_no)
        return entry

    def put(self, ticket_id: str, ticket: Ticket) -> None:
        if not self._size:
            return
        self._entries[ticket.ticket_no] = (ticket_id, ticket)
        self._entries.move_to_end(ticket.ticket_no)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def drop(self, ticket_no: str) -> None:
        self._entries.pop(ticket_no, None)

    def __len__(self) -> int:
        return len(self._entries)
