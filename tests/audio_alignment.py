"""Compare audio that crossed a real phone line with what was sent, frame by frame, aligned.

RTP on a loaded machine may lose a 20 ms frame or have it concealed (Asterisk then sends
silence or a repeat). A position-by-position comparison turns one early loss into hundreds of
"altered" frames; aligning the two frame sequences (longest matching blocks, in order) counts
only the frames really missing or changed, and still fails when the audio itself is altered.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class FrameAlignment:
    sent: int
    received: int
    #: Frames of the sent audio found, unchanged and in order, in the received audio.
    matched: int

    @property
    def missing_or_altered(self) -> int:
        return self.sent - self.matched

    @property
    def exact(self) -> bool:
        return self.matched == self.sent == self.received


def frames(pcm: bytes, frame_bytes: int) -> list[bytes]:
    return [pcm[i:i + frame_bytes] for i in range(0, len(pcm) - frame_bytes + 1, frame_bytes)]


def align_frames(sent_pcm: bytes, received_pcm: bytes, frame_bytes: int) -> FrameAlignment:
    sent, received = frames(sent_pcm, frame_bytes), frames(received_pcm, frame_bytes)
    matcher = difflib.SequenceMatcher(None, sent, received, autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    return FrameAlignment(len(sent), len(received), matched)
