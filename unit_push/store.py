"""The units' webhooks and feeds in the database: registration, the feed read by number, and
how far delivery got for each unit (`unit_webhooks.delivered_seq`, moved only after the
receiver acknowledged, so a push survives the receiver and the backend being down)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.clock import Clock, utc_now
from kernel.errors import InvalidInput, NotFound
from kernel.schema import unit_feed, unit_webhooks


@dataclass(frozen=True)
class FeedEntry:
    unit: str
    seq: int
    ticket_no: str
    #: The unit's view of the event, as JSON (`unit_push.view`), without its `seq`.
    body: str

    def as_json(self) -> dict[str, Any]:
        view: dict[str, Any] = json.loads(self.body)
        return {"seq": self.seq, **view}

    def payload(self) -> bytes:
        """What the webhook sends: the view with the unit and its number (stable bytes)."""
        return json.dumps({"unit": self.unit, **self.as_json()}, ensure_ascii=False, sort_keys=True,
                          separators=(",", ":")).encode()


@dataclass(frozen=True)
class Webhook:
    unit: str
    url: str
    secret: str
    active: bool
    delivered_seq: int
    failures: int
    last_error: str | None
    last_attempt_at: datetime | None

    def public(self) -> dict[str, Any]:
        """As an administrator's listing shows it: never the secret."""
        return {"unit": self.unit, "url": self.url, "active": self.active,
                "delivered_seq": self.delivered_seq, "failures": self.failures,
                "last_error": self.last_error,
                "last_attempt_at": self.last_attempt_at.isoformat() if self.last_attempt_at else None}


def is_webhook_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def check_url(url: str) -> str:
    if not is_webhook_url(url):
        raise InvalidInput("a webhook URL must be http(s)://host/...", field="url")
    return url


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _webhook(row: Any) -> Webhook:
    return Webhook(row.unit, row.url, row.secret, bool(row.active), row.delivered_seq, row.failures,
                   row.last_error, row.last_attempt_at)


class PushStore:
    def __init__(self, engine: AsyncEngine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    async def set_webhook(self, unit: str, url: str, secret: str, by: str) -> Webhook:
        """Register or change a unit's webhook; delivery resumes where it was (a unit's first
        webhook starts at the beginning of its feed)."""
        now = self._clock()
        values = {"url": check_url(url), "secret": secret, "active": True, "failures": 0,
                  "last_error": None, "updated_at": now, "updated_by": by[:64]}
        async with self._engine.begin() as conn:
            moved = await conn.execute(update(unit_webhooks).where(unit_webhooks.c.unit == unit).values(**values))
            if moved.rowcount == 0:
                await conn.execute(unit_webhooks.insert().values(unit=unit, delivered_seq=0, **values))
        return await self.webhook(unit)

    async def remove_webhook(self, unit: str, by: str) -> None:
        """Stop pushing (the position is kept: a new URL picks up where delivery stopped)."""
        async with self._engine.begin() as conn:
            moved = await conn.execute(update(unit_webhooks).where(unit_webhooks.c.unit == unit)
                                       .values(active=False, updated_at=self._clock(), updated_by=by[:64]))
        if moved.rowcount == 0:
            raise NotFound("the unit has no webhook", unit=unit)

    async def webhook(self, unit: str) -> Webhook:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(unit_webhooks).where(unit_webhooks.c.unit == unit))).first()
        if row is None:
            raise NotFound("the unit has no webhook", unit=unit)
        return _webhook(row)

    async def active_webhooks(self) -> list[Webhook]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(unit_webhooks).where(unit_webhooks.c.active.is_(True))
                                       .order_by(unit_webhooks.c.unit))).all()
        return [_webhook(row) for row in rows]

    async def feed_after(self, unit: str, after: int, limit: int = 100) -> list[FeedEntry]:
        """The unit's events numbered after `after`, in order."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(unit_feed).where(unit_feed.c.unit == unit, unit_feed.c.seq > after)
                .order_by(unit_feed.c.seq).limit(limit))).all()
        return [FeedEntry(row.unit, row.seq, row.ticket_no, row.body) for row in rows]

    async def delivered(self, unit: str, seq: int) -> None:
        """The receiver acknowledged `seq`: the next push is `seq + 1`."""
        async with self._engine.begin() as conn:
            await conn.execute(update(unit_webhooks).where(
                unit_webhooks.c.unit == unit, unit_webhooks.c.delivered_seq < seq)
                .values(delivered_seq=seq, failures=0, last_error=None, last_attempt_at=self._clock()))

    async def failed(self, unit: str, error: str) -> int:
        """A push failed; the number of failures in a row so far."""
        async with self._engine.begin() as conn:
            await conn.execute(update(unit_webhooks).where(unit_webhooks.c.unit == unit).values(
                failures=unit_webhooks.c.failures + 1, last_error=error[:500], last_attempt_at=self._clock()))
            return int(await conn.scalar(select(unit_webhooks.c.failures).where(unit_webhooks.c.unit == unit)) or 0)
