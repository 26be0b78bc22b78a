"""Idempotency keys and the published monthly disclosures (issue 25 item 5).

`idempotency_keys`: a retried ticket registration or command does its work once
(kernel/idempotency.py). One row per principal and key: the SHA-256 of the first request, its
answer once it succeeded, and when the key expires.

`monthly_disclosures`: the public disclosure of a closed month, computed once from the ticket
events and served from here afterwards (tickets/disclosure.py).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from kernel.schema import UtcDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(96), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False, index=True),
        sa.Column("status", sa.Integer()),
        sa.Column("body", sa.Text()),
    )
    op.create_table(
        "monthly_disclosures",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("records", sa.Text(), nullable=False),
        sa.Column("computed_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("monthly_disclosures")
    op.drop_table("idempotency_keys")
