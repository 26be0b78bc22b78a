"""Typed settings: `config/hotline.toml` plus `HOTLINE_<SECTION>_<KEY>` environment overrides.

Validated once at start-up. A wrong value becomes a `ConfigError` naming the key
(`ari.url`, `database.url`...) so the CLI can print one line and exit non-zero instead of a
traceback. Nothing else in the code base reads the environment.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from asr.models import AsrSettings
from hotline.errors import ConfigError

DEFAULT_CONFIG_FILE = Path(__file__).resolve().parent.parent / "config" / "hotline.toml"
ENV_PREFIX = "HOTLINE_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///var/hotline.sqlite3"

    @field_validator("url")
    @classmethod
    def _known_async_driver(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {value!r}") from exc
        if url.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ValueError(
                f"driver {url.drivername!r} is not supported; use sqlite+aiosqlite or postgresql+asyncpg"
            )
        return value


class RedisSettings(_Section):
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "hotline:"

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"not a Redis URL: {value!r}")
        return value


class AriSettings(_Section):
    url: str = "http://127.0.0.1:8088"
    username: str = "hotline"
    password: str = "hotline"
    app: str = "hotline"
    connect_timeout: float = Field(default=3.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_scheme(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"ARI url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")


class CallFlowSettings(_Section):
    greeting: str = "sound:hello-world"
    recording_format: str = "wav"
    recording_dir: Path = Path("/var/spool/asterisk/recording")


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class AbuseSettings(_Section):
    policy_file: Path = Path("config/abuse_policy.toml")
    decision_timeout: float = Field(default=0.25, gt=0, le=5)
    fastagi_host: str = "127.0.0.1"
    fastagi_port: int = Field(default=4573, ge=0, le=65535)
    message_max_seconds: float = Field(default=60.0, gt=0, le=600)


class AuthSettings(_Section):
    #: Key that signs access tokens. Empty: a random key is kept in `secret_file` (made 0600 on
    #: first use), so a fresh machine works without set-up and every node on it agrees.
    secret: str = ""
    secret_file: Path = Path("var/auth-secret")
    token_hours: float = Field(default=12.0, gt=0, le=24 * 30)


class EvidenceSettings(_Section):
    #: Evidence files (tickets/evidence_store.py), named by their SHA-256. Put this on storage
    #: that is backed up; with several nodes, on storage they share.
    dir: Path = Path("var/evidence")
    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=2**31)


class SupervisionSettings(_Section):
    #: The scanner (tickets/supervision_job.py) flags overdue, unsigned, repeated and clustered
    #: tickets; one node per round runs it (a Redis lease).
    enabled: bool = True
    interval_seconds: float = Field(default=300.0, ge=5, le=86400)


class NodeSettings(_Section):
    id: str = Field(default="N01", pattern=r"^[A-Z][0-9A-Z]{1,5}$")


class Settings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    ari: AriSettings = AriSettings()
    call_flow: CallFlowSettings = CallFlowSettings()
    http: HttpSettings = HttpSettings()
    node: NodeSettings = NodeSettings()
    asr: AsrSettings = AsrSettings()
    abuse: AbuseSettings = AbuseSettings()
    auth: AuthSettings = AuthSettings()
    supervision: SupervisionSettings = SupervisionSettings()
    evidence: EvidenceSettings = EvidenceSettings()


def _apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Overlay HOTLINE_<SECTION>_<KEY> variables. Unknown sections/keys are errors too."""
    sections = Settings.model_fields
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ("HOTLINE_CONFIG",):
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section = next((s for s in sections if rest.startswith(s + "_")), None)
        if section is None:
            raise ConfigError(name, "unknown setting (no such section)")
        key = rest[len(section) + 1:]
        section_model = sections[section].annotation
        assert section_model is not None
        if key not in section_model.model_fields:  # type: ignore[union-attr]
            raise ConfigError(f"{section}.{key}", f"unknown setting (from {name})")
        raw.setdefault(section, {})[key] = value
    return raw


def load_settings(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read, overlay and validate settings; raise ConfigError naming the first bad key."""
    environ = os.environ if environ is None else environ
    path = Path(environ.get("HOTLINE_CONFIG", "")) if path is None and environ.get("HOTLINE_CONFIG") else path
    path = path or DEFAULT_CONFIG_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError("config", f"file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{path} is not valid TOML: {exc}") from exc
    raw = _apply_env(raw, environ)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError.from_validation(exc) from None
