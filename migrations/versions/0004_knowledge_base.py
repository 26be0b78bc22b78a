"""Knowledge base (知识库): articles, their districts and versions, and a Chinese full-text index.

The full-text index is backend-specific and therefore not in hotline/schema.py:
- SQLite: an FTS5 table `kb_articles_fts(article_id UNINDEXED, tokens)` with the default
  unicode61 tokenizer over the pre-tokenised `search_tokens`; tickets/knowledge_store.py keeps
  it in step with `kb_articles` in the same transaction (no triggers, so that a later
  batch_alter_table, which recreates the table on SQLite, cannot silently drop them);
- PostgreSQL: a GIN index on to_tsvector('simple', search_tokens), used by queries that spell
  the same expression.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from kernel.schema import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PG_SEARCH_INDEX = "ix_kb_articles_search_tokens_tsv"


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.String(36)),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("approved_wording", sa.Text),
        sa.Column("owner_unit", sa.String(64), nullable=False),
        sa.Column("keywords", sa.Text, nullable=False),
        sa.Column("valid_from", sa.Date),
        sa.Column("review_by", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("search_tokens", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kb_articles"),
    )
    op.create_index("ix_kb_articles_owner_unit", "kb_articles", ["owner_unit"])
    op.create_index("ix_kb_articles_status", "kb_articles", ["status"])
    op.create_table(
        "kb_article_districts",
        sa.Column("article_id", sa.String(36)),
        sa.Column("district", sa.String(64)),
        sa.PrimaryKeyConstraint("article_id", "district", name="pk_kb_article_districts"),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"], ondelete="CASCADE",
                                name="fk_kb_article_districts_article_id_kb_articles"),
    )
    op.create_index("ix_kb_article_districts_district", "kb_article_districts", ["district"])
    op.create_table(
        "kb_article_versions",
        sa.Column("article_id", sa.String(36)),
        sa.Column("version", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("approved_wording", sa.Text),
        sa.Column("owner_unit", sa.String(64), nullable=False),
        sa.Column("keywords", sa.Text, nullable=False),
        sa.Column("districts", sa.Text, nullable=False),
        sa.Column("valid_from", sa.Date),
        sa.Column("review_by", sa.Date, nullable=False),
        sa.Column("editor", sa.String(64), nullable=False),
        sa.Column("editor_role", sa.String(16), nullable=False),
        sa.Column("edited_at", UtcDateTime(), nullable=False),
        sa.Column("change_note", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("article_id", "version", name="pk_kb_article_versions"),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"], ondelete="CASCADE",
                                name="fk_kb_article_versions_article_id_kb_articles"),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE kb_articles_fts USING fts5("
            "article_id UNINDEXED, tokens, tokenize = 'unicode61')"
        )
    elif dialect == "postgresql":
        op.execute(
            f"CREATE INDEX {PG_SEARCH_INDEX} ON kb_articles "
            "USING gin (to_tsvector('simple'::regconfig, search_tokens))"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS kb_articles_fts")
    elif dialect == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {PG_SEARCH_INDEX}")
    op.drop_table("kb_article_versions")
    op.drop_index("ix_kb_article_districts_district", table_name="kb_article_districts")
    op.drop_table("kb_article_districts")
    op.drop_index("ix_kb_articles_status", table_name="kb_articles")
    op.drop_index("ix_kb_articles_owner_unit", table_name="kb_articles")
    op.drop_table("kb_articles")
