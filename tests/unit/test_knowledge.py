"""Knowledge base rules: who edits, when an article may be published, staleness, tokens."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from kernel.errors import IllegalTransition, InvalidInput, PermissionDenied
from kernel.roles import Actor, Role
from knowledge.model import (
    Article,
    ArticleContent,
    ArticleStatus,
    can_read,
    create_article,
    edit_article,
    index_tokens,
    normalize,
    publish,
    query_tokens,
    rank,
    relevance,
    retire,
    search_text,
    stale_articles,
)

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
HOUSING = Actor("zhang", Role.UNIT, "city-housing")
WATER = Actor("li", Role.UNIT, "utility-water")
ADMIN = Actor("kbadmin", Role.KB_ADMIN)
AGENT = Actor("agent7", Role.AGENT)


def content(**overrides: object) -> ArticleContent:
    values: dict[str, object] = {
        "title": "居民供暖收费标准",
        "body": "居民集中供暖按建筑面积收费，每平方米每供暖期22元。",
        "owner_unit": "city-housing",
        "review_by": date(2027, 6, 30),
        "approved_wording": "您好，本市居民供暖费每平方米每个供暖期22元。",
        "keywords": ("暖气费", "供暖费"),
    }
    values.update(overrides)
    return ArticleContent(**values)  # type: ignore[arg-type]


def draft(**overrides: object) -> Article:
    article, _ = create_article("a1", content(**overrides), HOUSING, NOW)
    return article


def published(**overrides: object) -> Article:
    article, _ = publish(draft(**overrides), HOUSING, NOW)
    return article


# ---- content validation --------------------------------------------------------------------


def test_content_is_cleaned_and_validated() -> None:
    cleaned = content(title="  供暖  ", approved_wording="   ", keywords=(" 暖气费", "暖气费", ""),
                      districts=("明德区", " 明德区 "))
    assert cleaned.title == "供暖"
    assert cleaned.approved_wording is None
    assert cleaned.keywords == ("暖气费",)
    assert cleaned.districts == ("明德区",)
    for bad in ({"title": " "}, {"body": ""}, {"owner_unit": " "}, {"title": "长" * 201},
                {"valid_from": date(2027, 7, 1)}):
        with pytest.raises(InvalidInput):
            content(**bad)


def test_a_unit_actor_must_name_its_unit() -> None:
    with pytest.raises(InvalidInput):
        Actor("zhang", Role.UNIT)


# ---- who may edit ----------------------------------------------------------------------------


def test_new_article_is_a_draft_with_a_first_version() -> None:
    article, version = create_article("a1", content(), HOUSING, NOW)
    assert article.status is ArticleStatus.DRAFT and article.version == 1
    assert (version.version, version.editor, version.editor_role, version.edited_at) == (1, "zhang", Role.UNIT, NOW)
    assert version.content == article.content


def test_a_unit_cannot_create_an_article_for_another_unit() -> None:
    with pytest.raises(PermissionDenied):
        create_article("a1", content(owner_unit="utility-water"), HOUSING, NOW)
    with pytest.raises(PermissionDenied):
        create_article("a1", content(), AGENT, NOW)
    article, _ = create_article("a1", content(owner_unit="utility-water"), ADMIN, NOW)
    assert article.owner_unit == "utility-water"


def test_only_the_owning_unit_or_an_admin_edits() -> None:
    article = draft()
    later = datetime(2026, 11, 26, tzinfo=UTC)
    for actor in (WATER, AGENT):
        with pytest.raises(PermissionDenied):
            edit_article(article, content(title="改"), actor, later, "改标题")
    edited, version = edit_article(article, content(title="改"), HOUSING, later, "改标题")
    assert (edited.version, edited.title, edited.updated_at, edited.created_at) == (2, "改", later, NOW)
    assert (version.version, version.change_note, version.edited_at) == (2, "改标题", later)
    by_admin, _ = edit_article(edited, content(title="再改"), ADMIN, later, "管理员修订")
    assert by_admin.version == 3


def test_only_an_admin_moves_an_article_to_another_unit() -> None:
    article = draft()
    with pytest.raises(PermissionDenied):
        edit_article(article, content(owner_unit="utility-water"), HOUSING, NOW, "转交")
    moved, _ = edit_article(article, content(owner_unit="utility-water"), ADMIN, NOW, "职责调整")
    assert moved.owner_unit == "utility-water"
    edit_article(moved, content(owner_unit="utility-water", title="新"), WATER, NOW, "接手")


def test_an_edit_needs_a_change_note() -> None:
    with pytest.raises(InvalidInput):
        edit_article(draft(), content(title="改"), HOUSING, NOW, "  ")


def test_agents_read_only_published_articles() -> None:
    assert not can_read(AGENT, draft())
    assert can_read(HOUSING, draft()) and can_read(ADMIN, draft())
    assert not can_read(WATER, draft())
    assert can_read(AGENT, published()) and can_read(WATER, published())


# ---- publishing and retiring -----------------------------------------------------------------


def test_publishing_requires_approved_wording() -> None:
    with pytest.raises(InvalidInput) as info:
        publish(draft(approved_wording=None), HOUSING, NOW)
    assert info.value.context["field"] == "approved_wording"
    article, version = publish(draft(), HOUSING, NOW)
    assert article.status is ArticleStatus.PUBLISHED and article.version == 2
    assert version.status is ArticleStatus.PUBLISHED and version.change_note == "发布"


def test_a_published_article_keeps_its_wording() -> None:
    with pytest.raises(InvalidInput):
        edit_article(published(), content(approved_wording=None), HOUSING, NOW, "删去口径")


def test_cannot_publish_twice_or_by_another_unit_or_past_its_review_date() -> None:
    with pytest.raises(IllegalTransition):
        publish(published(), HOUSING, NOW)
    with pytest.raises(PermissionDenied):
        publish(draft(), WATER, NOW)
    with pytest.raises(InvalidInput):
        publish(draft(review_by=date(2026, 11, 24)), HOUSING, NOW)
    # The review date is a Beijing date: 2026-11-25 17:00 UTC is already the 26th there.
    with pytest.raises(InvalidInput):
        publish(draft(review_by=date(2026, 11, 25)), HOUSING, datetime(2026, 11, 25, 17, tzinfo=UTC))
    publish(draft(review_by=date(2026, 11, 25)), HOUSING, NOW)


def test_retired_articles_are_final() -> None:
    with pytest.raises(InvalidInput):
        retire(published(), HOUSING, NOW, " ")
    article, version = retire(published(), HOUSING, NOW, "政策废止")
    assert article.status is ArticleStatus.RETIRED and version.change_note == "政策废止"
    with pytest.raises(IllegalTransition):
        retire(article, HOUSING, NOW, "again")
    with pytest.raises(IllegalTransition):
        edit_article(article, content(), HOUSING, NOW, "复活")
    with pytest.raises(IllegalTransition):
        publish(article, HOUSING, NOW)


# ---- staleness ----------------------------------------------------------------------------


def test_stale_articles_are_published_ones_past_their_review_date_most_overdue_first() -> None:
    fresh = replace(published(), id="fresh")
    due_today = replace(published(review_by=date(2026, 12, 1)), id="due-today")
    late = replace(published(review_by=date(2026, 11, 30)), id="late")
    very_late = replace(published(review_by=date(2026, 11, 26)), id="very-late")
    very_late = replace(very_late, content=replace(very_late.content, owner_unit="utility-water"))
    stale_draft = replace(draft(review_by=date(2026, 11, 26)), id="draft")
    retired = replace(retire(published(review_by=date(2026, 11, 26)), HOUSING, NOW, "废止")[0], id="retired")
    flags = stale_articles([fresh, due_today, late, very_late, stale_draft, retired], date(2026, 12, 1))
    assert [(f.article_id, f.owner_unit, f.days_overdue) for f in flags] == [
        ("very-late", "utility-water", 5), ("late", "city-housing", 1)
    ]
    assert flags[0].review_by == date(2026, 11, 26) and flags[0].title == "居民供暖收费标准"
    assert stale_articles([], date(2026, 12, 1)) == []


# ---- text ---------------------------------------------------------------------------------


def test_normalize_folds_width_and_case_and_joins_spaced_chinese() -> None:
    assert normalize("ＡＢＣ１２３") == "abc123"
    assert normalize("供 暖  收费 Hot Line") == "供暖收费 hot line"


def test_index_tokens_are_bigrams_and_characters_of_chinese_and_words_of_latin() -> None:
    assert index_tokens("供暖收费") == ["供暖", "暖收", "收费", "供", "暖", "收", "费"]
    assert index_tokens("拨打12345热线，WiFi") == [
        "拨打", "拨", "打", "12345", "热线", "热", "线", "wifi"
    ]
    assert index_tokens("，。！") == []


def test_query_tokens_use_bigrams_and_single_characters_only_for_one_character_runs() -> None:
    assert query_tokens("供暖收费") == ["供暖", "暖收", "收费"]
    assert query_tokens("水") == ["水"]
    assert query_tokens("停水，电") == ["停水", "电"]
    assert query_tokens("停水 电") == ["停水", "水电"]  # spaces inside Chinese are ASR artefacts
    assert query_tokens("Ｅ-mail 12345") == ["e", "mail", "12345"]
    assert query_tokens("") == []


def test_query_noise_is_dropped_unless_nothing_else_is_left() -> None:
    assert query_tokens("暖气费怎么收") == ["暖气", "气费", "费怎"]
    assert query_tokens("怎么") == ["怎么"]


def test_search_text_holds_every_field_once_and_only_safe_characters() -> None:
    text = search_text(content(body="供暖，供暖！Hot-line"))
    tokens = text.split(" ")
    assert len(tokens) == len(set(tokens))
    assert {"居民", "暖气", "您好", "hot", "line", "供暖"} <= set(tokens)
    assert all(t.isalnum() for t in tokens)


def test_relevance_prefers_title_and_keyword_hits_and_is_zero_without_any() -> None:
    article = content()
    assert relevance(["供暖", "收费"], article) == 1.0  # both in the title
    assert relevance(["暖气"], article) == 1.0  # a keyword
    assert relevance(["您好"], article) == pytest.approx(2 / 3)  # only in the wording
    assert relevance(["建筑"], article) == pytest.approx(1 / 3)  # only in the body
    assert relevance(["公积"], article) == 0.0
    assert relevance([], article) == 0.0


def test_rank_orders_by_score_then_title_and_drops_non_matches() -> None:
    heating = replace(published(), id="heating")
    noise = replace(published(title="噪音扰民投诉渠道", keywords=("噪音",), body="夜间施工噪音。",
                              approved_wording="您好。"), id="noise")
    other = replace(published(title="停水通知查询", keywords=(), body="停水", approved_wording="您好"), id="water")
    hits = rank(query_tokens("供暖收费 噪音"), [noise, other, heating], limit=10)
    assert [h.article.id for h in hits] == ["heating", "noise"]
    assert hits[0].score > hits[1].score > 0
    assert set(hits[1].matched) == {"噪音"}
    assert rank(query_tokens("供暖"), [heating, noise], limit=0) == []
