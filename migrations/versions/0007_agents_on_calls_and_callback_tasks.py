"""Who answered each call and how long the caller waited; callback tasks (回访/回电任务).

A call answered by an agent records the agent (`calls.agent_id`) and the caller's time in the
queue (`calls.queue_seconds`). A caller who left a message because no agent was free within
the limit, or was restricted, gets a callback task: the hotline owes them a call back.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from kernel.schema import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("agent_id", sa.String(64)))
        batch.add_column(sa.Column("queue_seconds", sa.Float))
    op.create_table(
        "callback_tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("ticket_no", sa.String(32), sa.ForeignKey("tickets.ticket_no"), nullable=False),
        sa.Column("call_id", sa.String(36), sa.ForeignKey("calls.id")),
        sa.Column("caller_number", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="due"),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_callback_tasks_status_due_at", "callback_tasks", ["status", "due_at"])
    op.create_index("ix_calls_agent_id", "calls", ["agent_id"])


def downgrade() -> None:
    op.drop_index("ix_calls_agent_id", table_name="calls")
    op.drop_index("ix_callback_tasks_status_due_at", table_name="callback_tasks")
    op.drop_table("callback_tasks")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("queue_seconds")
        batch.drop_column("agent_id")
