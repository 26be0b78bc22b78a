"""Where the project keeps what it downloads or builds for itself, outside the clone.

One directory per machine and user (`$HOTLINE_CACHE`, default `~/.cache/hotline`), shared by
every clone and worktree: the Mandarin model, the speech environment and its renderings are
built once and reused. Nothing in it is precious: deleting it only costs the time to rebuild.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def cache_dir() -> Path:
    """The cache root; not created here (callers create the part they write)."""
    configured = os.environ.get("HOTLINE_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "hotline"


#: File inside a finished build that holds its stamp (what it was built from).
READY_MARKER = ".hotline-ready"


def is_ready(target: Path, stamp: str) -> bool:
    """True when `target` was completely built from `stamp` (no lock taken: cheap)."""
    marker = target / READY_MARKER
    try:
        return marker.read_text(encoding="utf-8").strip() == stamp
    except OSError:
        return False


def build_once(target: Path, stamp: str, build: Callable[[Path], None]) -> Path:
    """Return `target` built from `stamp`, building it with `build(directory)` when needed.

    Why each step: a file lock serialises concurrent callers (two test sessions, xdist workers,
    an operator and a test run) so the work is done once; `build` writes into a fresh directory
    beside the target that is renamed into place only when complete, so a crash or a Ctrl-C
    never leaves a half-built target that looks ready; the stamp in the marker makes a target
    built from other inputs (a new lock file, another model) count as missing.
    """
    if is_ready(target, stamp):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_ready(target, stamp):
            return target
        # Under the lock nobody else builds: leftovers are from interrupted runs.
        for stale in target.parent.glob(f".{target.name}.building-*"):
            shutil.rmtree(stale, ignore_errors=True)
        building = target.parent / f".{target.name}.building-{os.getpid()}"
        building.mkdir()
        try:
            build(building)
            (building / READY_MARKER).write_text(stamp + "\n", encoding="utf-8")
            if target.exists():
                shutil.rmtree(target)
            building.rename(target)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
    return target
