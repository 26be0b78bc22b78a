"""Long-running tasks of the service, restarted with back-off when they fail.

The ARI event reader, the FastAGI server, the call distributor, the message spool and the
outbox are loops that must run as long as the process does. A bare `asyncio.create_task`
dies silently on the first unexpected exception (a malformed event, a bug) while the process
still looks healthy; here every such task is restarted after a growing delay, and its state
(running or waiting to restart, how often it failed, the last error) is what `/readyz` shows.
A task that ran for `stable_after` seconds before failing starts its back-off afresh.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class TaskState:
    name: str
    running: bool = False
    restarts: int = 0
    last_error: str | None = None
    #: Epoch seconds of the last failure (None: never failed).
    failed_at: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {"running": self.running, "restarts": self.restarts,
                "last_error": self.last_error, "failed_at": self.failed_at}


class Supervisor:
    def __init__(self, *, backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 stable_after: float = 60.0) -> None:
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.states: dict[str, TaskState] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run `factory()` until cancelled; a new awaitable is made for every restart."""
        state = self.states[name] = TaskState(name)
        self._tasks.append(asyncio.create_task(self._keep(state, factory), name=name))

    async def _keep(self, state: TaskState, factory: Callable[[], Awaitable[None]]) -> None:
        failures = 0
        while True:
            started = time.monotonic()
            state.running = True
            try:
                await factory()
                error = "stopped unexpectedly"
            except asyncio.CancelledError:
                state.running = False
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.exception("supervised task failed; restarting", extra={"task": state.name})
            state.running = False
            state.last_error = error
            state.failed_at = time.time()
            if time.monotonic() - started >= self.stable_after:
                failures = 0
            delay = min(self.backoff_max, self.backoff_initial * (2 ** failures))
            failures += 1
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            state.restarts += 1

    @property
    def all_running(self) -> bool:
        return all(state.running for state in self.states.values())

    def health(self) -> dict[str, dict[str, object]]:
        return {name: state.as_dict() for name, state in self.states.items()}

    async def aclose(self, timeout: float = 5.0) -> None:
        """Cancel every task and wait for them, at most `timeout` seconds: a task that ignores
        its cancellation must not hold the process's shutdown forever (it is named in the log)."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=timeout)
            for task in stuck:
                log.error("supervised task did not stop when cancelled", extra={"task": task.get_name()})
        for state in self.states.values():
            state.running = False
        self._tasks.clear()
