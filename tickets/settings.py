"""The ticket capability's sections of the settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from kernel.settings import Section


class EvidenceSettings(Section):
    #: Evidence files (tickets/evidence_store.py), named by their SHA-256. Put this on storage
    #: that is backed up; with several nodes, on storage they share.
    dir: Path = Path("var/evidence")
    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=2**31)
