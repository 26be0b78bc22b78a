"""Recordings and evidence sealed at rest (issue 25 item 4), through the real API on SQLite and
PostgreSQL: a finished call's recording is sealed where the call is stored (the plain WAV is
gone), served decrypted whole and by HTTP Range; a tampered or truncated file is refused with its
audit row; a file sealed with a retired key still plays; evidence is sealed as it is uploaded;
sealed files and folders are private whatever the umask; start-up refuses to run without a key.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.sealing_recorder import SealingRecorder
from kernel import openapi
from kernel.audit import AccessAudit
from kernel.data_keys import load_data_keys, new_key
from kernel.errors import ConfigError
from kernel.http_edge import new_app
from kernel.schema import calls
from kernel.sealed_files import MAGIC, DataKeys, SealedFile, is_sealed
from kernel.settings import StorageSettings
from recordings.plugin import RecordingsDeps
from recordings.plugin import install as install_recordings
from recordings.store import CallStore
from telephony.call_record import CallRecord
from tests.auth_tokens import bearer, with_test_signer
from tests.data_keys import fresh_keys
from tests.recording_files import write_wav
from tickets.deadlines import load_calendar
from tickets.dispatch import load_catalogue
from tickets.evidence_store import EvidenceStore
from tickets.intake import CallIntake
from tickets.plugin import TicketDeps
from tickets.plugin import install as install_tickets
from tickets.store import TicketStore

SUPERVISOR = bearer("supervisor", "sup1")
T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


@dataclass
class Hotline:
    client: TestClient
    engine: AsyncEngine
    recordings: Path
    keys: DataKeys

    async def finished_call(self, seconds: float = 3.0, keys: DataKeys | None = None) -> tuple[str, bytes, Path]:
        """A call whose recording Asterisk left as plain WAV, stored through the sealing intake:
        (call id, the WAV's bytes, the plain file's path)."""
        call_id = str(uuid.uuid4())
        wav = write_wav(self.recordings / f"call-{call_id}.wav", seconds)
        plain = wav.read_bytes()
        record = CallRecord(
            call_id=call_id, channel_id=f"chan-{call_id}", bridge_id=None, caller_number="13812345678",
            caller_name="", dialed_number="12345", node_id="N01", started_at=T0, answered_at=T0,
            ended_at=T0 + timedelta(seconds=seconds), end_reason="caller_hangup", recording_path=wav,
            recording_seconds=seconds)
        await SealingRecorder(CallIntake(self.engine, "N01"), keys or self.keys).record_finished_call(record)
        return call_id, plain, wav

    async def stored_path(self, call_id: str) -> Path:
        async with self.engine.connect() as conn:
            return Path((await conn.execute(select(calls.c.recording_path).where(calls.c.id == call_id))).scalar_one())

    async def audit(self, **query: str) -> list[dict[str, object]]:
        response = await self.client.get("/api/audit", headers=SUPERVISOR, params=query)
        assert response.status == 200
        return list((await response.json())["records"])


def _app(engine: AsyncEngine, keys: DataKeys, evidence: Path) -> TestClient:
    audit = AccessAudit(engine)
    app = with_test_signer(new_app())
    install_tickets(app, TicketDeps(TicketStore(engine, "N01"), load_catalogue(), load_calendar(),
                                    EvidenceStore(evidence, 1 << 20, keys), audit))
    install_recordings(app, RecordingsDeps(CallStore(engine), audit, keys))
    openapi.install(app)
    return TestClient(TestServer(app, host="127.0.0.1"))


@pytest.fixture
async def hotline(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Hotline]:
    keys = fresh_keys("k2")
    async with _app(engine, keys, tmp_path / "evidence") as client:
        yield Hotline(client, engine, tmp_path / "recordings", keys)


async def test_a_finished_calls_recording_is_sealed_and_plays_back_whole_and_by_range(hotline: Hotline) -> None:
    call_id, plain, wav = await hotline.finished_call(seconds=6.0)  # 96 kB: two chunks
    sealed = await hotline.stored_path(call_id)
    assert not wav.exists(), "the plain WAV outlives the call"
    assert sealed != wav and is_sealed(sealed) and plain[44:1044] not in sealed.read_bytes()
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
    url = f"/api/calls/{call_id}/recording"
    whole = await hotline.client.get(url, headers=SUPERVISOR)
    assert whole.status == 200 and whole.headers["Content-Type"] == "audio/wav"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert await whole.read() == plain
    # The page seeks: ranges across the 64 KiB chunk boundary, an open end and a suffix.
    for asked, start, end in (("bytes=65000-66000", 65000, 66001), ("bytes=100-", 100, len(plain)),
                              ("bytes=-500", len(plain) - 500, len(plain))):
        part = await hotline.client.get(url, headers={**SUPERVISOR, "Range": asked})
        assert part.status == 206, asked
        assert part.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(plain)}"
        assert await part.read() == plain[start:end]
    past = await hotline.client.get(url, headers={**SUPERVISOR, "Range": f"bytes={len(plain)}-"})
    assert past.status == 416 and past.headers["Content-Range"] == f"bytes */{len(plain)}"
    rows = await hotline.audit(kind="recording", call_id=call_id)
    assert len(rows) == 5 and all(row["allowed"] for row in rows)


@pytest.mark.parametrize("damage", ["flipped", "truncated"])
async def test_a_tampered_or_truncated_recording_is_refused_and_audited(hotline: Hotline, damage: str) -> None:
    call_id, _, _ = await hotline.finished_call()
    sealed = await hotline.stored_path(call_id)
    data = bytearray(sealed.read_bytes())
    if damage == "flipped":
        data[len(data) // 2] ^= 0x01
    else:
        del data[-(16 + 1000):]
    sealed.write_bytes(bytes(data))
    response = await hotline.client.get(f"/api/calls/{call_id}/recording", headers=SUPERVISOR)
    assert response.status == 500
    body = await response.json()
    assert body["error"] == "damaged_file", body
    (row,) = await hotline.audit(kind="recording", call_id=call_id)
    assert row["allowed"] is False and "integrity check" in str(row["detail"])


async def test_a_recording_sealed_with_a_retired_key_still_plays(engine: AsyncEngine, tmp_path: Path) -> None:
    old = fresh_keys("k1")
    current = fresh_keys("k2")
    rotated = DataKeys("k2", {**current.keys, **old.keys})
    async with _app(engine, rotated, tmp_path / "evidence") as client:
        hotline = Hotline(client, engine, tmp_path / "recordings", rotated)
        call_id, plain, _ = await hotline.finished_call(keys=old)  # sealed before the rotation
        with SealedFile(await hotline.stored_path(call_id), rotated) as sealed:
            assert sealed.key_id == "k1"
        response = await client.get(f"/api/calls/{call_id}/recording", headers=SUPERVISOR)
        assert response.status == 200 and await response.read() == plain
        new_id, _, _ = await hotline.finished_call()  # written with the current key
        with SealedFile(await hotline.stored_path(new_id), rotated) as sealed:
            assert sealed.key_id == "k2"
    # Without the retired key the old file is refused, never served garbled.
    async with _app(engine, current, tmp_path / "evidence") as client:
        response = await client.get(f"/api/calls/{call_id}/recording", headers=SUPERVISOR)
        assert response.status == 500 and (await response.json())["error"] == "damaged_file"


async def test_evidence_is_sealed_on_upload_private_and_checked_on_every_read(hotline: Hotline,
                                                                             tmp_path: Path) -> None:
    document = "身份证复印件 ".encode() * 20_000  # several chunks
    old_umask = os.umask(0o022)  # a usual shell's: the store must not rely on the backend's umask
    try:
        form = FormData()
        form.add_field("file", document, filename="id.pdf", content_type="application/pdf")
        upload = await hotline.client.post("/api/evidence", data=form, headers=SUPERVISOR)
    finally:
        os.umask(old_umask)
    assert upload.status == 201, await upload.text()
    sha = (await upload.json())["sha256"]
    stored = tmp_path / "evidence" / sha[:2] / sha
    assert stored.read_bytes().startswith(MAGIC) and document[:100] not in stored.read_bytes()
    for path in (stored, stored.with_suffix(".json")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in (tmp_path / "evidence", stored.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    download = await hotline.client.get(f"/api/evidence/{sha}", headers=SUPERVISOR)
    assert download.status == 200 and await download.read() == document
    data = bytearray(stored.read_bytes())
    data[-5] ^= 0xFF
    stored.write_bytes(bytes(data))
    refused = await hotline.client.get(f"/api/evidence/{sha}", headers=SUPERVISOR)
    assert refused.status == 500 and (await refused.json())["error"] == "damaged_file"
    rows = await hotline.audit(kind="evidence")
    assert [row["allowed"] for row in rows] == [False, True]  # newest first: the refusal written


def test_start_up_refuses_without_a_key_and_keeps_a_made_one_private(tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "data-key"
    with pytest.raises(ConfigError) as refused:
        load_data_keys(StorageSettings(), key_file)
    assert refused.value.key == "storage.data_key" and not key_file.exists()
    made = load_data_keys(StorageSettings(generate_key=True), key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_data_keys(StorageSettings(), key_file) == made  # kept, not made again
    key_file.chmod(0o644)
    with pytest.raises(ConfigError) as loose:
        load_data_keys(StorageSettings(), key_file)
    assert loose.value.key == "storage.data_key_file"
    given = new_key()
    keys = load_data_keys(StorageSettings(data_key=given, data_key_id="k3", previous_keys=(f"k2:{new_key()}",)),
                          key_file)
    assert keys.current_id == "k3" and set(keys.keys) == {"k3", "k2"}
