"""The outbox of finished calls: a call that ends while the database is away is kept on disk.

A finished call is written to the database by intake (the `CallRecorder` port). When that
fails or hangs, the call's record (with its true end time and end reason, taken at hang-up) is
written here as one JSON file, fsync'd and renamed into place, and the call path moves on. A
loop replays the files oldest first as soon as the database answers; intake is idempotent per
channel, so a file replayed twice (a crash between the write and the file's removal) gives
one ticket.

Why disk and not Redis with AOF: Redis here is a mirror that may be down at the same moment
(a node's network), its AOF is usually `everysec` (a crash loses the last second), and a lost
Redis must never cost a ticket. A local file that is fsync'd before the call is forgotten
survives a crash of this process, of Redis and of the database; it sits next to the message
spool, which Asterisk already writes to disk for the same reason. The price is that a node's
outbox is replayed by that node (or whichever node is given the same directory).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from telephony.call_record import CallRecord
from telephony.ports import CallRecorder

log = logging.getLogger(__name__)


def record_to_json(record: CallRecord) -> str:
    data: dict[str, Any] = {}
    for name, value in vars(record).items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Path):
            value = str(value)
        data[name] = value
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def record_from_json(text: str) -> CallRecord:
    data = json.loads(text)
    for name in ("started_at", "answered_at", "ended_at"):
        if data.get(name):
            data[name] = datetime.fromisoformat(data[name])
    if data.get("recording_path"):
        data["recording_path"] = Path(data["recording_path"])
    known = CallRecord.__dataclass_fields__
    return CallRecord(**{k: v for k, v in data.items() if k in known})


class CallOutbox:
    """Files `<end time ns>-<call id>.json` in `directory`: their names sort in end-time order."""

    def __init__(self, directory: Path, recorder: CallRecorder, *, interval: float = 2.0,
                 write_timeout: float = 10.0) -> None:
        self.directory = directory
        self.recorder = recorder
        self.interval = interval
        self.write_timeout = write_timeout
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        #: Why the last replay stopped (None: the outbox drained, or never failed).
        self.last_error: str | None = None

    def pending(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.glob("*.json") if not p.name.startswith("."))
        except OSError:
            return []

    @property
    def depth(self) -> int:
        return len(self.pending())

    def put(self, record: CallRecord) -> Path:
        """Keep `record` durably; returns once it is on disk (fsync'd, renamed into place)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = int(record.ended_at.timestamp() * 1_000_000_000)
        target = self.directory / f"{stamp:020d}-{record.call_id}.json"
        partial = self.directory / f".{target.name}.{uuid.uuid4().hex[:8]}.partial"
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(record_to_json(record))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        log.warning("finished call kept in the outbox until the database answers",
                    extra={"call_id": record.call_id, "file": target.name})
        self._wake.set()
        return target

    async def run(self) -> None:
        while True:
            await self.replay()
            self._wake.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the wait ends, and the task then never stops.
            with suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()

    async def replay(self) -> list[str]:
        """Write the kept calls in order; stop at the first failure (the database is still
        away: the next ones would fail too, and order is kept)."""
        written: list[str] = []
        async with self._lock:
            for path in self.pending():
                try:
                    record = record_from_json(path.read_text(encoding="utf-8"))
                except (OSError, ValueError, TypeError) as exc:
                    log.error("unreadable outbox file set aside",
                              extra={"file": path.name, "error": str(exc)})
                    os.replace(path, path.with_suffix(".bad"))
                    continue
                try:
                    async with asyncio.timeout(self.write_timeout):
                        ticket_no = await self.recorder.record_finished_call(record)
                except Exception as exc:  # noqa: BLE001 - the database is away; try again later
                    self.last_error = str(exc) or type(exc).__name__
                    return written
                path.unlink(missing_ok=True)
                written.append(ticket_no)
                log.info("finished call written from the outbox",
                         extra={"call_id": record.call_id, "ticket_no": ticket_no})
            self.last_error = None
        return written
