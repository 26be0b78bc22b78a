"""What a running backend writes is its own alone (issue 25 item 4): `hotline run` creates its
SQLite database (and WAL), outbox, ASR spool, evidence folder, auth secret and data key with no access for
group or others, whatever umask it was started with. A real `hotline run` process on the real
Asterisk sandbox and real Redis."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest

from devtools.sandbox import AsteriskSandbox, free_tcp_port
from tests.asterisk_harness import BridgeProcess, bridge_env

pytestmark = pytest.mark.asterisk


async def test_the_backend_creates_its_files_and_folders_private(asterisk: AsteriskSandbox, tmp_path: Path) -> None:
    var = tmp_path / "var"
    port = free_tcp_port()
    env = bridge_env(asterisk, f"sqlite+aiosqlite:///{var / 'db' / 'hotline.sqlite3'}",
                     f"hotline-test-{uuid.uuid4().hex[:12]}:", port) | {
        "HOTLINE_CALL_FLOW_OUTBOX_DIR": str(var / "outbox"),
        "HOTLINE_ASR_SPOOL_DIR": str(var / "asr-spool"),
        "HOTLINE_EVIDENCE_DIR": str(var / "evidence"),
        "HOTLINE_AUTH_SECRET_FILE": str(var / "auth-secret"),
        "HOTLINE_STORAGE_DATA_KEY": "", "HOTLINE_STORAGE_GENERATE_KEY": "true",
        "HOTLINE_STORAGE_DATA_KEY_FILE": str(var / "keys" / "data-key"),
    }
    old_umask = os.umask(0o022)  # a usual shell's: the backend must not rely on it
    try:
        bridge = BridgeProcess(env=env, http_port=port, log_path=tmp_path / "bridge.log")
        await bridge.start()
    finally:
        os.umask(old_umask)
    try:
        made = list(var.rglob("*"))
        assert var / "db" / "hotline.sqlite3" in made and var / "auth-secret" in made, made
        assert var / "keys" / "data-key" in made, made
        loose = {str(p.relative_to(var)): oct(stat.S_IMODE(p.stat().st_mode)) for p in made
                 if stat.S_IMODE(p.stat().st_mode) & 0o077}
        assert loose == {}, f"readable by group or others: {loose}"
    finally:
        bridge.stop()
