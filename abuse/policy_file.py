"""Load and validate `config/abuse_policy.toml` into an `AbusePolicy`.

The file is untrusted input at start-up: pydantic validates it, unknown keys are errors, and any
problem becomes `kernel.errors.ConfigError` naming the key (`abuse.levels.warn.calls_short`), so
a typo never silently disables a rule. Thresholds must not decrease up the ladder, otherwise a
higher rung could fire before a lower one and the "education first" order would be broken.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from abuse.policy import AbusePolicy, Level, Rule, Signal, Windows, caller_key
from kernel.errors import ConfigError

DEFAULT_POLICY_FILE = Path(__file__).resolve().parent.parent / "config" / "abuse_policy.toml"
KEY_ROOT = "abuse"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowsSection(_Section):
    short_seconds: float = Field(default=600, gt=0)
    medium_seconds: float = Field(default=3600, gt=0)
    long_seconds: float = Field(default=86400, gt=0)
    repeat_seconds: float = Field(default=86400, gt=0)
    occupation_seconds: float = Field(default=604800, gt=0)
    harassment_seconds: float = Field(default=2592000, gt=0)
    restriction_memory_seconds: float = Field(default=7776000, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> WindowsSection:
        if not self.short_seconds <= self.medium_seconds <= self.long_seconds:
            raise ValueError("windows must satisfy short_seconds <= medium_seconds <= long_seconds")
        return self


class OccupationSection(_Section):
    long_call_seconds: float = Field(default=900, gt=0)


class Thresholds(_Section):
    calls_short: int | None = Field(default=None, ge=1)
    calls_medium: int | None = Field(default=None, ge=1)
    calls_long: int | None = Field(default=None, ge=1)
    repeats: int | None = Field(default=None, ge=1)
    long_occupations: int | None = Field(default=None, ge=1)
    harassment_flags: int | None = Field(default=None, ge=1)


class ReviewSection(_Section):
    after_restrictions: int | None = Field(default=2, ge=1)


class LevelsSection(_Section):
    warn: Thresholds = Thresholds()
    senior_queue: Thresholds = Thresholds()
    restrict: Thresholds = Thresholds()
    supervisor_review: ReviewSection = ReviewSection()


class MeasuresSection(_Section):
    senior_queue_seconds: float = Field(default=3600, gt=0)
    restrict_seconds: float = Field(default=1800, gt=0)
    supervisor_review_seconds: float = Field(default=86400, gt=0)
    max_seconds: float = Field(default=604800, gt=0)

    @model_validator(mode="after")
    def _bounded(self) -> MeasuresSection:
        longest = max(self.senior_queue_seconds, self.restrict_seconds, self.supervisor_review_seconds)
        if longest > self.max_seconds:
            raise ValueError("max_seconds must be at least every measure's duration")
        return self


class AnonymousSection(_Section):
    scale: int = Field(default=5, ge=1)
    max_level: Level = Level.SENIOR_QUEUE


class AllowListSection(_Section):
    numbers: list[str] = []


class EmergencySection(_Section):
    keywords: list[str] = []


class PromptsSection(_Section):
    allow: str = ""
    warn: str = ""
    senior_queue: str = ""
    restrict: str = ""
    supervisor_review: str = ""


class PromptTextsSection(_Section):
    warn: str = ""
    restrict: str = ""


class AbusePolicyFile(_Section):
    windows: WindowsSection = WindowsSection()
    occupation: OccupationSection = OccupationSection()
    levels: LevelsSection = LevelsSection()
    measures: MeasuresSection = MeasuresSection()
    anonymous: AnonymousSection = AnonymousSection()
    allow_list: AllowListSection = AllowListSection()
    emergency: EmergencySection = EmergencySection()
    prompts: PromptsSection = PromptsSection()
    prompt_texts: PromptTextsSection = PromptTextsSection()


_LADDER = (Level.WARN, Level.SENIOR_QUEUE, Level.RESTRICT)


def _check_monotonic(levels: LevelsSection) -> None:
    for signal in Signal:
        previous: tuple[Level, int] | None = None
        for level in _LADDER:
            value = getattr(getattr(levels, level.value), signal.value)
            if value is None:
                continue
            if previous is not None and value < previous[1]:
                raise ConfigError(
                    f"{KEY_ROOT}.levels.{level.value}.{signal.value}",
                    f"{value} is below {previous[0].value}'s {previous[1]}: thresholds must not "
                    "decrease up the ladder",
                )
            previous = (level, value)


def policy_from_mapping(raw: Mapping[str, Any]) -> AbusePolicy:
    """Validate a parsed TOML document and build the pure policy from it."""
    try:
        doc = AbusePolicyFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError.from_validation(exc, KEY_ROOT) from None
    _check_monotonic(doc.levels)
    rules: list[Rule] = []
    for level in _LADDER:
        thresholds = getattr(doc.levels, level.value)
        for signal in Signal:
            value = getattr(thresholds, signal.value)
            if value is not None:
                rules.append(Rule(signal=signal, at_least=value, level=level))
    w = doc.windows
    return AbusePolicy(
        windows=Windows(
            short=timedelta(seconds=w.short_seconds),
            medium=timedelta(seconds=w.medium_seconds),
            long=timedelta(seconds=w.long_seconds),
            repeat=timedelta(seconds=w.repeat_seconds),
            occupation=timedelta(seconds=w.occupation_seconds),
            harassment=timedelta(seconds=w.harassment_seconds),
            restriction_memory=timedelta(seconds=w.restriction_memory_seconds),
        ),
        rules=tuple(rules),
        escalate_after_restrictions=doc.levels.supervisor_review.after_restrictions,
        measure_durations={
            Level.SENIOR_QUEUE: timedelta(seconds=doc.measures.senior_queue_seconds),
            Level.RESTRICT: timedelta(seconds=doc.measures.restrict_seconds),
            Level.SUPERVISOR_REVIEW: timedelta(seconds=doc.measures.supervisor_review_seconds),
        },
        max_measure=timedelta(seconds=doc.measures.max_seconds),
        long_call=timedelta(seconds=doc.occupation.long_call_seconds),
        anonymous_scale=doc.anonymous.scale,
        anonymous_max_level=doc.anonymous.max_level,
        allow_list=frozenset(caller_key(n) for n in doc.allow_list.numbers),
        emergency_keywords=tuple(k.casefold() for k in doc.emergency.keywords if k.strip()),
        prompts={lvl: p for lvl in Level if (p := getattr(doc.prompts, lvl.value))},
    )


def load_abuse_policy(path: Path | None = None) -> AbusePolicy:
    """Read `config/abuse_policy.toml` (or `path`); raise ConfigError naming the first bad key."""
    path = path or DEFAULT_POLICY_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(KEY_ROOT, f"file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(KEY_ROOT, f"{path} is not valid TOML: {exc}") from exc
    return policy_from_mapping(raw)
