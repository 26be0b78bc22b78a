"""The Asterisk sandbox starts on free ports and leaves nothing behind when stopped."""

from __future__ import annotations

from pathlib import Path

from devtools.sandbox import AsteriskSandbox


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found


def test_two_sandboxes_run_side_by_side_and_stop_cleanly(asterisk_rootfs: Path) -> None:
    first, second = AsteriskSandbox(asterisk_rootfs), AsteriskSandbox(asterisk_rootfs)
    first.start()
    try:
        second.start()
        try:
            assert first.http_port != second.http_port and first.sip_port != second.sip_port
            assert "PJSIP" in first.cli("core show channeltypes")
            assert _processes_mentioning(str(first.instance_in_root))
        finally:
            second.remove()
    finally:
        first.remove()
    for sandbox in (first, second):
        assert not _processes_mentioning(str(sandbox.instance_in_root))
        assert not sandbox.instance_dir.exists()
    mounts = Path("/proc/self/mounts").read_text()
    assert str(asterisk_rootfs) not in mounts
