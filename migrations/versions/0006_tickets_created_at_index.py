"""Index tickets by creation time: newest-first lists, and ticket-number allocation.

The next ticket number of a node and day was found with `max(ticket_no) ... LIKE 'prefix%'`,
which PostgreSQL can only turn into an index range under the "C" collation; under any other
collation the first registration of each day read the whole `ticket_no` index (100 ms at a
million tickets, seconds on a table not yet vacuumed). Allocation now narrows by the Beijing
day's `created_at` range first, which this index serves under every collation.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_created_at", table_name="tickets")
