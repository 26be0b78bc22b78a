"""The zh-CN names the workbench pages show for the workflow's values (statuses, types, grounds,
satisfaction, deadline marks, event types), given by the server with each list entry so that
the pages, the CSV export and any later page read one table. Pure: no I/O.
"""

from __future__ import annotations

from abuse.policy import AuditEvent, Level, Signal
from kernel.access_policy import ACCESS_KIND_TITLES, ACCESS_RESULT_TITLES
from kernel.roles import ROLE_TITLES
from knowledge.model import ArticleStatus
from tickets.model import (
    ContactMethod,
    EscalationGround,
    QualityFinding,
    Satisfaction,
    SupervisionFlagKind,
    SupervisionLevel,
    TerminationGround,
    TicketStatus,
    TicketType,
    Urgency,
)
from workbenches.marks import DeadlineMark

STATUS_TITLES: dict[str, str] = {
    TicketStatus.DRAFT: "受理中", TicketStatus.PENDING_DISPATCH: "待派单", TicketStatus.DISPATCHED: "待签收",
    TicketStatus.IN_PROGRESS: "办理中", TicketStatus.RETURN_REQUESTED: "申请退回",
    TicketStatus.EXTENSION_REQUESTED: "申请延期", TicketStatus.TERMINATION_REQUESTED: "申请终止",
    TicketStatus.FEEDBACK_SUBMITTED: "已反馈待回访", TicketStatus.CLOSED: "已办结", TicketStatus.ARCHIVED: "已归档",
    TicketStatus.SUSPENSION_REQUESTED: "申请中止", TicketStatus.SUSPENDED: "中止办理",
    TicketStatus.REOPEN_REQUESTED: "回访不满意待研判", TicketStatus.FEEDBACK_ACCEPTED: "反馈已审核待回访",
    TicketStatus.QUALITY_CHECK: "投诉热线工作人员待质检",
}

TYPE_TITLES: dict[str, str] = {
    TicketType.CONSULTATION: "咨询", TicketType.HELP: "求助", TicketType.COMPLAINT: "投诉",
    TicketType.REPORT: "举报", TicketType.SUGGESTION: "意见建议",
}

URGENCY_TITLES: dict[str, str] = {Urgency.NORMAL: "一般", Urgency.URGENT: "紧急"}

MARK_TITLES: dict[str, str] = {
    DeadlineMark.OVERDUE: "已超期", DeadlineMark.DUE_SOON: "一天内到期", DeadlineMark.ON_TIME: "",
    DeadlineMark.NONE: "",
}

SATISFACTION_TITLES: dict[str, str] = {
    Satisfaction.SATISFIED: "满意", Satisfaction.BASICALLY_SATISFIED: "基本满意",
    Satisfaction.UNSATISFIED: "不满意",
}

GROUND_TITLES: dict[str, str] = {
    TerminationGround.CALLER_REFUSES_TO_COOPERATE: "诉求人拒不配合",
    TerminationGround.UNLAWFUL_OR_AGAINST_PUBLIC_ORDER: "诉求违法或违背公序良俗",
}

#: A ticket's history as the pages list it (event type -> zh-CN).
EVENT_TITLES: dict[str, str] = {
    "TicketRegistered": "受理", "TicketClassified": "补充工单", "Dispatched": "派单", "Signed": "签收",
    "ReturnRequested": "申请退回", "ReturnApproved": "同意退回", "ReturnRejected": "不同意退回",
    "ExtensionRequested": "申请延期", "ExtensionApproved": "同意延期", "ExtensionDenied": "不同意延期",
    "TerminationRequested": "申请终止", "TerminationApproved": "同意终止", "TerminationRejected": "不同意终止",
    "ProgressNoted": "办理进展", "FeedbackSubmitted": "反馈", "CallbackRecorded": "回访",
    "AnsweredDirectly": "直接答复", "AnsweredInThreeWayCall": "三方连线答复", "ClosedOutOfScope": "不予受理",
    "SupervisionFlagged": "督办", "SupervisionEscalated": "升级督办", "Archived": "归档",
    "RelayCallHeld": "保密联络通话", "ReopenReviewed": "不满意研判", "CallbackUnreached": "未回访成功",
    "SuspensionRequested": "申请中止", "SuspensionApproved": "同意中止", "SuspensionRejected": "不同意中止",
    "HandlingResumed": "恢复办理", "FeedbackAccepted": "反馈审核通过", "FeedbackRejected": "反馈退回重办",
    "CallerContacted": "联系诉求人", "DeadlineCallbackRecorded": "时限届满回访",
    "QualityFindingRecorded": "质检结论",
}

#: How a unit reached the caller (`record-contact`).
CONTACT_METHOD_TITLES: dict[str, str] = {
    ContactMethod.PHONE: "电话", ContactMethod.SMS: "短信", ContactMethod.VISIT: "上门",
}

#: The quality team's finding on a complaint about hotline staff (质检结论).
FINDING_TITLES: dict[str, str] = {
    QualityFinding.SUBSTANTIATED: "属实", QualityFinding.PARTLY_SUBSTANTIATED: "部分属实",
    QualityFinding.UNSUBSTANTIATED: "不属实",
}

#: What a callback task is for (`callback_tasks.reason`), as the callback page labels it.
CALLBACK_REASON_TITLES: dict[str, str] = {
    "survey": "回访", "deadline": "时限届满回访", "left_message": "留言回电",
}

