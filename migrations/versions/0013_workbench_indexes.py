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

from kernel.schema import WORKBENCH_INDEXES

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
