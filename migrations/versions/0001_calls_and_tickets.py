"""Call records and draft tickets (walking skeleton).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from kernel.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("bridge_id", sa.String(64)),
        sa.Column("caller_number", sa.String(64), nullable=False),
        sa.Column("caller_name", sa.String(128)),
        sa.Column("dialed_number", sa.String(32)),
        sa.Column("node_id", sa.String(8), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("answered_at", UtcDateTime()),
        sa.Column("ended_at", UtcDateTime(), nullable=False),
        sa.Column("end_reason", sa.String(64)),
        sa.Column("recording_path", sa.Text),
        sa.Column("recording_seconds", sa.Float),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
        sa.UniqueConstraint("channel_id", name="uq_calls_channel_id"),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(36)),
        sa.Column("ticket_no", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("caller_number", sa.String(64)),
        sa.Column("call_id", sa.String(36)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.UniqueConstraint("ticket_no", name="uq_tickets_ticket_no"),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name="fk_tickets_call_id_calls"),
    )
    op.create_index("ix_tickets_call_id", "tickets", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_call_id", table_name="tickets")
    op.drop_table("tickets")
    op.drop_table("calls")
