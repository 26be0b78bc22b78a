"""A loop that runs as long as the application does, as an aiohttp cleanup context: started when
the app starts, cancelled and awaited when it stops, so no task outlives the resources it uses
(the cleanup contexts registered before it close after it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import suppress
from typing import Any

from aiohttp import web


def background(name: str, run: Callable[[], Coroutine[Any, Any, None]],
               after: Callable[[], Awaitable[None]] | None = None) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup context of the task `run()`; `after` runs once it has stopped (a lease released)."""
    async def context(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(run(), name=name)
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        if after is not None:
            await after()

    return context
