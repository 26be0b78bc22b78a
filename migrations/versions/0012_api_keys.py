"""Programs' API keys (issue 22 item 3).

`api_keys`: named keys per account, with which a unit's own system or the web intake acts as that
account (`Authorization: Bearer hk_<id>_<secret>`). Only the SHA-256 of a key is stored; a key
is revocable and records when it was last used (kernel/api_keys.py).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

from kernel.schema import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("username", sa.String(32), sa.ForeignKey("users.username"), nullable=False, index=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("last_used_at", UtcDateTime()),
        sa.Column("revoked_at", UtcDateTime()),
        sa.Column("revoked_by", sa.String(64)),
        sa.Column("revoked_reason", sa.String(32)),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
