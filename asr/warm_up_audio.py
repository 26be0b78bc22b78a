"""The speech every new recognizer decodes before its first call (`asr.warm_up_audio`).

Why speech, not silence: a recognizer of the small Mandarin model composes its decoding graph
lazily, and the first speech it meets pays for the composition. Measured (7.9 s of caller
speech, 16 kHz, one thread): a brand-new recognizer 1.55 s of CPU, one warmed with a second of
faint noise 1.47 s, one warmed with the 7.8 s greeting prompt 0.85 s, the same recognizer on
the same speech again 0.30 s. A burst of calls on a node that just started (or whose
recognizers were retired after an idle hour) pays that first cost on every stream at once,
which is what pushed 3 of 4 simultaneous callers to post-call transcription; warmed with
speech, each stream's first seconds cost about half.

The file is any mono 16-bit WAV of speech in the model's language at 8 or 16 kHz (the rendered
greeting prompt is what `scripts/run` uses). Loaded once; converted to each recognizer rate.
A file that cannot be used is reported and the faint noise is used instead: a warm-up must
never keep calls from being transcribed.
"""

from __future__ import annotations

import logging
import wave
from dataclasses import dataclass
from pathlib import Path

from asr.models import BYTES_PER_SAMPLE
from asr.upsample import FACTOR, upsample
from kernel.errors import ConfigError

log = logging.getLogger(__name__)

#: Longest warm-up used (its CPU is paid per new recognizer, in the background at nice 10).
MAX_SECONDS = 30.0


class WarmUpAudioError(ConfigError):
    """`asr.warm_up_audio` names a file that is not usable speech audio."""

    code = "asr_warm_up_audio"

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__("asr.warm_up_audio", f"{problem} (path: {path})")
        self.context["path"] = str(path)


@dataclass(frozen=True, slots=True)
class WarmUpAudio:
    pcm: bytes
    sample_rate: int
    source: Path

    def at(self, sample_rate: int) -> bytes | None:
        """The audio at `sample_rate` (8 kHz is upsampled for 16 kHz); None if it cannot be."""
        if sample_rate == self.sample_rate:
            return self.pcm
        if sample_rate == self.sample_rate * FACTOR:
            return upsample(self.pcm)
        return None


def load_warm_up_audio(path: Path) -> WarmUpAudio:
    """Read the file, or raise `WarmUpAudioError` saying why it is not usable."""
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getnchannels() != 1 or wav.getsampwidth() != BYTES_PER_SAMPLE:
                raise WarmUpAudioError(path, "not mono 16-bit PCM")
            rate = wav.getframerate()
            if rate not in (8000, 16000):
                raise WarmUpAudioError(path, f"sample rate {rate} Hz, not 8000 or 16000")
            pcm = wav.readframes(min(wav.getnframes(), int(rate * MAX_SECONDS)))
    except (OSError, EOFError, wave.Error) as exc:
        raise WarmUpAudioError(path, f"cannot read it as WAV: {exc}") from exc
    if not pcm:
        raise WarmUpAudioError(path, "no audio in it")
    return WarmUpAudio(pcm, rate, path)


def warm_up_audio_or_none(path: Path | None) -> WarmUpAudio | None:
    """`load_warm_up_audio`, logging (not raising) when the file is unusable."""
    if path is None:
        return None
    try:
        return load_warm_up_audio(path)
    except WarmUpAudioError as exc:
        log.error("asr warm-up audio unusable: recognizers warm up on faint noise",
                  extra={"error": str(exc), "path": str(path)})
        return None
