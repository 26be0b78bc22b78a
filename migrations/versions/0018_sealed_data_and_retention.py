"""Data at rest (issue 25 item 4): recordings' digests, and what the retention purge removed.

`calls.recording_sha256`: the SHA-256 of the sealed recording as stored (kernel/sealed_files.py),
checked before every read serves a byte.

`tickets.*_purged_at`: when the retention purge (tickets/retention.py) removed each kind of a
closed ticket's personal data, so a batch never takes the same ticket twice, and an auditor sees
what a ticket no longer holds. An index on `closed_at` lets the purge find expired tickets.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from kernel.schema import UtcDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

PURGED = ("recordings_purged_at", "transcripts_purged_at", "evidence_purged_at", "caller_number_purged_at")


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("recording_sha256", sa.String(64)))
    with op.batch_alter_table("tickets") as batch:
        for name in PURGED:
            batch.add_column(sa.Column(name, UtcDateTime()))
    op.create_index("ix_tickets_closed_at", "tickets", ["closed_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_closed_at", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        for name in reversed(PURGED):
            batch.drop_column(name)
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("recording_sha256")
