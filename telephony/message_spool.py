"""Messages callers left while the backend was away, adopted as calls when it returns.

When no process has the ARI application connected, `Stasis()` fails at once and the dialplan
goes on (`config/asterisk/extensions.conf`, `[hotline-message]`): Asterisk answers, records
the caller from that moment (what they say over the greeting and the prompt is the start of
their message), greets, and at hang-up closes the recording and moves one directory per call
from the spool's `tmp/` into `new/` with a single rename. So an entry in `new/` is always
complete, and one in `tmp/` (a caller still speaking, or an Asterisk that died mid-write) is
never touched. A caller the dialplan hands back to a backend that returned leaves no entry: the
call is the backend's, and so is its recording (`telephony/fallback_recording.py`).

Adopting an entry makes it what any answered call becomes: a call record, its recording, a
ticket of origin "message" and a callback task (intake writes those for messages). The steps
are ordered so that a crash anywhere leaves an entry that can be adopted again without a
duplicate: the recording is moved with `os.replace` (a second attempt finds it moved), the call
id is derived from the channel id (the same entry always names the same call), intake is
idempotent per channel, and the entry is deleted only after intake answered.

Several nodes may watch one spool (two backends in front of one Asterisk). Each entry is
claimed before it is adopted: renamed from `new/` into `claimed/<node>/`, one atomic rename,
so exactly one node wins it and the work is not done twice. The claimer stamps the entry
(`.claim`) and stamps it again every round while it still holds it (the database may be away);
an entry whose stamp is older than `stale_after` belongs to a claimer that died, and any node
claims it again the same way. Intake stays idempotent, so even a claimer thought dead that
finishes late gives one ticket.

This module never decides what a ticket is; it only reads Asterisk's spool and hands finished
calls to the `CallRecorder` port.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

from kernel.phone_number import caller_id_digits
from telephony.call_record import CallRecord
from telephony.ports import CallRecorder
from telephony.recording_length import wav_seconds

log = logging.getLogger(__name__)

#: Call ids of adopted messages are derived from the channel id, so re-adoption names the same call.
MESSAGE_CALL_NAMESPACE = uuid.UUID("6f1c2d4e-12a4-5345-9c3b-2d1e0a8b7c65")
END_REASON = "message_while_backend_away"
META_FILE, MESSAGE_FILE, CLAIM_FILE = "meta.txt", "message.wav", ".claim"
#: A claim not stamped again for this long is a dead claimer's: the entry is claimed anew.
STALE_CLAIM_SECONDS = 60.0


class SpoolEntryError(ValueError):
    """An entry in `new/` whose metadata cannot be read: set aside, never retried forever."""


@dataclass(frozen=True)
class SpooledMessage:
    """One entry's metadata, as the dialplan wrote it (values URI-encoded, times epoch seconds)."""

    channel_id: str
    caller_number: str
    caller_name: str
    dialed_number: str
    started_at: datetime
    answered_at: datetime | None
    recording_started_at: datetime | None
    ended_at: datetime
    system: str = ""

    @property
    def call_id(self) -> str:
        return str(uuid.uuid5(MESSAGE_CALL_NAMESPACE, self.channel_id))


def _epoch(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError) as exc:
        raise SpoolEntryError(f"not an epoch time: {value!r}") from exc


