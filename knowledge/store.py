"""SQLAlchemy repository of the knowledge base (知识库), and the seed-file loader.

The rules live in `tickets/knowledge.py`; this module only reads a snapshot, asks the rules
for the new snapshot and version, and writes both in one transaction. Writes are guarded by
optimistic locking (`UPDATE ... WHERE version = :expected`): two editors who loaded the same
version cannot both save; the second gets `Conflict` and must reload, so nobody silently
overwrites another unit's correction of the approved wording.

Full-text search runs on both backends over the pre-tokenised `search_tokens` column (see
`knowledge.search_text`): FTS5 (`kb_articles_fts`, kept in step here) on SQLite and
to_tsvector('simple', ...) with a GIN index on PostgreSQL. The database only finds and
filters candidates; `knowledge.rank` orders them, so both backends give the same order.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import (
    Row,
    and_,
    column,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.clock import HOTLINE_TZ, Clock, utc_now
from kernel.errors import ConfigError, Conflict, InvalidInput, NotFound
from kernel.roles import Actor, Role
from kernel.schema import kb_article_districts, kb_article_versions, kb_articles
from knowledge import model as knowledge
from knowledge.model import (
    Article,
    ArticleContent,
    ArticleStatus,
    ArticleVersion,
    SearchHit,
    StaleFlag,
)

log = logging.getLogger(__name__)

DEFAULT_SEED_PATH = Path(__file__).resolve().parent.parent / "config" / "knowledge_seed.yaml"
#: Seed articles get ids derived from their seed key, so loading the seed twice adds nothing.
SEED_NAMESPACE = uuid.UUID("6f1d8a52-3b8e-4c0e-9a57-12345a9e0b1c")
#: How many full-text candidates the database hands to `knowledge.rank`.
CANDIDATES = 200
#: The SQLite FTS5 table of migration 0004 (not in kernel.schema: it exists on SQLite only).
_FTS = table("kb_articles_fts", column("article_id"), column("tokens"))




class KnowledgeStore:
    def __init__(self, engine: AsyncEngine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        self._sqlite = engine.dialect.name == "sqlite"

    def today(self) -> date:
        """The hotline's calendar date (Asia/Shanghai) by this store's clock."""
        return self._clock().astimezone(HOTLINE_TZ).date()

    # ---- reads ----------------------------------------------------------------------------

    async def get(self, article_id: str) -> Article:
        async with self._engine.connect() as conn:
            return await self._load(conn, article_id)

    async def versions(self, article_id: str) -> list[ArticleVersion]:
        """Every version, oldest first."""
        async with self._engine.connect() as conn:
            await self._load(conn, article_id)
            rows = (await conn.execute(
                select(kb_article_versions)
                .where(kb_article_versions.c.article_id == article_id)
                .order_by(kb_article_versions.c.version)
            )).all()
        return [_version_from_row(row) for row in rows]

    async def search(
        self,
        query: str,
        *,
        unit: str | None = None,
        district: str | None = None,
        statuses: Iterable[ArticleStatus] = (ArticleStatus.PUBLISHED,),
        in_force_on: date | None = None,
        limit: int = 20,
        candidates: int = CANDIDATES,
    ) -> list[SearchHit]:
        """Articles matching the query, best first. By default only published articles;
        `district` keeps city-wide articles and those for that district; `in_force_on`
        leaves out articles whose `valid_from` is later. `candidates`: how many of the
        database's best matches are ranked (fewer is cheaper: the live assist searches every
        call's words as they come)."""
        tokens = knowledge.query_tokens(query)
        if not tokens:
            return []
        conditions: list[Any] = [kb_articles.c.status.in_([s.value for s in statuses])]
        if unit is not None:
            conditions.append(kb_articles.c.owner_unit == unit)
        if district is not None:
            conditions.append(_applies_in(district))
        if in_force_on is not None:
            conditions.append(or_(kb_articles.c.valid_from.is_(None), kb_articles.c.valid_from <= in_force_on))
        stmt = self._full_text(tokens).where(and_(*conditions)).limit(max(candidates, limit))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
            articles = await self._articles(conn, rows)
        return knowledge.rank(tokens, articles, limit)

    def _full_text(self, tokens: Sequence[str]) -> Any:
        """SELECT of matching articles, in the backend's own rank order (only used to cut the
        candidate list; `knowledge.rank` orders the answer). Tokens hold only CJK characters,
        a-z and 0-9 (see `knowledge.query_tokens`), so quoting them is safe."""
        if self._sqlite:
            # FTS5 names the whole table on the left of MATCH and inside bm25().
            whole: Any = literal_column("kb_articles_fts")
            match = " OR ".join(f'"{t}"' for t in tokens)
            return (
                select(kb_articles)
                .join(_FTS, _FTS.c.article_id == kb_articles.c.id)
                .where(whole.op("MATCH")(match))
                .order_by(func.bm25(whole))
            )
        vector = func.to_tsvector(literal_column("'simple'::regconfig"), kb_articles.c.search_tokens)
        tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), " | ".join(tokens))
        return select(kb_articles).where(vector.op("@@")(tsquery)).order_by(func.ts_rank(vector, tsquery).desc())

    async def list_articles(self, *, unit: str | None = None, status: ArticleStatus | None = None,
                            limit: int = 100, offset: int = 0) -> list[Article]:
        """Articles of every status, by unit then most recently changed: the knowledge admin's
        list (a unit's: its own). Read off the owner_unit and status indexes."""
        stmt = select(kb_articles)
        if unit is not None:
            stmt = stmt.where(kb_articles.c.owner_unit == unit)
        if status is not None:
            stmt = stmt.where(kb_articles.c.status == status.value)
        stmt = stmt.order_by(kb_articles.c.owner_unit, kb_articles.c.updated_at.desc(), kb_articles.c.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt.limit(limit).offset(offset))).all()
            return await self._articles(conn, rows)

    async def stale(self, today: date, *, unit: str | None = None) -> list[StaleFlag]:
        """Supervision flags for published articles past their review date."""
        stmt = select(kb_articles).where(
            kb_articles.c.status == ArticleStatus.PUBLISHED.value, kb_articles.c.review_by < today
        )
        if unit is not None:
            stmt = stmt.where(kb_articles.c.owner_unit == unit)
        async with self._engine.connect() as conn:
            articles = await self._articles(conn, (await conn.execute(stmt)).all())
        return knowledge.stale_articles(articles, today)

    # ---- writes ---------------------------------------------------------------------------

    async def create(
        self, content: ArticleContent, actor: Actor, *, note: str = "新建", article_id: str | None = None
    ) -> Article:
        article, version = knowledge.create_article(
            article_id or str(uuid.uuid4()), content, actor, self._clock(), note
        )
        async with self._engine.begin() as conn:
            if await conn.scalar(select(kb_articles.c.id).where(kb_articles.c.id == article.id)):
                raise Conflict(f"knowledge article {article.id} already exists", article_id=article.id)
            await conn.execute(insert(kb_articles).values(_article_row(article)))
            await self._write_districts(conn, article)
            await self._write_search(conn, article, new=True)
            await conn.execute(insert(kb_article_versions).values(_version_row(version)))
        log.info("knowledge article created", extra={"article_id": article.id,
                                                      "owner_unit": article.owner_unit, "actor": actor.id})
        return article

    async def edit(
        self, article_id: str, content: ArticleContent, actor: Actor, *, expected_version: int, note: str
    ) -> Article:
        return await self._change(
            article_id, expected_version,
            lambda a, now: knowledge.edit_article(a, content, actor, now, note), actor,
        )

    async def publish(
        self, article_id: str, actor: Actor, *, expected_version: int | None = None, note: str = "发布"
    ) -> Article:
        return await self._change(
            article_id, expected_version, lambda a, now: knowledge.publish(a, actor, now, note), actor
        )

    async def retire(
        self, article_id: str, actor: Actor, *, note: str, expected_version: int | None = None
    ) -> Article:
        return await self._change(
            article_id, expected_version, lambda a, now: knowledge.retire(a, actor, now, note), actor
        )

    async def _change(
        self,
        article_id: str,
        expected_version: int | None,
        rule: Callable[[Article, datetime], tuple[Article, ArticleVersion]],
        actor: Actor,
    ) -> Article:
        async with self._engine.begin() as conn:
            current = await self._load(conn, article_id)
            expected = current.version if expected_version is None else expected_version
            if current.version != expected:
                raise _conflict(article_id, expected, current.version)
            changed, version = rule(current, self._clock())
            result = await conn.execute(
                update(kb_articles)
                .where(kb_articles.c.id == article_id, kb_articles.c.version == expected)
                .values(_article_row(changed))
            )
            if result.rowcount != 1:
                # Someone saved between our read and our write.
                now_at = await conn.scalar(select(kb_articles.c.version).where(kb_articles.c.id == article_id))
                raise _conflict(article_id, expected, now_at)
            if changed.content != current.content:
                await self._write_districts(conn, changed, replace=True)
                await self._write_search(conn, changed, new=False)
            await conn.execute(insert(kb_article_versions).values(_version_row(version)))
        log.info("knowledge article changed", extra={
            "article_id": article_id, "version": changed.version, "status": changed.status.value,
            "actor": actor.id, "role": actor.role.value,
        })
        return changed

    async def _write_districts(self, conn: AsyncConnection, article: Article, *, replace: bool = False) -> None:
        if replace:
            await conn.execute(delete(kb_article_districts).where(kb_article_districts.c.article_id == article.id))
        if article.content.districts:
            await conn.execute(insert(kb_article_districts), [
                {"article_id": article.id, "district": d} for d in article.content.districts
            ])

    async def _write_search(self, conn: AsyncConnection, article: Article, *, new: bool) -> None:
        """SQLite's FTS5 table is separate and kept here; PostgreSQL indexes the column itself."""
        if not self._sqlite:
            return
        if not new:
            await conn.exec_driver_sql("DELETE FROM kb_articles_fts WHERE article_id = ?", (article.id,))
        await conn.exec_driver_sql(
            "INSERT INTO kb_articles_fts (article_id, tokens) VALUES (?, ?)",
            (article.id, knowledge.search_text(article.content)),
        )

    # ---- mapping --------------------------------------------------------------------------

    async def _load(self, conn: AsyncConnection, article_id: str) -> Article:
        row = (await conn.execute(select(kb_articles).where(kb_articles.c.id == article_id))).first()
        if row is None:
            raise NotFound(f"knowledge article {article_id} not found", article_id=article_id)
        return (await self._articles(conn, [row]))[0]

    async def _articles(self, conn: AsyncConnection, rows: Sequence[Row[Any]]) -> list[Article]:
        ids = [row.id for row in rows]
        districts: dict[str, list[str]] = {i: [] for i in ids}
        if ids:
            for article_id, district in (await conn.execute(
                select(kb_article_districts.c.article_id, kb_article_districts.c.district)
                .where(kb_article_districts.c.article_id.in_(ids))
                .order_by(kb_article_districts.c.article_id, kb_article_districts.c.district)
            )).all():
                districts[article_id].append(district)
        return [_article_from_row(row, districts[row.id]) for row in rows]


