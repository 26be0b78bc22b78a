"""The ticket workflow against the regulations: example paths, then random action sequences.

The tables in this file (which status may follow which, which role may cause which event)
are written from the regulations independently of `tickets/workflow.py`, so the property test
checks the state machine against a second reading rather than against itself.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kernel.errors import IllegalTransition, InvalidInput, PermissionDenied
from kernel.roles import Actor, Role
from tickets import events as ev
from tickets.escalation import escalation_history
from tickets.model import (
    Attachment,
    Caller,
    Channel,
    ClosureReason,
    ContactMethod,
    EscalationGround,
    OutOfScope,
    QualityFinding,
    Satisfaction,
    SupervisionFlagKind,
    SupervisionLevel,
    TerminationGround,
    Ticket,
    TicketStatus,
    TicketType,
)
from tickets.ticket_number import TicketNumber, format_ticket_number, parse_ticket_number
from tickets.workflow import (
    DEFAULT_POLICY,
    AcceptFeedback,
    AddProgressNote,
    AnswerDirectly,
    AnswerInThreeWayCall,
    ApproveExtension,
    ApproveReturn,
    ApproveSuspension,
    ApproveTermination,
    Archive,
    Classify,
    CloseOutOfScope,
    CloseUnreached,
    Command,
    DenyExtension,
    Dispatch,
    Escalate,
    FlagForSupervision,
    RecordCallback,
    RecordContact,
    RecordDeadlineCallback,
    RecordQualityFinding,
    Register,
    RejectFeedback,
    RejectReturn,
    RejectSuspension,
    RejectTermination,
    RequestExtension,
    RequestReturn,
    RequestSuspension,
    RequestTermination,
    ResumeHandling,
    ReviewReopen,
    Sign,
    SubmitFeedback,
    apply,
    fold,
)

S = TicketStatus
T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)

AGENT = Actor("a-1", Role.AGENT)
DISPATCHER = Actor("d-1", Role.DISPATCHER)
CALLBACK = Actor("c-1", Role.CALLBACK_AGENT)
SUPERVISOR = Actor("s-1", Role.SUPERVISOR)
SYSTEM = Actor("system", Role.SYSTEM)
LEAD = Actor("u-1", Role.UNIT, unit="city-housing")
COOP = Actor("u-2", Role.UNIT, unit="city-urban-management")
OTHER = Actor("u-3", Role.UNIT, unit="city-ecology")

EVIDENCE = (Attachment("document", "s3://evidence/1.pdf", "职责说明"),)
CALLER = Caller(number="13812345678", name="张三")


class Flow:
    """A ticket and its events, advanced step by step in the examples below."""

    def __init__(self, caller: Caller = CALLER) -> None:
        self.now = T0
        ticket, event = apply(None, Register(
            ticket_no="20261125-N01-000001", channel=Channel.PHONE, caller=caller,
            call_ids=("call-1",),
        ), AGENT, self.now)
        self.ticket: Ticket = ticket
        self.events: list[ev.TicketEvent] = [event]

    def do(self, command: Command, actor: Actor, hours: float = 1) -> ev.TicketEvent:
        self.now += timedelta(hours=hours)
        self.ticket, event = apply(self.ticket, command, actor, self.now)
        self.events.append(event)
        return event

    def classify(self) -> Flow:
        self.do(Classify(ticket_type=TicketType.COMPLAINT, summary="小区电梯停运一周",
                         content="小区3号楼电梯停运一周，物业不修", district="兰山区"), AGENT)
        return self

    def dispatch(self, minutes: Attachment | None = None) -> Flow:
        self.now += timedelta(hours=1)
        self.do(Dispatch(
            lead_unit="city-housing", cooperating_units=("city-urban-management",),
            deadline=self.now + timedelta(days=7), sign_deadline=self.now + timedelta(days=1),
            joint_meeting_minutes=minutes,
        ), DISPATCHER, hours=0)
        return self

    def signed(self) -> Flow:
        self.classify().dispatch().do(Sign(), LEAD)
        return self


# --------------------------------------------------------------------------------------------
# Intake closures


def test_direct_answer_from_knowledge_base_closes_ticket() -> None:
    flow = Flow()
    event = flow.do(AnswerDirectly(answer="社保卡补办可在银行网点办理", knowledge_article_id="kb-17"),
                    AGENT)
    assert isinstance(event, ev.AnsweredDirectly)
    assert flow.ticket.status is S.CLOSED
    assert flow.ticket.closure_reason is ClosureReason.ANSWERED_DIRECTLY
    assert flow.ticket.closed_at == flow.now


def test_three_way_call_answer_closes_ticket() -> None:
    flow = Flow()
    event = flow.do(AnswerInThreeWayCall(unit="utility-water", answer="管网抢修，18点前恢复供水",
                                         caller_consented=True), AGENT)
    assert flow.ticket.closure_reason is ClosureReason.THREE_WAY_CALL
    assert isinstance(event, ev.AnsweredInThreeWayCall) and event.caller_consented


def test_three_way_call_needs_the_callers_consent_linyi_article_14() -> None:
    """临沂条例第十四条: 不能直接在线答复的，应当征得诉求人同意，通过三方连线…"""
    flow = Flow()
    with pytest.raises(InvalidInput) as refused:
        flow.do(AnswerInThreeWayCall(unit="utility-water", answer="已答复"), AGENT)
    assert refused.value.context["field"] == "caller_consented"
    assert flow.ticket.status is S.DRAFT


@pytest.mark.parametrize("line", ["110", "119", "120", "122"])
def test_emergency_request_is_closed_by_transfer_to_emergency_line(line: str) -> None:
    flow = Flow()
    flow.do(CloseOutOfScope(scope=OutOfScope.EMERGENCY_LINE, referred_to=line), AGENT)
    assert flow.ticket.closure_reason is ClosureReason.EMERGENCY_LINE


def test_emergency_closure_must_name_an_emergency_line() -> None:
    flow = Flow()
    with pytest.raises(IllegalTransition) as info:
        flow.do(CloseOutOfScope(scope=OutOfScope.EMERGENCY_LINE, referred_to="12315"), AGENT)
    assert info.value.context["rule"] == "emergency_line_required"


def test_litigation_request_is_closed_with_legal_channel() -> None:
    flow = Flow()
    flow.do(CloseOutOfScope(scope=OutOfScope.LEGAL_CHANNEL, referred_to="人民法院诉讼"), AGENT)
    assert flow.ticket.closure_reason is ClosureReason.LEGAL_CHANNEL


def test_duplicate_closure_links_the_open_ticket() -> None:
    flow = Flow()
    flow.do(CloseOutOfScope(scope=OutOfScope.DUPLICATE, duplicate_of="20261120-N02-000042"),
            AGENT)
    assert flow.ticket.duplicate_of == "20261120-N02-000042"
    assert flow.ticket.closure_reason is ClosureReason.DUPLICATE


def test_duplicate_closure_without_the_original_is_refused() -> None:
    with pytest.raises(IllegalTransition):
        Flow().do(CloseOutOfScope(scope=OutOfScope.DUPLICATE), AGENT)


# --------------------------------------------------------------------------------------------
# Dispatch and signing


def test_classifying_keeps_what_intake_recorded_unless_it_is_rewritten() -> None:
    flow = Flow()
    flow.do(Classify(ticket_type=TicketType.HELP, summary="电梯停运",
                     content="3号楼电梯停运一周", location="幸福小区", district="兰山区"), AGENT)
    flow.do(Classify(ticket_type=TicketType.COMPLAINT, summary="电梯停运，物业不修"), AGENT)
    assert (flow.ticket.content, flow.ticket.location, flow.ticket.district) == (
        "3号楼电梯停运一周", "幸福小区", "兰山区")
    assert flow.ticket.summary == "电梯停运，物业不修"
    assert fold(flow.events) == flow.ticket
    flow.do(Classify(ticket_type=TicketType.COMPLAINT, summary="电梯停运", content="已改写"), AGENT)
    assert flow.ticket.content == "已改写" and flow.ticket.district == "兰山区"


def test_dispatch_requires_a_classified_ticket() -> None:
    with pytest.raises(IllegalTransition) as info:
        Flow().dispatch()
    assert info.value.context["rule"] == "classification_required"


def test_dispatch_writes_units_and_deadlines_on_the_ticket() -> None:
    flow = Flow().classify().dispatch()
    t = flow.ticket
    assert t.status is S.DISPATCHED
    assert t.lead_unit == "city-housing"
    assert t.cooperating_units == ("city-urban-management",)
    assert t.deadline == flow.now + timedelta(days=7)
    assert t.dispatched_at == flow.now


def test_dispatch_refuses_a_deadline_in_the_past() -> None:
    flow = Flow().classify()
    with pytest.raises(IllegalTransition):
        flow.do(Dispatch(lead_unit="city-housing", deadline=flow.now - timedelta(hours=1),
                         sign_deadline=flow.now - timedelta(hours=2)), DISPATCHER, hours=0)


def test_lead_unit_cannot_also_cooperate() -> None:
    flow = Flow().classify()
    with pytest.raises(InvalidInput):
        flow.do(Dispatch(lead_unit="city-housing", cooperating_units=("city-housing",),
                         deadline=flow.now + timedelta(days=5),
                         sign_deadline=flow.now + timedelta(days=1)), DISPATCHER)


def test_unit_cannot_dispatch_and_error_carries_context() -> None:
    flow = Flow().classify()
    with pytest.raises(PermissionDenied) as info:
        flow.do(Dispatch(lead_unit="city-housing", deadline=flow.now + timedelta(days=5),
                         sign_deadline=flow.now + timedelta(days=1)), LEAD)
    assert info.value.context["ticket_no"] == "20261125-N01-000001"
    assert info.value.context["role"] == "unit"
    assert info.value.context["command"] == "Dispatch"


def test_only_the_lead_unit_signs() -> None:
    flow = Flow().classify().dispatch()
    for actor in (COOP, OTHER):
        with pytest.raises(PermissionDenied):
            flow.do(Sign(), actor)
    flow.do(Sign(), LEAD)
    assert flow.ticket.status is S.IN_PROGRESS
    assert flow.ticket.signed_at == flow.now


def test_cooperating_unit_reports_progress_but_stranger_cannot() -> None:
    flow = Flow().signed()
    flow.do(AddProgressNote(note="已清理违规堆放物"), COOP)
    with pytest.raises(PermissionDenied):
        flow.do(AddProgressNote(note="不是我们的事"), OTHER)


# --------------------------------------------------------------------------------------------
# Returns


def test_unit_cannot_return_without_evidence() -> None:
    flow = Flow().classify().dispatch()
    with pytest.raises(IllegalTransition) as info:
        flow.do(RequestReturn(reason="不属于本单位职责"), LEAD)
    assert info.value.context["rule"] == "evidence_required"
    assert flow.ticket.status is S.DISPATCHED


def test_approved_return_waits_for_redispatch_and_counts() -> None:
    flow = Flow().classify().dispatch()
    flow.do(RequestReturn(reason="电梯属特种设备，归市场监管", attachments=EVIDENCE), LEAD)
    assert flow.ticket.status is S.RETURN_REQUESTED
    flow.do(ApproveReturn(reason="同意退回"), DISPATCHER)
    assert flow.ticket.status is S.PENDING_DISPATCH
    assert flow.ticket.return_count == 1
    assert flow.ticket.lead_unit is None and flow.ticket.deadline is None
    assert not flow.ticket.joint_meeting_required


def test_repeated_returns_require_a_joint_meeting_before_dispatch() -> None:
    flow = Flow().classify()
    for _ in range(DEFAULT_POLICY.joint_meeting_after_returns):
        flow.dispatch()
        flow.do(RequestReturn(reason="非本单位职责", attachments=EVIDENCE), LEAD)
        flow.do(ApproveReturn(), DISPATCHER)
    assert flow.ticket.joint_meeting_required
    with pytest.raises(IllegalTransition) as info:
        flow.dispatch()
    assert info.value.context["rule"] == "joint_meeting_required"
    flow.dispatch(minutes=Attachment("minutes", "s3://meetings/7.pdf", "联席会议纪要"))
    assert flow.ticket.status is S.DISPATCHED
    assert not flow.ticket.joint_meeting_required
    assert flow.events[-1].attachments[-1].kind == "minutes"


def test_rejected_return_sends_ticket_back_to_the_unit() -> None:
    flow = Flow().classify().dispatch()
    flow.do(RequestReturn(reason="非本单位职责", attachments=EVIDENCE), LEAD)
    flow.do(RejectReturn(reason="属于物业监管职责"), DISPATCHER)
    assert flow.ticket.status is S.DISPATCHED  # never signed
    assert flow.ticket.rejected_return_count == 1

    signed = Flow().signed()
    signed.do(RequestReturn(reason="非本单位职责", attachments=EVIDENCE), LEAD)
    signed.do(RejectReturn(reason="属于物业监管职责"), SUPERVISOR)
    assert signed.ticket.status is S.IN_PROGRESS


def test_rejecting_a_return_needs_a_reason() -> None:
    flow = Flow().classify().dispatch()
    flow.do(RequestReturn(reason="非本单位职责", attachments=EVIDENCE), LEAD)
    with pytest.raises(InvalidInput):
        flow.do(RejectReturn(), DISPATCHER)


# --------------------------------------------------------------------------------------------
# Extensions


def test_approved_extension_moves_the_deadline() -> None:
    flow = Flow().signed()
    old = flow.ticket.deadline
    assert old is not None
    flow.do(RequestExtension(reason="需协调供电部门", requested_deadline=old + timedelta(days=10),
                             caller_informed=True), LEAD)
    assert flow.ticket.status is S.EXTENSION_REQUESTED
    flow.do(ApproveExtension(new_deadline=old + timedelta(days=5), reason="同意延期5天"), DISPATCHER)
    assert flow.ticket.status is S.IN_PROGRESS
    assert flow.ticket.deadline == old + timedelta(days=5)
    assert flow.ticket.extension_count == 1


def test_denied_extension_keeps_the_deadline() -> None:
    flow = Flow().signed()
    old = flow.ticket.deadline
    assert old is not None
    flow.do(RequestExtension(reason="人手不足", requested_deadline=old + timedelta(days=3),
                             caller_informed=True), LEAD)
    flow.do(DenyExtension(reason="理由不充分"), DISPATCHER)
    assert flow.ticket.deadline == old and flow.ticket.status is S.IN_PROGRESS


def test_extension_must_be_asked_before_the_deadline() -> None:
    flow = Flow().signed()
    with pytest.raises(IllegalTransition) as info:
        flow.do(RequestExtension(reason="来不及", requested_deadline=flow.now + timedelta(days=30),
                                 caller_informed=True), LEAD, hours=24 * 8)
    assert info.value.context["rule"] == "extension_before_deadline"


# --------------------------------------------------------------------------------------------
# Termination


def test_termination_needs_evidence() -> None:
    flow = Flow().signed()
    with pytest.raises(IllegalTransition):
        flow.do(RequestTermination(ground=TerminationGround.CALLER_REFUSES_TO_COOPERATE,
                                   reason="诉求人拒绝提供地址"), LEAD)


def test_unlawful_request_terminates_only_after_explanation_and_review() -> None:
    flow = Flow().signed()
    with pytest.raises(IllegalTransition) as info:
        flow.do(RequestTermination(ground=TerminationGround.UNLAWFUL_OR_AGAINST_PUBLIC_ORDER,
                                   reason="要求违规补贴", attachments=EVIDENCE), LEAD)
    assert info.value.context["rule"] == "explained_to_caller_required"
    flow.do(RequestTermination(ground=TerminationGround.UNLAWFUL_OR_AGAINST_PUBLIC_ORDER,
                               reason="要求违规补贴", attachments=EVIDENCE,
                               explained_to_caller=True), LEAD)
    assert flow.ticket.status is S.TERMINATION_REQUESTED
    flow.do(ApproveTermination(reason="经审核同意终止"), SUPERVISOR)
    assert flow.ticket.closure_reason is ClosureReason.TERMINATED


def test_rejected_termination_returns_to_handling() -> None:
    flow = Flow().signed()
    flow.do(RequestTermination(ground=TerminationGround.CALLER_REFUSES_TO_COOPERATE,
                               reason="联系不上", attachments=EVIDENCE), LEAD)
    flow.do(RejectTermination(reason="仅联系一次，继续联系"), DISPATCHER)
    assert flow.ticket.status is S.IN_PROGRESS
    assert flow.ticket.termination_ground is None


# --------------------------------------------------------------------------------------------
# Feedback and callback


def _fed_back() -> Flow:
    flow = Flow().signed()
    flow.do(SubmitFeedback(result="已督促物业维修，电梯恢复运行", attachments=EVIDENCE), LEAD)
    assert flow.ticket.status is S.FEEDBACK_SUBMITTED
    return flow


@pytest.mark.parametrize("satisfaction", [Satisfaction.SATISFIED,
                                          Satisfaction.BASICALLY_SATISFIED, None])
def test_callback_closes_ticket(satisfaction: Satisfaction | None) -> None:
    flow = _fed_back()
    flow.do(RecordCallback(satisfaction=satisfaction), CALLBACK)
    assert flow.ticket.status is S.CLOSED
    assert flow.ticket.satisfaction is satisfaction
    assert flow.ticket.closure_reason is ClosureReason.CALLBACK_COMPLETED


def test_unsatisfied_and_reasonable_reopens_to_the_same_unit() -> None:
    flow = _fed_back()
    flow.do(RecordCallback(satisfaction=Satisfaction.UNSATISFIED, reason="电梯仍频繁故障"),
            CALLBACK)
    new_deadline = flow.now + timedelta(days=5)
    flow.do(ReviewReopen(reasonable=True, new_deadline=new_deadline, reason="诉求合理"), SUPERVISOR)
    assert flow.ticket.status is S.IN_PROGRESS
    assert flow.ticket.lead_unit == "city-housing"
    assert flow.ticket.reopen_count == 1
    assert flow.ticket.deadline == new_deadline
    flow.do(SubmitFeedback(result="已更换主板"), LEAD)
    flow.do(RecordCallback(satisfaction=Satisfaction.SATISFIED), CALLBACK)
    assert flow.ticket.status is S.CLOSED


def test_unsatisfied_but_unreasonable_closes() -> None:
    flow = _fed_back()
    flow.do(RecordCallback(satisfaction=Satisfaction.UNSATISFIED, reasonable=False), CALLBACK)
    flow.do(ReviewReopen(reasonable=False, reason="诉求超出政策规定"), CALLBACK)
    assert flow.ticket.status is S.CLOSED
    assert flow.ticket.satisfaction is Satisfaction.UNSATISFIED


def test_unit_that_did_not_handle_gets_ticket_back_even_if_caller_satisfied() -> None:
    flow = _fed_back()
    flow.do(RecordCallback(satisfaction=Satisfaction.SATISFIED, handled_as_required=False,
                           new_deadline=flow.now + timedelta(days=3)), CALLBACK)
    assert flow.ticket.status is S.IN_PROGRESS


def test_reopening_needs_a_new_deadline() -> None:
    flow = _fed_back()
    flow.do(RecordCallback(satisfaction=Satisfaction.UNSATISFIED), CALLBACK)
    with pytest.raises(InvalidInput):
        flow.do(ReviewReopen(reasonable=True), CALLBACK)


def test_unit_cannot_record_its_own_callback() -> None:
    flow = _fed_back()
    with pytest.raises(PermissionDenied):
        flow.do(RecordCallback(satisfaction=Satisfaction.SATISFIED), LEAD)


# --------------------------------------------------------------------------------------------
# Closed tickets, archive, events


def test_closed_ticket_refuses_everything_but_archive() -> None:
    flow = _fed_back()
    flow.do(RecordCallback(satisfaction=Satisfaction.SATISFIED), CALLBACK)
    closed = flow.ticket
    attempts: list[tuple[Command, Actor]] = [
        (AddProgressNote(note="补充"), SUPERVISOR),
        (Classify(ticket_type=TicketType.HELP, summary="改"), AGENT),
        (FlagForSupervision(kind=SupervisionFlagKind.OVERDUE), SYSTEM),
        (Escalate(to_level=SupervisionLevel.HOTLINE, ground=EscalationGround.HOTLINE_SUPERVISION,
                  reason="x"), SUPERVISOR),
        (Dispatch(lead_unit="city-housing", deadline=flow.now + timedelta(days=3),
                  sign_deadline=flow.now + timedelta(days=1)), DISPATCHER),
        (SubmitFeedback(result="再次反馈"), LEAD),
    ]
    for command, actor in attempts:
        with pytest.raises(IllegalTransition):
            apply(closed, command, actor, flow.now)
    archived, event = apply(closed, Archive(), SYSTEM, flow.now)
    assert archived.status is S.ARCHIVED and isinstance(event, ev.Archived)
    with pytest.raises(IllegalTransition):
        apply(archived, Archive(), SYSTEM, flow.now)


def test_every_transition_is_an_event_and_the_events_fold_to_the_ticket() -> None:
    flow = _fed_back()
    flow.do(RecordCallback(satisfaction=Satisfaction.SATISFIED), CALLBACK)
    assert [e.version for e in flow.events] == list(range(1, len(flow.events) + 1))
    assert flow.ticket.version == len(flow.events)
    assert fold(flow.events) == flow.ticket
    assert all(e.ticket_no == flow.ticket.ticket_no for e in flow.events)


def test_fold_refuses_events_out_of_order() -> None:
    flow = Flow().signed()
    with pytest.raises(InvalidInput):
        fold([flow.events[0], flow.events[2]])


def test_events_are_immutable() -> None:
    flow = Flow()
    with pytest.raises(dataclasses.FrozenInstanceError):
        flow.events[0].reason = "changed"  # type: ignore[misc]


def test_events_record_actor_time_reason_and_evidence() -> None:
    flow = Flow().classify().dispatch()
    event = flow.do(RequestReturn(reason="非本单位职责", attachments=EVIDENCE), LEAD)
    assert (event.actor, event.occurred_at, event.reason, event.attachments) == (
        LEAD, flow.now, "非本单位职责", EVIDENCE)


def test_naive_time_is_refused() -> None:
    flow = Flow()
    with pytest.raises(InvalidInput):
        apply(flow.ticket, AnswerDirectly(answer="x"), AGENT, datetime(2026, 1, 5, 9))


# --------------------------------------------------------------------------------------------
# Supervision on the ticket


def test_flag_puts_ticket_under_hotline_supervision_once() -> None:
    flow = Flow().classify().dispatch()
    flow.do(FlagForSupervision(kind=SupervisionFlagKind.OVERDUE, reason="超期"), SYSTEM)
    assert flow.ticket.supervision_level is SupervisionLevel.HOTLINE
    assert SupervisionFlagKind.OVERDUE in flow.ticket.supervision_flags
    with pytest.raises(IllegalTransition):
        flow.do(FlagForSupervision(kind=SupervisionFlagKind.OVERDUE), SYSTEM)


def test_escalation_follows_the_ladder_and_records_who_and_why() -> None:
    flow = Flow().signed()
    with pytest.raises(IllegalTransition):  # media only after hotline supervision
        flow.do(Escalate(to_level=SupervisionLevel.MEDIA,
                         ground=EscalationGround.UNRESOLVED_AFTER_HOTLINE, reason="x"), SUPERVISOR)
    with pytest.raises(PermissionDenied):
        flow.do(Escalate(to_level=SupervisionLevel.HOTLINE,
                         ground=EscalationGround.HOTLINE_SUPERVISION, reason="x"), SYSTEM)
    flow.do(Escalate(to_level=SupervisionLevel.HOTLINE,
                     ground=EscalationGround.HOTLINE_SUPERVISION, reason="多次催办无果"), SUPERVISOR)
    flow.do(Escalate(to_level=SupervisionLevel.MEDIA,
                     ground=EscalationGround.UNRESOLVED_AFTER_HOTLINE, reason="督办后仍未解决"),
            SUPERVISOR)
    flow.do(Escalate(to_level=SupervisionLevel.DISCIPLINE_INSPECTION,
                     ground=EscalationGround.MISCONDUCT, reason="推诿扯皮"), SUPERVISOR)
    with pytest.raises(IllegalTransition):  # never back down
        flow.do(Escalate(to_level=SupervisionLevel.GOVERNMENT_INSPECTION,
                         ground=EscalationGround.UNRESOLVED_AFTER_MEDIA, reason="x"), SUPERVISOR)
    steps = escalation_history(flow.events)
    assert [s.to_level for s in steps] == [SupervisionLevel.HOTLINE, SupervisionLevel.MEDIA,
                                           SupervisionLevel.DISCIPLINE_INSPECTION]
    assert steps[-1].actor == SUPERVISOR and steps[-1].reason == "推诿扯皮"


# --------------------------------------------------------------------------------------------
# Caller privacy


def test_confidential_caller_is_hidden_from_units() -> None:
    flow = Flow(caller=Caller(number="13812345678", name="李四", confidential=True))
    view = flow.ticket.view_for_unit()
    assert view.caller.number is None and view.caller.name is None
    assert view.caller.confidential


def test_anonymous_caller_keeps_number_for_unit_contact_but_no_name() -> None:
    caller = Caller(number="13812345678", name="王五", anonymous=True)
    assert caller.masked_for_unit() == Caller(number="13812345678", anonymous=True)
    assert caller.masked_number == "138****5678"


# --------------------------------------------------------------------------------------------
# Random sequences of actions by random roles


#: Which status may follow which (None: status unchanged is always allowed). Written from the
#: regulations, not copied from the workflow.
ALLOWED_NEXT: dict[TicketStatus, set[TicketStatus]] = {
    # A complaint about hotline staff leaves intake for the quality team, never for a unit.
    S.DRAFT: {S.DRAFT, S.DISPATCHED, S.CLOSED, S.QUALITY_CHECK},
    S.PENDING_DISPATCH: {S.PENDING_DISPATCH, S.DISPATCHED, S.QUALITY_CHECK},
    # The quality team's finding stands for the unit's reviewed feedback: the callback is due.
    S.QUALITY_CHECK: {S.QUALITY_CHECK, S.FEEDBACK_ACCEPTED},
    S.DISPATCHED: {S.DISPATCHED, S.IN_PROGRESS, S.RETURN_REQUESTED},
    S.IN_PROGRESS: {S.IN_PROGRESS, S.RETURN_REQUESTED, S.EXTENSION_REQUESTED,
                    S.TERMINATION_REQUESTED, S.SUSPENSION_REQUESTED, S.FEEDBACK_SUBMITTED},
    S.RETURN_REQUESTED: {S.RETURN_REQUESTED, S.PENDING_DISPATCH, S.DISPATCHED, S.IN_PROGRESS},
    S.EXTENSION_REQUESTED: {S.EXTENSION_REQUESTED, S.IN_PROGRESS},
    S.TERMINATION_REQUESTED: {S.TERMINATION_REQUESTED, S.IN_PROGRESS, S.CLOSED},
    S.SUSPENSION_REQUESTED: {S.SUSPENSION_REQUESTED, S.SUSPENDED, S.IN_PROGRESS},
    S.SUSPENDED: {S.SUSPENDED, S.IN_PROGRESS},
    # 应办未办 goes straight back; an unsatisfied caller waits for the hotline's judgement.
    S.FEEDBACK_SUBMITTED: {S.FEEDBACK_SUBMITTED, S.FEEDBACK_ACCEPTED, S.IN_PROGRESS,
                           S.REOPEN_REQUESTED, S.CLOSED},
    S.FEEDBACK_ACCEPTED: {S.FEEDBACK_ACCEPTED, S.IN_PROGRESS, S.REOPEN_REQUESTED, S.CLOSED,
                          S.QUALITY_CHECK},
    S.REOPEN_REQUESTED: {S.REOPEN_REQUESTED, S.IN_PROGRESS, S.CLOSED, S.QUALITY_CHECK},
    S.CLOSED: {S.ARCHIVED},
    S.ARCHIVED: set(),
}

_HOTLINE_REVIEW = {Role.DISPATCHER, Role.SUPERVISOR}
_LEAD_UNIT_EVENTS = (ev.Signed, ev.ReturnRequested, ev.ExtensionRequested,
                     ev.TerminationRequested, ev.FeedbackSubmitted, ev.SuspensionRequested,
                     ev.CallerContacted)
_CALLBACK_DESK = {Role.CALLBACK_AGENT, Role.SUPERVISOR}
EXPECTED_ROLES: dict[type[ev.TicketEvent], set[Role]] = {
    ev.TicketClassified: {Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR},
    ev.AnsweredDirectly: {Role.AGENT, Role.SUPERVISOR},
    ev.AnsweredInThreeWayCall: {Role.AGENT, Role.SUPERVISOR},
    ev.ClosedOutOfScope: {Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR},  # 不予受理 at intake or dispatch
    ev.Dispatched: _HOTLINE_REVIEW,
    ev.ReturnApproved: _HOTLINE_REVIEW,
    ev.ReturnRejected: _HOTLINE_REVIEW,
    ev.ExtensionApproved: _HOTLINE_REVIEW,
    ev.ExtensionDenied: _HOTLINE_REVIEW,
    ev.TerminationApproved: _HOTLINE_REVIEW,
    ev.TerminationRejected: _HOTLINE_REVIEW,
    ev.Signed: {Role.UNIT},
    ev.ReturnRequested: {Role.UNIT},
    ev.ExtensionRequested: {Role.UNIT},
    ev.TerminationRequested: {Role.UNIT},
    ev.FeedbackSubmitted: {Role.UNIT},
    ev.ProgressNoted: {Role.AGENT, Role.DISPATCHER, Role.CALLBACK_AGENT, Role.SUPERVISOR,
                       Role.UNIT},
    ev.CallbackRecorded: _CALLBACK_DESK,
    ev.ReopenReviewed: _CALLBACK_DESK,
    ev.FeedbackAccepted: _HOTLINE_REVIEW | _CALLBACK_DESK,
    ev.FeedbackRejected: _HOTLINE_REVIEW | _CALLBACK_DESK,
    ev.CallbackUnreached: _CALLBACK_DESK,
    ev.QualityFindingRecorded: {Role.SUPERVISOR},
    ev.SuspensionRequested: {Role.UNIT},
    ev.SuspensionApproved: _HOTLINE_REVIEW,
    ev.SuspensionRejected: _HOTLINE_REVIEW,
    ev.HandlingResumed: {Role.UNIT} | _HOTLINE_REVIEW,
    ev.SupervisionFlagged: {Role.SUPERVISOR, Role.SYSTEM},
    ev.SupervisionEscalated: {Role.SUPERVISOR},
    # 济南条例: the unit contacts the caller; 北京条例第二十三条: the hotline calls back at the deadline.
    ev.CallerContacted: {Role.UNIT},
    ev.DeadlineCallbackRecorded: _CALLBACK_DESK,
    ev.Archived: {Role.SUPERVISOR, Role.SYSTEM},
}
#: The only events that may close a ticket.
CLOSING_EVENTS = (ev.AnsweredDirectly, ev.AnsweredInThreeWayCall, ev.ClosedOutOfScope,
                  ev.TerminationApproved, ev.CallbackRecorded, ev.ReopenReviewed,
                  ev.CallbackUnreached)
#: Closed after dispatch: only by the callback, its outcome or a hotline review.
CLOSING_AFTER_DISPATCH = (ev.CallbackRecorded, ev.ReopenReviewed, ev.CallbackUnreached,
                          ev.TerminationApproved)

UNITS = ("city-housing", "city-urban-management", "city-ecology")
HOTLINE_ACTORS = [AGENT, DISPATCHER, CALLBACK, SUPERVISOR, SYSTEM]


def unit_actor(unit: str) -> Actor:
    return Actor(f"staff-{unit}", Role.UNIT, unit=unit)


reasons = st.sampled_from(["理由充分", "非本单位职责", ""])
evidence = st.sampled_from([EVIDENCE, ()])
# Hypothesis favours the first alternatives, so valid values come first and invalid ones after.
day_offsets = st.one_of(st.integers(1, 15), st.integers(-1, 0)).map(lambda d: timedelta(days=d))


class TicketLifecycle(RuleBasedStateMachine):
    """One ticket driven by random commands from random actors at random times."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        ticket, event = apply(None, Register(
            ticket_no="20261125-N01-000777", channel=Channel.WECHAT,
            caller=Caller(number="13900000000"),
        ), SYSTEM, self.now)
        self.ticket: Ticket = ticket
        self.events: list[ev.TicketEvent] = [event]

    def draw_actor(self, data: st.DataObject, *likely: Role) -> Actor:
        """A random actor of any role, half the time one of the `likely` roles for the command.

        Purely random roles almost never get a ticket past dispatch; the hint keeps deep
        states reachable while every role still tries every command.
        """
        involved = [u for u in (self.ticket.lead_unit, *self.ticket.cooperating_units) if u]
        units = st.sampled_from(involved or list(UNITS)).map(unit_actor)
        anyone = st.one_of(
            st.sampled_from(HOTLINE_ACTORS), units, st.sampled_from(UNITS).map(unit_actor)
        )
        hinted = [a for a in HOTLINE_ACTORS if a.role in likely]
        if Role.UNIT in likely:
            lead = self.ticket.lead_unit
            return data.draw(st.one_of(st.just(unit_actor(lead)) if lead else units, anyone))
        return data.draw(st.one_of(st.sampled_from(hinted), anyone) if hinted else anyone)

    def attempt(self, command: Command, actor: Actor) -> None:
        before = self.ticket
        try:
            after, event = apply(before, command, actor, self.now)
        except (IllegalTransition, PermissionDenied, InvalidInput):
            assert self.ticket is before
            return
        # Every transition is recorded, numbered, attributed.
        assert event.version == before.version + 1 == after.version
        assert (event.actor, event.occurred_at, event.reason) == (actor, self.now, command.reason)
        assert event.ticket_no == before.ticket_no
        # Only allowed moves, only by the roles the regulations name.
        assert after.status in ALLOWED_NEXT[before.status], (before.status, after.status)
        assert actor.role in EXPECTED_ROLES[type(event)], (type(event), actor.role)
        if isinstance(event, _LEAD_UNIT_EVENTS) or (
                isinstance(event, ev.HandlingResumed) and actor.role is Role.UNIT):
            assert actor.unit == before.lead_unit
        if actor.role is Role.UNIT:
            assert actor.unit is not None and before.involves_unit(actor.unit)
        # A complaint about hotline staff: never acted on by the person concerned, never
        # dispatched, and once marked always marked (nothing un-marks it).
        assert before.about_staff is None or actor.id != before.about_staff
        if before.about_staff is not None:
            assert not isinstance(event, ev.Dispatched) and after.about_staff == before.about_staff
        # Back from the callback: to the quality team for a staff complaint, to a unit otherwise.
        if after.status is S.QUALITY_CHECK:
            assert after.about_staff is not None
        if after.status is S.IN_PROGRESS:
            assert after.about_staff is None
        if after.status is S.CLOSED and before.status is not S.CLOSED:
            assert isinstance(event, CLOSING_EVENTS)
            if before.dispatched_at is not None:  # dispatched: closed by callback or review
                assert isinstance(event, CLOSING_AFTER_DISPATCH)
            if isinstance(event, ev.CallbackUnreached):  # never before the attempt cap
                assert event.attempts >= DEFAULT_POLICY.callback_attempts
            if isinstance(event, ev.CallbackRecorded):  # dissatisfaction alone re-opens nothing
                assert not (event.reopened and event.handled_as_required)
        # A closed ticket never changes, except for being archived.
        if before.is_finished:
            assert isinstance(event, ev.Archived) and before.status is S.CLOSED
            assert dataclasses.replace(after, status=S.CLOSED, version=before.version,
                                       updated_at=before.updated_at, archived_at=None) == before
        self.ticket = after
        self.events.append(event)

    @rule(hours=st.integers(min_value=0, max_value=48))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    # Each builder draws one command of its kind, with random (often invalid) parameters.

    def classify(self, data: st.DataObject) -> tuple[Command, Actor]:
        # About staff: often the agent or the supervisor these actors are (the person concerned
        # must then never act on it again), or a colleague, or blank (no one).
        return Classify(
            ticket_type=data.draw(st.sampled_from(TicketType)),
            summary=data.draw(st.sampled_from(["小区停水", "欠薪", ""])),
            about_staff=data.draw(st.sampled_from([None, None, AGENT.id, SUPERVISOR.id, "a-9", " "])),
        ), self.draw_actor(data, Role.AGENT, Role.DISPATCHER)

    def quality_finding(self, data: st.DataObject) -> tuple[Command, Actor]:
        return RecordQualityFinding(
            finding=data.draw(st.sampled_from(QualityFinding)),
            result=data.draw(st.sampled_from(["已批评教育", ""])),
        ), self.draw_actor(data, Role.SUPERVISOR)

    def answer_directly(self, data: st.DataObject) -> tuple[Command, Actor]:
        return AnswerDirectly(
            answer="答复口径", knowledge_article_id=data.draw(st.sampled_from([None, "kb-1"]))
        ), self.draw_actor(data, Role.AGENT)

    def three_way_call(self, data: st.DataObject) -> tuple[Command, Actor]:
        return AnswerInThreeWayCall(unit="utility-water", answer="已答复",
                                    caller_consented=data.draw(st.booleans())), self.draw_actor(
            data, Role.AGENT)

    def out_of_scope(self, data: st.DataObject) -> tuple[Command, Actor]:
        return CloseOutOfScope(
            scope=data.draw(st.sampled_from(OutOfScope)),
            referred_to=data.draw(st.sampled_from(["", "110", "人民法院"])),
            duplicate_of=data.draw(st.sampled_from([None, "20261101-N01-000001"])),
        ), self.draw_actor(data, Role.AGENT)

    def dispatch(self, data: st.DataObject) -> tuple[Command, Actor]:
        minutes = data.draw(st.booleans())
        return Dispatch(
            lead_unit=data.draw(st.sampled_from(UNITS)),
            cooperating_units=tuple(data.draw(st.lists(st.sampled_from(UNITS), max_size=2,
                                                       unique=True))),
            deadline=self.now + data.draw(day_offsets),
            sign_deadline=self.now + timedelta(
                hours=data.draw(st.one_of(st.integers(1, 24), st.integers(-1, 48)))),
            joint_meeting_minutes=Attachment("minutes", "s3://m.pdf") if minutes else None,
            first_contact_deadline=data.draw(st.one_of(
                st.none(), day_offsets.map(lambda offset: self.now + offset))),
        ), self.draw_actor(data, Role.DISPATCHER, Role.SUPERVISOR)

    def sign(self, data: st.DataObject) -> tuple[Command, Actor]:
        return Sign(), self.draw_actor(data, Role.UNIT)

    def request_return(self, data: st.DataObject) -> tuple[Command, Actor]:
        return RequestReturn(reason=data.draw(reasons), attachments=data.draw(evidence)), \
            self.draw_actor(data, Role.UNIT)

    def review_return(self, data: st.DataObject) -> tuple[Command, Actor]:
        reason = data.draw(reasons)
        command = ApproveReturn(reason=reason) if data.draw(st.booleans()) else RejectReturn(
            reason=reason)
        return command, self.draw_actor(data, Role.DISPATCHER, Role.SUPERVISOR)

    def request_extension(self, data: st.DataObject) -> tuple[Command, Actor]:
        base = self.ticket.deadline or self.now
        return RequestExtension(reason=data.draw(reasons),
                                requested_deadline=base + data.draw(day_offsets),
                                caller_informed=data.draw(st.booleans())), \
            self.draw_actor(data, Role.UNIT)

    def review_extension(self, data: st.DataObject) -> tuple[Command, Actor]:
        base, reason = self.ticket.deadline or self.now, data.draw(reasons)
        command: Command = (
            ApproveExtension(new_deadline=base + data.draw(day_offsets), reason=reason)
            if data.draw(st.booleans()) else DenyExtension(reason=reason)
        )
        return command, self.draw_actor(data, Role.DISPATCHER, Role.SUPERVISOR)

    def request_termination(self, data: st.DataObject) -> tuple[Command, Actor]:
        return RequestTermination(
            ground=data.draw(st.sampled_from(TerminationGround)), reason=data.draw(reasons),
            attachments=data.draw(evidence), explained_to_caller=data.draw(st.booleans()),
        ), self.draw_actor(data, Role.UNIT)

    def review_termination(self, data: st.DataObject) -> tuple[Command, Actor]:
        reason = data.draw(reasons)
        command = (ApproveTermination(reason=reason) if data.draw(st.booleans())
                   else RejectTermination(reason=reason))
        return command, self.draw_actor(data, Role.DISPATCHER, Role.SUPERVISOR)

    def progress(self, data: st.DataObject) -> tuple[Command, Actor]:
        return AddProgressNote(note=data.draw(st.sampled_from(["已联系诉求人", ""]))), \
            self.draw_actor(data, Role.UNIT, Role.AGENT)

    def record_contact(self, data: st.DataObject) -> tuple[Command, Actor]:
        return RecordContact(method=data.draw(st.sampled_from(ContactMethod)),
                             note=data.draw(st.sampled_from(["已电话联系", ""]))), \
            self.draw_actor(data, Role.UNIT)

    def deadline_callback(self, data: st.DataObject) -> tuple[Command, Actor]:
        return RecordDeadlineCallback(
            satisfaction=data.draw(st.sampled_from([None, *Satisfaction])),
            reached=data.draw(st.booleans()), reason=data.draw(reasons),
        ), self.draw_actor(data, Role.CALLBACK_AGENT)

    def feedback(self, data: st.DataObject) -> tuple[Command, Actor]:
        return SubmitFeedback(result=data.draw(st.sampled_from(["已处理", ""]))), \
            self.draw_actor(data, Role.UNIT)

    def callback(self, data: st.DataObject) -> tuple[Command, Actor]:
        new_deadline = data.draw(st.one_of(st.none(), day_offsets))
        return RecordCallback(
            satisfaction=data.draw(st.sampled_from([None, *Satisfaction])),
            reasonable=data.draw(st.booleans()), handled_as_required=data.draw(st.booleans()),
            new_deadline=None if new_deadline is None else self.now + new_deadline,
        ), self.draw_actor(data, Role.CALLBACK_AGENT)

    def review_reopen(self, data: st.DataObject) -> tuple[Command, Actor]:
        new_deadline = data.draw(st.one_of(st.none(), day_offsets))
        return ReviewReopen(
            reasonable=data.draw(st.booleans()), reason=data.draw(reasons),
            new_deadline=None if new_deadline is None else self.now + new_deadline,
        ), self.draw_actor(data, Role.CALLBACK_AGENT, Role.SUPERVISOR)

    def review_feedback(self, data: st.DataObject) -> tuple[Command, Actor]:
        reason = data.draw(reasons)
        command = (AcceptFeedback(reason=reason) if data.draw(st.booleans())
                   else RejectFeedback(reason=reason))
        return command, self.draw_actor(data, Role.DISPATCHER, Role.CALLBACK_AGENT)

    def close_unreached(self, data: st.DataObject) -> tuple[Command, Actor]:
        return CloseUnreached(attempts=data.draw(st.integers(0, 5))), self.draw_actor(
            data, Role.CALLBACK_AGENT)

    def request_suspension(self, data: st.DataObject) -> tuple[Command, Actor]:
        return RequestSuspension(reason=data.draw(reasons), attachments=data.draw(evidence)), \
            self.draw_actor(data, Role.UNIT)

    def review_suspension(self, data: st.DataObject) -> tuple[Command, Actor]:
        reason = data.draw(reasons)
        command = (ApproveSuspension(reason=reason) if data.draw(st.booleans())
                   else RejectSuspension(reason=reason))
        return command, self.draw_actor(data, Role.DISPATCHER, Role.SUPERVISOR)

    def resume(self, data: st.DataObject) -> tuple[Command, Actor]:
        return ResumeHandling(reason=data.draw(reasons)), self.draw_actor(
            data, Role.UNIT, Role.DISPATCHER)

    def flag(self, data: st.DataObject) -> tuple[Command, Actor]:
        return FlagForSupervision(kind=data.draw(st.sampled_from(SupervisionFlagKind)),
                                  reason="扫描发现"), self.draw_actor(data, Role.SYSTEM)

    def escalate(self, data: st.DataObject) -> tuple[Command, Actor]:
        return Escalate(
            to_level=data.draw(st.sampled_from(SupervisionLevel)),
            ground=data.draw(st.sampled_from(EscalationGround)), reason=data.draw(reasons),
        ), self.draw_actor(data, Role.SUPERVISOR)

    def archive(self, data: st.DataObject) -> tuple[Command, Actor]:
        return Archive(), self.draw_actor(data, Role.SYSTEM)

    BUILDERS = ("progress", "classify", "answer_directly", "three_way_call", "out_of_scope",
                "dispatch", "sign", "request_return", "review_return", "request_extension",
                "review_extension", "request_termination", "review_termination", "feedback",
                "callback", "flag", "escalate", "archive", "review_reopen", "close_unreached",
                "request_suspension", "review_suspension", "resume", "review_feedback",
                "record_contact", "deadline_callback", "quality_finding")

    #: Commands that usually come next, then commands that belong to neighbouring statuses
    #: (the ones a buggy workflow would most plausibly let through).
    NATURAL_NEXT: ClassVar[dict[TicketStatus, tuple[str, ...]]] = {
        S.DRAFT: ("dispatch", "classify", "sign", "feedback", "callback", "archive"),
        S.PENDING_DISPATCH: ("dispatch", "classify", "sign", "review_return", "answer_directly"),
        S.DISPATCHED: ("sign", "request_return", "feedback", "request_extension",
                       "request_termination", "dispatch", "callback", "record_contact",
                       "deadline_callback"),
        S.IN_PROGRESS: ("feedback", "request_extension", "request_termination",
                        "request_return", "progress", "escalate", "flag", "sign", "callback",
                        "review_extension", "review_termination", "review_return", "archive",
                        "request_suspension", "resume", "record_contact", "deadline_callback"),
        S.RETURN_REQUESTED: ("review_return", "sign", "feedback", "dispatch",
                             "review_extension"),
        S.EXTENSION_REQUESTED: ("review_extension", "feedback", "request_extension",
                                "review_termination", "progress"),
        S.TERMINATION_REQUESTED: ("review_termination", "feedback", "review_extension",
                                  "request_termination"),
        S.SUSPENSION_REQUESTED: ("review_suspension", "resume", "feedback",
                                 "review_termination", "request_suspension"),
        S.SUSPENDED: ("resume", "feedback", "request_extension", "review_suspension",
                      "progress", "flag", "record_contact", "deadline_callback"),
        S.FEEDBACK_SUBMITTED: ("callback", "feedback", "archive", "request_extension",
                               "review_termination", "close_unreached", "review_reopen",
                               "review_feedback", "record_contact", "deadline_callback"),
        S.FEEDBACK_ACCEPTED: ("callback", "close_unreached", "review_feedback", "feedback",
                              "review_reopen", "quality_finding"),
        S.REOPEN_REQUESTED: ("review_reopen", "callback", "close_unreached", "feedback",
                             "review_return", "archive"),
        S.QUALITY_CHECK: ("quality_finding", "dispatch", "classify", "callback", "progress",
                          "feedback", "sign", "escalate"),
        S.CLOSED: ("archive", "progress", "callback", "classify", "flag", "escalate"),
        S.ARCHIVED: ("archive", "classify", "progress", "dispatch"),
    }

    @rule(data=st.data())
    def any_command(self, data: st.DataObject) -> None:
        """Any command at all, whatever the status."""
        name = data.draw(st.sampled_from(self.BUILDERS))
        self.attempt(*getattr(self, name)(data))

    @rule(data=st.data())
    def likely_command(self, data: st.DataObject) -> None:
        """A command that often fits the status (still with random actor and parameters)."""
        name = data.draw(st.sampled_from(self.NATURAL_NEXT[self.ticket.status]))
        self.attempt(*getattr(self, name)(data))

    @invariant()
    def events_fold_to_the_ticket(self) -> None:
        assert fold(self.events) == self.ticket
        assert self.ticket.version == len(self.events)

    @invariant()
    def state_is_consistent(self) -> None:
        t = self.ticket
        if t.about_staff is not None:
            # The quality team's: a complaint, never with a unit, no unit's deadline.
            assert t.ticket_type is TicketType.COMPLAINT and t.about_staff.strip()
            assert t.lead_unit is None and t.dispatched_at is None and t.deadline is None
            assert t.status in (S.QUALITY_CHECK, S.FEEDBACK_ACCEPTED, S.REOPEN_REQUESTED, S.CLOSED,
                                S.ARCHIVED)
            # A finding is due while it waits, and on the ticket once the callback is due.
            assert (t.quality_finding is None) == (t.status is S.QUALITY_CHECK)
        elif t.status in (S.DISPATCHED, S.IN_PROGRESS, S.RETURN_REQUESTED, S.EXTENSION_REQUESTED,
                          S.TERMINATION_REQUESTED, S.FEEDBACK_SUBMITTED, S.SUSPENSION_REQUESTED,
                          S.SUSPENDED, S.REOPEN_REQUESTED, S.FEEDBACK_ACCEPTED):
            assert t.lead_unit is not None and t.deadline is not None
            assert t.lead_unit not in t.cooperating_units
        if t.about_staff is None and t.status in (
                S.IN_PROGRESS, S.EXTENSION_REQUESTED, S.TERMINATION_REQUESTED, S.FEEDBACK_SUBMITTED,
                S.SUSPENSION_REQUESTED, S.SUSPENDED, S.REOPEN_REQUESTED, S.FEEDBACK_ACCEPTED):
            assert t.signed_at is not None
        # The hotline's review clock runs exactly while a request waits for it.
        # The hotline's own clock runs while a request waits for its review, and while a
        # complaint about staff waits for the quality team's finding.
        assert (t.requested_at is not None) == (t.status.value.endswith("_requested")
                                                or t.status is S.QUALITY_CHECK)
        assert (t.suspended_remaining is not None) == (t.status is S.SUSPENDED)
        # Caps from the policy hold whatever the sequence.
        assert t.extension_count <= DEFAULT_POLICY.max_extensions
        assert t.extended_by <= DEFAULT_POLICY.max_extension_total
        assert t.reopen_count <= DEFAULT_POLICY.max_reopens
        if t.is_finished:
            assert t.closure_reason is not None and t.closed_at is not None
        else:
            assert t.closure_reason is None
        if t.joint_meeting_required:
            assert t.return_count >= DEFAULT_POLICY.joint_meeting_after_returns
        approved = sum(isinstance(e, ev.ReturnApproved) for e in self.events)
        assert t.return_count == approved
        assert (t.supervision_level >= SupervisionLevel.HOTLINE) or not t.supervision_flags
        # 济南条例: a first-contact deadline only once dispatched, never for a caller who wants no
        # reply; a contact only ever meets it once dispatched too.
        if t.first_contact_deadline is not None:
            assert t.dispatched_at is not None and not t.caller.no_reply
        if t.first_contacted_at is not None:
            assert t.dispatched_at is not None or t.is_finished
        # 北京条例第二十三条: a deadline callback only after the deadline; unsatisfied is 督办.
        for e in self.events:
            if isinstance(e, ev.DeadlineCallbackRecorded):
                assert e.reached or e.satisfaction is None
                assert e.supervised == (e.satisfaction is Satisfaction.UNSATISFIED)
        if t.deadline_callback_view is Satisfaction.UNSATISFIED:
            assert SupervisionFlagKind.UNSATISFIED_AT_DEADLINE in t.supervision_flags


