"""Seals a finished call's recording before the call is stored (issue 25 item 4, PIPL at rest).

Asterisk writes a call's recording as plain WAV while the call is up: it has to, and nothing of
ours runs inside it. Every finished call reaches the database through one `CallRecorder` (the
call flow, the outbox replaying calls the database missed, the spool of messages left while
the backend was away), so sealing there leaves the plain file on disk only while the call is up
(or, with the database away, until the outbox writes it). The stored call names the sealed file
and its digest; the plain WAV is removed.

Sealing is idempotent: a record the outbox replays after its recording was sealed finds the
sealed file in place and takes its digest. A recording that cannot be sealed (a disk error) is
logged and the call is still stored with the plain file: losing the call would be worse, and
the next read serves it (an unsealed file is never silently trusted as sealed).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

from kernel.sealed_files import DataKeys, is_sealed, seal_file, sealed_path_for
from telephony.call_record import CallRecord
from telephony.ports import CallRecorder

log = logging.getLogger(__name__)


class SealingRecorder:
    """A `CallRecorder` that seals the recording, then hands the call to `inner`."""

    def __init__(self, inner: CallRecorder, keys: DataKeys) -> None:
        self.inner = inner
        self.keys = keys

    async def sealed(self, record: CallRecord) -> CallRecord:
        """`record` naming its sealed recording (and its digest); unchanged without one."""
        plain = record.recording_path
        if plain is None or record.recording_sha256 is not None or is_sealed(plain):
            return record
        sealed = sealed_path_for(plain)
        if not plain.exists() and not sealed.exists():
            return record  # missing: the call flow has logged it already
        try:
            digest = await asyncio.to_thread(seal_file, plain, sealed, self.keys)
        except OSError as exc:
            log.error("recording not sealed; kept plain", extra={"call_id": record.call_id, "error": str(exc)})
            return record
        log.info("recording sealed", extra={"call_id": record.call_id, "key_id": self.keys.current_id})
        return replace(record, recording_path=sealed, recording_sha256=digest)

    async def record_finished_call(self, record: CallRecord) -> str:
        return await self.inner.record_finished_call(await self.sealed(record))


async def seal_recording_file(plain: Path, keys: DataKeys) -> Path:
    """Seal a recording that is not a call's (a spoken survey answer) beside itself; the plain
    file is removed. Idempotent like `SealingRecorder.sealed` (a crash in between finishes)."""
    sealed = sealed_path_for(plain)
    await asyncio.to_thread(seal_file, plain, sealed, keys)
    return sealed
