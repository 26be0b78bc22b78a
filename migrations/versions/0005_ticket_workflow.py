"""Ticket workflow: the tickets projection columns and the append-only `ticket_events` table.

Draft tickets written before this revision have no events; tickets/store.py reads such a row
as a registered draft (version 1) and writes its registration event with its first transition.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from kernel.schema import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("ticket_type", sa.String(16)))
        batch.add_column(sa.Column("urgency", sa.String(16), nullable=False, server_default="normal"))
        batch.add_column(sa.Column("caller_name", sa.String(128)))
        batch.add_column(sa.Column("caller_confidential", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("caller_anonymous", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("district", sa.String(64)))
        batch.add_column(sa.Column("location", sa.String(500)))
        batch.add_column(sa.Column("summary", sa.String(500)))
        batch.add_column(sa.Column("content", sa.Text))
        batch.add_column(sa.Column("lead_unit", sa.String(64)))
        batch.add_column(sa.Column("cooperating_units", sa.Text, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("dispatched_at", UtcDateTime()))
        batch.add_column(sa.Column("sign_deadline", UtcDateTime()))
        batch.add_column(sa.Column("deadline", UtcDateTime()))
        batch.add_column(sa.Column("satisfaction", sa.String(32)))
        batch.add_column(sa.Column("supervision_level", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("return_count", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("closure_reason", sa.String(32)))
        batch.add_column(sa.Column("closed_at", UtcDateTime()))
    op.create_index("ix_tickets_lead_unit", "tickets", ["lead_unit"])
    op.create_index("ix_tickets_caller_number_created_at", "tickets", ["caller_number", "created_at"])
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("ticket_id", sa.String(36), nullable=False),
        sa.Column("ticket_no", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("actor_unit", sa.String(64)),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_events"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_ticket_events_ticket_id_tickets"),
        sa.UniqueConstraint("ticket_id", "version", name="uq_ticket_events_ticket_id_version"),
    )
    op.create_index("ix_ticket_events_ticket_no", "ticket_events", ["ticket_no"])


def downgrade() -> None:
    op.drop_index("ix_ticket_events_ticket_no", table_name="ticket_events")
    op.drop_table("ticket_events")
    op.drop_index("ix_tickets_caller_number_created_at", table_name="tickets")
    op.drop_index("ix_tickets_lead_unit", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        for name in ("closed_at", "closure_reason", "return_count", "supervision_level",
                     "satisfaction", "deadline", "sign_deadline", "dispatched_at",
                     "cooperating_units", "lead_unit", "content", "summary", "location",
                     "district", "caller_anonymous", "caller_confidential", "caller_name",
                     "urgency", "ticket_type"):
            batch.drop_column(name)
