"""Vosk model management: settings, validation, loading once per process, warm-up, health.

Loading a model costs seconds and hundreds of MB, so a process loads each model directory once
(`get_model`) and every recognizer shares it. A missing or broken model raises `ModelError`
(a `ConfigError` naming `asr.model_path`) with a message an operator can act on; the service
layer decides whether that stops start-up or only disables transcription.

Determinism: Kaldi dithers MFCC input with a process-global random generator, so with the
default `dither=1` two decodes of the same audio differ, and concurrent calls change each
other's results. With `deterministic=True` we load the model through an overlay directory
(symlinks to the real files, plus `conf/mfcc.conf` with `--dither=0`), which makes live,
post-call and re-transcription results reproducible. The original model is never modified.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from asr.endpoint import EnergyEndpoint
from kernel.errors import ConfigError
from kernel.settings import Section

log = logging.getLogger(__name__)

SUPPORTED_RATES = (8000, 16000)
#: Trailing silence (seconds) after which Vosk ends an utterance that has not reached a
#: confident final state (Kaldi endpoint rule 3; the small models ship 1.0 s, rule 4 at 2.0 s).
#: 0.7 s keeps end-of-speech -> final under 1.5 s at p99 (bench/bench_asr.py) while a normal
#: pause between words (0.2-0.4 s) still does not cut an utterance.
ENDPOINT_SILENCE_SECONDS = 0.7
BYTES_PER_SAMPLE = 2  # slin: signed 16-bit little-endian mono
#: defaults of `asr.recognizer_audio_budget_seconds` and `asr.recognizer_rest_seconds`
AUDIO_BUDGET_SECONDS = 3600.0
REST_SECONDS = 60.0


class AsrSettings(Section):
    """The `[asr]` section of `config/hotline.toml` (see asr/README.md for every key)."""

    model_path: Path | None = None
    required: bool = False  # True: a missing/broken model stops start-up instead of disabling ASR
    deterministic: bool = True  # load through a dither=0 overlay (see module docstring)
    overlay_dir: Path = Path("var/asr/model-overlay")
    spool_dir: Path = Path("var/asr/spool")
    sample_rate: int = 16000  # 8000 or 16000 (an int, so HOTLINE_ASR_SAMPLE_RATE=8000 works)
    workers: int = Field(default=2, ge=1, le=64)
    streams_per_worker: int = Field(default=4, ge=1, le=64)
    decode_chunk_ms: int = Field(default=100, ge=20, le=1000)
    partial_every_chunks: int = Field(default=3, ge=1)
    max_lag_seconds: float = Field(default=3.0, gt=0)
    recycle_after_seconds: float = Field(default=600.0, gt=0)
    post_call_workers: int = Field(default=1, ge=1, le=16)
    #: nice level of the live recognizer threads: above 0 the event loop gets the CPU first
    worker_nice: int = Field(default=5, ge=0, le=19)
    #: decode spooled streams in a child process (asr/decode_process.py: no GIL shared with
    #: the event loop); false: on the post-call threads of the backend itself
    post_call_process: bool = True
    #: the child exits after this long without work, giving its memory (a model's worth) back
    post_call_idle_seconds: float = Field(default=30.0, gt=0)
    #: see ENDPOINT_SILENCE_SECONDS; None keeps the model's own endpoint rules
    endpoint_silence_seconds: float | None = Field(default=ENDPOINT_SILENCE_SECONDS, ge=0.2, le=5.0)
    #: our energy end-of-utterance rule (asr/endpoint.py): trailing silence after the last voiced
    #: frame that ends an utterance; None leaves endpointing to Vosk alone
    energy_endpoint_seconds: float | None = Field(default=0.5, ge=0.2, le=5.0)
    #: RMS (16-bit samples) of a 20 ms frame at or above which it counts as voiced
    energy_endpoint_level: float = Field(default=300.0, gt=0, le=32767)
    #: warm recognizers prepared at start-up (None: the live capacity); see asr/recognizers.py
    warm_recognizers: int | None = Field(default=None, ge=0, le=256)
    #: a WAV of speech in the model's language (mono 16-bit, 8 or 16 kHz; e.g. the rendered
    #: greeting prompt) that every new recognizer decodes before its first call: half the CPU
    #: of a stream's first seconds (asr/warm_up_audio.py). None: a second of faint noise
    warm_up_audio: Path | None = None
    #: reuse recognizers across streams (fast). Off: every stream gets a brand-new recognizer,
    #: so its words are exactly what any plain Vosk run gives for that audio (reproducible, for
    #: audits and tests), at ~0.5-0.8 s more CPU per stream; see asr/recognizers.py
    reuse_recognizers: bool = True
    #: a reused recognizer fed more audio than this over its life is retired (its decoding
    #: graph, which grows with the speech it meets, is freed): memory stays bounded under load
    recognizer_audio_budget_seconds: float = Field(default=AUDIO_BUDGET_SECONDS, gt=0)
    #: a recognizer that decoded speech and then sat unused this long is replaced by a fresh
    #: warm one and its memory given back: after calls end, the node returns to its resting size
    recognizer_rest_seconds: float = Field(default=REST_SECONDS, gt=0)
    #: a call handed over mid-call by a stopped process waits this long for the process that
    #: adopts it (`asr.service.recover`) before its words are finished as post-call work
    handover_grace_seconds: float = Field(default=60.0, ge=0, le=3600)
    #: live agent assist (asr/live_assist.py): suggestions read from the caller's words while
    #: they speak, sent to the desk at most once per this many seconds per call
    assist: bool = True
    assist_interval_seconds: float = Field(default=0.4, ge=0.1, le=10.0)

    @field_validator("endpoint_silence_seconds", "energy_endpoint_seconds", mode="before")
    @classmethod
    def _none_word(cls, value: object) -> object:
        """`none` (TOML string or environment) turns a rule off."""
        return None if isinstance(value, str) and value.strip().lower() in ("none", "off", "") else value

    @field_validator("sample_rate")
    @classmethod
    def _supported_rate(cls, value: int) -> int:
        if value not in SUPPORTED_RATES:
            raise ValueError(f"sample_rate must be one of {SUPPORTED_RATES}")
        return value

    @field_validator("decode_chunk_ms")
    @classmethod
    def _whole_frames(cls, value: int) -> int:
        if value % 20:
            raise ValueError("decode_chunk_ms must be a multiple of 20 (one RTP frame)")
        return value

    def chunk_bytes(self, sample_rate: int | None = None) -> int:
        rate = sample_rate or self.sample_rate
        return rate * BYTES_PER_SAMPLE * self.decode_chunk_ms // 1000


class ModelError(ConfigError):
    """The configured Vosk model is missing, incomplete or cannot be loaded."""

    code = "asr_model_error"

    def __init__(self, path: Path | str | None, problem: str) -> None:
        super().__init__("asr.model_path", f"{problem} (path: {path})")
        self.path = None if path is None else Path(path)
        self.problem = problem
        self.context["path"] = str(path)


# Files every Vosk (Kaldi nnet3) model directory has; the graph is either a static HCLG or the
# lookahead pair HCLr + Gr used by the small models.
_REQUIRED_FILES = ("am/final.mdl", "conf/mfcc.conf", "conf/model.conf")
_GRAPHS = (("graph/HCLG.fst",), ("graph/HCLr.fst", "graph/Gr.fst"))


def validate_model_dir(path: Path | str | None) -> Path:
    """Check the directory looks like a Vosk model before handing it to Kaldi (which only logs)."""
    if path is None or str(path) == "":
        raise ModelError(path, "no model configured: set [asr] model_path or HOTLINE_ASR_MODEL_PATH")
    root = Path(path).expanduser()
    if not root.exists():
        raise ModelError(root, "model directory does not exist")
    if not root.is_dir():
        raise ModelError(root, "model path is not a directory (unpack the .zip first)")
    missing = [name for name in _REQUIRED_FILES if not (root / name).is_file()]
    if missing:
        raise ModelError(root, f"not a Vosk model directory, missing {', '.join(missing)}")
    if not any(all((root / f).is_file() for f in graph) for graph in _GRAPHS):
        raise ModelError(root, "model has no decoding graph (graph/HCLG.fst or graph/HCLr.fst+Gr.fst)")
    return root.resolve()


def _dither_disabled(mfcc_conf: str) -> bool:
    return any(line.strip().replace(" ", "") in ("--dither=0", "--dither=0.0") for line in mfcc_conf.splitlines())


def _endpoint_rules(model_conf: str, silence: float) -> str:
    """model.conf with endpoint rules 2-4 scaled to `silence` (rule 2 never made longer)."""
    rules = {"rule2": min(0.5, silence), "rule3": silence, "rule4": 2 * silence}
    lines = [line for line in model_conf.splitlines()
             if not any(line.strip().startswith(f"--endpoint.{rule}.min-trailing-silence") for rule in rules)]
    lines += [f"--endpoint.{rule}.min-trailing-silence={value:g}" for rule, value in rules.items()]
    return "\n".join(lines) + "\n"


def deterministic_overlay(model_dir: Path, overlay_root: Path, *, dither: bool = False,
                          endpoint_silence: float | None = None) -> Path:
    """A directory that is `model_dir` with `--dither=0` in conf/mfcc.conf (unless `dither`)
    and, if given, endpoint rules for `endpoint_silence` in conf/model.conf, built with symlinks.

    Returns `model_dir` itself when nothing needs to change.
    """
    mfcc = (model_dir / "conf" / "mfcc.conf").read_text(encoding="utf-8")
    change_mfcc = not dither and not _dither_disabled(mfcc)
    if not change_mfcc and endpoint_silence is None:
        return model_dir
    digest = hashlib.sha256(f"{model_dir}|{dither}|{endpoint_silence}".encode()).hexdigest()[:12]
    target = overlay_root.expanduser().resolve() / f"{model_dir.name}-{digest}"
    (target / "conf").mkdir(parents=True, exist_ok=True)
    for entry in model_dir.iterdir():
        if entry.name == "conf":
            continue
        link = target / entry.name
        if not link.is_symlink():
            link.symlink_to(entry)
    written: dict[str, str] = {}
    if change_mfcc:
        wanted = mfcc.rstrip("\n") + "\n--dither=0\n"
        if "--use-energy=false" not in mfcc.replace(" ", ""):
            # Kaldi's advice: without dither, floor the energy or digital silence gives log(0).
            wanted += "--energy-floor=1.0\n"
        written["mfcc.conf"] = wanted
    if endpoint_silence is not None:
        written["model.conf"] = _endpoint_rules(
            (model_dir / "conf" / "model.conf").read_text(encoding="utf-8"), endpoint_silence)
    for entry in (model_dir / "conf").iterdir():
        link = target / "conf" / entry.name
        if entry.name in written or link.is_symlink():
            continue
        link.symlink_to(entry)
    for name, wanted in written.items():
        conf = target / "conf" / name
        if conf.is_symlink():
            conf.unlink()
        if not conf.exists() or conf.read_text(encoding="utf-8") != wanted:
            tmp = conf.with_suffix(".tmp")
            tmp.write_text(wanted, encoding="utf-8")
            tmp.replace(conf)  # atomic: a concurrent loader never reads half a file
    return target


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A loaded Vosk model shared by every recognizer of the process (Kaldi makes it read-only)."""

    model: Any  # vosk.Model; typed Any because the binding has no type hints
    path: Path  # the configured model directory
    loaded_from: Path  # what Kaldi read (the overlay when deterministic)
    deterministic: bool
    load_seconds: float
    warmup_seconds: float
    #: our energy end-of-utterance rule, applied by every decoder of this model (live, post-call,
    #: re-transcription alike: the same rule everywhere keeps their text equal)
    energy_endpoint: EnergyEndpoint | None = None
    #: reuse finalized recognizers across streams (asr/recognizers.py); False: a brand-new one
    #: per stream, whose words equal a plain Vosk run's (reused ones can differ in borderline words)
    reuse_recognizers: bool = True
    #: the rate the model was trained at (conf/mfcc.conf `--sample-frequency`)
    native_rate: int = 16000

    @property
    def name(self) -> str:
        return self.path.name

    def decode_rate(self, stream_rate: int) -> int:
        """The rate its recognizers are fed for a stream at `stream_rate`.

        Phone audio (8 kHz) for a 16 kHz model is upsampled by us (`asr.upsample`), not by
        Kaldi's feature pipeline: measured, that is what makes the Mandarin model hear
        telephone speech right (see asr/upsample.py).
        """
        if stream_rate * 2 == self.native_rate:
            return self.native_rate
        return stream_rate

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "model": self.name,
            "path": str(self.path),
            "deterministic": self.deterministic,
            "load_seconds": round(self.load_seconds, 2),
            "warmup_seconds": round(self.warmup_seconds, 3),
        }


