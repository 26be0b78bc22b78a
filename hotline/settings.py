"""The backend's settings: every capability's section, put together (see `kernel.settings`).

`config/hotline.toml` plus `HOTLINE_<SECTION>_<KEY>` environment overrides, validated once at
start-up; `HOTLINE_CONFIG` names another file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from abuse.settings import AbuseSettings
from asr.models import AsrSettings
from kernel.settings import (
    AuditSettings,
    AuthSettings,
    DatabaseSettings,
    HttpSettings,
    NodeSettings,
    RedisSettings,
    RetentionSettings,
    Section,
    StorageSettings,
    load_sections,
)
from public_lookup.settings import PublicLookupSettings
from risk_warning.settings import RiskWarningSettings
from supervision.settings import SupervisionSettings
from telephony.settings import (
    AriSettings,
    CallbackSettings,
    CallFlowSettings,
    QueueSettings,
    RelaySettings,
    SoftphoneSettings,
    TransferSettings,
)
from tickets.settings import EvidenceSettings, WorkflowSettings
from unit_push.settings import UnitPushSettings

DEFAULT_CONFIG_FILE = Path(__file__).resolve().parent.parent / "config" / "hotline.toml"


class Settings(Section):
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    ari: AriSettings = AriSettings()
    softphone: SoftphoneSettings = SoftphoneSettings()
    call_flow: CallFlowSettings = CallFlowSettings()
    queue: QueueSettings = QueueSettings()
    transfer: TransferSettings = TransferSettings()
    callback: CallbackSettings = CallbackSettings()
    relay: RelaySettings = RelaySettings()
    http: HttpSettings = HttpSettings()
    node: NodeSettings = NodeSettings()
    asr: AsrSettings = AsrSettings()
    abuse: AbuseSettings = AbuseSettings()
    auth: AuthSettings = AuthSettings()
    supervision: SupervisionSettings = SupervisionSettings()
    evidence: EvidenceSettings = EvidenceSettings()
    workflow: WorkflowSettings = WorkflowSettings()
    audit: AuditSettings = AuditSettings()
    public_lookup: PublicLookupSettings = PublicLookupSettings()
    unit_push: UnitPushSettings = UnitPushSettings()
    risk_warning: RiskWarningSettings = RiskWarningSettings()
    storage: StorageSettings = StorageSettings()
    retention: RetentionSettings = RetentionSettings()


def load_settings(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read, overlay and validate settings; raise ConfigError naming the first bad key."""
    environ = os.environ if environ is None else environ
    if path is None and environ.get("HOTLINE_CONFIG"):
        path = Path(environ["HOTLINE_CONFIG"])
    return load_sections(Settings, path or DEFAULT_CONFIG_FILE, environ)
