"""Knowledge base repository on real SQLite (FTS5) and real PostgreSQL (tsvector)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.database import downgrade, upgrade
from kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kernel.roles import Actor, Role
from knowledge.model import ArticleContent, ArticleStatus
from knowledge.store import KnowledgeStore, load_seed, read_seed, seed_article_id

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
ADMIN = Actor("kbadmin", Role.KB_ADMIN)
HOUSING = Actor("zhang", Role.UNIT, "city-housing")
WATER = Actor("li", Role.UNIT, "utility-water")


@pytest.fixture
async def store(engine: AsyncEngine) -> KnowledgeStore:
    store = KnowledgeStore(engine, clock=lambda: NOW)
    assert await load_seed(store) == len(read_seed()[1])
    return store


async def titles(store: KnowledgeStore, query: str, **filters: object) -> list[str]:
    return [hit.article.title for hit in await store.search(query, **filters)]  # type: ignore[arg-type]


async def test_seed_loads_once_and_search_ranks_the_heating_fee_article_first(store: KnowledgeStore) -> None:
    assert await load_seed(store) == 0
    found = await titles(store, "供暖收费")
    assert found[0] == "居民供暖收费标准"
    # A caller's own words: 暖气费 shares bigrams with the article's keywords, not its title.
    found = await titles(store, "暖气费怎么收")
    assert found[0] == "居民供暖收费标准"
    assert (await titles(store, "公积金提取"))[0] == "住房公积金提取条件及办理方式"
    assert (await titles(store, "医保异地备案"))[0] == "医保异地就医备案"
    assert (await titles(store, "12345受理范围"))[0] == "12345热线受理范围"
    assert (await titles(store, "噪音"))[0] == "噪音扰民投诉渠道"
    assert "停水通知查询" in await titles(store, "水")  # a one-character query
    assert await titles(store, "量子计算机") == []


async def test_search_filters_by_district_and_unit_and_validity(store: KnowledgeStore) -> None:
    assert "暖气不热、室温不达标报修" in await titles(store, "暖气不热", district="明德区")
    assert "暖气不热、室温不达标报修" not in await titles(store, "暖气不热", district="北山区")
    # City-wide articles apply in every district.
    assert "居民供暖收费标准" in await titles(store, "暖气不热", district="北山区")
    assert set(await titles(store, "暖气", unit="utility-heating")) == {"暖气不热、室温不达标报修"}
    future = ArticleContent(title="新版供暖收费标准", body="自2027年起执行。", owner_unit="city-housing",
                            review_by=date(2027, 12, 31), approved_wording="您好。", valid_from=date(2027, 1, 1))
    article = await store.create(future, HOUSING)
    await store.publish(article.id, HOUSING)
    assert "新版供暖收费标准" not in await titles(store, "供暖收费", in_force_on=date(2026, 11, 25))
    assert "新版供暖收费标准" in await titles(store, "供暖收费", in_force_on=date(2027, 1, 1))


async def test_drafts_and_retired_articles_are_not_found_by_default(store: KnowledgeStore) -> None:
    retired_title = "2025年低保家庭供暖补贴申请（已停止）"
    assert retired_title not in await titles(store, "供暖补贴")
    assert retired_title in await titles(store, "供暖补贴", statuses=[ArticleStatus.RETIRED])
    heating = seed_article_id("heating-fee-standard")
    await store.retire(heating, HOUSING, note="新标准替代")
    assert "居民供暖收费标准" not in await titles(store, "供暖收费")
    draft = await store.create(ArticleContent(title="供暖收费新规草稿", body="草稿", owner_unit="city-housing",
                                              review_by=date(2027, 6, 30)), HOUSING)
    assert "供暖收费新规草稿" not in await titles(store, "供暖收费")
    assert [h.article.id for h in await store.search("供暖收费", statuses=[ArticleStatus.DRAFT])] == [draft.id]


async def test_every_change_is_a_recorded_version_and_search_follows_edits(store: KnowledgeStore) -> None:
    content = ArticleContent(title="二次供水水箱清洗", body="每半年清洗一次。", owner_unit="utility-water",
                             review_by=date(2027, 6, 30), keywords=("水箱",), districts=("明德区",))
    article = await store.create(content, WATER, note="首次录入")
    with pytest.raises(InvalidInput):  # no approved wording yet: refused, nothing written
        await store.publish(article.id, WATER, expected_version=1)
    current = await store.get(article.id)
    assert current.status is ArticleStatus.DRAFT and current.version == 1
    edited = ArticleContent(title="二次供水水箱清洗消毒", body="每季度清洗消毒一次。", owner_unit="utility-water",
                            review_by=date(2027, 9, 30), approved_wording="您好，每季度清洗消毒一次。",
                            keywords=("水箱", "二次供水"), districts=("临河区",))
    after = await store.edit(article.id, edited, WATER, expected_version=1, note="改为季度清洗")
    published = await store.publish(article.id, ADMIN, expected_version=2)
    assert (after.version, published.version, published.status) == (2, 3, ArticleStatus.PUBLISHED)
    versions = await store.versions(article.id)
    assert [(v.version, v.status.value, v.editor, v.change_note) for v in versions] == [
        (1, "draft", "li", "首次录入"), (2, "draft", "li", "改为季度清洗"), (3, "published", "kbadmin", "发布"),
    ]
    assert versions[0].content == content and versions[1].content == edited
    assert all(v.edited_at == NOW for v in versions)
    assert (await store.get(article.id)).content == edited
    assert "二次供水水箱清洗消毒" in await titles(store, "消毒", district="临河区")
    assert "二次供水水箱清洗消毒" not in await titles(store, "消毒", district="明德区")
    with pytest.raises(NotFound):
        await store.versions("no-such-article")


async def test_a_unit_cannot_change_another_units_article(store: KnowledgeStore) -> None:
    heating = seed_article_id("heating-fee-standard")
    before = await store.get(heating)
    with pytest.raises(PermissionDenied):
        await store.retire(heating, WATER, note="不是我的")
    with pytest.raises(PermissionDenied):
        await store.edit(heating, before.content, WATER, expected_version=before.version, note="x")
    assert await store.get(heating) == before
    assert len(await store.versions(heating)) == 2


async def test_a_stale_edit_is_a_conflict(store: KnowledgeStore) -> None:
    heating = seed_article_id("heating-fee-standard")
    current = await store.get(heating)
    first = ArticleContent(**{**_fields(current.content), "body": "第一位编辑的修改。"})
    second = ArticleContent(**{**_fields(current.content), "body": "第二位编辑的修改。"})
    await store.edit(heating, first, HOUSING, expected_version=current.version, note="一")
    with pytest.raises(Conflict) as info:
        await store.edit(heating, second, ADMIN, expected_version=current.version, note="二")
    assert info.value.context["actual_version"] == current.version + 1
    assert (await store.get(heating)).content.body == "第一位编辑的修改。"


async def test_concurrent_edits_of_the_same_version_let_exactly_one_win(store: KnowledgeStore) -> None:
    heating = seed_article_id("heating-fee-standard")
    current = await store.get(heating)
    bodies = [f"并发修改{i}。" for i in range(4)]
    results = await asyncio.gather(*(
        store.edit(heating, ArticleContent(**{**_fields(current.content), "body": body}), HOUSING,
                   expected_version=current.version, note=body)
        for body in bodies
    ), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(r, Conflict) for r in results if r not in winners)
    assert (await store.get(heating)).content.body == winners[0].content.body
    assert len(await store.versions(heating)) == 3


async def test_stale_articles_are_flagged_per_unit(store: KnowledgeStore) -> None:
    flags = await store.stale(date(2027, 3, 5))
    assert [(f.title, f.owner_unit, f.days_overdue) for f in flags] == [
        ("医保异地就医备案", "city-medical-security", 33), ("占道经营投诉处理", "city-urban-management", 5),
    ]
    assert await store.stale(date(2027, 3, 5), unit="city-housing") == []
    assert await store.stale(date(2026, 11, 25)) == []


async def test_migration_downgrade_to_0003_removes_the_knowledge_base(engine: AsyncEngine) -> None:
    await downgrade(engine, "0003")
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    assert not [n for n in names if n.startswith("kb_")], names
    assert "tickets" in names
    await upgrade(engine)
    store = KnowledgeStore(engine, clock=lambda: NOW)
    assert await load_seed(store) > 0
    assert (await titles(store, "供暖收费"))[0] == "居民供暖收费标准"


def _fields(content: ArticleContent) -> dict[str, object]:
    return {name: getattr(content, name) for name in ArticleContent.__dataclass_fields__}