TicketLifecycle.TestCase.settings = settings(
    max_examples=300, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Pure CPU, never timed: it runs in a CPU-bound lane at low priority (tests/scheduling.py).
test_random_action_sequences_respect_the_regulations = pytest.mark.cpu_bound(TicketLifecycle.TestCase)


# --------------------------------------------------------------------------------------------
# Ticket numbers


def test_ticket_number_uses_the_beijing_date() -> None:
    # 2026-11-24 17:30 UTC is already 2026-11-25 01:30 in Beijing.
    assert format_ticket_number(datetime(2026, 11, 24, 17, 30, tzinfo=UTC), "N01", 123) == (
        "20261125-N01-000123")


def test_ticket_number_round_trips_and_sorts_by_day_node_sequence() -> None:
    number = parse_ticket_number("20261125-N02-000042")
    assert (number.local_date.isoformat(), number.node_id, number.sequence) == (
        "2026-11-25", "N02", 42)
    assert str(number) == "20261125-N02-000042"
    assert number.prefix == "20261125-N02-"
    assert sorted([parse_ticket_number("20261125-N02-000002"), number,
                   parse_ticket_number("20261124-N09-999999")])[0].node_id == "N09"
    assert isinstance(number, TicketNumber)


@pytest.mark.parametrize("text", ["20261125-N01-123", "20261332-N01-000001", "20261125-n01-000001",
                                  "20261125-N01-000000", "x", "20261125--000001"])
def test_malformed_ticket_numbers_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_ticket_number(text)


def test_sequence_overflow_is_refused() -> None:
    with pytest.raises(InvalidInput):
        format_ticket_number(T0, "N01", 1_000_000)
    with pytest.raises(InvalidInput):
        format_ticket_number(T0, "N-1", 1)
