"""One-time codes of the confidential relay (保密联络); spoken survey answers.

A unit phones the relay number and keys in the ticket's code; the hotline calls the
confidential caller and bridges the two, so the unit never learns the number. A code expires,
is used once (it is `in_use` while the relay call is being set up, and goes back to `active`
when the caller is not reached), and is replaced when a new one is issued for its ticket.
Wrong codes are counted from the access audit (kind `confidential_identity`), not here.

A survey answered by voice instead of a key (回访) keeps its recording and transcript on the
callback task, for a callback agent to confirm.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from kernel.schema import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relay_codes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, index=True),
        sa.Column("ticket_no", sa.String(32), sa.ForeignKey("tickets.ticket_no"), nullable=False,
                  index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("issued_by", sa.String(64), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime()),
        sa.Column("call_id", sa.String(36)),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    with op.batch_alter_table("callback_tasks") as batch:
        batch.add_column(sa.Column("answer_recording", sa.Text))
        batch.add_column(sa.Column("answer_transcript", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("callback_tasks") as batch:
        batch.drop_column("answer_transcript")
        batch.drop_column("answer_recording")
    op.drop_table("relay_codes")
