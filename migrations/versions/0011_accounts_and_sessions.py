"""People's accounts and sign-in sessions (issue 22).

`users`: a person with a role (and the unit of a unit's staff), a display name, an active flag
and an argon2id password hash. `user_sessions`: server-side sessions, named by the SHA-256 of the
secret the browser holds in its cookie, revocable, with the times the idle and absolute limits
are measured from (kernel/sessions.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from kernel.schema import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("username", sa.String(32), primary_key=True),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(64)),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("password_changed_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(32), sa.ForeignKey("users.username"), nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False, index=True),
        sa.Column("last_seen_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime()),
        sa.Column("revoked_reason", sa.String(32)),
        sa.Column("remote", sa.String(64)),
        sa.Column("user_agent", sa.String(200)),
    )


def downgrade() -> None:
    op.drop_table("user_sessions")
    op.drop_table("users")
