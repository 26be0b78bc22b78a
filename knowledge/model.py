"""The knowledge base (知识库) and its approved wording (答复口径): pure rules, no I/O.

Why it exists: agents answer many consultations directly (直接答复) instead of dispatching a
ticket, and they may only read to the caller what the owning unit has approved. The
regulations make the units responsible for keeping their articles true and current
(临沂条例第二十一条: 承办单位应当及时更新热线知识库信息 ... 保证信息数据的真实、有效和准确;
北京条例第三十条) and make a late or wrong update a matter for supervision (临沂条例第三十条第五项:
热线知识库更新不及时或者更新内容不符合要求的). Hence:

- every article has an owning unit and a review date (`review_by`); a published article past
  that date is stale and is reported to supervision (`stale_articles`);
- only the owning unit or a hotline knowledge admin edits an article (`require_editor`);
- an article is published only with approved wording (`publish`);
- an edit never overwrites: each change makes a new immutable `ArticleVersion`, so the wording
  an agent read on a given day can always be shown.

Search is character based: Chinese has no spaces and we ship no segmenter, so text is cut into
overlapping character bigrams (plus single characters, so a one-character query still finds
something); Latin letters and digits are lower-cased words. The store indexes these tokens
with the database's own full-text engine and ranks candidates with `relevance`, so both
database backends return the same order.

This module must never do I/O and never import SQLAlchemy or aiohttp.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache

from kernel.clock import HOTLINE_TZ
from kernel.errors import IllegalTransition, InvalidInput, PermissionDenied
from kernel.roles import Actor, Role

MAX_TITLE = 200
MAX_TEXT = 20_000


class ArticleStatus(StrEnum):
    DRAFT = "draft"  # 草稿: the unit is still writing it; agents do not see it
    PUBLISHED = "published"  # 已发布: agents may read its approved wording to callers
    RETIRED = "retired"  # 已下架: the policy no longer applies; kept for the record




@dataclass(frozen=True, slots=True)
class ArticleContent:
    """What an editor writes. Validated on construction, so an `Article` is always well formed."""

    title: str
    body: str
    owner_unit: str
    review_by: date
    approved_wording: str | None = None
    keywords: tuple[str, ...] = ()
    #: Districts the article applies to; empty means the whole city.
    districts: tuple[str, ...] = ()
    valid_from: date | None = None

    def __post_init__(self) -> None:
        title = self.title.strip()
        if not title or len(title) > MAX_TITLE:
            raise InvalidInput(f"title must be 1..{MAX_TITLE} characters", field="title")
        if not self.body.strip() or len(self.body) > MAX_TEXT:
            raise InvalidInput(f"body must be 1..{MAX_TEXT} characters", field="body")
        if not self.owner_unit.strip():
            raise InvalidInput("owner unit is required", field="owner_unit")
        wording = (self.approved_wording or "").strip() or None
        if wording is not None and len(wording) > MAX_TEXT:
            raise InvalidInput(f"approved wording exceeds {MAX_TEXT} characters", field="approved_wording")
        if self.valid_from is not None and self.review_by < self.valid_from:
            raise InvalidInput("review date is before the article takes effect", field="review_by")
        object.__setattr__(self, "title", title)
        object.__setattr__(self, "owner_unit", self.owner_unit.strip())
        object.__setattr__(self, "approved_wording", wording)
        object.__setattr__(self, "keywords", _clean_list(self.keywords))
        object.__setattr__(self, "districts", _clean_list(self.districts))


def _clean_list(values: Iterable[str]) -> tuple[str, ...]:
    """Stripped, non-empty, de-duplicated, in the order given."""
    seen: dict[str, None] = {}
    for value in values:
        value = value.strip()
        if value:
            seen.setdefault(value, None)
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class Article:
    """The current state of an article. `version` counts its versions (optimistic locking)."""

    id: str
    content: ArticleContent
    status: ArticleStatus
    version: int
    created_at: datetime
    updated_at: datetime

    # Shortcuts, so callers need not know that content is a separate value.
    @property
    def title(self) -> str:
        return self.content.title

    @property
    def owner_unit(self) -> str:
        return self.content.owner_unit

    @property
    def review_by(self) -> date:
        return self.content.review_by

    def applies_in(self, district: str) -> bool:
        return not self.content.districts or district in self.content.districts

    def in_force(self, today: date) -> bool:
        return self.content.valid_from is None or self.content.valid_from <= today


@dataclass(frozen=True, slots=True)
class ArticleVersion:
    """One immutable version of an article: what it said, its status, who changed it, and why."""

    article_id: str
    version: int
    content: ArticleContent
    status: ArticleStatus
    editor: str
    editor_role: Role
    edited_at: datetime
    change_note: str


@dataclass(frozen=True, slots=True)
class StaleFlag:
    """A supervision flag (督办): a published article that its unit has not reviewed in time."""

    article_id: str
    title: str
    owner_unit: str
    review_by: date
    days_overdue: int


# ---- permissions ----------------------------------------------------------------------------


def can_read(actor: Actor, article: Article) -> bool:
    """Agents read published articles only; drafts and retired ones stay with their editors."""
    return article.status is ArticleStatus.PUBLISHED or can_edit(actor, article.owner_unit)


def can_edit(actor: Actor, owner_unit: str) -> bool:
    if actor.role is Role.KB_ADMIN:
        return True
    return actor.role is Role.UNIT and actor.unit == owner_unit


def require_editor(actor: Actor, owner_unit: str) -> None:
    if not can_edit(actor, owner_unit):
        raise PermissionDenied(
            f"{actor.role.value} {actor.unit or actor.id!r} may not edit articles of unit {owner_unit!r}",
            owner_unit=owner_unit,
            role=actor.role.value,
        )


# ---- changes: each returns the new article and the version it adds -------------------------


def _version(article: Article, actor: Actor, note: str) -> ArticleVersion:
    note = note.strip()
    if len(note) > 500:
        raise InvalidInput("change note exceeds 500 characters", field="change_note")
    return ArticleVersion(
        article_id=article.id,
        version=article.version,
        content=article.content,
        status=article.status,
        editor=actor.id,
        editor_role=actor.role,
        edited_at=article.updated_at,
        change_note=note,
    )


def create_article(
    article_id: str, content: ArticleContent, actor: Actor, now: datetime, note: str = "新建"
) -> tuple[Article, ArticleVersion]:
    """A new draft. A unit may only create articles it owns."""
    _require_aware(now)
    require_editor(actor, content.owner_unit)
    article = Article(article_id, content, ArticleStatus.DRAFT, 1, now, now)
    return article, _version(article, actor, note)


def edit_article(
    article: Article, content: ArticleContent, actor: Actor, now: datetime, note: str
) -> tuple[Article, ArticleVersion]:
    """A new version with new content. The status is kept: a published article stays published,
    so its wording must stay present; moving an article to another unit is for admins only."""
    _require_aware(now)
    require_editor(actor, article.owner_unit)
    if content.owner_unit != article.owner_unit and actor.role is not Role.KB_ADMIN:
        raise PermissionDenied("only a knowledge admin moves an article to another unit",
                               article_id=article.id)
    if article.status is ArticleStatus.RETIRED:
        raise IllegalTransition("a retired article cannot be edited", article_id=article.id)
    if article.status is ArticleStatus.PUBLISHED:
        _require_publishable(article.id, content)
    if not note.strip():
        raise InvalidInput("an edit needs a change note", field="change_note")
    changed = replace(article, content=content, version=article.version + 1, updated_at=now)
    return changed, _version(changed, actor, note)


def publish(article: Article, actor: Actor, now: datetime, note: str = "发布") -> tuple[Article, ArticleVersion]:
    """Draft -> published. Agents read the approved wording aloud, so there must be one, and
    an article already past its review date would be stale on the day it appears."""
    _require_aware(now)
    require_editor(actor, article.owner_unit)
    if article.status is not ArticleStatus.DRAFT:
        raise IllegalTransition(f"cannot publish a {article.status.value} article", article_id=article.id)
    _require_publishable(article.id, article.content)
    if article.review_by < now.astimezone(HOTLINE_TZ).date():
        raise InvalidInput("review date has passed; set a new one before publishing", field="review_by")
    changed = replace(article, status=ArticleStatus.PUBLISHED, version=article.version + 1, updated_at=now)
    return changed, _version(changed, actor, note)


def retire(article: Article, actor: Actor, now: datetime, note: str) -> tuple[Article, ArticleVersion]:
    """Take an article out of service (policy replaced or repealed). It stays on record."""
    _require_aware(now)
    require_editor(actor, article.owner_unit)
    if article.status is ArticleStatus.RETIRED:
        raise IllegalTransition("article is already retired", article_id=article.id)
    if not note.strip():
        raise InvalidInput("retiring needs a reason", field="change_note")
    changed = replace(article, status=ArticleStatus.RETIRED, version=article.version + 1, updated_at=now)
    return changed, _version(changed, actor, note)


def _require_publishable(article_id: str, content: ArticleContent) -> None:
    if not content.approved_wording:
        raise InvalidInput("a published article needs approved wording (答复口径)",
                           field="approved_wording", article_id=article_id)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("naive datetime")


# ---- staleness (supervision) -----------------------------------------------------------------


def is_stale(article: Article, today: date) -> bool:
    return article.status is ArticleStatus.PUBLISHED and article.review_by < today


def stale_articles(articles: Iterable[Article], today: date) -> list[StaleFlag]:
    """Published articles past their review date, the most overdue first.

    `today` is the hotline's calendar date (Asia/Shanghai); the review date itself is still
    in time, so an article reviewed by 2026-03-01 is one day overdue on 2026-03-02.
    """
    flags = [
        StaleFlag(a.id, a.title, a.owner_unit, a.review_by, (today - a.review_by).days)
        for a in articles
        if is_stale(a, today)
    ]
    flags.sort(key=lambda f: (-f.days_overdue, f.owner_unit, f.article_id))
    return flags


# ---- text: normalisation, tokens, relevance -----------------------------------------------

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
#: A run of CJK ideographs (whitespace inside is dropped, see `normalize`) or of Latin/digits.
_RUN = re.compile(rf"[{_CJK}]+|[0-9a-z]+")
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")

#: Bigrams of how a question is asked, not of what it is about. Dropped from queries that
#: have other tokens, so "暖气费怎么收" is not matched on 怎么 by every article that says 怎么办.
QUERY_NOISE = frozenset({
    "怎么", "么办", "么收", "么样", "什么", "如何", "请问", "问一", "一下", "我想", "想问",
    "想了", "了解", "哪里", "哪个", "可以", "能不", "不能", "是不", "不是", "需要",
    "吗", "呢", "的", "了",
})


def normalize(text: str) -> str:
    """NFKC (full-width letters and digits to half-width), lower case, and no whitespace
    between Chinese characters: speech transcripts write "供 暖 收费" and mean 供暖收费."""
    return _SPACE_BETWEEN_CJK.sub("", unicodedata.normalize("NFKC", text).lower())


def _runs(text: str) -> list[str]:
    return _RUN.findall(normalize(text))


def _is_cjk(run: str) -> bool:
    return not run[0].isascii()


def index_tokens(text: str) -> list[str]:
    """Tokens to index a document by: every bigram and every character of each Chinese run
    (characters so that a one-character query can match), each Latin or digit word."""
    tokens: list[str] = []
    for run in _runs(text):
        if _is_cjk(run):
            tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
            tokens.extend(run)
        else:
            tokens.append(run)
    return tokens


def query_tokens(text: str) -> list[str]:
    """Distinct tokens of a query, in order: bigrams of each Chinese run (a single character
    when the run has only one), Latin or digit words. Question noise is dropped unless
    nothing else is left."""
    tokens: dict[str, None] = {}
    for run in _runs(text):
        if _is_cjk(run) and len(run) > 1:
            for i in range(len(run) - 1):
                tokens.setdefault(run[i : i + 2], None)
        else:
            tokens.setdefault(run, None)
    meaningful = [t for t in tokens if t not in QUERY_NOISE]
    return meaningful or list(tokens)


def search_text(content: ArticleContent) -> str:
    """The pre-tokenised, space-separated text a full-text index is built from.

    Tokens are only CJK characters, a-z and 0-9, so the text is safe for FTS5's unicode61
    tokenizer and PostgreSQL's 'simple' configuration, which both split it on the spaces.
    """
    parts = [content.title, *content.keywords, content.approved_wording or "", content.body]
    return " ".join(dict.fromkeys(t for part in parts for t in index_tokens(part)))


#: How much a query token found in each field counts: a title or keyword hit says what the
#: article is about; a body hit may be a passing mention.
FIELD_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("title", 3.0), ("keywords", 3.0), ("approved_wording", 2.0), ("body", 1.0),
)


@lru_cache(maxsize=256)
def _field_tokens(content: ArticleContent) -> Mapping[str, frozenset[str]]:
    """Each field's tokens, once per version of an article's content (values are immutable and
    compared whole): a search ranks up to 200 articles, and the live assist searches every
    call's words as they come (162 articles: 120 -> 16 ms a search, measured). An entry holds
    the article's distinct bigrams, ~100 KiB for a 2,000-character body: 256 stay cached."""
    return {
        "title": frozenset(index_tokens(content.title)),
        "keywords": frozenset(t for k in content.keywords for t in index_tokens(k)),
        "approved_wording": frozenset(index_tokens(content.approved_wording or "")),
        "body": frozenset(index_tokens(content.body)),
    }


