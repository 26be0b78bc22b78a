"""The recording the dialplan makes of every call from its answer, which the backend takes at hang-up.

Every intake extension answers the caller and starts MixMonitor on the caller's channel before
`Stasis()` (`[hotline-answer]` in config/asterisk/extensions.conf), so the call is recorded from
its first frame whatever the backend's load: a slow or failed ARI request can no longer leave a
talking caller unanswered or unrecorded, and the recording no longer starts when the backend
gets round to it (issue 26). The recording follows the channel into the backend's bridge, hold,
an agent's and a unit's company, so it holds the whole call, both directions, from the answer to
the hang-up. The backend therefore neither answers nor records such a call: the call's
recording is the dialplan's, and the call was answered when the dialplan answered it.

The same holds for a caller the dialplan's fallback answered while the backend was away and
hands back to it live: what they said over the fallback's prompts is in the recording, once.

The dialplan says so in two channel variables shown on every ARI channel (`channelvars` in
config/asterisk/ari.conf), and at hang-up closes the file and moves it whole (one rename) to
`<spool>/handed-back/<channel id>.wav`. `take` moves it on into the recordings directory under
the call's name. The hang-up reaches the backend (StasisEnd) before Asterisk has run the
channel's hang-up handler, so `take` waits for the rename, boundedly.

This module never decides anything about the call: it reads two variables and moves one file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from telephony.message_spool import move_file

#: Set by the dialplan's [hotline-answer]: when it answered the caller, and when it started recording.
ANSWERED_VAR, RECORDING_VAR = "HOTLINE_ANSWERED", "HOTLINE_RECORDING"
#: The dialplan context from which the fallback hands a caller back to the backend, after its
#: greeting or prompt ([hotline-backend-back] in extensions.conf).
HANDED_BACK_CONTEXT = "hotline-backend-back"
#: Under the message spool: the closed recordings of calls the backend had, one file per channel.
HANDED_BACK_DIR = "handed-back"
#: Longest wait for the dialplan's hang-up handler to close and move the recording.
TAKE_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class FallbackAnswer:
    """A caller the dialplan answered and records: when it answered, when its recording began."""

    answered_at: datetime
    recording_started_at: datetime


def _epoch(value: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC) if value else None
    except (ValueError, OverflowError):
        return None


def fallback_answer(channelvars: Mapping[str, str]) -> FallbackAnswer | None:
    """When the dialplan answered this channel and started recording it; None for a call that
    reached the backend without (an extension that does not use [hotline-answer])."""
    answered = _epoch(channelvars.get(ANSWERED_VAR))
    recording = _epoch(channelvars.get(RECORDING_VAR))
    if answered is None or recording is None:
        return None
    return FallbackAnswer(answered_at=answered, recording_started_at=recording)


def handed_back_by_fallback(channel_context: str) -> bool:
    """Whether the caller comes from the fallback (it heard its prompts, seconds of the call and
    of its recording), not straight from an intake extension."""
    return channel_context == HANDED_BACK_CONTEXT


def handed_back_path(spool_dir: Path, channel_id: str) -> Path:
    """Where the dialplan leaves the closed recording of a handed-back channel."""
    return spool_dir / HANDED_BACK_DIR / f"{channel_id}.wav"


async def take(spool_dir: Path, channel_id: str, target: Path,
               timeout: float = TAKE_TIMEOUT_SECONDS) -> Path | None:
    """Move the channel's handed-back recording to `target`; return `target`, or None when it
    did not come within `timeout` (Asterisk died before the hang-up handler ran).

    Safe to repeat: after a crash between the move and the call record, the next attempt finds
    the recording already at `target`."""
    source = handed_back_path(spool_dir, channel_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(move_file, source, target)
            return target
        if target.exists():
            return target
        if loop.time() > deadline:
            return None
        await asyncio.sleep(0.05)
