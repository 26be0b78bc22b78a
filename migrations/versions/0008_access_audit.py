"""The access audit (kernel/audit.py): who read which citizen's data, append-only.

The database itself refuses to change the rows: a trigger raises on UPDATE, TRUNCATE and
DELETE. The one exception is the retention purge (`AccessAudit.purge`), which on PostgreSQL
must announce itself in its transaction (`SET LOCAL hotline.audit_purge = 'on'`) and may then
delete only rows older than 183 days, the legal minimum for network logs, whatever the
configured retention says. SQLite has no session variables: there the trigger lets DELETE
through only for rows past the same minimum.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from kernel.schema import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_POSTGRES_FUNCTION = """
CREATE FUNCTION access_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('hotline.audit_purge', true) = 'on'
       AND OLD.at < now() - interval '183 days' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'access_audit is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "access_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(64)),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("allowed", sa.Boolean, nullable=False),
        sa.Column("remote", sa.String(64)),
        sa.Column("call_id", sa.String(36)),
        sa.Column("ticket_no", sa.String(32)),
        sa.Column("caller_number", sa.String(64)),
        sa.Column("detail", sa.String(500), nullable=False, server_default=""),
    )
    for column in ("at", "actor", "call_id", "ticket_no", "caller_number"):
        op.create_index(f"ix_access_audit_{column}", "access_audit", [column])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute("CREATE TRIGGER access_audit_no_change BEFORE UPDATE OR DELETE ON access_audit "
                   "FOR EACH ROW EXECUTE FUNCTION access_audit_append_only()")
        op.execute("CREATE TRIGGER access_audit_no_truncate BEFORE TRUNCATE ON access_audit "
                   "FOR EACH STATEMENT EXECUTE FUNCTION access_audit_append_only()")
    else:
        op.execute("CREATE TRIGGER access_audit_no_update BEFORE UPDATE ON access_audit "
                   "BEGIN SELECT RAISE(ABORT, 'access_audit is append-only: UPDATE refused'); END")
        # UtcDateTime is stored as 'YYYY-MM-DD HH:MM:SS.ffffff' text in UTC: it compares as text.
        op.execute("CREATE TRIGGER access_audit_no_delete BEFORE DELETE ON access_audit "
                   "WHEN OLD.at >= datetime('now', '-183 days') "
                   "BEGIN SELECT RAISE(ABORT, 'access_audit is append-only: DELETE refused'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER access_audit_no_truncate ON access_audit")
        op.execute("DROP TRIGGER access_audit_no_change ON access_audit")
        op.execute("DROP FUNCTION access_audit_append_only()")
    else:
        op.execute("DROP TRIGGER access_audit_no_delete")
        op.execute("DROP TRIGGER access_audit_no_update")
    for column in ("caller_number", "ticket_no", "call_id", "actor", "at"):
        op.drop_index(f"ix_access_audit_{column}", table_name="access_audit")
    op.drop_table("access_audit")
