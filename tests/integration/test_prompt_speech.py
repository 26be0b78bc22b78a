"""Every voice prompt, as set-up renders it, is understood by the Mandarin recogniser.

Why: the prompts used to be rendered with espeak-ng's `cmn` voice, which is not Mandarin:
callers heard gibberish and no test noticed. Here each prompt that set-up installed into the
Asterisk sandbox root (`python -m devtools prompts`, run by scripts/test and scripts/run: the
files callers hear) must be the neural voice's rendering of the current wording, and is decoded
by a plain Vosk recogniser at 8 kHz on the installed small Mandarin model, its character error
rate printed; the goal (issue 21) is <= 15 % over all prompts. (Rendering them again here, as
this test once did, doubled its cost and checked files no caller hears.)
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from asr.model_install import install_model
from devtools.mandarin_speech import NeuralVoice
from devtools.sandbox import ensure_rootfs, sounds_dir
from telephony.prompts import RenderedBy, spoken_form, wanted_prompts
from tests.speech_metrics import character_errors

GOAL_CER = 0.15


def plain_decode(model: object, wav_path: Path) -> str:
    """What Vosk alone hears in the file: a brand-new recogniser, 100 ms chunks."""
    import vosk

    with wave.open(str(wav_path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        pcm = wav.readframes(wav.getnframes())
    recognizer = vosk.KaldiRecognizer(model, 8000)
    texts: list[str] = []
    for i in range(0, len(pcm), 1600):
        if recognizer.AcceptWaveform(pcm[i:i + 1600]):
            texts.append(json.loads(recognizer.Result())["text"])
    texts.append(json.loads(recognizer.FinalResult())["text"])
    return " ".join(t for t in texts if t.strip())


def installed_prompts() -> Path:
    """The sandbox root's prompts, each checked to be the neural voice's rendering of today's
    wording (a stale or espeak rendering is what a caller would hear: it fails here)."""
    sounds = sounds_dir(ensure_rootfs())
    voice = NeuralVoice().id
    for name, text in wanted_prompts():
        rendered = RenderedBy.read(sounds / f"{name}.wav")
        assert rendered is not None and (rendered.text, rendered.voice) == (text, voice), (
            f"{name}.wav in {sounds} is not the {voice} rendering of its current text "
            f"({rendered}): run `python -m devtools prompts` (scripts/test does)")
    return sounds


@pytest.mark.cpu_bound  # decoding every prompt: CPU, never timed (tests/scheduling.py)
@pytest.mark.decodes_speech
def test_the_recogniser_reads_every_rendered_prompt_back() -> None:
    import vosk

    sounds = installed_prompts()
    vosk.SetLogLevel(-1)
    model = vosk.Model(str(install_model()))
    total_errors = total_chars = 0
    lines: list[str] = []
    for name, text in wanted_prompts():
        heard = plain_decode(model, sounds / f"{name}.wav")
        errors, length = character_errors(spoken_form(text), heard)
        total_errors += errors
        total_chars += length
        lines.append(f"{errors / length:6.1%}  {name:<32} {heard}")
    overall = total_errors / total_chars
    print("\nprompt CER (neural voice, vosk-model-small-cn-0.22, 8 kHz):\n" + "\n".join(lines)
          + f"\n{overall:6.1%}  overall ({total_errors}/{total_chars} characters)")
    assert overall <= GOAL_CER
