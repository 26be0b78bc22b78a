"""Voice prompts the hotline plays (anti-abuse warning and restriction notice), as sound files.

The wording lives with the policy (`config/abuse_policy.toml`, `[prompt_texts]`); this module
renders it with espeak-ng (Mandarin voice) into 8 kHz WAVs under Asterisk's sounds directory,
so wording and sound never drift apart. A hotline that has professionally recorded prompts
simply puts its own files there: existing files are never overwritten.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path

from kernel.errors import HotlineError

#: The anti-abuse policy file holds the notices' wording (`[prompt_texts]`).
DEFAULT_POLICY_FILE = Path(__file__).resolve().parent.parent / "config" / "abuse_policy.toml"

PROMPT_FOR_TEXT = {"warn": "hotline/abuse-warning", "restrict": "hotline/abuse-restricted",
                   "leave_message": "hotline/leave-message"}
LEAVE_MESSAGE_TEXT = "请在提示音后留言，说完后挂机即可。"


class PromptError(HotlineError):
    code = "prompt_error"


def prompt_texts(policy_file: Path = DEFAULT_POLICY_FILE) -> dict[str, str]:
    raw = tomllib.loads(policy_file.read_text(encoding="utf-8"))
    texts = dict(raw.get("prompt_texts", {}))
    texts.setdefault("leave_message", LEAVE_MESSAGE_TEXT)
    return texts


def render_prompts(sounds_dir: Path, policy_file: Path = DEFAULT_POLICY_FILE) -> list[Path]:
    """Render missing prompts into `sounds_dir/<name>.wav` (8 kHz mono 16-bit)."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        raise PromptError("espeak-ng and sox are needed to render the voice prompts")
    written: list[Path] = []
    for key, text in prompt_texts(policy_file).items():
        name = PROMPT_FOR_TEXT.get(key)
        if name is None:
            continue
        target = sounds_dir / f"{name}.wav"
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.wav"
            subprocess.run(["espeak-ng", "-v", "cmn", "-s", "170", "-w", str(raw), text],
                           check=True, capture_output=True)
            subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(target)],
                           check=True, capture_output=True)
        written.append(target)
    return written