#: Which request a review-queue ticket waits on, by its status.
REQUEST_TITLES: dict[str, str] = {
    TicketStatus.RETURN_REQUESTED: "退回", TicketStatus.EXTENSION_REQUESTED: "延期",
    TicketStatus.TERMINATION_REQUESTED: "终止办理", TicketStatus.SUSPENSION_REQUESTED: "中止办理",
    TicketStatus.REOPEN_REQUESTED: "重办研判",
}


#: Why a ticket is under supervision (临沂条例第三十条).
FLAG_TITLES: dict[str, str] = {
    SupervisionFlagKind.REFUSED_ACCEPTANCE: "拒不接收工单", SupervisionFlagKind.OVERDUE: "超期未办结",
    SupervisionFlagKind.REPEATED: "多次反映未解决", SupervisionFlagKind.CLUSTERED: "集中反映同类诉求",
    SupervisionFlagKind.STALE_KNOWLEDGE: "知识库更新不及时", SupervisionFlagKind.OTHER: "其他",
    SupervisionFlagKind.NO_FIRST_CONTACT: "未按时联系诉求人",
    SupervisionFlagKind.UNSATISFIED_AT_DEADLINE: "时限届满回访不满意",
}

#: The supervision ladder, by the names the ticket API gives (`supervision_level`).
LEVEL_TITLES: dict[str, str] = {
    SupervisionLevel.NONE.name.lower(): "未督办", SupervisionLevel.HOTLINE.name.lower(): "热线督办",
    SupervisionLevel.MEDIA.name.lower(): "媒体监督", SupervisionLevel.GOVERNMENT_INSPECTION.name.lower(): "政务督查",
    SupervisionLevel.PEOPLES_CONGRESS_CPPCC.name.lower(): "人大、政协监督",
    SupervisionLevel.DISCIPLINE_INSPECTION.name.lower(): "移交纪检监察",
}

ESCALATION_GROUND_TITLES: dict[str, str] = {
    EscalationGround.HOTLINE_SUPERVISION: "符合热线督办情形",
    EscalationGround.UNRESOLVED_AFTER_HOTLINE: "经热线督办仍未解决",
    EscalationGround.UNRESOLVED_AFTER_MEDIA: "经媒体监督仍未有效解决",
    EscalationGround.PROMISED_NOT_DONE: "承诺办理但未办理",
    EscalationGround.HIGH_PUBLIC_ATTENTION: "反映量大、关注度高",
    EscalationGround.LOW_SATISFACTION: "满意率低、造成不良影响",
    EscalationGround.REPEATED_FAILED_RECTIFICATION: "多次整改不到位",
    EscalationGround.MISCONDUCT: "推诿扯皮、不作为、乱作为",
}

#: The anti-abuse ladder and its audit trail (`abuse/`).
ABUSE_LEVEL_TITLES: dict[str, str] = {
    Level.ALLOW: "正常", Level.WARN: "提醒", Level.SENIOR_QUEUE: "转资深话务员", Level.RESTRICT: "限制呼入",
    Level.SUPERVISOR_REVIEW: "待班长审核",
}
ABUSE_EVENT_TITLES: dict[str, str] = {
    AuditEvent.DECISION: "系统判定",
    AuditEvent.HARASSMENT_FLAG: "坐席标记骚扰",
    AuditEvent.LONG_OCCUPATION: "长时间占线",
    AuditEvent.LIFT: "解除限制",
    AuditEvent.EXTEND: "延长限制",
    AuditEvent.APPEAL: "申诉",
}
ABUSE_SIGNAL_TITLES: dict[str, str] = {
    Signal.CALLS_SHORT: "短时内来电", Signal.CALLS_MEDIUM: "一日内来电", Signal.CALLS_LONG: "一周内来电",
    Signal.REPEATS: "重复诉求", Signal.LONG_OCCUPATIONS: "长时间占线", Signal.HARASSMENT_FLAGS: "被标记骚扰",
    "prior_restrictions": "此前被限制",
}


ARTICLE_STATUS_TITLES: dict[str, str] = {
    ArticleStatus.DRAFT: "草稿", ArticleStatus.PUBLISHED: "已发布", ArticleStatus.RETIRED: "已下架",
}


def titles() -> dict[str, dict[str, str]]:
    """Every table, for the pages (`GET /api/workbench/titles`)."""
    return {"status": STATUS_TITLES, "ticket_type": TYPE_TITLES, "urgency": URGENCY_TITLES,
            "mark": MARK_TITLES, "satisfaction": SATISFACTION_TITLES, "ground": GROUND_TITLES,
            "event": EVENT_TITLES, "request": REQUEST_TITLES, "flag": FLAG_TITLES, "level": LEVEL_TITLES,
            "escalation_ground": ESCALATION_GROUND_TITLES, "abuse_level": ABUSE_LEVEL_TITLES,
            "abuse_event": ABUSE_EVENT_TITLES, "abuse_signal": ABUSE_SIGNAL_TITLES,
            "access_kind": ACCESS_KIND_TITLES,
            "access_result": {str(allowed).lower(): title for allowed, title in ACCESS_RESULT_TITLES.items()},
            "article_status": ARTICLE_STATUS_TITLES,
            "contact_method": CONTACT_METHOD_TITLES, "callback_reason": CALLBACK_REASON_TITLES,
            "quality_finding": FINDING_TITLES,
            "role": {str(role): title for role, title in ROLE_TITLES.items()}}
