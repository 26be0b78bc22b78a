"""Relational schema: the one SQLAlchemy `MetaData` that Alembic migrations describe.

SQLAlchemy Core tables, not ORM classes: the domain keeps its own dataclasses
(`tickets/model.py`, `telephony/call_record.py`) and repositories map between the two, so
the domain never imports SQLAlchemy. Every change here needs a migration in
`migrations/versions/`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TextClause,
    UniqueConstraint,
    false,
    or_,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        if stored.tzinfo is None:
            return stored.replace(tzinfo=UTC)
        return stored.astimezone(UTC)


calls = Table(
    "calls",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("channel_id", String(64), nullable=False, unique=True),
    Column("bridge_id", String(64)),
    Column("caller_number", String(64), nullable=False),
    Column("caller_name", String(128)),
    Column("dialed_number", String(32)),
    Column("node_id", String(8), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("answered_at", UtcDateTime()),
    Column("ended_at", UtcDateTime(), nullable=False),
    Column("end_reason", String(64)),
    Column("recording_path", Text),
    Column("recording_seconds", Float),
    Column("screen_level", String(32)),
    Column("screen_decision_id", String(64)),
    Column("queue", String(32)),
    # Migration 0007: who answered the call, and how long the caller waited for them.
    Column("agent_id", String(64), index=True),
    Column("queue_seconds", Float),
    # Migration 0009: the emergency line the agent transferred the caller to.
    Column("transferred_to", String(16)),
    # Migration 0018: the SHA-256 of the sealed recording as stored (kernel/sealed_files.py).
    Column("recording_sha256", String(64)),
)

#: How the hotline phones each handling unit (三方连线), migration 0009.
unit_contacts = Table(
    "unit_contacts",
    metadata,
    Column("unit", String(64), primary_key=True),
    Column("dial", String(128), nullable=False),
    Column("backup_dial", String(128)),
    Column("service_hours", String(32), nullable=False, server_default="00:00-24:00"),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("updated_by", String(64), nullable=False),
)

#: Calls the hotline owes a citizen (migration 0007): a left message, later the 回访 survey.
callback_tasks = Table(
    "callback_tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("ticket_no", String(32), ForeignKey("tickets.ticket_no"), nullable=False),
    Column("call_id", String(36), ForeignKey("calls.id")),
    Column("caller_number", String(64), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("status", String(16), nullable=False, server_default="due"),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # Migration 0009: the automatic dialer's attempts and what came of them.
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("result", String(32)),
    Column("updated_at", UtcDateTime()),
    # Migration 0010: a survey answered by voice, not a key: the recording and its transcript,
    # for a callback agent to confirm.
    Column("answer_recording", Text),
    Column("answer_transcript", Text),
)

#: 时限届满回访 (北京条例第二十三条, migration 0019): at most one such task per ticket, whatever
#: the number of scans and nodes that find its deadline expired.
DEADLINE_CALLBACK_REASON = "deadline"
Index("ux_callback_tasks_deadline_once", callback_tasks.c.ticket_no, unique=True,
      postgresql_where=text(f"reason = '{DEADLINE_CALLBACK_REASON}'"),
      sqlite_where=text(f"reason = '{DEADLINE_CALLBACK_REASON}'"))

#: One-time codes of the confidential relay (保密联络, migration 0010): a unit keys one in to
#: be put through to a confidential caller without learning the number.
relay_codes = Table(
    "relay_codes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("code", String(16), nullable=False, index=True),
    Column("ticket_no", String(32), ForeignKey("tickets.ticket_no"), nullable=False, index=True),
    #: active (may be keyed in), in_use (a relay call is being set up), used, revoked.
    Column("status", String(16), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("issued_by", String(64), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime()),
    Column("call_id", String(36)),
    Column("updated_at", UtcDateTime(), nullable=False),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("ticket_no", String(32), nullable=False, unique=True),
    Column("status", String(32), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("origin", String(16)),
    Column("caller_number", String(64)),
    Column("call_id", String(36), ForeignKey("calls.id"), index=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    # Field suggestions extracted from the caller's transcript (JSON); never the agent's input.
    Column("asr_draft", Text),
    # ---- projection of the ticket workflow (migration 0005, tickets/store.py) ----
    # The events in `ticket_events` are the truth; these columns are what lists, filters and
    # statistics query, rewritten with every transition in the same transaction.
    Column("ticket_type", String(16)),
    Column("urgency", String(16), nullable=False, server_default="normal"),
    Column("caller_name", String(128)),
    Column("caller_confidential", Boolean, nullable=False, server_default=false()),
    Column("caller_anonymous", Boolean, nullable=False, server_default=false()),
    # Migration 0019: the caller asked for no reply (济南条例: 要求不回复的除外).
    Column("caller_no_reply", Boolean, nullable=False, server_default=false()),
    Column("district", String(64)),
    Column("location", String(500)),
    Column("summary", String(500)),
    Column("content", Text),
    Column("lead_unit", String(64), index=True),
    Column("cooperating_units", Text, nullable=False, server_default="[]"),  # JSON list
    Column("dispatched_at", UtcDateTime()),
    Column("sign_deadline", UtcDateTime()),
    Column("deadline", UtcDateTime()),
    Column("satisfaction", String(32)),
    Column("supervision_level", Integer, nullable=False, server_default="0"),
    Column("return_count", Integer, nullable=False, server_default="0"),
    Column("closure_reason", String(32)),
    Column("closed_at", UtcDateTime(), index=True),
    # Migration 0018: when the retention purge (tickets/retention.py) removed each kind of the
    # closed ticket's personal data.
    Column("recordings_purged_at", UtcDateTime()),
    Column("transcripts_purged_at", UtcDateTime()),
    Column("evidence_purged_at", UtcDateTime()),
    Column("caller_number_purged_at", UtcDateTime()),
    # Migration 0020: a complaint about hotline staff names the staff member's account
    # (`Ticket.about_staff`); every list leaves it out for that person (tickets/store.py).
    Column("about_staff", String(64)),
)



def visible_to(reader: str) -> ColumnElement[bool]:
    """Tickets `reader` may find in a list: all but complaints about them. The SQL twin of
    `kernel.access_policy` (`Subject.concerned`, `hidden_from`), which every list of tickets
    (the ticket API's, a caller's history, the workbenches' queues, the callback list, the
    tickets shown beside calls) applies through this one condition, so that a list's page is
    the policy's page, not a shorter one."""
    return or_(tickets.c.about_staff.is_(None), tickets.c.about_staff != reader)


