"""Calls with recordings and transcripts written straight into a test database.

The rows have the shape the call path writes (`tickets/intake.py`); the WAV is a real PCM file
(a tone per second, so a test can tell positions apart), so the API and a browser read a real
recording without a phone call when the call itself is not what is being tested.
"""

from __future__ import annotations

import math
import struct
import tempfile
import uuid
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.schema import calls, transcript_segments
from kernel.sealed_files import decrypt_into, file_digest, is_sealed
from tests.data_keys import TEST_KEYS

RATE = 8000


def write_wav(path: Path, seconds: float) -> Path:
    """8 kHz mono 16-bit PCM, as Asterisk records a bridge in WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = bytearray()
    for n in range(int(seconds * RATE)):
        pitch = 300 + 100 * (n // RATE % 5)
        frames += struct.pack("<h", int(8000 * math.sin(2 * math.pi * pitch * n / RATE)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(bytes(frames))
    return path


async def insert_call(engine: AsyncEngine, *, caller: str, started_at: datetime, seconds: float,
                      agent_id: str | None, recording: Path | None,
                      lines: tuple[tuple[str, float, float, str], ...] = (),
                      end_reason: str = "caller_hangup") -> str:
    """A finished call (answered at once) with its transcript lines (speaker, start, end, text)."""
    call_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(insert(calls).values(
            id=call_id, channel_id=f"chan-{call_id}", bridge_id=f"bridge-{call_id}", caller_number=caller,
            node_id="N01", started_at=started_at, answered_at=started_at,
            ended_at=started_at + timedelta(seconds=seconds), end_reason=end_reason,
            recording_path=str(recording) if recording else None,
            recording_seconds=seconds if recording else None, screen_level="allow",
            agent_id=agent_id, queue_seconds=2.0 if agent_id else None))
        for speaker, start, end, text in lines:
            await conn.execute(insert(transcript_segments).values(
                call_id=call_id, speaker=speaker, start_seconds=start, end_seconds=end, text=text,
                confidence=0.9, source="live"))
    return call_id


@contextmanager
def plain_recording(path: Path, digest: str | None = None) -> Iterator[Path]:
    """A stored recording as a plain WAV: one sealed at rest (kernel/sealed_files.py, the tests'
    key) is checked against `digest` (else its own) and decrypted into a private temporary
    folder, removed after the block; a plain one is itself."""
    if not is_sealed(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="test-plain-") as folder:
        yield decrypt_into(path, TEST_KEYS, digest or file_digest(path), Path(folder))
