"""The public monthly disclosure (月度公开), computed once per closed month and kept.

The disclosure is public and needs no token, so anyone can ask for it as often as they like; it
used to be recomputed from every ticket event of the month on each request, on the event loop
that also answers calls (issue 25). Figures count events by when they happened
(`tickets.stats.UnitStatistics`), so once a month has ended its figures are final: the first
request after the month computes them (the fold in a worker thread), stores them in
`monthly_disclosures` (shared by every node, kept across restarts), and every later request
reads them back, from this process's memory after the first read. Concurrent first requests on
one node share one computation; two nodes computing the same month at once store one of two
identical results.

A month that has not ended is not disclosed (`NotFound`): its figures would still change, and
computing them is exactly the per-request work this module exists to avoid.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.errors import NotFound
from kernel.schema import monthly_disclosures
from tickets.stats import UnitStatistics, disclosure_records, month_bounds, month_of
from tickets.store import TicketStore

Records = list[dict[str, object]]


class MonthlyDisclosure:
    def __init__(self, store: TicketStore, unit_names: Mapping[str, str]) -> None:
        self._store = store
        self._engine: AsyncEngine = store.engine
        self._names = dict(unit_names)
        self._memo: dict[str, Records] = {}
        self._computing: dict[str, asyncio.Task[Records]] = {}

    async def records(self, month: str) -> Records:
        """The disclosure of `month` ("2026-11"), once it has ended."""
        month_bounds(month)  # validates the month first: InvalidInput
        if month >= month_of(self._store.now()):
            raise NotFound("该月尚未结束，月度数据在次月公开", month=month)
        if (known := self._memo.get(month)) is not None:
            return known
        task = self._computing.get(month)
        if task is None:
            task = asyncio.create_task(self._load_or_compute(month), name=f"disclosure-{month}")
            self._computing[month] = task
            task.add_done_callback(lambda _: self._computing.pop(month, None))
        records = await asyncio.shield(task)
        self._memo[month] = records
        return records

    async def _load_or_compute(self, month: str) -> Records:
        async with self._engine.connect() as conn:
            stored = await conn.scalar(select(monthly_disclosures.c.records)
                                       .where(monthly_disclosures.c.month == month))
        if stored is not None:
            loaded: Records = json.loads(stored)
            return loaded
        start, end = month_bounds(month)
        events = await self._store.events_of_tickets_active_between(start, end)
        records = await asyncio.to_thread(
            lambda: disclosure_records(UnitStatistics().add_all(events).rows(month), self._names))
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(monthly_disclosures).values(
                    month=month, records=json.dumps(records, ensure_ascii=False),
                    computed_at=self._store.now()))
        except IntegrityError:
            pass  # another node stored the same month first: its figures are the same
        return records
