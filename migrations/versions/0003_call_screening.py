"""Anti-abuse screening outcome on the call record; ticket origin (call or left message).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("screen_level", sa.String(32)))
        batch.add_column(sa.Column("screen_decision_id", sa.String(64)))
        batch.add_column(sa.Column("queue", sa.String(32)))
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("origin", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("origin")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("queue")
        batch.drop_column("screen_decision_id")
        batch.drop_column("screen_level")
