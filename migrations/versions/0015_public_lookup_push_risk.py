"""The caller's right to know, data push to units, live risk warning (issue 24).

- `event_cursors`: how far each reader of the ticket event log has read (the unit feed's router,
  the risk detector), so a restart neither skips nor repeats an event.
- `lookup_codes`: the hashed code a caller quotes to look up a ticket's progress.
- `unit_webhooks`, `unit_feed`: each unit's numbered events, and where and how far they were
  pushed.
- `risk_intake`, `risk_warnings`: tickets counted per hotspot, and the warnings raised.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from kernel.schema import UtcDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_cursors",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "lookup_codes",
        sa.Column("ticket_no", sa.String(32), sa.ForeignKey("tickets.ticket_no"), primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("issued_by", sa.String(64), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "unit_webhooks",
        sa.Column("unit", sa.String(64), primary_key=True),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("delivered_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(500)),
        sa.Column("last_attempt_at", UtcDateTime()),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "unit_feed",
        sa.Column("unit", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.Integer, nullable=False),
        sa.Column("ticket_no", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.UniqueConstraint("unit", "event_id", name="uq_unit_feed_unit_event"),
    )
    op.create_table(
        "risk_intake",
        sa.Column("ticket_no", sa.String(32), primary_key=True),
        sa.Column("hotspot", sa.String(200), primary_key=True),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_risk_intake_hotspot_at", "risk_intake", ["hotspot", "at"])
    op.create_table(
        "risk_warnings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("hotspot", sa.String(200), nullable=False),
        sa.Column("district", sa.String(64)),
        sa.Column("street", sa.String(64)),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("baseline", sa.Float, nullable=False),
        sa.Column("window_start", UtcDateTime(), nullable=False),
        sa.Column("raised_at", UtcDateTime(), nullable=False),
        sa.Column("ticket_nos", sa.Text, nullable=False),
        sa.Column("units", sa.Text, nullable=False),
    )
    op.create_index("ix_risk_warnings_raised_at", "risk_warnings", ["raised_at"])
    op.create_index("ix_risk_warnings_hotspot_raised_at", "risk_warnings", ["hotspot", "raised_at"])


def downgrade() -> None:
    op.drop_table("risk_warnings")
    op.drop_table("risk_intake")
    op.drop_table("unit_feed")
    op.drop_table("unit_webhooks")
    op.drop_table("lookup_codes")
    op.drop_table("event_cursors")
