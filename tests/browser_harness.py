"""A real headless browser for tests: Debian's chromium, driven by Playwright, with a fake
microphone that speaks Mandarin.

No browser is downloaded (`playwright install` is impossible here): Playwright drives the
system chromium. The flags keep it from reaching outside hosts and let pages on
http://127.0.0.1 use the microphone and play audio without a user gesture.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Any

from devtools.mandarin_speech import render as render_mandarin

CHROMIUM = "/usr/bin/chromium"
#: How often `wait_for` looks again.
POLL_SECONDS = 0.05

HEADLESS_FLAGS = (
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
)

#: What a caller might say: one sentence with no long pause, so that Asterisk's talk detection
#: sees continuous speech while the fake microphone loops it.
CALLER_SENTENCE = "您好，我想反映一下小区供暖不热的问题，家里温度只有十五度，老人孩子都很冷，请尽快派人来看看。"


def chromium_executable() -> str:
    return shutil.which("chromium") or CHROMIUM


def webrtc_flags(microphone_wav: Path) -> list[str]:
    """Flags for a page that makes WebRTC calls with `microphone_wav` as its microphone.

    `WebRtcHideLocalIpsWithMdns` off: Chromium would otherwise hide its host candidates behind
    mDNS names that Asterisk cannot resolve.
    """
    return [
        *HEADLESS_FLAGS,
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone_wav}",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
    ]


def speech_wav(target: Path, text: str = CALLER_SENTENCE) -> Path:
    """`text` in the neural Mandarin voice (devtools/mandarin_speech.py) as a 48 kHz mono 16-bit
    WAV, leading and trailing silence trimmed so that the looping microphone never pauses long."""
    (source,) = render_mandarin([text])
    subprocess.run(["sox", str(source), "-r", "48000", "-c", "1", "-b", "16", str(target),
                    "silence", "1", "0.05", "1%", "reverse", "silence", "1", "0.05", "1%", "reverse"],
                   check=True, capture_output=True, timeout=60)
    return target


async def wait_for(page: Any, predicate: str, *, timeout: float = 30_000) -> Any:
    """Wait until the JavaScript expression `predicate` is truthy in `page` (a promise counts by
    its value); `timeout` in milliseconds, as Playwright's (and its default). Returns the value.

    Why not Playwright's `wait_for_function`: it turns the predicate string into a function
    inside the page, which the pages' Content-Security-Policy (`script-src 'self'`, no
    `'unsafe-eval'`: kernel/security_headers.py) refuses, at random depending on when the
    predicate is evaluated. `page.evaluate` runs the expression through the DevTools protocol,
    outside the page's policy. A navigation in between only means: look again. Raises
    Playwright's TimeoutError, as `wait_for_function` did.
    """
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout / 1000
    while True:
        try:
            value = await page.evaluate(predicate)
        except PlaywrightError as exc:
            if "context was destroyed" not in str(exc) and "navigat" not in str(exc):
                raise
            value = None
        if value:
            return value
        if loop.time() >= deadline:
            raise PlaywrightTimeout(f"not true within {timeout / 1000:.1f} s: {predicate}")
        await asyncio.sleep(POLL_SECONDS)
