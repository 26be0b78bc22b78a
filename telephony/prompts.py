"""Voice prompts the hotline plays, as sound files rendered from zh-CN text in `config/`.

The hotline's own wording is in `config/prompts.toml` (greeting, queue position, hold, leave a
message, queue overflow, callback survey); the anti-abuse notices' wording stays with their
policy (`config/abuse_policy.toml`, `[prompt_texts]`), so wording and policy change together.
This module renders every text with espeak-ng (Mandarin voice) into 8 kHz WAVs under
Asterisk's sounds directory (`hotline/<name>.wav`). A hotline that has professionally recorded
prompts simply puts its own files there: existing files are never overwritten.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

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


def _render(text: str, target: Path) -> None:
    """Render to a temporary file beside the target, then rename: Asterisk (or another
    process rendering the same prompt) never reads a half-written file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        raw, done = Path(tmp) / "raw.wav", Path(tmp) / "done.wav"
        subprocess.run(["espeak-ng", "-v", "cmn", "-s", "170", "-w", str(raw), text],
                       check=True, capture_output=True)
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(done)],
                       check=True, capture_output=True)
        os.replace(done, target)


def render_prompts(sounds_dir: Path, prompts: PromptSet | None = None) -> list[Path]:
    """Render missing prompts into `sounds_dir/<name>.wav` (8 kHz mono 16-bit)."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        raise PromptError("espeak-ng and sox are needed to render the voice prompts")
    prompts = prompts or load_prompts()
    wanted = [(PROMPT_FOR_TEXT[key], text) for key, text in prompts.texts.items()
              if key in PROMPT_FOR_TEXT]
    wanted += [(f"hotline/queue-position-{n}", prompts.position_text.format(n=n))
               for n in range(1, prompts.position_max + 1)]
    written: list[Path] = []
    for name, text in wanted:
        target = sounds_dir / f"{name}.wav"
        sidecar = target.with_suffix(".wav.text")
        # Our own renderings carry their text beside them and follow the wording; a file
        # without one is a recording someone put there, never overwritten.
        ours_but_stale = sidecar.exists() and sidecar.read_text(encoding="utf-8") != text
        if not target.exists() or ours_but_stale:
            _render(text, target)
            sidecar.write_text(text, encoding="utf-8")
            written.append(target)
    return written