def _quiet_vosk() -> Any:
    import vosk

    vosk.SetLogLevel(-1)
    return vosk


def _warm_up(vosk: Any, model: Any) -> float:
    """Decode one second of faint noise so the first real call does not pay for lazy set-up."""
    import numpy as np

    started = time.perf_counter()
    rng = np.random.default_rng(12345)
    noise = (rng.standard_normal(16000) * 30).astype("<i2").tobytes()
    recognizer = vosk.KaldiRecognizer(model, 16000)
    recognizer.AcceptWaveform(noise)
    recognizer.FinalResult()
    return time.perf_counter() - started


def load_model(path: Path | str | None, *, deterministic: bool = True,
               overlay_dir: Path = Path("var/asr/model-overlay"),
               endpoint_silence: float | None = ENDPOINT_SILENCE_SECONDS,
               energy_endpoint: EnergyEndpoint | None = None) -> LoadedModel:
    """Validate, load and warm up a model. Slow (seconds): call it from a thread, once."""
    root = validate_model_dir(path)
    try:
        source = deterministic_overlay(root, overlay_dir, dither=not deterministic,
                                       endpoint_silence=endpoint_silence)
    except OSError as exc:
        raise ModelError(root, f"cannot build the deterministic overlay in {overlay_dir}: {exc}") from exc
    vosk = _quiet_vosk()
    started = time.perf_counter()
    try:
        model = vosk.Model(str(source))
    except Exception as exc:  # the binding raises a bare Exception("Failed to create a model")
        raise ModelError(root, f"Vosk could not load the model: {exc}") from exc
    load_seconds = time.perf_counter() - started
    try:
        warmup = _warm_up(vosk, model)
    except Exception as exc:
        raise ModelError(root, f"model loaded but failed to decode: {exc}") from exc
    log.info("asr model loaded", extra={"model": root.name, "load_seconds": round(load_seconds, 2),
                                        "deterministic": deterministic})
    return LoadedModel(model, root, source, deterministic, load_seconds, warmup, energy_endpoint,
                       native_rate=native_rate(root))


