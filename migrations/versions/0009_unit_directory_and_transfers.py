"""The unit directory (how the hotline phones each handling unit) and emergency transfers.

`unit_contacts` is seeded from `config/unit_directory.yaml` and edited through the API by
supervisors: the number (or dial string) a three-way call rings, a backup, service hours.
`calls.transferred_to` names the emergency line (110/119/120/122) a call was sent to.
Callback tasks count their attempts and keep their result (回访 by the automatic dialer).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from kernel.schema import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unit_contacts",
        sa.Column("unit", sa.String(64), primary_key=True),
        sa.Column("dial", sa.String(128), nullable=False),
        sa.Column("backup_dial", sa.String(128)),
        sa.Column("service_hours", sa.String(32), nullable=False, server_default="00:00-24:00"),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("transferred_to", sa.String(16)))
    with op.batch_alter_table("callback_tasks") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("result", sa.String(32)))
        batch.add_column(sa.Column("updated_at", UtcDateTime()))


def downgrade() -> None:
    with op.batch_alter_table("callback_tasks") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("result")
        batch.drop_column("attempts")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("transferred_to")
    op.drop_table("unit_contacts")
