"""The supervisor's 督办 board (issue 23): an index of the open tickets under supervision.

Partial, like the workbenches' lists (0013): it holds only open tickets that were flagged or
escalated, which stay few while closed tickets pile up, and the board reads its page straight
off it, longest unchanged first. The predicate is the one `workbenches/board.py` sends as
literal SQL, so PostgreSQL uses it under a generic plan too.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from alembic import op

from kernel.schema import SUPERVISION_INDEX

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    name, columns, where, include = SUPERVISION_INDEX
    op.create_index(name, "tickets", list(columns), postgresql_where=where, sqlite_where=where,
                    postgresql_include=list(include))


def downgrade() -> None:
    op.drop_index(SUPERVISION_INDEX[0], table_name="tickets")
