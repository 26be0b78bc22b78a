"""Transcript segments per call and the ASR ticket draft.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transcript_segments",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("call_id", sa.String(36), nullable=False),
        sa.Column("speaker", sa.String(16), nullable=False),
        sa.Column("start_seconds", sa.Float, nullable=False),
        sa.Column("end_seconds", sa.Float, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float),
        sa.Column("source", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transcript_segments"),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"],
                                name="fk_transcript_segments_call_id_calls"),
    )
    op.create_index("ix_transcript_segments_call_id", "transcript_segments", ["call_id"])
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("asr_draft", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("asr_draft")
    op.drop_index("ix_transcript_segments_call_id", table_name="transcript_segments")
    op.drop_table("transcript_segments")
