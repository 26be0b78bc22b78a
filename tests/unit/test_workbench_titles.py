"""Every value the new pages show has a zh-CN name (workbenches/titles.py), so that no page falls
back to the stored English code: the supervision flags, levels and grounds, the anti-abuse
levels, events and signals, the access audit's kinds, the roles and the articles' statuses."""

from __future__ import annotations

import pytest

from abuse.policy import AuditEvent, Level, Signal
from kernel.access_policy import AccessKind
from kernel.roles import Role
from knowledge.model import ArticleStatus
from tickets.model import EscalationGround, SupervisionFlagKind, SupervisionLevel
from workbenches.board import level_name
from workbenches.titles import titles


@pytest.mark.parametrize(("table", "values"), [
    ("flag", [k.value for k in SupervisionFlagKind]),
    ("level", [level_name(level) for level in SupervisionLevel]),
    ("escalation_ground", [g.value for g in EscalationGround]),
    ("abuse_level", [v.value for v in Level]),
    ("abuse_event", [v.value for v in AuditEvent]),
    ("abuse_signal", [*(v.value for v in Signal), "prior_restrictions"]),
    ("access_kind", [v.value for v in AccessKind]),
    ("access_result", ["true", "false"]),
    ("role", [v.value for v in Role]),
    ("article_status", [v.value for v in ArticleStatus]),
])
def test_every_value_has_a_chinese_name(table: str, values: list[str]) -> None:
    names = titles()[table]
    assert set(names) == set(values)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in name) for name in names.values())

