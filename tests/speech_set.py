"""The Mandarin test speech, rendered once at set-up (`scripts/test` runs this module).

Every text the tests speak is rendered by the neural voice (devtools/mandarin_speech.py) into
the shared cache before pytest starts, so no test pays for the voice (~5 s to load, ~1 s per
sentence) and parallel workers never render the same sentence twice. Tests still call the
renderer themselves (a cache hit): a text missing here is rendered on first use, only slower.

    .venv/bin/python -m tests.speech_set
"""

from __future__ import annotations

import sys
import time

from devtools.mandarin_speech import render_with_report
from kernel.errors import HotlineError


def spoken_texts() -> list[str]:
    """What the tests' callers, agents and units say (from the modules that say it)."""
    from tests.asr_fixtures import MANDARIN_SENTENCES
    from tests.browser_harness import CALLER_SENTENCE
    from tests.e2e.test_desk_assist import SAID
    from tests.integration.test_fallback_keeps_speech import CALLER_SAYS
    from tests.integration.test_place_spotting import REQUESTS

    texts = [*MANDARIN_SENTENCES, CALLER_SENTENCE, *CALLER_SAYS, *SAID, *(text for text, _ in REQUESTS)]
    return list(dict.fromkeys(texts))


def main() -> int:
    started = time.monotonic()
    try:
        _, report = render_with_report(spoken_texts())
    except HotlineError as exc:
        print(f"tests.speech_set: {exc}", file=sys.stderr)
        return 2
    print(f"test speech: {report.rendered} rendered, {report.cached} cached in "
          f"{time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
