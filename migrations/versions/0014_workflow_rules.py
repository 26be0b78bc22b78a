"""The workflow rules of issue 24: the workbench lists' partial indexes name the new statuses.

A unit's open tickets now include `suspension_requested`, `suspended` (中止, 唐山条例),
`reopen_requested` (an unsatisfied caller's request waiting for the hotline's judgement,
临沂条例第二十条) and `feedback_accepted` (the hotline reviewed the feedback, 济南条例 逐一审核);
the review queue includes the two requests. A partial index only serves a
query whose predicate it implies, so the three indexes whose status lists changed are re-made
with the predicates of `kernel.schema.WORKBENCH_INDEXES`, which the queries repeat word for word.
Nothing else changes: the new events and fields live in `ticket_events.payload` (JSON), and old
events fold as before.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from typing import Any

from alembic import op

from kernel.schema import WORKBENCH_INDEXES

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: The indexes whose predicates name a status list that changed.
_CHANGED = ("ix_tickets_open_by_lead_unit", "ix_tickets_open_cooperating",
            "ix_tickets_waiting_for_review")


def _remake(indexes: Sequence[tuple[str, tuple[str, ...], Any, tuple[str, ...]]]) -> None:
    for name, columns, where, include in indexes:
        if name not in _CHANGED:
            continue
        op.drop_index(name, table_name="tickets")
        op.create_index(name, "tickets", list(columns), postgresql_where=where, sqlite_where=where,
                        postgresql_include=list(include))


def upgrade() -> None:
    _remake(WORKBENCH_INDEXES)


def downgrade() -> None:
    from importlib import import_module

    previous = import_module("migrations.versions.0013_workbench_indexes")
    _remake(previous.WORKBENCH_INDEXES)
