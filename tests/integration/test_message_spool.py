"""Adopting the message spool: idempotent, never a half-written entry, one bad entry set aside."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import wave
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.schema import callback_tasks, calls, tickets
from telephony.call_record import CallRecord
from telephony.message_spool import MessageSpool
from tickets.intake import CallIntake

META = ("channel_id=pbx1-1796000000.7\ncaller_number=13800138000\ncaller_name=%E5%BC%A0\n"
        "dialed_number=12345\nstarted_at=1796000000.100\nanswered_at=1796000000.300\n"
        "recording_started_at=1796000010.000\nended_at=1796000015.500\nsystem=pbx1\n")


def _entry(spool: Path, state: str, name: str, meta: str | None = META) -> Path:
    entry = spool / state / name
    entry.mkdir(parents=True)
    with wave.open(str(entry / "message.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * 8000 * 5)
    if meta is not None:
        (entry / "meta.txt").write_text(meta)
    return entry


async def _count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)))  # type: ignore[arg-type]


async def test_an_entry_adopted_twice_gives_one_ticket(engine: AsyncEngine, tmp_path: Path) -> None:
    spool = MessageSpool(tmp_path / "spool", tmp_path / "recording", CallIntake(engine, "T01"), "T01")
    entry = _entry(tmp_path / "spool", "new", "pbx1-1796000000.7")
    copy = tmp_path / "copy"
    shutil.copytree(entry, copy)

    first = await spool.adopt_all()
    # The same entry again, as after a crash between intake and the entry's removal.
    shutil.copytree(copy, entry)
    second = await spool.adopt_all()

    assert len(first) == 1 and first == second
    assert (await _count(engine, calls), await _count(engine, tickets),
            await _count(engine, callback_tasks)) == (1, 1, 1)
    async with engine.connect() as conn:
        call = (await conn.execute(select(calls))).mappings().one()
    assert call["caller_name"] == "张" and call["recording_seconds"] == 5.0
    assert call["ended_at"].timestamp() == 1796000015.5
    assert Path(call["recording_path"]).exists() and not entry.exists()


async def test_a_message_still_being_left_is_not_adopted(engine: AsyncEngine, tmp_path: Path) -> None:
    spool = MessageSpool(tmp_path / "spool", tmp_path / "recording", CallIntake(engine, "T01"), "T01")
    speaking = _entry(tmp_path / "spool", "tmp", "pbx1-1796000000.7", meta=None)
    assert await spool.adopt_all() == []
    assert speaking.exists() and await _count(engine, calls) == 0


async def test_an_unreadable_entry_is_set_aside_and_the_others_adopted(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    spool = MessageSpool(tmp_path / "spool", tmp_path / "recording", CallIntake(engine, "T01"), "T01")
    _entry(tmp_path / "spool", "new", "pbx1-1796000000.1", meta="caller_number=1\n")
    _entry(tmp_path / "spool", "new", "pbx1-1796000000.7")
    assert len(await spool.adopt_all()) == 1
    assert (tmp_path / "spool" / "bad" / "pbx1-1796000000.1").is_dir()
    assert spool.pending() == []


class CountingIntake:
    """Intake that remembers which node handed it which channel (and yields on each call, so
    two nodes' rounds interleave)."""

    def __init__(self, intake: CallIntake, node: str, seen: list[tuple[str, str]]) -> None:
        self.intake, self.node, self.seen = intake, node, seen

    async def record_finished_call(self, record: CallRecord) -> str:
        self.seen.append((self.node, record.channel_id))
        await asyncio.sleep(0.01)
        return await self.intake.record_finished_call(record)


async def test_two_nodes_watching_one_spool_adopt_each_message_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    seen: list[tuple[str, str]] = []
    spools = [MessageSpool(tmp_path / "spool", tmp_path / "recording",
                           CountingIntake(CallIntake(engine, node), node, seen), node)  # type: ignore[arg-type]
              for node in ("N01", "N02")]
    channels = [f"pbx1-17960000{i:02d}.{i}" for i in range(8)]
    for channel in channels:
        _entry(tmp_path / "spool", "new", channel, meta=META.replace("pbx1-1796000000.7", channel))

    first, second = await asyncio.gather(*(spool.adopt_all() for spool in spools))

    assert sorted(channel for _, channel in seen) == sorted(channels), "a message adopted twice"
    assert len(first) + len(second) == len(channels)
    assert {node for node, _ in seen} == {"N01", "N02"}, "both nodes took a share"
    assert (await _count(engine, calls), await _count(engine, tickets)) == (len(channels), len(channels))
    assert spools[0].pending() == [] and spools[1].pending() == []


async def test_a_dead_claimers_messages_are_claimed_again_and_a_live_ones_are_not(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    seen: list[tuple[str, str]] = []
    crashed = MessageSpool(tmp_path / "spool", tmp_path / "recording",
                           CountingIntake(CallIntake(engine, "N01"), "N01", seen), "N01",  # type: ignore[arg-type]
                           stale_after=30.0)
    other = MessageSpool(tmp_path / "spool", tmp_path / "recording",
                         CountingIntake(CallIntake(engine, "N02"), "N02", seen), "N02",  # type: ignore[arg-type]
                         stale_after=30.0)
    entry = _entry(tmp_path / "spool", "new", "pbx1-1796000000.7")
    claimed = crashed.claim(entry)  # claimed, then the node died before adopting it
    assert claimed is not None and claimed.parent == tmp_path / "spool" / "claimed" / "N01"
    assert len(other.pending()) == 1, "a claimed message is still waiting"

    assert await other.adopt_all() == [], "a claim stamped just now is its claimer's"
    assert seen == [] and claimed.exists()

    stamp = claimed / ".claim"
    old = time.time() - 31
    os.utime(stamp, (old, old))  # 31 s without a stamp: its claimer is gone
    adopted = await other.adopt_all()

    assert len(adopted) == 1 and seen == [("N02", "pbx1-1796000000.7")]
    assert not claimed.exists() and other.pending() == []
    assert (await _count(engine, calls), await _count(engine, tickets)) == (1, 1)


async def test_links_in_an_entry_are_never_followed_and_the_caller_still_gets_a_ticket(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A link where the recording should be (to a file nobody may download) gives a ticket
    without a recording; a linked entry or meta file is set aside. What a link points at is
    never read, moved or served."""
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"not for supervisors")
    spool = MessageSpool(tmp_path / "spool", tmp_path / "recording", CallIntake(engine, "T01"), "T01")
    linked_recording = _entry(tmp_path / "spool", "new", "pbx1-1796000000.7")
    (linked_recording / "message.wav").unlink()
    (linked_recording / "message.wav").symlink_to(secret)
    elsewhere = _entry(tmp_path / "elsewhere", "new", "pbx1-1796000000.8",
                       meta=META.replace("1796000000.7", "1796000000.8"))
    (tmp_path / "spool" / "new" / "pbx1-1796000000.8").symlink_to(elsewhere)
    linked_meta = _entry(tmp_path / "spool", "new", "pbx1-1796000000.9", meta=None)
    (linked_meta / "meta.txt").symlink_to(elsewhere / "meta.txt")

    adopted = await spool.adopt_all()

    assert len(adopted) == 1 and await _count(engine, tickets) == 1
    async with engine.connect() as conn:
        call = (await conn.execute(select(calls))).mappings().one()
    assert call["channel_id"] == "pbx1-1796000000.7" and call["recording_path"] is None
    assert secret.read_bytes() == b"not for supervisors"  # not moved, not touched
    assert list(tmp_path.glob("recording/*")) == []
    assert sorted(p.name for p in (tmp_path / "spool" / "bad").iterdir()) == \
        ["pbx1-1796000000.8", "pbx1-1796000000.9"]
    assert (elsewhere / "message.wav").exists()  # the linked entry's target left as it was
