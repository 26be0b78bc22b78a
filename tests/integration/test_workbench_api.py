"""The workbenches' pages and API in the whole app (`build_app`), on real SQLite and PostgreSQL
and real Redis: who is served which page, the dispatch queue's order and what it leaves out,
a unit's inbox (its own tickets, the nearest deadline first, marked) and its CSV, the unit's
push socket (its own unit's tickets only, from the hotline's origin only), and the callback
agent's answers (the reason required when unsatisfied, a reasonable complaint reopened, a
citizen not reached retried or closed), and who may place a survey call from the callback page
(its softphone, the call, the push of the person's own call events).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSServerHandshakeError
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.store import AccountStore
from kernel.auth import SESSION_COOKIE
from kernel.database import create_engine
from kernel.event_bus import RedisEventBus
from kernel.roles import Role
from knowledge.store import read_seed
from tests.integration.test_access_matrix import PASSWORD_HASH
from tests.whole_app import whole_app, whole_app_settings
from tickets.workflow import DEFAULT_POLICY

HOUSING, URBAN = "city-housing", "city-urban-management"
PEOPLE = {"sup": ("supervisor", None), "pai": ("dispatcher", None), "li": ("agent", None),
          "hui": ("callback_agent", None), "zhang": ("unit", HOUSING), "wang": ("unit", URBAN)}


@dataclass
class Person:
    cookie: str
    csrf: str

    def headers(self) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={self.cookie}", "X-CSRF-Token": self.csrf}


@dataclass
class Hotline:
    client: TestClient
    people: dict[str, Person]

    async def call(self, who: str, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        async with self.client.request(method, path, headers=self.people[who].headers(), json=body,
                                       allow_redirects=False) as response:
            text = await response.text()
            assert response.status == status, text
            return json.loads(text) if response.content_type == "application/json" else text

    async def ticket(self, summary: str, *, classify: bool = True) -> dict[str, Any]:
        ticket = (await self.call("sup", "POST", "/api/tickets", {
            "channel": "phone", "caller": {"number": "13812345678"}, "summary": summary}, 201))["ticket"]
        if classify:
            ticket = (await self.command("sup", ticket, "classify", ticket_type="complaint", summary=summary,
                                         content=f"{summary}，请尽快处理"))
        return ticket

    async def socket(self, who: str, path: str, origin: str | None = None) -> ClientWebSocketResponse:
        """A page's websocket: `who`'s session cookie, from the hotline's own origin unless told."""
        return await self.client.ws_connect(path, headers={
            **self.people[who].headers(), "Origin": origin or f"http://127.0.0.1:{self.client.port}"})

    async def refused(self, who: str, path: str, origin: str | None = None) -> int:
        """The status a websocket's handshake is refused with."""
        with pytest.raises(WSServerHandshakeError) as refusal:
            await self.socket(who, path, origin)
        return refusal.value.status

    async def command(self, who: str, ticket: dict[str, Any], name: str, **body: Any) -> dict[str, Any]:
        answer = await self.call(who, "POST", f"/api/tickets/{ticket['ticket_no']}/commands/{name}",
                                 {"expected_version": ticket["version"], **body})
        return dict(answer["ticket"])


@asynccontextmanager
async def open_hotline(tmp_path: Path, database_url: str, redis_key_prefix: str,
                       staff: dict[str, tuple[str, str | None]]) -> AsyncIterator[tuple[Hotline, AsyncEngine]]:
    """The whole app with `staff` (username: role, unit) signed in, and an engine on its database."""
    settings = whole_app_settings(tmp_path, database_url, redis_key_prefix)
    async with whole_app(settings) as client:
        engine = create_engine(settings.database.url)
        people = {}
        try:
            accounts = AccountStore(engine)
            for username, (role, unit) in staff.items():
                await accounts.add(username, username, Role(role), unit, PASSWORD_HASH)
                secret, record = await accounts.create_session(username, remote=None, user_agent=None)
                people[username] = Person(secret, record.csrf_token)
            yield Hotline(client, people), engine
        finally:
            await engine.dispose()


@pytest.fixture
async def hotline(tmp_path: Path, database_url: str, redis_key_prefix: str,
                  redis_client: object) -> AsyncIterator[Hotline]:
    async with open_hotline(tmp_path, database_url, redis_key_prefix, PEOPLE) as (found, _):
        yield found


