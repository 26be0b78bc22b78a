"""The frame comparison of the live transcription test tolerates loss, not alteration."""

from __future__ import annotations

import random

from tests.audio_alignment import align_frames

FRAME = 320


def speech_like(frames: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(frames * FRAME))


def test_identical_audio_is_exact() -> None:
    audio = speech_like(200)
    alignment = align_frames(audio, audio, FRAME)
    assert alignment.exact and alignment.missing_or_altered == 0


def test_one_lost_frame_early_costs_one_frame_not_the_rest() -> None:
    audio = speech_like(500)
    received = audio[:3 * FRAME] + audio[4 * FRAME:]
    alignment = align_frames(audio, received, FRAME)
    assert alignment.missing_or_altered == 1 and not alignment.exact


def test_a_concealed_frame_counts_as_one() -> None:
    audio = speech_like(500)
    received = audio[:10 * FRAME] + bytes(FRAME) + audio[11 * FRAME:]
    assert align_frames(audio, received, FRAME).missing_or_altered == 1


def test_altered_audio_fails_even_when_lengths_agree() -> None:
    audio = speech_like(300)
    louder = bytes(min(255, b + 1) for b in audio)  # every sample changed a little
    assert align_frames(audio, louder, FRAME).matched == 0


def test_reordered_audio_is_not_in_order() -> None:
    audio = speech_like(100)
    half = 50 * FRAME
    swapped = audio[half:] + audio[:half]
    assert align_frames(audio, swapped, FRAME).matched <= 50
