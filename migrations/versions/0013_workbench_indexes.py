"""Indexes for the workbenches' lists (issue 23): a unit's open tickets by deadline, the tickets
waiting for dispatch and the requests waiting for review, by how long they have waited.

Partial indexes: each covers only the rows its list can show (a few per cent of the table: open
tickets, drafts an agent classified, requests), so they stay small while closed tickets pile up,
and a list reads its first page straight off the index in the order it shows it. The predicates
are the ones `workbenches/queues.py` sends, with the statuses as literals (not bound
parameters), which is what lets PostgreSQL prove a query matches a partial index under a
generic plan too. SQLite builds the same partial indexes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from alembic import op
from sqlalchemy import text

# The indexes as this revision made them, frozen here: `kernel.schema.WORKBENCH_INDEXES` is the
# current set (migration 0014 re-made three of them for the statuses issue 24 added).
_OPEN = ("status IN ('dispatched', 'in_progress', 'return_requested', 'extension_requested', "
         "'termination_requested', 'feedback_submitted')")
WORKBENCH_INDEXES = (
    ("ix_tickets_open_by_lead_unit", ("lead_unit", "deadline", "ticket_no"), text(_OPEN), ()),
    ("ix_tickets_open_cooperating", ("deadline", "ticket_no"),
     text(f"{_OPEN} AND cooperating_units <> '[]'"), ("cooperating_units",)),
    ("ix_tickets_waiting_for_dispatch", ("updated_at", "ticket_no"),
     text("status = 'pending_dispatch' OR (status = 'draft' AND ticket_type IS NOT NULL)"), ()),
    ("ix_tickets_waiting_for_review", ("updated_at", "ticket_no"),
     text("status IN ('return_requested', 'extension_requested', 'termination_requested')"), ()),
)

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name, columns, where, include in WORKBENCH_INDEXES:
        op.create_index(name, "tickets", list(columns), postgresql_where=where, sqlite_where=where,
                        postgresql_include=list(include))


def downgrade() -> None:
    for name, *_ in reversed(WORKBENCH_INDEXES):
        op.drop_index(name, table_name="tickets")
