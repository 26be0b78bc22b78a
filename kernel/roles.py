"""Who acts in the hotline: the one list of roles, the role groups, and the acting person.

Every capability checks permissions against these names; a token (`kernel.auth`) carries one of
them. Role groups that several capabilities use (who is hotline staff, who may read evidence)
are defined here once, so that adding a role is one edit. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kernel.errors import InvalidInput


class Role(StrEnum):
    """Hotline roles are staff of the hotline centre (热线工作机构); `unit` is a handling unit."""

    AGENT = "agent"  # 话务员: intake, direct answer, three-way call
    #: 资深话务员: everything an agent does, and the senior queue of the anti-abuse ladder.
    SENIOR_AGENT = "senior_agent"
    DISPATCHER = "dispatcher"  # 派单员: dispatch and review of unit requests
    CALLBACK_AGENT = "callback_agent"  # 回访员
    SUPERVISOR = "supervisor"  # 督办 / 班长: everything hotline-side, plus supervision
    UNIT = "unit"  # 承办单位 staff; acts only for its own unit
    SYSTEM = "system"  # automated jobs: web/app intake, supervision scanner, archiving
    KB_ADMIN = "kb_admin"  # 热线知识库管理员: maintains every knowledge-base article
    AUDITOR = "auditor"  # 审计员: reads the access audit (who read citizens' data), nothing else
    #: 系统管理员: manages people's accounts and sessions; reads no citizen's data.
    ADMIN = "admin"


#: How each role is called on the pages and in exports (zh-CN).
ROLE_TITLES: dict[Role, str] = {
    Role.AGENT: "话务员",
    Role.SENIOR_AGENT: "资深话务员",
    Role.DISPATCHER: "派单员",
    Role.CALLBACK_AGENT: "回访员",
    Role.SUPERVISOR: "班长（督办）",
    Role.KB_ADMIN: "知识库管理员",
    Role.UNIT: "承办单位工作人员",
    Role.AUDITOR: "审计员",
    Role.ADMIN: "系统管理员",
    Role.SYSTEM: "系统任务",
}

#: Agents who take calls at a desk. A senior agent may do everything an agent may: a rule that
#: names agents names this group (tests/unit/test_roles.py holds every rule table to it).
AGENTS: frozenset[Role] = frozenset({Role.AGENT, Role.SENIOR_AGENT})

#: Staff of the hotline centre who work calls and tickets (they see callers' data).
HOTLINE_STAFF: frozenset[Role] = AGENTS | {Role.DISPATCHER, Role.CALLBACK_AGENT, Role.SUPERVISOR}

#: Everyone who may attach evidence to a ticket: hotline staff and the units that handle it.
EVIDENCE_UPLOADERS: frozenset[Role] = HOTLINE_STAFF | {Role.UNIT}

#: People who review a unit's requests (return, extension, termination).
REVIEWERS: frozenset[Role] = frozenset({Role.DISPATCHER, Role.SUPERVISOR})

#: Who manages accounts (`accounts/`): administrators only, who see no citizen's data.
ACCOUNT_ADMINS: frozenset[Role] = frozenset({Role.ADMIN})

#: Every role name a token may carry.
ROLE_NAMES: frozenset[str] = frozenset(role.value for role in Role)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs an action. `unit` is the unit code (config/dispatch_catalogue.yaml) of a
    `Role.UNIT` actor and is required for it: a unit always acts for one unit."""

    id: str
    role: Role
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.role is Role.UNIT and not self.unit:
            raise InvalidInput("a unit actor needs its unit", field="unit")
