"""The on-disk record of a call whose post-call transcription is not finished yet.

Why: post-call work can be long (a busy minute spools many streams) and a node must be able to
stop within seconds. So the work is kept on disk, not in memory: the spooled WAV of every
deferred stream plus one JSON record per call (`<call id>.pending.json` next to the spools)
holding the live segments already known, the streams still to decode and what the consumer
needs to store the result (caller number). The record is rewritten (atomically) after each
stream is decoded and before its spool is deleted, so a stop at any moment loses nothing and
repeats at most one stream's decoding. The next process start picks the records up.

Pure data and file I/O, no event loop.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asr.segments import Segment, Speaker, Word

log = logging.getLogger(__name__)

SUFFIX = ".pending.json"
#: A record claimed by the process that adopted its call (`claim_handed_over`).
ADOPTED_SUFFIX = ".adopted.json"
#: Meta key of a record written by `CallTranscription.hand_over`: the process stopped during
#: the call; the value is the seconds of the call the record covers.
HANDED_OVER = "handed_over"


def adopted_path(spool_dir: Path, call_id: str) -> Path:
    return spool_dir / f"{call_id}{ADOPTED_SUFFIX}"


@dataclass(slots=True)
class PendingStream:
    """A deferred stream waiting for post-call decoding."""

    speaker: Speaker
    offset: float  # seconds from the call's start to the stream's first sample
    spool: str  # WAV file name inside the spool directory
    start_pos: int  # stream byte position of the spool's first sample


@dataclass(slots=True)
class PendingCall:
    call_id: str
    meta: dict[str, str] = field(default_factory=dict)  # e.g. caller_number, for the consumer
    segments: list[Segment] = field(default_factory=list)  # final segments known so far
    streams: list[PendingStream] = field(default_factory=list)
    deferred: list[Speaker] = field(default_factory=list)
    failed: list[Speaker] = field(default_factory=list)

    def path(self, spool_dir: Path) -> Path:
        return spool_dir / f"{self.call_id}{SUFFIX}"

    def save(self, spool_dir: Path) -> None:
        """Write atomically (tmp + fsync + rename): a stop mid-write leaves the old record."""
        spool_dir.mkdir(parents=True, exist_ok=True)
        target = self.path(spool_dir)
        tmp = target.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            json.dump(self.to_dict(), out, ensure_ascii=False)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(target)

    def remove(self, spool_dir: Path) -> None:
        self.path(spool_dir).unlink(missing_ok=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "meta": self.meta,
            "segments": [_segment_to_dict(s) for s in self.segments],
            "streams": [{"speaker": s.speaker.value, "offset": s.offset, "spool": s.spool,
                         "start_pos": s.start_pos} for s in self.streams],
            "deferred": [s.value for s in self.deferred],
            "failed": [s.value for s in self.failed],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingCall:
        return cls(
            call_id=str(data["call_id"]),
            meta={str(k): str(v) for k, v in (data.get("meta") or {}).items()},
            segments=[_segment_from_dict(s, str(data["call_id"])) for s in data.get("segments") or ()],
            streams=[PendingStream(Speaker(s["speaker"]), float(s["offset"]), str(s["spool"]),
                                   int(s["start_pos"])) for s in data.get("streams") or ()],
            deferred=[Speaker(s) for s in data.get("deferred") or ()],
            failed=[Speaker(s) for s in data.get("failed") or ()],
        )


def load_pending(spool_dir: Path, *, written_before: float | None = None,
                 handed_over: bool = False) -> list[PendingCall]:
    """Every readable record in the spool directory, oldest first (an unreadable one is logged
    and left in place for an operator: it is never deleted unread). `written_before` (epoch
    seconds) skips records of this process's own calls, which their calls finish themselves.
    Records of calls handed over by a stopped process are left for the process that adopts the
    call unless `handed_over` (then only those are returned)."""
    if not spool_dir.is_dir():
        return []
    records: list[tuple[float, PendingCall]] = []
    for path in spool_dir.glob(f"*{SUFFIX}"):
        try:
            mtime = path.stat().st_mtime
            if written_before is not None and mtime >= written_before:
                continue
            record = PendingCall.from_dict(json.loads(path.read_text(encoding="utf-8")))
            if (HANDED_OVER in record.meta) == handed_over:
                records.append((mtime, record))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("unreadable post-call record left in place: %s", exc, extra={"path": str(path)})
    return [record for _, record in sorted(records, key=lambda item: item[0])]


def claim_handed_over(spool_dir: Path, call_id: str) -> PendingCall | None:
    """Take the record a stopped process handed over for this call, or None.

    The claim is a rename (`.pending.json` -> `.adopted.json`), atomic: of the adopting call and
    the late recovery sweep exactly one gets the record. The claimant writes the merged record
    under `.pending.json` again before it removes the `.adopted.json` one, so a crash in between
    leaves the words on disk (`release_adopted` puts such a record back at the next start).
    """
    source, target = spool_dir / f"{call_id}{SUFFIX}", adopted_path(spool_dir, call_id)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        if HANDED_OVER not in (data.get("meta") or {}):
            return None  # ordinary post-call work of a finished call
        source.replace(target)
        os.utime(target)  # the claim's time: `release_adopted` tells a dead claimant's from ours
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.error("handed-over record not readable; left for an operator: %s", exc,
                  extra={"call_id": call_id})
        return None
    try:
        return PendingCall.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        log.error("handed-over record not readable; left for an operator: %s", exc,
                  extra={"call_id": call_id})
        return None


def release_adopted(spool_dir: Path, *, written_before: float) -> int:
    """Records a process claimed and died with (`.adopted.json`) go back to `.pending.json`."""
    released = 0
    if spool_dir.is_dir():
        for path in spool_dir.glob(f"*{ADOPTED_SUFFIX}"):
            try:
                if path.stat().st_mtime >= written_before:
                    continue
                target = path.with_name(path.name[: -len(ADOPTED_SUFFIX)] + SUFFIX)
                if target.exists():
                    path.unlink()  # the merged record was written: this one is superseded
                else:
                    path.replace(target)
                    released += 1
            except OSError as exc:
                log.error("adopted record not released: %s", exc, extra={"path": str(path)})
    return released


def _segment_to_dict(s: Segment) -> dict[str, Any]:
    return {"speaker": s.speaker.value, "text": s.text, "start": s.start, "end": s.end,
            "confidence": s.confidence, "live": s.live,
            "words": [[w.text, w.start, w.end, w.confidence] for w in s.words]}


def _segment_from_dict(d: dict[str, Any], call_id: str = "") -> Segment:
    return Segment(call_id=call_id, speaker=Speaker(d["speaker"]), text=str(d["text"]),
                   start=float(d["start"]), end=float(d["end"]), final=True,
                   confidence=None if d.get("confidence") is None else float(d["confidence"]),
                   live=bool(d.get("live", True)),
                   words=tuple(Word(str(w[0]), float(w[1]), float(w[2]), float(w[3]))
                               for w in d.get("words") or ()))
