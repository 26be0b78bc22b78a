"""How long a recording Asterisk wrote is: read from the WAV header, once Asterisk has closed it.

Every call that ends with a recording (citizens' calls, desk callbacks, relay calls, messages
left in the dialplan fallback) stores its length beside the call record; they all measure it
here. Reads one small local file; nothing else.
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path


def wav_seconds(path: Path) -> float | None:
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes() / float(wav.getframerate())
    except (OSError, EOFError, wave.Error):
        return None


async def recording_seconds(path: Path, timeout: float = 3.0) -> float | None:
    """Asterisk closes the file just after the stop request returns; give it a moment."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        seconds = wav_seconds(path) if path.suffix == ".wav" else (0.0 if path.exists() else None)
        if seconds or asyncio.get_running_loop().time() > deadline:
            return seconds
        await asyncio.sleep(0.1)
