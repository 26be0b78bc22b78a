"""The unit directory: how the hotline phones each handling unit (承办单位) for a three-way call.

The dispatch catalogue says which units exist and what they handle; the directory says how to
reach them by phone, with a backup and the hours the line is staffed. It is seeded from
`config/unit_directory.yaml` (every code must be a unit of the catalogue: a mistyped code is a
start-up error naming it) and then kept in the database, where supervisors edit it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.clock import HOTLINE_TZ, Clock, utc_now
from kernel.errors import ConfigError, InvalidInput, NotFound
from kernel.phone_number import directory_target
from kernel.schema import unit_contacts
from tickets.dispatch import DispatchCatalogue

DEFAULT_DIRECTORY = Path(__file__).resolve().parent.parent / "config" / "unit_directory.yaml"
_HOURS = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True)
class UnitContact:
    unit: str
    dial: str
    backup_dial: str | None = None
    #: "HH:MM-HH:MM" in Beijing time; "00:00-24:00" is around the clock.
    service_hours: str = "00:00-24:00"

    def __post_init__(self) -> None:
        # A number or one PJSIP endpoint: never a context, contact or option list that a
        # three-way call would hand to Asterisk (`telephony/dial.py`).
        directory_target(self.dial, unit=self.unit)
        if self.backup_dial:
            directory_target(self.backup_dial, unit=self.unit)
        if not _HOURS.match(self.service_hours):
            raise InvalidInput("service hours are HH:MM-HH:MM", unit=self.unit,
                               service_hours=self.service_hours)

    def in_service(self, at: datetime) -> bool:
        """Whether the unit's line is staffed at `at` (a timezone-aware time)."""
        start, end = self.service_hours.split("-")
        local = at.astimezone(HOTLINE_TZ).time()
        begin = time.fromisoformat(start)
        return (end == "24:00" and local >= begin) or begin <= local < time.fromisoformat(end)

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "dial": self.dial, "backup_dial": self.backup_dial,
                "service_hours": self.service_hours}


def load_unit_directory(catalogue: DispatchCatalogue,
                        path: Path = DEFAULT_DIRECTORY) -> dict[str, UnitContact]:
    """The shipped directory, checked against the catalogue; ConfigError names what is wrong."""
    try:
        raw: Mapping[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError("unit_directory", f"cannot read {path}: {exc}") from exc
    entries = raw.get("units") or {}
    unknown = sorted(set(entries) - set(catalogue.units))
    if unknown:
        raise ConfigError("unit_directory", f"units not in the dispatch catalogue: {', '.join(unknown)}")
    contacts: dict[str, UnitContact] = {}
    for code, entry in entries.items():
        try:
            contacts[code] = UnitContact(code, str(entry["dial"]), entry.get("backup"),
                                         str(entry.get("hours", "00:00-24:00")))
        except (KeyError, TypeError, InvalidInput) as exc:
            raise ConfigError("unit_directory", f"entry {code!r}: {exc}") from None
    return contacts


class UnitDirectoryStore:
    def __init__(self, engine: AsyncEngine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    async def seed(self, contacts: Mapping[str, UnitContact]) -> int:
        """Add the entries not in the database yet (edits made there are kept); how many."""
        if not contacts:
            return 0
        rows = [{**c.to_json(), "updated_at": self._clock(), "updated_by": "seed"}
                for c in contacts.values()]
        async with self._engine.begin() as conn:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            result = await conn.execute(insert(unit_contacts).values(rows)
                                        .on_conflict_do_nothing(index_elements=["unit"]))
        return max(result.rowcount or 0, 0)

    async def all(self) -> dict[str, UnitContact]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(unit_contacts))).all()
        return {r.unit: UnitContact(r.unit, r.dial, r.backup_dial, r.service_hours) for r in rows}

    async def get(self, unit: str) -> UnitContact:
        found = (await self.all()).get(unit)
        if found is None:
            raise NotFound("no phone number for this unit", unit=unit)
        return found

    async def update(self, contact: UnitContact, *, by: str) -> UnitContact:
        async with self._engine.begin() as conn:
            result = await conn.execute(update(unit_contacts).where(unit_contacts.c.unit == contact.unit)
                                        .values(dial=contact.dial, backup_dial=contact.backup_dial,
                                                service_hours=contact.service_hours,
                                                updated_at=self._clock(), updated_by=by))
            if result.rowcount != 1:
                await conn.execute(unit_contacts.insert().values(
                    **contact.to_json(), updated_at=self._clock(), updated_by=by))
        return contact