# Caller history (the agent sees a caller's earlier tickets while on the phone), newest first.
Index("ix_tickets_caller_number_created_at", tickets.c.caller_number, tickets.c.created_at)
# Newest-first lists, and the day's range when a ticket number is allocated (migration 0006).
Index("ix_tickets_created_at", tickets.c.created_at)

# The workbenches' lists (migration 0013, workbenches/queues.py), partial: each holds only the
# rows its list can show. The predicates are SQL text because the queries must repeat them
# word for word (with literal statuses) for PostgreSQL to use the index under a generic plan.
#: Tickets a unit still has in hand (not draft, not waiting for dispatch, not finished).
UNIT_OPEN_STATUSES = ("dispatched", "in_progress", "return_requested", "extension_requested",
                      "termination_requested", "feedback_submitted", "suspension_requested",
                      "suspended", "reopen_requested", "feedback_accepted")
#: Requests waiting for a hotline review (a unit's, or an unsatisfied caller's: migration 0014).
REVIEW_STATUSES = ("return_requested", "extension_requested", "termination_requested",
                   "suspension_requested", "reopen_requested")
_OPEN = f"status IN ({', '.join(repr(s) for s in UNIT_OPEN_STATUSES)})"
#: Returned tickets, and drafts an agent has classified.
WAITING_FOR_DISPATCH = "status = 'pending_dispatch' OR (status = 'draft' AND ticket_type IS NOT NULL)"
WAITING_FOR_REVIEW = f"status IN ({', '.join(repr(s) for s in REVIEW_STATUSES)})"
UNIT_OPEN_LEAD = _OPEN
UNIT_OPEN_COOPERATING = f"{_OPEN} AND cooperating_units <> '[]'"
#: (name, columns, predicate, columns carried along on PostgreSQL) of each. The cooperating
#: index carries the unit list, so that finding a unit's tickets among the open cooperations
#: reads the index alone (an index-only scan) and the table only for the tickets found.
WORKBENCH_INDEXES: tuple[tuple[str, tuple[str, ...], TextClause, tuple[str, ...]], ...] = (
    ("ix_tickets_open_by_lead_unit", ("lead_unit", "deadline", "ticket_no"), text(UNIT_OPEN_LEAD), ()),
    ("ix_tickets_open_cooperating", ("deadline", "ticket_no"), text(UNIT_OPEN_COOPERATING), ("cooperating_units",)),
    ("ix_tickets_waiting_for_dispatch", ("updated_at", "ticket_no"), text(WAITING_FOR_DISPATCH), ()),
    ("ix_tickets_waiting_for_review", ("updated_at", "ticket_no"), text(WAITING_FOR_REVIEW), ()),
)
#: Open tickets under supervision (督办), for the supervisor's board (migration 0016,
#: workbenches/board.py): flagged or escalated, not yet closed or archived.
SUPERVISED_OPEN = "supervision_level > 0 AND status NOT IN ('closed', 'archived')"
#: Complaints about hotline staff waiting for the quality team (班长/质检, migration 0020).
WAITING_FOR_QUALITY_CHECK = "status = 'quality_check'"
SUPERVISION_INDEX = ("ix_tickets_open_supervised", ("updated_at", "ticket_no"), text(SUPERVISED_OPEN), ())
QUALITY_CHECK_INDEX = ("ix_tickets_waiting_for_quality_check", ("updated_at", "ticket_no"),
                       text(WAITING_FOR_QUALITY_CHECK), ())