@pytest.mark.parametrize(("path", "allowed", "refused"), [
    ("/dispatch", ("pai", "sup"), ("li", "hui", "zhang")),
    ("/unit", ("zhang",), ("pai", "sup", "li", "hui")),
    ("/callbacks", ("hui", "sup"), ("pai", "li", "zhang")),
])
async def test_each_workbench_page_is_served_to_its_roles_only(
    hotline: Hotline, path: str, allowed: tuple[str, ...], refused: tuple[str, ...],
) -> None:
    for who in allowed:
        assert "<!doctype html>" in await hotline.call(who, "GET", path)
    for who in refused:
        async with hotline.client.get(path, headers=hotline.people[who].headers(), allow_redirects=False) as response:
            assert (response.status, response.headers["Location"]) == (303, f"/signin?denied={path}")
    session = await hotline.call(allowed[0], "GET", "/api/session")
    assert path in [p["path"] for p in session["pages"]]


async def test_every_unit_a_page_may_show_has_a_chinese_name(hotline: Hotline) -> None:
    names = (await hotline.call("sup", "GET", "/api/workbench/titles"))["unit"]
    owners = {content.owner_unit for _, content, _ in read_seed()[1]}
    assert owners <= set(names) and names["hotline-centre"] == "市12345政务服务便民热线工作机构"
    assert names["city-housing"] == "市住房和城乡建设局"  # the dispatch catalogue's


async def test_the_pages_names_are_kept_by_the_browser_a_few_minutes_then_revalidated_by_their_etag(
    hotline: Hotline,
) -> None:
    """Every page asks for the names first: the browser may keep them (private: it takes a
    session) for five minutes, then asks again with the ETag and gets an empty 304. The answer
    is the same bytes for everyone (made once, when the app is built)."""
    answers = []
    for who in ("sup", "zhang"):
        async with hotline.client.get("/api/workbench/titles", headers=hotline.people[who].headers()) as response:
            assert response.status == 200
            answers.append((response.headers["ETag"], await response.read()))
            assert response.headers["Cache-Control"] == "private, max-age=300"
    (etag, body), other = answers
    assert other == (etag, body) and etag.startswith('"') and json.loads(body)["status"]["closed"] == "已办结"
    for tags in (etag, f'W/{etag}, "elsewhere"', "*"):
        async with hotline.client.get("/api/workbench/titles", headers={
                **hotline.people["sup"].headers(), "If-None-Match": tags}) as response:
            assert (response.status, await response.read()) == (304, b""), tags
            assert response.headers["ETag"] == etag and response.headers["Cache-Control"] == "private, max-age=300"
    async with hotline.client.get("/api/workbench/titles", headers={
            **hotline.people["sup"].headers(), "If-None-Match": '"changed"'}) as response:
        assert response.status == 200 and await response.read() == body
    async with hotline.client.get("/api/workbench/titles", headers={"If-None-Match": etag}) as response:
        assert response.status == 401  # the names, as the rest, are for the signed-in


async def test_the_dispatch_queue_is_longest_waiting_first_without_unclassified_drafts_or_callers(
    hotline: Hotline,
) -> None:
    first = await hotline.ticket("路灯不亮")
    await hotline.ticket("还在坐席手上", classify=False)
    second = await hotline.ticket("小区电梯停运")
    queue = (await hotline.call("pai", "GET", "/api/workbench/dispatch-queue"))["tickets"]
    assert [t["ticket_no"] for t in queue] == [first["ticket_no"], second["ticket_no"]]
    assert queue[0]["status_title"] == "受理中" and queue[0]["ticket_type_title"] == "投诉"
    assert queue[0]["caller"] == {"confidential": False, "anonymous": False}  # the number: only in the ticket
    await hotline.call("zhang", "GET", "/api/workbench/dispatch-queue", status=403)
    preview = await hotline.call("pai", "GET", f"/api/workbench/tickets/{first['ticket_no']}/deadline-preview"
                                               f"?unit={HOUSING}")
    assert preview["working_days"] >= 1 and preview["sign_deadline"] <= preview["deadline"]
    refused = await hotline.call("pai", "GET", f"/api/workbench/tickets/{first['ticket_no']}/deadline-preview"
                                               "?unit=nowhere", status=400)
    assert refused["message"] == "派单目录中没有这个单位"
    assert (await hotline.call("pai", "GET", f"/api/workbench/tickets/{first['ticket_no']}/transcript")) == {
        "calls": []}  # no call behind it; once dispatched, its call is no longer the dispatcher's to read
    await hotline.command("pai", first, "dispatch", lead_unit=HOUSING)
    gone = await hotline.call("pai", "GET", f"/api/workbench/tickets/{first['ticket_no']}/transcript", status=409)
    assert gone["message"] == "只有待派单或待审核的工单可以查看通话转写"


