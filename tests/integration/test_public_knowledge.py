"""The public self-service knowledge search (临沂条例第二十一条; 北京条例第三十条), on SQLite and
PostgreSQL with real Redis: anyone finds the approved answers (答复口径) of published, in-force
articles, never an article's internal body, a draft or a retired article; one client's searches
are limited per minute; the page and the hotline's guide are public."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from kernel.clock import FixedClock
from kernel.database import open_database
from kernel.http_edge import new_app
from kernel.request_rate import RequestRate
from kernel.roles import Actor, Role
from knowledge.model import ArticleContent
from knowledge.public_search import install_public
from knowledge.store import KnowledgeStore

HOUSING = Actor("zhang", Role.UNIT, "city-housing")
ADMIN = Actor("kbadmin", Role.KB_ADMIN)
NAMES = {"city-housing": "市住房和城乡建设局"}
WORDING = "既有住宅加装电梯，每部补贴20万元，向街道办事处申请。"
INTERNAL = "内部：材料不全的先打王科长电话13900001111"
PER_MINUTE = 4


@dataclass
class Public:
    client: TestClient
    store: KnowledgeStore
    published: str


def content(title: str, *, wording: str | None = WORDING, body: str = INTERNAL,
            valid_from: date | None = None) -> ArticleContent:
    return ArticleContent(title=title, body=body, owner_unit="city-housing", review_by=date(2027, 6, 30),
                          approved_wording=wording, keywords=("加装电梯", "电梯补贴"), valid_from=valid_from)


@pytest.fixture
async def public(database_url: str, redis_client: aioredis.Redis, redis_key_prefix: str) -> AsyncIterator[Public]:
    engine = await open_database(database_url)
    store = KnowledgeStore(engine, clock=FixedClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC)))
    published = await store.create(content("老旧小区加装电梯补贴"), HOUSING)
    published = await store.publish(published.id, HOUSING)
    await store.create(content("加装电梯补贴（草稿）", wording="草稿口径"), HOUSING)  # a draft
    retired = await store.publish((await store.create(content("加装电梯旧补贴标准", wording="旧口径"), HOUSING)).id,
                                  HOUSING)
    await store.retire(retired.id, ADMIN, note="政策已调整")
    await store.publish((await store.create(
        content("加装电梯补贴（明年起）", wording="明年口径", valid_from=date(2027, 1, 1)), HOUSING)).id, HOUSING)
    app = new_app()
    install_public(app, store, RequestRate(redis_client, redis_key_prefix, PER_MINUTE, timedelta(minutes=1),
                                           namespace="public-kb"), NAMES)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield Public(client, store, published.id)
    await engine.dispose()


async def test_the_public_sees_approved_answers_only_never_the_body_a_draft_or_a_retired_article(
        public: Public) -> None:
    response = await public.client.get("/api/public/kb/search", params={"q": "加装电梯有补贴吗"})
    text = await response.text()
    assert response.status == 200
    answers = (await response.json())["answers"]
    assert answers == [{"id": public.published, "title": "老旧小区加装电梯补贴", "answer": WORDING,
                        "unit_name": "市住房和城乡建设局", "districts": [], "updated_at": "2026-11-25"}]
    for hidden in ("王科长", "13900001111", "草稿口径", "旧口径", "明年口径", "zhang"):
        assert hidden not in text


async def test_a_clients_searches_are_limited_per_minute_with_a_chinese_answer(public: Public) -> None:
    for _ in range(PER_MINUTE):
        assert (await public.client.get("/api/public/kb/search", params={"q": "电梯"})).status == 200
    refused = await public.client.get("/api/public/kb/search", params={"q": "电梯"})
    assert refused.status == 429
    assert "查询过于频繁" in (await refused.json())["message"]
    assert int(refused.headers["Retry-After"]) >= 1


async def test_an_empty_or_overlong_question_is_a_clear_error(public: Public) -> None:
    for q in ("", " ", "问" * 101):
        response = await public.client.get("/api/public/kb/search", params={"q": q})
        assert response.status == 400
        assert "请输入" in (await response.json())["message"]


async def test_the_search_page_is_public_and_shows_text_only(public: Public) -> None:
    response = await public.client.get("/kb")
    assert response.status == 200 and response.content_type == "text/html"
    page = await response.text()
    assert "常见问题自助查询" in page and 'src="/public-kb/kb.js"' in page
    script = await (await public.client.get("/public-kb/kb.js")).text()
    assert "innerHTML" not in script and "textContent" in script
