"""Issue 24: the caller's wish for no reply, and one callback task per ticket at its deadline.

`tickets.caller_no_reply` projects `Caller.no_reply` (济南条例: 承办单位 5个工作日内回复来电人,
要求不回复的除外) for lists; the first-contact deadline itself, and the contacts, live in the
events (`Dispatched.first_contact_deadline`, `CallerContacted`), like the return window.

`ux_callback_tasks_deadline_once`: the supervision job creates a callback task when a ticket's
deadline expires without the unit's feedback (时限届满回访, 北京条例第二十三条); a partial unique
index on the ticket for reason 'deadline' makes that once per ticket whatever the number of
rescans and nodes (a second insert fails and is taken as "already owed").

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_DEADLINE_ONLY = sa.text("reason = 'deadline'")


def upgrade() -> None:
    # In place on both databases (SQLite adds a NOT NULL column with a constant default): a
    # batch copy of `tickets` would be refused by the foreign keys pointing at it.
    op.add_column("tickets", sa.Column("caller_no_reply", sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    op.create_index("ux_callback_tasks_deadline_once", "callback_tasks", ["ticket_no"], unique=True,
                    postgresql_where=_DEADLINE_ONLY, sqlite_where=_DEADLINE_ONLY)


def downgrade() -> None:
    op.drop_index("ux_callback_tasks_deadline_once", table_name="callback_tasks")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite (>= 3.35) drops the column in place: a batch copy of `tickets` would drop the
        # table that callback tasks, calls' transfers and relay codes point at, which their
        # foreign keys refuse as soon as any row exists.
        op.execute("ALTER TABLE tickets DROP COLUMN caller_no_reply")
    else:
        op.drop_column("tickets", "caller_no_reply")
