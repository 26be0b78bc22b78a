"""Steps of a ticket's walk through the workbench pages in a real browser, shared by the tests
that walk one (tests/e2e/test_workbench_pages.py with a call written into the database,
tests/e2e/test_workbench_real_call.py with a real call answered at the desk). Each step is what
a person does with the keyboard or the mouse, and waits for what the page shows afterwards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.browser_harness import wait_for
from tests.page_sign_in import WAIT_MS, sign_in

SHOTS = Path(os.environ.get("HOTLINE_SHOTS_DIR", Path(__file__).resolve().parents[1] / "var" / "shots"))


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def open_unit_inbox(page: Any, base: str, username: str) -> None:
    """The unit's inbox, signed in, its push connected."""
    await sign_in(page, base, "/unit", username)
    await wait_for(page, "document.getElementById('feed-status').textContent === '实时推送已连接'",
                                 timeout=WAIT_MS)


async def open_from_the_dispatch_queue(page: Any, base: str, username: str, no: str) -> None:
    """The dispatcher signs in; the queue's first row has the focus; Enter opens it and the
    suggested lead unit's deadlines are previewed."""
    await sign_in(page, base, "/dispatch", username)
    await page.wait_for_selector(f"#queue tr[data-ticket-no='{no}']", timeout=WAIT_MS)
    assert await page.evaluate("document.activeElement.dataset.ticketNo") == no
    await page.keyboard.press("Enter")
    await wait_for(page, "document.getElementById('preview').textContent.includes('办理时限')",
                                 timeout=WAIT_MS)


async def dispatch_with_one_key(page: Any) -> None:
    await page.keyboard.press("d")
    await page.wait_for_selector("#queue-empty:not(.hidden)", timeout=WAIT_MS)


async def open_pushed_ticket(page: Any, no: str, shot_name: str | None = None) -> str:
    """The unit's page was told of the dispatch (counted, marked); Enter opens it. Its row."""
    await wait_for(page, "document.getElementById('new-count').textContent === '新到 1'", timeout=WAIT_MS)
    row = f"#inbox tr[data-ticket-no='{no}']"
    await page.wait_for_selector(f"{row}.fresh", timeout=WAIT_MS)
    if shot_name:
        await shot(page, shot_name)
    await page.focus(row)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#actions button[data-action=sign]", timeout=WAIT_MS)
    return row


async def sign_ticket(page: Any) -> None:
    """The opened ticket's main action has the focus: Enter signs it."""
    assert await page.evaluate("document.activeElement.dataset.action") == "sign"
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#actions button[data-action=feedback]", timeout=WAIT_MS)


async def give_feedback(page: Any, result: str, evidence: Path, shot_name: str | None = None) -> None:
    """Feedback with an evidence file uploaded in the page, sent with Ctrl+Enter."""
    await page.click("#actions button[data-action=feedback]")
    await page.fill("#text", result)
    await page.set_input_files("#files", str(evidence))
    if shot_name:
        await shot(page, shot_name)
    await page.keyboard.press("Control+Enter")
    await wait_for(page, "document.querySelector('#actions').innerText.includes('无需本单位操作')",
                                 timeout=WAIT_MS)
    assert evidence.name in await page.inner_text("#ticket")


async def open_due_callback(page: Any, base: str, username: str, no: str, result: str) -> None:
    """The callback agent signs in; the survey is due; Enter opens it with the unit's result."""
    await sign_in(page, base, "/callbacks", username)
    task = f"#tasks tr[data-ticket-no='{no}']"
    await page.wait_for_selector(task, timeout=WAIT_MS)
    await page.focus(task)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#answer-form:not(.hidden)", timeout=WAIT_MS)
    await wait_for(page, f"document.querySelector('#ticket').innerText.includes({result!r})",
                                 timeout=WAIT_MS)


CALL_STATE = "document.getElementById('call-state').textContent"
#: The open task's row: its 已拨 (attempts) and 上次结果 (last result) cells.
ATTEMPTS_CELL = "document.querySelector('#tasks tr.selected td:nth-child(5)')?.textContent"
RESULT_CELL = "document.querySelector('#tasks tr.selected td:nth-child(6)')?.textContent"


async def without_the_periodic_refresh(page: Any) -> None:
    """Before the callback page is opened: its 30 s refresh of the lists never runs (held in
    `window.heldRefreshes`), so whatever the lists show after the first load came another way."""
    await page.add_init_script("""(() => {
      const every = window.setInterval;
      window.heldRefreshes = [];
      window.setInterval = (fn, ms, ...rest) => {
        if (ms === 30000 && fn?.name === 'loadTasks') return window.heldRefreshes.push(fn);
        return every(fn, ms, ...rest);
      };
    })()""")


async def place_the_survey_call(page: Any) -> None:
    """The callback agent's browser softphone has registered; C places the survey call: 呼叫中
    (their own phone, then the citizen's), then 通话中 once the citizen answers, the timer running.
    The row's 已拨 counts the call at once (the page's periodic refresh held off,
    `without_the_periodic_refresh`), and so does the open survey's."""
    await wait_for(page, "document.getElementById('phone-status').textContent === '话机已注册'", timeout=WAIT_MS)
    assert not await page.is_disabled("#place-call")
    assert await page.evaluate("window.heldRefreshes.length") == 1  # the page's refresh: held
    attempts = int(await page.evaluate(ATTEMPTS_CELL))
    await page.keyboard.press("c")
    await wait_for(page, f"{CALL_STATE}.startsWith('呼叫中') || {CALL_STATE}.startsWith('通话中')",
                   timeout=WAIT_MS)
    await wait_for(page, f"{ATTEMPTS_CELL} === '{attempts + 1}'", timeout=WAIT_MS)
    assert await page.evaluate(RESULT_CELL) == "回访员拨打中"
    assert f"已拨 {attempts + 1} 次" in await page.inner_text("#ticket")
    await wait_for(page, f"{CALL_STATE}.startsWith('通话中')", timeout=WAIT_MS)
    await wait_for(page, "document.getElementById('call-timer').textContent !== '00:00'", timeout=WAIT_MS)


async def hang_up_the_survey_call(page: Any, shot_name: str | None = None) -> None:
    """H hangs up: 已挂断, the timer stopped, the answer's choices have the keyboard."""
    if shot_name:
        await shot(page, shot_name)
    await page.keyboard.press("h")
    await wait_for(page, f"{CALL_STATE}.startsWith('已挂断')", timeout=WAIT_MS)
    assert await page.is_disabled("#hang-up") and await page.is_disabled("#place-call")
    assert await page.evaluate("document.activeElement.name") == "satisfaction"
    # The row shows the call's end at once too (its result), the answer still to be recorded.
    await wait_for(page, f"{RESULT_CELL} === '已接通，待记录评价'", timeout=WAIT_MS)


async def record_satisfied(page: Any, shot_name: str | None = None) -> None:
    """1 is 满意; Enter records it and closes the ticket."""
    await page.keyboard.press("1")
    assert await page.evaluate("document.activeElement.value") == "satisfied"
    if shot_name:
        await shot(page, shot_name)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#tasks-empty:not(.hidden)", timeout=WAIT_MS)
    assert "回访已记录：已办结" in await page.inner_text("#messages")
