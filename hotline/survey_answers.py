"""Spoken survey answers (回访) transcribed after the call: the dialer's `AnswerTranscriber`.

The survey asks for a key; a citizen who answers in words is recorded, and this adapter hands
the recording to the ASR capability's post-call queue (the same Vosk workers that transcribe
recordings without live ASR), so the callback agents' list shows what was said beside the
recording. Without a model loaded it returns None: an agent listens instead.
"""

from __future__ import annotations

from pathlib import Path

from asr.segments import Speaker
from asr.service import AsrService


class SpokenAnswerTranscriber:
    def __init__(self, service: AsrService) -> None:
        self.service = service

    async def transcribe_answer(self, path: Path, task_id: str) -> str | None:
        post_call = self.service.post_call
        if post_call is None or not path.exists():
            return None
        transcript = await post_call.transcribe_recording(path, f"survey-{task_id}", (Speaker.CALLER,))
        return " ".join(s.text for s in transcript.segments if s.text).strip()