def native_rate(root: Path) -> int:
    """The model's training rate from conf/mfcc.conf (16000 when it does not say)."""
    for line in (root / "conf" / "mfcc.conf").read_text(encoding="utf-8").splitlines():
        name, _, value = line.strip().partition("=")
        if name == "--sample-frequency" and value.strip().isdigit():
            return int(value)
    return 16000


_cache: dict[tuple[Path, bool, float | None], LoadedModel] = {}
_cache_lock = threading.Lock()


def get_model(path: Path | str | None, *, deterministic: bool = True,
              overlay_dir: Path = Path("var/asr/model-overlay"),
              endpoint_silence: float | None = ENDPOINT_SILENCE_SECONDS,
              energy_endpoint: EnergyEndpoint | None = None,
              reuse_recognizers: bool = True) -> LoadedModel:
    """`load_model` memoised per process: a model directory is loaded at most once.

    A process-wide cache is deliberate: the model is immutable, costs ~500 MB, and tests,
    the service and the re-transcription CLI may all ask for it.
    """
    root = validate_model_dir(path)
    key = (root, deterministic, endpoint_silence)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = load_model(root, deterministic=deterministic, overlay_dir=overlay_dir,
                                     endpoint_silence=endpoint_silence)
        loaded = _cache[key]
    if loaded.energy_endpoint != energy_endpoint or loaded.reuse_recognizers != reuse_recognizers:
        # the same Kaldi model, decoded with another rule or recognizer policy
        loaded = dataclasses.replace(loaded, energy_endpoint=energy_endpoint, reuse_recognizers=reuse_recognizers)
    return loaded


def model_from_settings(settings: AsrSettings) -> LoadedModel:
    return get_model(settings.model_path, deterministic=settings.deterministic,
                     overlay_dir=settings.overlay_dir, endpoint_silence=settings.endpoint_silence_seconds,
                     energy_endpoint=energy_endpoint_from(settings),
                     reuse_recognizers=settings.reuse_recognizers)


def energy_endpoint_from(settings: AsrSettings) -> EnergyEndpoint | None:
    if settings.energy_endpoint_seconds is None:
        return None
    return EnergyEndpoint(settings.energy_endpoint_seconds, settings.energy_endpoint_level)
