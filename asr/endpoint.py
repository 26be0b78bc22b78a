"""Our own end-of-utterance rule: enough trailing silence, measured on the audio's energy.

Why: Vosk ends an utterance only once its best path has sat in silence phones for the
endpoint rule's time, and the model sees that silence late (its right context, and a model
that hears "words" in the pause): on the stand-in model the final came 0.9-1.6 s after the
last voiced frame whatever the Kaldi rules said (measured: rules of 0.3 s and 0.7 s gave the
same delays). An energy rule ends the utterance `silence_seconds` after the last voiced
frame, and `Decoder` then asks Vosk for the final result at once (`FinalResult`), which also
flushes the model's right context, so the last word is there.

Deterministic by design: the decision depends only on the audio since the last final result,
cut in the same fixed chunks, so live, post-call and replayed decoding end utterances at the
same places and give the same text. On a noisy line that never falls below the level the rule
simply never fires and Vosk's own endpointing decides, as before.
Pure computation: no I/O, called from decoding threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_MS = 20
BYTES_PER_SAMPLE = 2  # slin (asr.models imports this module, not the other way round)


@dataclass(frozen=True, slots=True)
class EnergyEndpoint:
    """Settings of the energy rule (see `AsrSettings.energy_endpoint_*`)."""

    silence_seconds: float = 0.5  # trailing silence that ends an utterance
    level: float = 300.0  # RMS of a 20 ms frame (16-bit samples) at or above which it is voiced (~-41 dBFS)
    min_speech_seconds: float = 0.1  # voiced audio needed since the last final (clicks end nothing)


class EnergyEndpointer:
    """Counts voiced frames and trailing silence of one utterance, 20 ms frame by frame."""

    def __init__(self, config: EnergyEndpoint, sample_rate: int) -> None:
        self.frame_bytes = sample_rate * BYTES_PER_SAMPLE * FRAME_MS // 1000
        self.silence_frames = max(1, round(config.silence_seconds * 1000 / FRAME_MS))
        self.speech_frames_needed = max(1, round(config.min_speech_seconds * 1000 / FRAME_MS))
        self.level_squared = config.level * config.level
        self.reset()

    def reset(self) -> None:
        """A final result was produced: the next utterance starts here."""
        self.speech = 0
        self.trailing = 0

    def feed(self, chunk: bytes) -> bool:
        """Account for `chunk`; True when the utterance should end at the chunk's end."""
        usable = len(chunk) - len(chunk) % self.frame_bytes
        if usable:
            samples = np.frombuffer(chunk[:usable], dtype="<i2").astype(np.float64)
            power = (samples.reshape(-1, self.frame_bytes // BYTES_PER_SAMPLE) ** 2).mean(axis=1)
            for voiced in power >= self.level_squared:
                if voiced:
                    self.speech += 1
                    self.trailing = 0
                else:
                    self.trailing += 1
        return self.speech >= self.speech_frames_needed and self.trailing >= self.silence_frames
