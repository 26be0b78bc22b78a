"""Risk warnings as stored (`risk_warnings`) and as the API and the bus show them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.schema import risk_warnings

#: The event-bus topic of warnings (supervisors' and units' pages subscribe to it).
RISK_TOPIC = "risk"


@dataclass(frozen=True)
class RiskWarning:
    id: str
    district: str | None
    street: str | None
    topic: str
    count: int
    baseline: float
    window_start: datetime
    raised_at: datetime
    ticket_nos: tuple[str, ...]
    units: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        area = f"{self.district or ''}{self.street or ''}"
        return {"id": self.id, "district": self.district, "street": self.street, "topic": self.topic,
                "count": self.count, "baseline_per_window": round(self.baseline, 3),
                "window_start": self.window_start.isoformat(), "raised_at": self.raised_at.isoformat(),
                "ticket_nos": list(self.ticket_nos), "units": list(self.units),
                "title": f"{area}「{self.topic}」诉求短时激增：{self.count} 件"}

    def notice(self) -> dict[str, Any]:
        """What the bus carries: the warning, typed like every bus message."""
        return {"type": "risk.warning", **self.as_json()}


def warning_of_row(row: Any) -> RiskWarning:
    return RiskWarning(row.id, row.district, row.street, row.topic, row.count, row.baseline,
                       row.window_start, row.raised_at, tuple(json.loads(row.ticket_nos)),
                       tuple(json.loads(row.units)))


class RiskWarnings:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def recent(self, limit: int = 50, unit: str | None = None) -> list[RiskWarning]:
        """Newest first; `unit`: only the warnings that concern it."""
        statement = select(risk_warnings).order_by(risk_warnings.c.raised_at.desc(), risk_warnings.c.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement.limit(limit if unit is None else 2000))).all()
        found = [warning_of_row(row) for row in rows]
        if unit is not None:
            found = [w for w in found if unit in w.units][:limit]
        return found