async def test_a_units_inbox_holds_its_own_tickets_nearest_deadline_first_marked_and_exported(
    hotline: Hotline,
) -> None:
    now = datetime.now(UTC)
    later, soon, helping, other = (await hotline.ticket("=HYPERLINK(\"x\") 噪声扰民"), await hotline.ticket("井盖缺失"),
                                   await hotline.ticket("占道施工"), await hotline.ticket("渣土车遗撒"))
    for ticket, unit, cooperating, due in (
            (later, HOUSING, [], now + timedelta(days=9)), (soon, HOUSING, [], now + timedelta(hours=6)),
            (helping, URBAN, [HOUSING], now + timedelta(hours=2)), (other, URBAN, [], now + timedelta(hours=1))):
        await hotline.command("pai", ticket, "dispatch", lead_unit=unit, cooperating_units=cooperating,
                              deadline=due.isoformat(), sign_deadline=(now + timedelta(minutes=30)).isoformat())
    inbox = await hotline.call("zhang", "GET", "/api/workbench/unit-inbox")
    assert [(t["ticket_no"], t["mark"], t["role_title"]) for t in inbox["tickets"]] == [
        (helping["ticket_no"], "due_soon", "配合"), (soon["ticket_no"], "due_soon", "牵头"),
        (later["ticket_no"], "on_time", "牵头")]
    assert inbox["counts"] == {"overdue": 0, "due_soon": 2}

    csv = await hotline.call("zhang", "GET", "/api/workbench/unit-inbox.csv")
    lines = csv.splitlines()
    assert lines[0].startswith("\ufeff工单号,状态,时限")
    assert len(lines) == 4 and lines[2].startswith(f"{soon['ticket_no']},待签收,一天内到期")
    assert "'=HYPERLINK" in lines[3]  # a spreadsheet shows it, never runs it
    await hotline.call("pai", "GET", "/api/workbench/unit-inbox.csv", status=403)


async def test_the_unit_socket_pushes_its_own_units_tickets_only_and_only_to_the_hotlines_pages(
    hotline: Hotline,
) -> None:
    assert await hotline.refused("zhang", "/ws/workbench/unit", "https://evil.example") == 403  # another site's page
    assert await hotline.refused("pai", "/ws/workbench/unit") == 403
    ws = await hotline.socket("zhang", "/ws/workbench/unit")
    try:
        assert (await ws.receive_json(timeout=10))["type"] == "ready"
        theirs, ours = await hotline.ticket("渣土车遗撒"), await hotline.ticket("电梯停运")
        await hotline.command("pai", theirs, "dispatch", lead_unit=URBAN)
        await hotline.command("pai", ours, "dispatch", lead_unit=HOUSING)
        pushed = await ws.receive_json(timeout=10)
        assert pushed == {"type": "ticket", "event": "ticket.Dispatched", "ticket_no": ours["ticket_no"],
                          "status": "dispatched", "status_title": "待签收", "lead": True}
    finally:
        await ws.close()


async def test_the_dispatcher_socket_pushes_tickets_coming_into_and_leaving_the_queues(hotline: Hotline) -> None:
    assert await hotline.refused("zhang", "/ws/workbench/dispatch") == 403
    ws = await hotline.socket("pai", "/ws/workbench/dispatch")
    try:
        assert (await ws.receive_json(timeout=10))["type"] == "ready"
        ticket = await hotline.ticket("路灯不亮")  # classified: it comes into the queue
        assert (await ws.receive_json(timeout=10))["event"] == "ticket.TicketClassified"
        ticket = await hotline.command("pai", ticket, "dispatch", lead_unit=HOUSING)
        assert (await ws.receive_json(timeout=10))["event"] == "ticket.Dispatched"
        await hotline.command("zhang", ticket, "sign")  # none of the dispatcher's business
        ticket = await hotline.ticket("井盖缺失")
        assert (await ws.receive_json(timeout=10))["ticket_no"] == ticket["ticket_no"]
    finally:
        await ws.close()