def _applies_in(district: str) -> Any:
    listed = select(kb_article_districts.c.article_id).where(kb_article_districts.c.article_id == kb_articles.c.id)
    return or_(~exists(listed), exists(listed.where(kb_article_districts.c.district == district)))


def _conflict(article_id: str, expected: int, actual: int | None) -> Conflict:
    return Conflict(
        f"knowledge article {article_id} is at version {actual}, not {expected}: reload and retry",
        article_id=article_id, expected_version=expected, actual_version=actual,
    )


def _content_columns(content: ArticleContent) -> dict[str, Any]:
    return {
        "title": content.title,
        "body": content.body,
        "approved_wording": content.approved_wording,
        "owner_unit": content.owner_unit,
        "keywords": json.dumps(list(content.keywords), ensure_ascii=False),
        "valid_from": content.valid_from,
        "review_by": content.review_by,
    }


def _article_row(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        **_content_columns(article.content),
        "status": article.status.value,
        "version": article.version,
        "created_at": article.created_at,
        "updated_at": article.updated_at,
        "search_tokens": knowledge.search_text(article.content),
    }


def _version_row(version: ArticleVersion) -> dict[str, Any]:
    return {
        "article_id": version.article_id,
        "version": version.version,
        "status": version.status.value,
        **_content_columns(version.content),
        "districts": json.dumps(list(version.content.districts), ensure_ascii=False),
        "editor": version.editor[:64],
        "editor_role": version.editor_role.value,
        "edited_at": version.edited_at,
        "change_note": version.change_note,
    }


