"""The zh-CN names the workbench pages show for the workflow's values (statuses, types, grounds,
satisfaction, deadline marks, event types), given by the server with each list entry so that
the pages, the CSV export and any later page read one table. Pure: no I/O.
"""

from __future__ import annotations

from tickets.model import Satisfaction, TerminationGround, TicketStatus, TicketType, Urgency
from workbenches.marks import DeadlineMark

STATUS_TITLES: dict[str, str] = {
    TicketStatus.DRAFT: "受理中", TicketStatus.PENDING_DISPATCH: "待派单", TicketStatus.DISPATCHED: "待签收",
    TicketStatus.IN_PROGRESS: "办理中", TicketStatus.RETURN_REQUESTED: "申请退回",
    TicketStatus.EXTENSION_REQUESTED: "申请延期", TicketStatus.TERMINATION_REQUESTED: "申请终止",
    TicketStatus.FEEDBACK_SUBMITTED: "已反馈待回访", TicketStatus.CLOSED: "已办结", TicketStatus.ARCHIVED: "已归档",
    TicketStatus.SUSPENSION_REQUESTED: "申请中止", TicketStatus.SUSPENDED: "中止办理",
    TicketStatus.REOPEN_REQUESTED: "回访不满意待研判", TicketStatus.FEEDBACK_ACCEPTED: "反馈已审核待回访",
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
}

#: Which request a review-queue ticket waits on, by its status.
REQUEST_TITLES: dict[str, str] = {
    TicketStatus.RETURN_REQUESTED: "退回", TicketStatus.EXTENSION_REQUESTED: "延期",
    TicketStatus.TERMINATION_REQUESTED: "终止办理", TicketStatus.SUSPENSION_REQUESTED: "中止办理",
    TicketStatus.REOPEN_REQUESTED: "重办研判",
}


def titles() -> dict[str, dict[str, str]]:
    """Every table, for the pages (`GET /api/workbench/titles`)."""
    return {"status": STATUS_TITLES, "ticket_type": TYPE_TITLES, "urgency": URGENCY_TITLES,
            "mark": MARK_TITLES, "satisfaction": SATISFACTION_TITLES, "ground": GROUND_TITLES,
            "event": EVENT_TITLES, "request": REQUEST_TITLES}
