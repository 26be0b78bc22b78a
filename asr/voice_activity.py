"""Was anything said where the recogniser heard words? Per-frame energy of one stream.

Why: on silence the Mandarin model writes words. Measured on digital silence at 16 kHz (what
Asterisk sends before media flows, or a channel padded to the length of the other): one
"你 [unk]" segment per ~0.8 s of silence, with confidence 1.0 and a "你" up to 0.42 s long; so
neither confidence nor word length tells them from speech. The audio does: a segment whose
words lie over audio that never reaches `SPEECH_LEVEL` is not speech, and the decoder keeps no
segment for it (asr/decoder.py).

Deterministic like the energy endpoint: frames are counted on the stream's own clock, so live,
post-call and re-transcribed decodes of the same audio keep and drop the same segments. Pure
computation (numpy), no I/O.
"""

from __future__ import annotations

import numpy as np

from asr.endpoint import BYTES_PER_SAMPLE, FRAME_MS

#: RMS of a 20 ms frame (16-bit samples) below which it holds no speech: about -50 dBFS.
#: Speech on a phone line is around -20 to -30 dBFS; idle G.711 and comfort noise are far lower.
SPEECH_LEVEL = 100.0
#: Voiced frames a segment needs (60 ms: shorter is a click).
MIN_VOICED_FRAMES = 3
#: Word times are the recogniser's (10-30 ms steps, and speech trails a word's end): look this
#: far beyond the segment's words on each side.
MARGIN_SECONDS = 0.1
FRAME_SECONDS = FRAME_MS / 1000


class VoicedFrames:
    """Voiced/unvoiced flag of every 20 ms frame of a stream since `origin` (stream seconds)."""

    def __init__(self, sample_rate: int, origin: float = 0.0) -> None:
        self.frame_bytes = sample_rate * BYTES_PER_SAMPLE * FRAME_MS // 1000
        self._level_squared = SPEECH_LEVEL * SPEECH_LEVEL
        self._first = 0  # index (from origin) of the first frame still kept
        self._flags = bytearray()
        self._pending = b""
        self.origin = origin

    def feed(self, chunk: bytes) -> None:
        data = self._pending + chunk
        usable = len(data) - len(data) % self.frame_bytes
        self._pending = data[usable:]
        if usable:
            samples = np.frombuffer(data[:usable], dtype="<i2").astype(np.float64)
            power = (samples.reshape(-1, self.frame_bytes // BYTES_PER_SAMPLE) ** 2).mean(axis=1)
            self._flags.extend((power >= self._level_squared).astype(np.uint8).tobytes())

    def _index(self, seconds: float) -> int:
        return int((seconds - self.origin) / FRAME_SECONDS)

    def has_speech(self, start: float, end: float) -> bool:
        """Whether the audio from `start` to `end` (stream seconds, widened by the margin) holds
        at least `MIN_VOICED_FRAMES` voiced frames. Frames not fed yet count as unknown: a
        segment reaching past the audio seen so far is kept rather than guessed away."""
        first = max(self._index(start - MARGIN_SECONDS), self._first)
        last = self._index(end + MARGIN_SECONDS) + 1
        if last > self._first + len(self._flags):
            return True
        window = self._flags[first - self._first:max(first, last) - self._first]
        return sum(window) >= MIN_VOICED_FRAMES

    def forget_before(self, seconds: float) -> None:
        """Drop the flags of frames before `seconds` (minus the margin): no later segment needs them."""
        cut = self._index(seconds - MARGIN_SECONDS) - self._first
        if cut > 0:
            del self._flags[:cut]
            self._first += cut


def has_speech(pcm: bytes, sample_rate: int, start: float, end: float) -> bool:
    """`VoicedFrames.has_speech` over a whole buffer whose first sample is stream time 0."""
    frames = VoicedFrames(sample_rate)
    frames.feed(pcm)
    return frames.has_speech(start, end)
