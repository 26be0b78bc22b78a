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

The call's live transcript follows it: live transcription, finding the database away (or the
call not recorded yet), hands the transcript here (`keep_transcript`, an opaque JSON payload
of the ASR side). It is added to the call's file, or, when the call's file is already gone,
kept in a file of its own named to sort after it; on replay it is written right after the
call's record (`transcripts`, joined at the root), so the ticket gets its transcript and
draft. A transcript that cannot be written while the database answers never holds back the
calls behind it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from telephony.call_record import CallRecord
from telephony.ports import CallRecorder

log = logging.getLogger(__name__)

#: Writes a kept transcript (call id, payload) once the call is recorded: the ASR side's
#: `TranscriptStore.save_payload`, joined at the root.
TranscriptWriter = Callable[[str, dict[str, Any]], Awaitable[None]]
TRANSCRIPT_KEY = "transcript"
TRANSCRIPT_SUFFIX = ".transcript.json"


def _write_durably(directory: Path, target: Path, text: str) -> None:
    """Write `text` to `target` so that it is whole or absent after a crash."""
    partial = directory / f".{target.name}.{uuid.uuid4().hex[:8]}.partial"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, target)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
                 write_timeout: float = 10.0, transcripts: TranscriptWriter | None = None) -> None:
        self.directory = directory
        self.recorder = recorder
        self.transcripts = transcripts
        self._reported: set[str] = set()
        self.interval = interval
        self.write_timeout = write_timeout
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        #: Why the last replay stopped (None: the outbox drained, or never failed).
        self.last_error: str | None = None

    def files(self) -> list[Path]:
        """Every kept call and transcript, in the order they are replayed."""
        try:
            return sorted(p for p in self.directory.glob("*.json") if not p.name.startswith("."))
        except OSError:
            return []

    def pending(self) -> list[Path]:
        """The kept calls (new calls queue behind them, so they are written in order)."""
        return [p for p in self.files() if not p.name.endswith(TRANSCRIPT_SUFFIX)]

    @property
    def depth(self) -> int:
        return len(self.pending())

    def put(self, record: CallRecord) -> Path:
        """Keep `record` durably; returns once it is on disk (fsync'd, renamed into place)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = int(record.ended_at.timestamp() * 1_000_000_000)
        target = self.directory / f"{stamp:020d}-{record.call_id}.json"
        _write_durably(self.directory, target, record_to_json(record))
        log.warning("finished call kept in the outbox until the database answers",
                    extra={"call_id": record.call_id, "file": target.name})
        self._wake.set()
        return target

    async def keep_transcript(self, call_id: str, payload: dict[str, Any]) -> None:
        """Keep a call's transcript until the database takes it (a later one replaces it)."""
        async with self._lock:  # never while a replay reads or removes the call's file
            await asyncio.to_thread(self._keep_transcript, call_id, payload)
        self._wake.set()

    def _keep_transcript(self, call_id: str, payload: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in self.pending():
            if not path.name.endswith(f"-{call_id}.json"):
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            data[TRANSCRIPT_KEY] = payload
            _write_durably(self.directory, path, json.dumps(data, ensure_ascii=False, sort_keys=True))
            log.warning("transcript kept with its call in the outbox",
                        extra={"call_id": call_id, "file": path.name})
            return
        existing = [p for p in self.files() if p.name.endswith(f"-{call_id}{TRANSCRIPT_SUFFIX}")]
        # Named after now: it sorts after the call's record, which ended before.
        target = existing[0] if existing else self.directory / (
            f"{time.time_ns():020d}-{call_id}{TRANSCRIPT_SUFFIX}")
        _write_durably(self.directory, target, json.dumps(
            {"call_id": call_id, TRANSCRIPT_KEY: payload}, ensure_ascii=False, sort_keys=True))
        log.warning("transcript kept in the outbox until the database answers",
                    extra={"call_id": call_id, "file": target.name})

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
        """Write the kept calls in order, each with its transcript; stop at the first call
        that fails (the database is still away: the next ones would fail too, and order is
        kept)."""
        written: list[str] = []
        async with self._lock:
            for path in self.files():
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                    record = None if path.name.endswith(TRANSCRIPT_SUFFIX) else record_from_json(
                        json.dumps(data))
                except (OSError, ValueError, TypeError) as exc:
                    log.error("unreadable outbox file set aside",
                              extra={"file": path.name, "error": str(exc)})
                    os.replace(path, path.with_suffix(".bad"))
                    continue
                if record is not None:
                    try:
                        async with asyncio.timeout(self.write_timeout):
                            ticket_no = await self.recorder.record_finished_call(record)
                    except Exception as exc:  # noqa: BLE001 - the database is away; try again later
                        self.last_error = str(exc) or type(exc).__name__
                        return written
                    written.append(ticket_no)
                    log.info("finished call written from the outbox",
                             extra={"call_id": record.call_id, "ticket_no": ticket_no})
                transcript = data.get(TRANSCRIPT_KEY)
                if transcript is not None and not await self._write_transcript(
                        path, str(data.get("call_id", "")), transcript, after_record=record is not None):
                    continue
                path.unlink(missing_ok=True)
            self.last_error = None
        return written

    async def _write_transcript(self, path: Path, call_id: str, payload: dict[str, Any], *,
                                after_record: bool) -> bool:
        """Write a kept transcript; False keeps it for a later round (without its record, which
        is written: a transcript never holds back the calls behind it)."""
        if self.transcripts is None:
            return True
        try:
            async with asyncio.timeout(self.write_timeout):
                await self.transcripts(call_id, payload)
        except Exception as exc:  # noqa: BLE001 - kept; the calls behind it go on
            self.last_error = str(exc) or type(exc).__name__
            # Said once per file: a transcript whose call is not recorded yet is retried every round.
            level = logging.DEBUG if path.name in self._reported else logging.WARNING
            self._reported.add(path.name)
            log.log(level, "kept transcript not written yet",
                    extra={"call_id": call_id, "file": path.name, "error": self.last_error})
            if after_record:
                target = path.with_name(path.name.removesuffix(".json") + TRANSCRIPT_SUFFIX)
                _write_durably(self.directory, target, json.dumps(
                    {"call_id": call_id, TRANSCRIPT_KEY: payload}, ensure_ascii=False, sort_keys=True))
                path.unlink(missing_ok=True)
            return False
        log.info("kept transcript written from the outbox", extra={"call_id": call_id})
        return True