for _name, _columns, _where, _include in (*WORKBENCH_INDEXES, SUPERVISION_INDEX, QUALITY_CHECK_INDEX):
    Index(_name, *(tickets.c[c] for c in _columns), postgresql_where=_where, sqlite_where=_where,
          postgresql_include=list(_include))

transcript_segments = Table(
    "transcript_segments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(36), ForeignKey("calls.id"), nullable=False, index=True),
    Column("speaker", String(16), nullable=False),
    Column("start_seconds", Float, nullable=False),
    Column("end_seconds", Float, nullable=False),
    Column("text", Text, nullable=False),
    Column("confidence", Float),
    Column("source", String(16), nullable=False),
)

# ---- knowledge base (知识库, tickets/knowledge.py) ----------------------------------------------
# `search_tokens` is the article's pre-tokenised text (CJK bigrams and characters, Latin words,
# space separated; see knowledge.model.search_text). The full-text index over it is
# backend-specific and lives only in migration 0004: an FTS5 table `kb_articles_fts` on SQLite,
# a GIN index on to_tsvector('simple', search_tokens) on PostgreSQL.

kb_articles = Table(
    "kb_articles",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("approved_wording", Text),
    Column("owner_unit", String(64), nullable=False, index=True),
    Column("keywords", Text, nullable=False),  # JSON list of strings
    Column("valid_from", Date),
    Column("review_by", Date, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("search_tokens", Text, nullable=False),
)

# Districts an article applies to; none means the whole city. A table rather than a list column
# so that "articles for district X" is a plain indexed query on both backends.
kb_article_districts = Table(
    "kb_article_districts",
    metadata,
    Column("article_id", String(36), ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True),
    Column("district", String(64), primary_key=True, index=True),
)

kb_article_versions = Table(
    "kb_article_versions",
    metadata,
    Column("article_id", String(36), ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("approved_wording", Text),
    Column("owner_unit", String(64), nullable=False),
    Column("keywords", Text, nullable=False),  # JSON list of strings
    Column("districts", Text, nullable=False),  # JSON list of strings
    Column("valid_from", Date),
    Column("review_by", Date, nullable=False),
    Column("editor", String(64), nullable=False),
    Column("editor_role", String(16), nullable=False),
    Column("edited_at", UtcDateTime(), nullable=False),
    Column("change_note", String(500), nullable=False),
)

# ---- ticket events (tickets/events.py), append-only --------------------------------------------
# One row per transition; `version` is the ticket's version after the event, so (ticket_id,
# version) is unique and a second writer of the same version fails even if it got past the
# optimistic lock. `payload` holds the event's own fields as JSON (tickets/store.py codec).

ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(36), ForeignKey("tickets.id"), nullable=False),
    Column("ticket_no", String(32), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("actor_unit", String(64)),
    Column("at", UtcDateTime(), nullable=False),
    Column("payload", Text, nullable=False),
    UniqueConstraint("ticket_id", "version", name="uq_ticket_events_ticket_id_version"),
)

# ---- access audit (kernel/audit.py), append-only -----------------------------------------------
# One row per read of a citizen's data (recording, transcript, caller history, a confidential
# caller's identity), allowed or denied. Migration 0008 adds the triggers that refuse UPDATE and
# DELETE in the database itself (the retention purge excepted, for rows past the legal minimum).

access_audit = Table(
    "access_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False, index=True),
    Column("actor", String(64), nullable=False, index=True),
    Column("role", String(32), nullable=False),
    Column("unit", String(64)),
    Column("kind", String(32), nullable=False),
    Column("allowed", Boolean, nullable=False),
    Column("remote", String(64)),
    Column("call_id", String(36), index=True),
    Column("ticket_no", String(32), index=True),
    Column("caller_number", String(64), index=True),
    Column("detail", String(500), nullable=False, server_default=""),
)

# ---- people's accounts and sessions (accounts/, kernel/sessions.py), migration 0011 -------------

#: A person who signs in: hotline staff, a unit's staff (with their unit), an auditor, an
#: administrator. The password is an argon2id hash (accounts/passwords.py), never the password.
users = Table(
    "users",
    metadata,
    Column("username", String(32), primary_key=True),
    Column("display_name", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("unit", String(64)),
    Column("password_hash", String(256), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("password_changed_at", UtcDateTime(), nullable=False),
)

#: Sign-in sessions. `id` is the SHA-256 of the secret in the person's cookie, so the table
#: alone opens no session. Ended sessions stay (revoked_at) until purged after their limit.
user_sessions = Table(
    "user_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("username", String(32), ForeignKey("users.username"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False, index=True),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime()),
    #: sign_out, disabled, password_reset, administrator
    Column("revoked_reason", String(32)),
    Column("remote", String(64)),
    Column("user_agent", String(200)),
)

# ---- programs' API keys (accounts/api_keys.py, kernel/api_keys.py), migration 0012 --------------

#: A named key with which a program (a unit's own system, web intake) acts as an account. `id` is
#: public (it is part of the key and of every listing); `secret_hash` is the SHA-256 of the whole
#: key, shown once at creation and never stored, so the table alone opens nothing.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("username", String(32), ForeignKey("users.username"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    #: The administrator or owner who made it (`cli:<os user>` from the command line).
    Column("created_by", String(64), nullable=False),
    #: Written at most once a minute per key (kernel/api_keys.py), not on every request.
    Column("last_used_at", UtcDateTime()),
    Column("revoked_at", UtcDateTime()),
    Column("revoked_by", String(64)),
    #: revoked, disabled (the account was disabled)
    Column("revoked_reason", String(32)),
)

# ---- readers of the ticket event log, migration 0015 --------------------------------------------

#: How far each reader of `ticket_events` has read (`tickets/event_log.py`): the id of the last
#: event it has handled, written in the transaction that records what it made of the events, so
#: a restart neither skips nor repeats one. Readers: the unit feed's router, the risk detector.
event_cursors = Table(
    "event_cursors",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# ---- the caller's right to know (public_lookup/), migration 0015 --------------------------------

#: The code a caller quotes with the ticket number to look up its progress (查询码). Only an
#: HMAC of the code under the hotline's key is stored: the table alone reveals no code, and a
#: 6-digit code could not be found from its hash without the key. One row per ticket: issuing a
#: new code replaces the old one.
lookup_codes = Table(
    "lookup_codes",
    metadata,
    Column("ticket_no", String(32), ForeignKey("tickets.ticket_no"), primary_key=True),
    Column("code_hash", String(64), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("issued_by", String(64), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

# ---- data push to units (unit_push/), migration 0015 --------------------------------------------

#: A unit's webhook: where its events are pushed, the secret they are signed with, and how far
#: delivery got (`delivered_seq`, the last `unit_feed.seq` the receiver acknowledged). The secret
#: is kept as given: signing needs it (it is shown once, when set, and never listed).
unit_webhooks = Table(
    "unit_webhooks",
    metadata,
    Column("unit", String(64), primary_key=True),
    Column("url", String(500), nullable=False),
    Column("secret", String(128), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("delivered_seq", Integer, nullable=False, server_default="0"),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("last_error", String(500)),
    Column("last_attempt_at", UtcDateTime()),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("updated_by", String(64), nullable=False),
)

#: Each unit's events, numbered 1, 2, 3... per unit in the order the unit must see them: what the
#: webhook delivers and what the feed (`GET /api/push/feed?after=`) reads. `body` is the unit's
#: view of the event (unit_push/view.py: no caller data of a confidential ticket), as JSON.
unit_feed = Table(
    "unit_feed",
    metadata,
    Column("unit", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("event_id", Integer, nullable=False),
    Column("ticket_no", String(32), nullable=False),
    Column("body", Text, nullable=False),
    UniqueConstraint("unit", "event_id", name="uq_unit_feed_unit_event"),
)

# ---- live risk warning (risk_warning/), migration 0015 ------------------------------------------

#: Each ticket counted in a hotspot (area x topic) at its intake time: what the detector's windows
#: count. A ticket counts once per hotspot, however often it is reclassified.
risk_intake = Table(
    "risk_intake",
    metadata,
    Column("ticket_no", String(32), primary_key=True),
    Column("hotspot", String(200), primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
)
Index("ix_risk_intake_hotspot_at", risk_intake.c.hotspot, risk_intake.c.at)

#: Warnings raised (风险预警): one per hotspot per window.
risk_warnings = Table(
    "risk_warnings",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("hotspot", String(200), nullable=False),
    Column("district", String(64)),
    Column("street", String(64)),
    Column("topic", String(100), nullable=False),
    Column("count", Integer, nullable=False),
    Column("baseline", Float, nullable=False),
    Column("window_start", UtcDateTime(), nullable=False),
    Column("raised_at", UtcDateTime(), nullable=False, index=True),
    Column("ticket_nos", Text, nullable=False),  # JSON list
    Column("units", Text, nullable=False),  # JSON list of unit codes concerned
)
Index("ix_risk_warnings_hotspot_raised_at", risk_warnings.c.hotspot, risk_warnings.c.raised_at)

# ---- idempotency keys (kernel/idempotency.py), migration 0017 ------------------------------------

#: A client's `Idempotency-Key` per principal (`scope`): the SHA-256 of the request it was first
#: sent with, and, once that request succeeded, its answer (written in the work's own transaction).
#: `token` names the request holding the claim. Rows are deleted after `expires_at`.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(96), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("token", String(32), nullable=False),
    Column("claimed_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
    Column("status", Integer),
    Column("body", Text),
)

#: The public disclosure of a closed month (tickets/disclosure.py): its records as JSON, computed
#: once from the ticket events after the month ended. Figures count events by when they
#: happened, so a closed month's figures never change.
monthly_disclosures = Table(
    "monthly_disclosures",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("records", Text, nullable=False),
    Column("computed_at", UtcDateTime(), nullable=False),
)
