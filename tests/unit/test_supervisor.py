"""Supervised tasks come back after failing, with growing delays, and say why they failed."""

from __future__ import annotations

import asyncio

from kernel.supervisor import Supervisor


async def test_a_failing_task_is_restarted_and_its_failures_are_visible() -> None:
    supervisor = Supervisor(backoff_initial=0.01, backoff_max=0.05)
    runs = 0
    steady = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise RuntimeError(f"failure {runs}")
        steady.set()
        await asyncio.Event().wait()

    supervisor.start("flaky", flaky)
    await asyncio.wait_for(steady.wait(), 5)
    state = supervisor.health()["flaky"]
    assert state["running"] and state["restarts"] == 2
    assert state["last_error"] == "RuntimeError: failure 2"
    assert supervisor.all_running
    await supervisor.aclose()
    assert not supervisor.states["flaky"].running


async def test_a_task_that_returns_is_restarted_too() -> None:
    supervisor = Supervisor(backoff_initial=0.01, backoff_max=0.01)
    second_run = asyncio.Event()
    runs = 0

    async def returns() -> None:
        nonlocal runs
        runs += 1
        if runs == 2:
            second_run.set()
            await asyncio.Event().wait()

    supervisor.start("returns", returns)
    await asyncio.wait_for(second_run.wait(), 5)
    assert supervisor.health()["returns"]["last_error"] == "stopped unexpectedly"
    await supervisor.aclose()