def parse_meta(text: str) -> SpooledMessage:
    """Read `key=value` lines; unknown keys are ignored (a newer dialplan may add some)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = unquote(value.strip())
    channel_id = fields.get("channel_id", "")
    started_at = _epoch(fields.get("started_at"))
    ended_at = _epoch(fields.get("ended_at"))
    if not channel_id or started_at is None or ended_at is None:
        raise SpoolEntryError("channel_id, started_at and ended_at are required")
    return SpooledMessage(
        channel_id=channel_id, caller_number=caller_id_digits(fields.get("caller_number")),
        caller_name=fields.get("caller_name", ""), dialed_number=fields.get("dialed_number", ""),
        started_at=started_at, answered_at=_epoch(fields.get("answered_at")),
        recording_started_at=_epoch(fields.get("recording_started_at")), ended_at=ended_at,
        system=fields.get("system", ""))


def move_file(source: Path, target: Path) -> None:
    """Move atomically: a rename, or across file systems a copy renamed into place."""
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(source, partial)
        os.replace(partial, target)
        source.unlink()


def _entries(directory: Path) -> list[Path]:
    try:
        return [p for p in directory.iterdir() if p.is_dir()]
    except FileNotFoundError:
        return []


def _oldest_first(entries: Iterable[Path]) -> list[Path]:
    """By the time the call ended (the entry's rename into `new/` keeps its mtime)."""
    def age(entry: Path) -> float:
        try:
            return entry.stat().st_mtime
        except OSError:  # adopted meanwhile by another node
            return 0.0

    return sorted(entries, key=age)


def _claim_stamp(entry: Path) -> float:
    """When the entry's claimer last stamped it (an entry with no stamp yet: now, so a claim
    caught between its rename and its stamp is not taken away)."""
    try:
        return (entry / CLAIM_FILE).stat().st_mtime
    except FileNotFoundError:
        try:
            return entry.stat().st_ctime  # the rename into claimed/ changed it
        except FileNotFoundError:
            return time.time()


#: Told about each adopted message (post-call transcription plugs in here); best effort.
AdoptedHook = Callable[[CallRecord, str], Awaitable[None]]


class MessageSpool:
    """Adopts the spool's complete entries: at start-up, on every ARI (re)connect, and every
    `interval` seconds (a caller may still be speaking when the backend comes back)."""

    def __init__(self, spool_dir: Path, recording_dir: Path, recorder: CallRecorder,
                 node_id: str, *, on_adopted: AdoptedHook | None = None,
                 interval: float = 5.0, stale_after: float = STALE_CLAIM_SECONDS) -> None:
        self.spool_dir = spool_dir
        self.recording_dir = recording_dir
        self.recorder = recorder
        self.node_id = node_id
        self.on_adopted = on_adopted
        self.interval = interval
        self.stale_after = stale_after
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def new_dir(self) -> Path:
        return self.spool_dir / "new"

    @property
    def bad_dir(self) -> Path:
        return self.spool_dir / "bad"

    @property
    def claimed_root(self) -> Path:
        return self.spool_dir / "claimed"

    @property
    def claimed_dir(self) -> Path:
        """Entries this node claimed and has not adopted yet."""
        return self.claimed_root / self.node_id

    def pending(self) -> list[Path]:
        """Complete entries not adopted yet, claimed or not, oldest first."""
        dirs = [self.new_dir]
        with suppress(FileNotFoundError):
            dirs += [d for d in self.claimed_root.iterdir() if d.is_dir()]
        return _oldest_first(entry for directory in dirs for entry in _entries(directory))

    def claimable(self) -> list[Path]:
        """What this node adopts this round: its own claims, new entries, and the entries of
        claimers that stopped stamping theirs."""
        own = _entries(self.claimed_dir)
        stale: list[Path] = []
        with suppress(FileNotFoundError):
            now = time.time()
            for other in self.claimed_root.iterdir():
                if other.is_dir() and other.name != self.node_id:
                    stale += [e for e in _entries(other) if now - _claim_stamp(e) > self.stale_after]
        return _oldest_first(own) + _oldest_first(_entries(self.new_dir) + stale)

    def claim(self, entry: Path) -> Path | None:
        """Take `entry` for this node (one atomic rename) and stamp it; None if another node
        took it first. An entry already this node's is stamped again."""
        target = self.claimed_dir / entry.name
        if entry != target:
            self.claimed_dir.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(entry, target)
            except FileNotFoundError:
                return None  # another node claimed (or adopted) it first
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                # This node claimed it before (a second Asterisk hangup handler, a copy put
                # back): its own entry is adopted; this one is the same call.
                shutil.rmtree(entry, ignore_errors=True)
                return None
            if entry.parent != self.new_dir:
                log.warning("message of a claimer that stopped claimed again",
                            extra={"entry": entry.name, "from_node": entry.parent.name})
        try:
            (target / CLAIM_FILE).write_text(f"{self.node_id} {time.time():.3f}\n", encoding="utf-8")
        except FileNotFoundError:
            return None  # claimed away meanwhile (this node was thought dead)
        return target

    def wake(self) -> None:
        """Adopt now (the ARI connection came back)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self.adopt_all()
            self._wake.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the wait ends, and the task then never stops.
            with suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()

    async def adopt_all(self) -> list[str]:
        """Adopt every complete entry; return the ticket numbers. An entry whose write failed
        (the database is away) stays for the next round; others go on."""
        tickets: list[str] = []
        async with self._lock:
            for found in self.claimable():
                entry = self.claim(found)
                if entry is None:
                    continue
                try:
                    ticket_no = await self.adopt(entry)
                except SpoolEntryError as exc:
                    self._set_aside(entry, str(exc))
                    continue
                except Exception as exc:  # noqa: BLE001 - one entry never stops the others
                    log.warning("message not adopted yet; kept for the next round",
                                extra={"entry": entry.name, "error": str(exc) or type(exc).__name__})
                    continue
                tickets.append(ticket_no)
        return tickets

    async def adopt(self, entry: Path) -> str:
        if entry.is_symlink() or (entry / META_FILE).is_symlink():
            # Never followed: a link would make us read, and move into the recordings that
            # supervisors download, whatever file it points at.
            raise SpoolEntryError("a symbolic link in the entry")
        try:
            meta = parse_meta((entry / META_FILE).read_text(encoding="utf-8", errors="replace"))
        except FileNotFoundError as exc:
            raise SpoolEntryError("no meta.txt") from exc
        call_id = meta.call_id
        recording = self.recording_dir / f"message-{call_id}.wav"
        source = entry / MESSAGE_FILE
        if source.is_symlink() or (source.exists() and not source.is_file()):
            # The call still becomes a ticket (its caller is not lost); the "recording" is not
            # taken: only a regular file Asterisk wrote is ever served as one.
            log.error("message spool recording is not a regular file; not taken",
                      extra={"call_id": call_id, "entry": entry.name})
        elif source.exists():
            self.recording_dir.mkdir(parents=True, exist_ok=True)
            move_file(source, recording)
        recording_path = recording if recording.exists() else None
        record = CallRecord(
            call_id=call_id, channel_id=meta.channel_id, bridge_id=None,
            caller_number=meta.caller_number, caller_name=meta.caller_name,
            dialed_number=meta.dialed_number, node_id=self.node_id,
            started_at=meta.started_at, answered_at=meta.answered_at, ended_at=meta.ended_at,
            end_reason=END_REASON, recording_path=recording_path,
            recording_seconds=wav_seconds(recording_path) if recording_path else None,
            is_message=True)
        ticket_no = await self.recorder.record_finished_call(record)
        log.info("message left while the backend was away adopted",
                 extra={"call_id": call_id, "ticket_no": ticket_no, "channel_id": meta.channel_id})
        shutil.rmtree(entry, ignore_errors=True)
        if self.on_adopted is not None:
            # After the entry is gone: the ticket exists, and a transcription that fails or is
            # cut short by a crash is redone by `hotline retranscribe`, not by re-adoption.
            try:
                await self.on_adopted(record, ticket_no)
            except Exception:
                log.exception("post-adoption work failed", extra={"call_id": call_id})
        return ticket_no

    def _set_aside(self, entry: Path, reason: str) -> None:
        with suppress(FileNotFoundError):
            (entry / CLAIM_FILE).unlink()
        log.error("unreadable message spool entry set aside",
                  extra={"entry": entry.name, "error": reason})
        self.bad_dir.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(entry, self.bad_dir / entry.name)
        except OSError:
            log.exception("could not set the spool entry aside", extra={"entry": entry.name})
