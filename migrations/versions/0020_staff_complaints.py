"""Complaints about hotline staff (issue 24): whom a complaint is about, and the quality team's list.

`tickets.about_staff`: the account (工号) of the hotline staff member a complaint is about
(`Ticket.about_staff`, from the `TicketClassified` event that marked it). Every list of tickets
leaves such a ticket out for that person (`tickets.store.visible_to`); the events stay the truth.

`ix_tickets_waiting_for_quality_check`: partial, like the workbenches' lists (0013): the
complaints waiting for the quality team (班长/质检), longest unchanged first, which the
supervisor's page reads straight off it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from kernel.schema import QUALITY_CHECK_INDEX

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In place on both databases, like 0019: a batch copy of `tickets` would be refused by the
    # foreign keys pointing at it as soon as any row exists.
    op.add_column("tickets", sa.Column("about_staff", sa.String(64)))
    name, columns, where, include = QUALITY_CHECK_INDEX
    op.create_index(name, "tickets", list(columns), postgresql_where=where, sqlite_where=where,
                    postgresql_include=list(include))


def downgrade() -> None:
    op.drop_index(QUALITY_CHECK_INDEX[0], table_name="tickets")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE tickets DROP COLUMN about_staff")  # in place (SQLite >= 3.35)
    else:
        op.drop_column("tickets", "about_staff")