async def feedback_given(hotline: Hotline, summary: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ticket the unit signed and answered: its survey task is due."""
    ticket = await hotline.ticket(summary)
    ticket = await hotline.command("pai", ticket, "dispatch", lead_unit=HOUSING)
    ticket = await hotline.command("zhang", ticket, "sign")
    ticket = await hotline.command("zhang", ticket, "feedback", result="已处理")
    tasks = (await hotline.call("hui", "GET", "/api/callbacks?status=due"))["callbacks"]
    return ticket, next(t for t in tasks if t["ticket_no"] == ticket["ticket_no"])


async def test_an_unsatisfied_answer_needs_its_reason_and_a_reasonable_one_goes_back_to_the_unit(
    hotline: Hotline,
) -> None:
    ticket, task = await feedback_given(hotline, "楼道灯不亮")
    path = f"/api/workbench/callbacks/{task['id']}/answer"
    refused = await hotline.call("hui", "POST", path, {"satisfaction": "unsatisfied"}, status=400)
    assert refused["message"] == "请填写不满意的原因"
    await hotline.call("zhang", "POST", path, {"satisfaction": "satisfied"}, status=403)
    answer = await hotline.call("hui", "POST", path, {"satisfaction": "unsatisfied", "reasonable": True,
                                                      "reason": "灯只亮了一天又坏了"})
    assert (answer["status"], answer["status_title"]) == ("in_progress", "办理中")
    events = (await hotline.call("sup", "GET", f"/api/tickets/{ticket['ticket_no']}"))["events"]
    assert events[-1]["data"]["reason"] == "不满意：灯只亮了一天又坏了" and events[-1]["actor"]["id"] == "hui"
    assert next(t for t in (await hotline.call("hui", "GET", "/api/callbacks"))["callbacks"]
                if t["id"] == task["id"])["status"] == "done"


async def test_an_unsatisfied_answer_left_unjudged_waits_on_the_review_list(hotline: Hotline) -> None:
    """临沂条例第二十条: dissatisfaction alone re-opens nothing; without the agent's judgement the
    ticket waits for a supervisor's (the dispatch page's review list)."""
    ticket, task = await feedback_given(hotline, "垃圾清运不及时")
    answer = await hotline.call("hui", "POST", f"/api/workbench/callbacks/{task['id']}/answer",
                                {"satisfaction": "unsatisfied", "reason": "仍有垃圾堆放"})
    assert (answer["status"], answer["status_title"]) == ("reopen_requested", "回访不满意待研判")
    reviews = (await hotline.call("sup", "GET", "/api/workbench/review-queue"))["tickets"]
    assert ticket["ticket_no"] in [t["ticket_no"] for t in reviews]


async def test_a_citizen_not_reached_is_tried_again_later_then_closed_with_the_final_outcome(
    hotline: Hotline,
) -> None:
    ticket, task = await feedback_given(hotline, "噪声扰民")
    path = f"/api/workbench/callbacks/{task['id']}/not-reached"
    retry = await hotline.call("hui", "POST", path, {"outcome": "no_answer", "retry_minutes": 120})
    assert (retry["task"]["status"], retry["task"]["result"]) == ("agent", "no_answer")
    assert datetime.fromisoformat(retry["task"]["due_at"]) > datetime.now(UTC) + timedelta(minutes=100)
    # 未回访成功 only after the policy's attempts (北京条例第二十三条): one try is not enough.
    early = await hotline.call("hui", "POST", path, {"outcome": "switched_off"}, status=422)
    assert "未回访成功" in early["message"]
    for _ in range(DEFAULT_POLICY.callback_attempts - 1):
        await hotline.call("hui", "POST", path, {"outcome": "busy", "retry_minutes": 30})
    final = await hotline.call("hui", "POST", path, {"outcome": "switched_off"})
    assert final["status"] == "closed"
    read = await hotline.call("sup", "GET", f"/api/tickets/{ticket['ticket_no']}")
    assert read["ticket"]["closure_reason"] == "callback_unreached"
    last = read["events"][-1]
    assert last["type"] == "CallbackUnreached" and "关机/停机" in last["data"]["reason"]
    assert last["data"]["attempts"] == DEFAULT_POLICY.callback_attempts


async def test_only_callback_agents_and_supervisors_may_place_a_survey_call_from_the_callback_page(
    hotline: Hotline,
) -> None:
    _, task = await feedback_given(hotline, "小区停水")
    place = f"/api/workbench/callbacks/{task['id']}/call"
    for who in ("pai", "li", "zhang"):  # a dispatcher, an agent (their desk has its own way), a unit
        refused = await hotline.call(who, "POST", place, status=403)
        assert refused["error"] == "permission_denied"
        await hotline.call(who, "POST", "/api/workbench/softphone", status=403)
        assert await hotline.refused(who, "/ws/workbench/callbacks") == 403
    [untouched] = [t for t in (await hotline.call("hui", "GET", "/api/callbacks?status=due"))["callbacks"]
                   if t["id"] == task["id"]]
    assert (untouched["status"], untouched["attempts"]) == ("due", 0)
    # Past the gate, the callback agent is told why no call can be made here (no Asterisk runs).
    unavailable = await hotline.call("hui", "POST", place, status=503)
    assert unavailable["error"] == "unavailable"


async def test_the_callback_page_is_pushed_its_own_persons_survey_calls_only(
    hotline: Hotline, redis_client: Any, redis_key_prefix: str,
) -> None:
    assert await hotline.refused("hui", "/ws/workbench/callbacks", "https://evil.example") == 403
    bus = RedisEventBus(redis_client, redis_key_prefix)
    ws = await hotline.socket("hui", "/ws/workbench/callbacks")
    try:
        assert (await ws.receive_json(timeout=10))["type"] == "ready"
        await bus.publish("agent:sup", {"type": "callback.ringing", "task_id": "t-sup", "agent_id": "sup"})
        await bus.publish("agent:hui", {"type": "call.offered", "call_id": "c-1", "caller_number": "13800000000"})
        await bus.publish("agent:hui", {"type": "callback.answered", "call_id": "c-2", "task_id": "t-1",
                                        "ticket_no": "T-1", "agent_id": "hui"})
        assert await ws.receive_json(timeout=10) == {"type": "callback.answered", "call_id": "c-2",
                                                     "task_id": "t-1", "ticket_no": "T-1"}
    finally:
        await ws.close()


async def test_complaints_about_staff_wait_in_the_supervisors_quality_list_hidden_from_those_concerned(
        tmp_path: Path, database_url: str, redis_key_prefix: str, redis_client: object) -> None:
    """投诉热线工作人员: the quality list is the supervisors' (班长); a complaint about one of them
    is on their colleagues' lists only; its callback is on no list of the person concerned."""
    async with open_hotline(tmp_path, database_url, redis_key_prefix,
                            {**PEOPLE, "ban": ("supervisor", None)}) as (hotline, _):
        about_li = await hotline.command("sup", await hotline.ticket("投诉话务员态度恶劣"), "classify",
                                         ticket_type="complaint", summary="投诉话务员态度恶劣", about_staff="li")
        about_ban = await hotline.command("sup", await hotline.ticket("投诉班长推诿"), "classify",
                                          ticket_type="complaint", summary="投诉班长推诿", about_staff="ban")
        both = {about_li["ticket_no"], about_ban["ticket_no"]}

        def numbers(answer: Any) -> set[str]:
            return {t["ticket_no"] for t in answer["tickets"]}

        assert numbers(await hotline.call("sup", "GET", "/api/workbench/quality-queue")) == both
        assert numbers(await hotline.call("ban", "GET", "/api/workbench/quality-queue")) == {about_li["ticket_no"]}
        await hotline.call("pai", "GET", "/api/workbench/quality-queue", status=403)
        for queue in ("dispatch-queue", "review-queue"):
            assert not numbers(await hotline.call("pai", "GET", f"/api/workbench/{queue}")) & both
        await hotline.call("ban", "GET", f"/api/tickets/{about_ban['ticket_no']}", status=404)
        found = await hotline.command("sup", about_li, "quality-finding", finding="partly_substantiated",
                                      result="部分属实，已提醒当事人注意服务用语")
        assert found["status"] == "feedback_accepted"
        assert numbers(await hotline.call("sup", "GET", "/api/workbench/quality-queue")) == {about_ban["ticket_no"]}
        # The survey is due: the callback agents list it, the agent complained about does not.
        due = {t["ticket_no"] for t in (await hotline.call("hui", "GET", "/api/callbacks"))["callbacks"]}
        assert about_li["ticket_no"] in due
        seen_by_li = {t["ticket_no"] for t in (await hotline.call("li", "GET", "/api/callbacks"))["callbacks"]}
        assert about_li["ticket_no"] not in seen_by_li
        history = await hotline.call("li", "GET", "/api/callers/13812345678/tickets")
        assert about_li["ticket_no"] not in numbers(history) and about_ban["ticket_no"] in numbers(history)