def _content_from_row(row: Row[Any], districts: Sequence[str]) -> ArticleContent:
    return ArticleContent(
        title=row.title,
        body=row.body,
        owner_unit=row.owner_unit,
        review_by=row.review_by,
        approved_wording=row.approved_wording,
        keywords=tuple(json.loads(row.keywords)),
        districts=tuple(districts),
        valid_from=row.valid_from,
    )


def _article_from_row(row: Row[Any], districts: Sequence[str]) -> Article:
    return Article(
        id=row.id,
        content=_content_from_row(row, districts),
        status=ArticleStatus(row.status),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _version_from_row(row: Row[Any]) -> ArticleVersion:
    return ArticleVersion(
        article_id=row.article_id,
        version=row.version,
        content=_content_from_row(row, json.loads(row.districts)),
        status=ArticleStatus(row.status),
        editor=row.editor,
        editor_role=Role(row.editor_role),
        edited_at=row.edited_at,
        change_note=row.change_note,
    )


# ---- seed file ------------------------------------------------------------------------------


class _SeedArticle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")
    title: str
    owner_unit: str
    keywords: list[str] = []
    districts: list[str] = []
    valid_from: date | None = None
    review_by: date
    status: ArticleStatus = ArticleStatus.PUBLISHED
    approved_wording: str | None = None
    body: str


class _SeedFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    units: dict[str, str]
    articles: list[_SeedArticle]


def seed_article_id(key: str) -> str:
    return str(uuid.uuid5(SEED_NAMESPACE, key))


def read_seed(path: Path = DEFAULT_SEED_PATH) -> tuple[dict[str, str], list[tuple[str, ArticleContent, ArticleStatus]]]:
    """The seed file's unit names (code -> name) and its articles as (key, content, status).

    Raises `ConfigError` naming the offending entry, so a bad seed fails at load, not later."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), f"cannot read knowledge seed: {exc}") from exc
    try:
        doc = _SeedFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError.from_validation(exc, "knowledge_seed") from None
    articles: list[tuple[str, ArticleContent, ArticleStatus]] = []
    keys: set[str] = set()
    for i, entry in enumerate(doc.articles):
        where = f"knowledge_seed.articles.{i}"
        if entry.key in keys:
            raise ConfigError(f"{where}.key", f"duplicate key {entry.key!r}")
        keys.add(entry.key)
        if entry.owner_unit not in doc.units:
            raise ConfigError(f"{where}.owner_unit", f"unit {entry.owner_unit!r} is not listed under units")
        try:
            content = ArticleContent(
                title=entry.title, body=entry.body, owner_unit=entry.owner_unit, review_by=entry.review_by,
                approved_wording=entry.approved_wording, keywords=tuple(entry.keywords),
                districts=tuple(entry.districts), valid_from=entry.valid_from,
            )
        except InvalidInput as exc:
            raise ConfigError(f"{where}.{exc.context.get('field', 'article')}", exc.message) from None
        articles.append((entry.key, content, entry.status))
    return dict(doc.units), articles


async def load_seed(store: KnowledgeStore, path: Path = DEFAULT_SEED_PATH, *, user: str = "seed") -> int:
    """Add the seed articles that are not in the store yet (by seed key); returns how many.

    Existing articles are left alone: once loaded, the units own them and may have edited them.
    """
    _, articles = read_seed(path)
    admin = Actor(user, Role.KB_ADMIN)
    added = 0
    for key, content, status in articles:
        article_id = seed_article_id(key)
        try:
            await store.get(article_id)
            continue
        except NotFound:
            pass
        await store.create(content, admin, note="初始知识库导入", article_id=article_id)
        if status is ArticleStatus.PUBLISHED:
            await store.publish(article_id, admin, note="初始知识库导入")
        elif status is ArticleStatus.RETIRED:
            # Kept for the record only; it was never live in this system.
            await store.retire(article_id, admin, note="初始知识库导入（已停止的政策）")
        added += 1
    log.info("knowledge seed loaded", extra={"path": str(path), "added": added})
    return added
