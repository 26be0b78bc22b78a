"""Reading recorded WAV files and decoding one channel of PCM with a loaded model.

What the post-call threads (`asr.batch`) and the post-call decoder child process
(`asr.decode_process`) both do to a file, in one module of its own: the batch module starts
that child, and the child decodes exactly as the threads would, so neither imports the other.
Synchronous and CPU-bound: called from worker threads or the child, never the event loop.
"""

from __future__ import annotations

import threading
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.decoder import decode_pcm
from asr.models import BYTES_PER_SAMPLE, LoadedModel
from asr.segments import RawResult
from kernel.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class PcmAudio:
    """Decoded WAV content: one signed 16-bit little-endian buffer per channel."""

    channels: tuple[bytes, ...]
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.channels[0]) / (self.sample_rate * BYTES_PER_SAMPLE)


def read_wav(path: Path) -> PcmAudio:
    """Read a 16-bit PCM WAV (any rate Vosk accepts, mono or multi-channel)."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, count, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise InvalidInput(f"{path} is not a readable PCM WAV file: {exc}", path=str(path)) from exc
    if width != BYTES_PER_SAMPLE:
        raise InvalidInput(f"{path}: {8 * width}-bit samples, expected 16-bit PCM", path=str(path))
    if not 8000 <= rate <= 48000:
        raise InvalidInput(f"{path}: unsupported sample rate {rate}", path=str(path))
    if count == 1:
        return PcmAudio((frames,), rate)
    samples = np.frombuffer(frames, dtype="<i2").reshape(-1, count)
    return PcmAudio(tuple(np.ascontiguousarray(samples[:, c]).tobytes() for c in range(count)), rate)


def chunk_bytes_for(sample_rate: int, chunk_ms: int) -> int:
    return sample_rate * BYTES_PER_SAMPLE * chunk_ms // 1000


def transcribe_pcm(model: LoadedModel, pcm: bytes, sample_rate: int, chunk_ms: int,
                   *, start_pos: int = 0, stop: threading.Event | None = None) -> list[RawResult]:
    """Decode one channel; `start_pos` (stream bytes) offsets the times of a spool that starts late."""
    return decode_pcm(model, pcm, sample_rate, chunk_bytes_for(sample_rate, chunk_ms), start_pos=start_pos,
                      stop=stop)