def relevance(tokens: Sequence[str], content: ArticleContent) -> float:
    """Score in [0, 1]: each query token earns the weight of the best field it occurs in,
    divided by what it would earn in the title. Articles matching more of the query, and in
    their title or keywords, come first."""
    if not tokens:
        return 0.0
    fields = _field_tokens(content)
    top = FIELD_WEIGHTS[0][1]
    earned = 0.0
    for token in dict.fromkeys(tokens):
        earned += max((w for name, w in FIELD_WEIGHTS if token in fields[name]), default=0.0)
    return earned / (top * len(set(tokens)))


@dataclass(frozen=True, slots=True)
class SearchHit:
    article: Article
    score: float
    matched: tuple[str, ...] = field(default=())


def rank(tokens: Sequence[str], articles: Iterable[Article], limit: int) -> list[SearchHit]:
    """Articles with any matching token, best first; ties by title then id, so the order is
    the same on every database."""
    hits: list[SearchHit] = []
    for article in articles:
        score = relevance(tokens, article.content)
        if score > 0:
            every = set().union(*_field_tokens(article.content).values())
            hits.append(SearchHit(article, round(score, 6), tuple(t for t in tokens if t in every)))
    hits.sort(key=lambda h: (-h.score, h.article.title, h.article.id))
    return hits[:limit]
