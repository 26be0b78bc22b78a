"""The regulated workflow rules of issue 24 on the pure state machine, one test per rule.

Each test is named after the rule it checks; the article is in the workflow's docstrings. The
random action sequences of `test_ticket_workflow.py` drive the same commands.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from kernel.errors import IllegalTransition, InvalidInput, PermissionDenied
from kernel.roles import Actor, Role
from tests.unit.test_ticket_workflow import (
    AGENT,
    CALLBACK,
    CALLER,
    DISPATCHER,
    EVIDENCE,
    LEAD,
    SUPERVISOR,
    SYSTEM,
    Flow,
)
from tickets import events as ev
from tickets.model import (
    NOT_INTAKE,
    Caller,
    ClosureReason,
    ContactMethod,
    OutOfScope,
    QualityFinding,
    Satisfaction,
    SupervisionFlagKind,
    SupervisionLevel,
    TicketStatus,
    TicketType,
)
from tickets.workflow import (
    DEFAULT_POLICY,
    AcceptFeedback,
    AddProgressNote,
    ApproveExtension,
    ApproveReturn,
    ApproveSuspension,
    Classify,
    CloseOutOfScope,
    CloseUnreached,
    Dispatch,
    RecordCallback,
    RecordContact,
    RecordDeadlineCallback,
    RecordQualityFinding,
    RecordRelayCall,
    RejectFeedback,
    RejectSuspension,
    RequestExtension,
    RequestReturn,
    RequestSuspension,
    ResumeHandling,
    ReviewReopen,
    Sign,
    SubmitFeedback,
    apply,
    fold,
    offered_commands,
)

S = TicketStatus
COOPERATING = Actor("u-2", Role.UNIT, unit="city-urban-management")


def fed_back() -> Flow:
    flow = Flow().signed()
    flow.do(SubmitFeedback(result="已督促物业维修"), LEAD)
    return flow


def unsatisfied_round(flow: Flow) -> None:
    flow.do(RecordCallback(satisfaction=Satisfaction.UNSATISFIED, reason="电梯仍不能用"), CALLBACK)


# ---- 1. 临沂条例第二十条: unsatisfied re-opens only when the hotline judges it reasonable ----


def test_unsatisfied_callback_waits_for_the_hotlines_judgement() -> None:
    flow = fed_back()
    event = flow.do(RecordCallback(satisfaction=Satisfaction.UNSATISFIED, reasonable=True,
                                   new_deadline=flow.now + timedelta(days=5)), CALLBACK)
    assert isinstance(event, ev.CallbackRecorded) and event.review_pending and not event.reopened
    assert flow.ticket.status is S.REOPEN_REQUESTED and flow.ticket.reopen_count == 0
    assert flow.ticket.requested_at == flow.now  # the review's clock starts


def test_unreasonable_dissatisfaction_closes_with_the_reason_recorded() -> None:
    flow = fed_back()
    unsatisfied_round(flow)
    with pytest.raises(InvalidInput):
        flow.do(ReviewReopen(reasonable=False), SUPERVISOR)
    event = flow.do(ReviewReopen(reasonable=False, reason="诉求超出政策规定，已解释"), SUPERVISOR)
    assert event.reason == "诉求超出政策规定，已解释"
    assert flow.ticket.status is S.CLOSED
    assert flow.ticket.closure_reason is ClosureReason.CALLBACK_COMPLETED
    assert flow.ticket.satisfaction is Satisfaction.UNSATISFIED


def test_only_the_callback_desk_judges_a_dissatisfaction() -> None:
    flow = fed_back()
    unsatisfied_round(flow)
    for actor in (LEAD, AGENT, DISPATCHER):
        with pytest.raises(PermissionDenied):
            flow.do(ReviewReopen(reasonable=True, new_deadline=flow.now + timedelta(days=3)), actor)


def test_reopens_are_capped_and_then_go_to_hotline_supervision() -> None:
    flow = fed_back()
    for round_no in range(1, DEFAULT_POLICY.max_reopens + 1):
        unsatisfied_round(flow)
        flow.do(ReviewReopen(reasonable=True, new_deadline=flow.now + timedelta(days=5)), CALLBACK)
        assert flow.ticket.reopen_count == round_no
        flow.do(SubmitFeedback(result=f"第{round_no}次处理"), LEAD)
    unsatisfied_round(flow)
    event = flow.do(ReviewReopen(reasonable=True, new_deadline=flow.now + timedelta(days=5)),
                    CALLBACK)
    assert isinstance(event, ev.ReopenReviewed) and event.supervised and not event.reopened
    assert flow.ticket.reopen_count == DEFAULT_POLICY.max_reopens
    assert SupervisionFlagKind.REPEATED in flow.ticket.supervision_flags
    assert flow.ticket.supervision_level is SupervisionLevel.HOTLINE
    assert flow.ticket.status is S.IN_PROGRESS  # the unit still owes the work, now under 督办
    assert fold(flow.events) == flow.ticket


def test_old_reasonable_callback_events_still_reopen_when_folded() -> None:
    flow = fed_back()
    legacy = ev.CallbackRecorded(
        ticket_no=flow.ticket.ticket_no, version=flow.ticket.version + 1, occurred_at=flow.now,
        actor=CALLBACK, satisfaction=Satisfaction.UNSATISFIED, reasonable=True,
        handled_as_required=True, reopened=True, new_deadline=flow.now + timedelta(days=5))
    ticket = fold([*flow.events, legacy])
    assert ticket.status is S.IN_PROGRESS and ticket.reopen_count == 1


# ---- 2. 北京条例第二十三条: a caller never reached is its own outcome -------------------------


def test_unreached_callback_closes_as_unreached_after_the_attempt_cap() -> None:
    flow = fed_back()
    with pytest.raises(IllegalTransition) as info:
        flow.do(CloseUnreached(attempts=DEFAULT_POLICY.callback_attempts - 1), CALLBACK)
    assert info.value.context["rule"] == "callback_attempts"
    flow.do(CloseUnreached(attempts=DEFAULT_POLICY.callback_attempts, reason="三次无人接听"),
            CALLBACK)
    assert flow.ticket.status is S.CLOSED
    assert flow.ticket.closure_reason is ClosureReason.CALLBACK_UNREACHED
    assert flow.ticket.satisfaction is None


# ---- 3. 北京条例第十五条第二项: extension caps, and the caller told ----------------------------


def test_extension_requires_the_caller_to_have_been_told() -> None:
    flow = Flow().signed()
    assert flow.ticket.deadline is not None
    with pytest.raises(IllegalTransition) as info:
        flow.do(RequestExtension(reason="需协调", requested_deadline=flow.ticket.deadline
                                 + timedelta(days=3)), LEAD)
    assert info.value.context["rule"] == "caller_informed_required"
    event = flow.do(RequestExtension(reason="需协调", caller_informed=True,
                                     requested_deadline=flow.ticket.deadline + timedelta(days=3)),
                    LEAD)
    assert isinstance(event, ev.ExtensionRequested) and event.caller_informed


def extend(flow: Flow, days: int) -> None:
    assert flow.ticket.deadline is not None
    new = flow.ticket.deadline + timedelta(days=days)
    flow.do(RequestExtension(reason="需协调", caller_informed=True, requested_deadline=new), LEAD)
    flow.do(ApproveExtension(new_deadline=new), DISPATCHER)


def test_extensions_are_capped_in_number() -> None:
    flow = Flow().signed()
    for _ in range(DEFAULT_POLICY.max_extensions):
        extend(flow, 3)
    with pytest.raises(IllegalTransition) as info:
        extend(flow, 1)
    assert info.value.context["rule"] == "extension_count_cap"


def test_extensions_are_capped_in_total_days() -> None:
    flow = Flow().signed()
    extend(flow, 20)
    assert flow.ticket.extended_by == timedelta(days=20)
    with pytest.raises(IllegalTransition) as info:
        extend(flow, DEFAULT_POLICY.max_extension_total.days - 20 + 1)
    assert info.value.context["rule"] == "extension_total_cap"
    assert flow.ticket.status is S.IN_PROGRESS
    # A review cannot grant past the cap either, even on a request within it.
    assert flow.ticket.deadline is not None
    flow.do(RequestExtension(reason="需协调", caller_informed=True,
                             requested_deadline=flow.ticket.deadline + timedelta(days=5)), LEAD)
    with pytest.raises(IllegalTransition):
        flow.do(ApproveExtension(new_deadline=flow.ticket.deadline + timedelta(days=11)), DISPATCHER)


# ---- 4. 北京条例第十一条第四至六项, 唐山 不予受理: intake closures of drafts --------------------


@pytest.mark.parametrize(("scope", "referred_to", "reason"), [
    (OutOfScope.SECRET_OR_PRIVACY, "", "涉及他人隐私，已向诉求人解释"),
    (OutOfScope.OUTSIDE_DUTIES, "消费者协会", ""),
    (OutOfScope.UNLAWFUL_OR_HARASSING, "", "已告知相关规定及法律后果"),
    (OutOfScope.INVALID_CALL, "", ""),
])
def test_intake_closure_closes_a_draft_and_is_not_intake(
        scope: OutOfScope, referred_to: str, reason: str) -> None:
    flow = Flow()
    flow.do(CloseOutOfScope(scope=scope, referred_to=referred_to, reason=reason), AGENT)
    assert flow.ticket.status is S.CLOSED
    assert flow.ticket.closure_reason is ClosureReason(scope.value)
    assert flow.ticket.closure_reason in NOT_INTAKE


@pytest.mark.parametrize(("scope", "field"), [
    (OutOfScope.OUTSIDE_DUTIES, "referred_to"),  # which market or social channel
    (OutOfScope.UNLAWFUL_OR_HARASSING, "reason"),  # the education given
    (OutOfScope.SECRET_OR_PRIVACY, "reason"),  # the explanation given
])
def test_intake_closure_records_what_the_caller_was_told(scope: OutOfScope, field: str) -> None:
    flow = Flow()
    with pytest.raises(InvalidInput) as info:
        flow.do(CloseOutOfScope(scope=scope), AGENT)
    assert info.value.context["field"] == field
    assert flow.ticket.status is S.DRAFT


def test_intake_closure_only_closes_drafts() -> None:
    flow = Flow().signed()
    with pytest.raises(IllegalTransition):
        flow.do(CloseOutOfScope(scope=OutOfScope.INVALID_CALL), AGENT)


# ---- 5. The return window after dispatch; the hotline's own review clock -------------------


def dispatched_with_return_window(days: int) -> Flow:
    flow = Flow().classify()
    flow.do(Dispatch(lead_unit="city-housing", deadline=flow.now + timedelta(days=7),
                     sign_deadline=flow.now + timedelta(days=1),
                     return_deadline=flow.now + timedelta(days=days)), DISPATCHER)
    return flow


def test_return_is_refused_after_the_return_window() -> None:
    flow = dispatched_with_return_window(2)
    with pytest.raises(IllegalTransition) as info:
        flow.do(RequestReturn(reason="非本单位职责", attachments=EVIDENCE), LEAD, hours=49)
    assert info.value.context["rule"] == "return_window"


def test_return_within_the_window_starts_the_review_clock() -> None:
    flow = dispatched_with_return_window(2)
    flow.do(RequestReturn(reason="非本单位职责", attachments=EVIDENCE), LEAD, hours=47)
    assert flow.ticket.status is S.RETURN_REQUESTED and flow.ticket.requested_at == flow.now


def test_dispatch_refuses_a_return_window_in_the_past() -> None:
    with pytest.raises(IllegalTransition):
        dispatched_with_return_window(-1)


# ---- 6. 唐山条例 中止: the clock stops and restarts ------------------------------------------


def test_suspension_stops_the_clock_and_resumption_restarts_it() -> None:
    flow = Flow().signed()
    assert flow.ticket.deadline is not None
    with pytest.raises(IllegalTransition):
        flow.do(RequestSuspension(reason="诉求人住院"), LEAD)  # no evidence
    flow.do(RequestSuspension(reason="诉求人住院，暂无法核实", attachments=EVIDENCE), LEAD)
    assert flow.ticket.status is S.SUSPENSION_REQUESTED
    left = flow.ticket.deadline - (flow.now + timedelta(hours=1))
    flow.do(ApproveSuspension(reason="同意中止"), DISPATCHER)
    assert flow.ticket.status is S.SUSPENDED and flow.ticket.suspended_remaining == left
    flow.do(ResumeHandling(reason="诉求人已出院"), LEAD, hours=24 * 20)
    assert flow.ticket.status is S.IN_PROGRESS
    assert flow.ticket.deadline == flow.now + left and flow.ticket.suspended_remaining is None
    assert fold(flow.events) == flow.ticket


def test_rejected_suspension_returns_to_handling_with_a_reason() -> None:
    flow = Flow().signed()
    flow.do(RequestSuspension(reason="等待鉴定", attachments=EVIDENCE), LEAD)
    with pytest.raises(InvalidInput):
        flow.do(RejectSuspension(), DISPATCHER)
    flow.do(RejectSuspension(reason="可先行处置"), DISPATCHER)
    assert flow.ticket.status is S.IN_PROGRESS


def test_only_the_lead_unit_asks_for_suspension() -> None:
    flow = Flow().signed()
    with pytest.raises(PermissionDenied):
        flow.do(RequestSuspension(reason="等待鉴定", attachments=EVIDENCE), COOPERATING)


# ---- 7. 济南条例 逐一审核: the hotline reviews the feedback before the callback ---------------

REVIEWED = dataclasses.replace(DEFAULT_POLICY, review_feedback=True)


def test_feedback_is_reviewed_before_the_callback_when_the_rule_is_on() -> None:
    flow = fed_back()
    flow.now += timedelta(hours=1)
    with pytest.raises(IllegalTransition) as info:
        apply(flow.ticket, RecordCallback(satisfaction=Satisfaction.SATISFIED), CALLBACK, flow.now,
              REVIEWED)
    assert info.value.context["rule"] == "feedback_review_required"
    ticket, _ = apply(flow.ticket, AcceptFeedback(reason="反馈完整"), DISPATCHER, flow.now, REVIEWED)
    assert ticket.status is S.FEEDBACK_ACCEPTED
    ticket, _ = apply(ticket, RecordCallback(satisfaction=Satisfaction.SATISFIED), CALLBACK,
                      flow.now, REVIEWED)
    assert ticket.status is S.CLOSED


def test_rejected_feedback_goes_back_to_the_unit_with_the_reason() -> None:
    flow = fed_back()
    with pytest.raises(InvalidInput):
        flow.do(RejectFeedback(), DISPATCHER)
    flow.do(RejectFeedback(reason="未说明整改结果"), DISPATCHER)
    assert flow.ticket.status is S.IN_PROGRESS and flow.ticket.feedback_at is None
    with pytest.raises(PermissionDenied):
        flow.do(AcceptFeedback(), LEAD)


# ---- 8. 济南条例: the lead unit contacts the caller within the working days after dispatch ----


def dispatched_with_first_contact(caller: Caller = CALLER, days: int = 3) -> Flow:
    """A classified ticket dispatched with the first-contact deadline the service computed."""
    flow = Flow(caller).classify()
    flow.now += timedelta(hours=1)
    flow.do(Dispatch(
        lead_unit="city-housing", cooperating_units=("city-urban-management",),
        deadline=flow.now + timedelta(days=10), sign_deadline=flow.now + timedelta(days=1),
        first_contact_deadline=flow.now + timedelta(days=days),
    ), DISPATCHER, hours=0)
    return flow


def test_dispatch_writes_the_first_contact_deadline_on_the_ticket() -> None:
    flow = dispatched_with_first_contact()
    event = flow.events[-1]
    assert isinstance(event, ev.Dispatched)
    assert flow.ticket.first_contact_deadline == event.first_contact_deadline == flow.now + timedelta(days=3)
    assert flow.ticket.first_contacted_at is None
    assert fold(flow.events) == flow.ticket


def test_a_caller_who_asked_for_no_reply_is_owed_no_first_contact() -> None:
    flow = dispatched_with_first_contact(dataclasses.replace(CALLER, no_reply=True))
    assert flow.ticket.first_contact_deadline is None
    assert flow.ticket.view_for_unit().caller.no_reply  # the unit knows why
    # The unit may still contact such a caller; it is simply not owed.
    flow.do(RecordContact(method=ContactMethod.VISIT, note="上门查看电梯"), LEAD)
    assert flow.ticket.first_contacted_at == flow.now


def test_a_first_contact_deadline_in_the_past_is_refused_at_dispatch() -> None:
    flow = Flow().classify()
    with pytest.raises(IllegalTransition) as info:
        flow.do(Dispatch(lead_unit="city-housing", deadline=flow.now + timedelta(days=10),
                         sign_deadline=flow.now + timedelta(days=1),
                         first_contact_deadline=flow.now), DISPATCHER)
    assert info.value.context["rule"] == "first_contact_window"


def test_the_lead_unit_records_how_it_contacted_the_caller_and_what_was_said() -> None:
    flow = dispatched_with_first_contact()
    with pytest.raises(InvalidInput):
        flow.do(RecordContact(method=ContactMethod.PHONE, note=" "), LEAD)
    event = flow.do(RecordContact(method=ContactMethod.PHONE, note="已电话告知处理安排"), LEAD)
    assert isinstance(event, ev.CallerContacted) and event.method is ContactMethod.PHONE
    assert flow.ticket.first_contacted_at == flow.now
    assert flow.ticket.status is S.DISPATCHED  # a contact moves nothing: signing is still due
    first = flow.now
    flow.do(RecordContact(method=ContactMethod.SMS, note="短信告知维修时间"), LEAD)
    assert flow.ticket.first_contacted_at == first  # later contacts are on the record only
    assert fold(flow.events) == flow.ticket


def test_only_the_lead_unit_records_a_contact() -> None:
    flow = dispatched_with_first_contact()
    for actor in (COOPERATING, AGENT, DISPATCHER, CALLBACK, Actor("u-9", Role.UNIT, unit="city-ecology")):
        with pytest.raises(PermissionDenied):
            flow.do(RecordContact(method=ContactMethod.PHONE, note="已联系"), actor)


def test_a_contact_is_recorded_only_while_the_unit_has_not_finished() -> None:
    draft = Flow().classify()
    with pytest.raises((IllegalTransition, PermissionDenied)):
        draft.do(RecordContact(method=ContactMethod.PHONE, note="已联系"), LEAD)
    flow = dispatched_with_first_contact()
    flow.do(Sign(), LEAD)
    flow.do(RequestSuspension(reason="等待鉴定", attachments=EVIDENCE), LEAD)
    flow.do(RecordContact(method=ContactMethod.PHONE, note="告知需等待鉴定"), LEAD)  # still the unit's
    flow.do(RejectSuspension(reason="无需鉴定"), DISPATCHER)
    flow.do(SubmitFeedback(result="已修复"), LEAD)
    with pytest.raises(IllegalTransition):
        flow.do(RecordContact(method=ContactMethod.PHONE, note="再次联系"), LEAD)


def test_a_feedback_saying_the_caller_was_contacted_counts_as_the_first_contact() -> None:
    flow = dispatched_with_first_contact()
    flow.do(Sign(), LEAD)
    flow.do(SubmitFeedback(result="已修复并告知诉求人"), LEAD)
    assert flow.ticket.first_contacted_at == flow.now


def test_a_feedback_without_contact_leaves_the_first_contact_owed() -> None:
    flow = dispatched_with_first_contact()
    flow.do(Sign(), LEAD)
    flow.do(SubmitFeedback(result="已修复", contacted_caller=False), LEAD)
    assert flow.ticket.first_contacted_at is None


def test_a_connected_relay_call_is_a_contact_and_an_unanswered_one_is_not() -> None:
    flow = dispatched_with_first_contact(dataclasses.replace(CALLER, confidential=True))
    flow.do(RecordRelayCall(call_id="relay-1", calling_number="12346", connected=False), SYSTEM)
    assert flow.ticket.first_contacted_at is None
    flow.do(RecordRelayCall(call_id="relay-2", calling_number="12346", connected=True,
                            seconds=95), SYSTEM)
    assert flow.ticket.first_contacted_at == flow.now


def test_a_returned_ticket_owes_a_new_first_contact_to_its_new_unit() -> None:
    flow = dispatched_with_first_contact()
    flow.do(RecordContact(method=ContactMethod.PHONE, note="已联系"), LEAD)
    flow.do(RequestReturn(reason="非本单位职责", attachments=EVIDENCE), LEAD)
    flow.do(ApproveReturn(), DISPATCHER)
    assert flow.ticket.first_contact_deadline is None and flow.ticket.first_contacted_at is None
    owed = flow.now + timedelta(days=7)
    flow.do(Dispatch(lead_unit="city-ecology", deadline=flow.now + timedelta(days=10),
                     sign_deadline=flow.now + timedelta(days=1), first_contact_deadline=owed),
            DISPATCHER)
    assert flow.ticket.first_contact_deadline == owed
    assert flow.ticket.first_contacted_at is None
    assert fold(flow.events) == flow.ticket


# ---- 9. 北京条例第二十三条: the callback when the deadline expires, feedback or not ----------


def past_deadline() -> Flow:
    flow = dispatched_with_first_contact()
    flow.do(Sign(), LEAD)
    assert flow.ticket.deadline is not None
    flow.now = flow.ticket.deadline
    return flow


def test_a_deadline_callback_is_refused_before_the_deadline() -> None:
    flow = dispatched_with_first_contact()
    flow.do(Sign(), LEAD)
    with pytest.raises(IllegalTransition) as info:
        flow.do(RecordDeadlineCallback(satisfaction=Satisfaction.SATISFIED), CALLBACK)
    assert info.value.context["rule"] == "deadline_callback_after_deadline"


def test_the_callers_view_at_the_deadline_is_recorded_and_the_unit_keeps_the_ticket() -> None:
    flow = past_deadline()
    event = flow.do(RecordDeadlineCallback(satisfaction=Satisfaction.BASICALLY_SATISFIED,
                                           reason="已在维修中"), CALLBACK)
    assert isinstance(event, ev.DeadlineCallbackRecorded) and not event.supervised
    assert flow.ticket.status is S.IN_PROGRESS and flow.ticket.satisfaction is None
    assert flow.ticket.deadline_callback_view is Satisfaction.BASICALLY_SATISFIED
    assert flow.ticket.deadline_callback_at == flow.now
    assert flow.ticket.supervision_level is SupervisionLevel.NONE
    flow.do(SubmitFeedback(result="已修复"), LEAD)  # the unit still owes, and gives, its feedback
    assert fold(flow.events) == flow.ticket


def test_an_unsatisfied_view_at_the_deadline_puts_the_unit_under_supervision() -> None:
    flow = past_deadline()
    event = flow.do(RecordDeadlineCallback(satisfaction=Satisfaction.UNSATISFIED,
                                           reason="至今无人联系"), CALLBACK)
    assert isinstance(event, ev.DeadlineCallbackRecorded) and event.supervised
    assert SupervisionFlagKind.UNSATISFIED_AT_DEADLINE in flow.ticket.supervision_flags
    assert flow.ticket.supervision_level is SupervisionLevel.HOTLINE
    assert flow.ticket.status is S.IN_PROGRESS and flow.ticket.reopen_count == 0
    assert fold(flow.events) == flow.ticket


def test_a_caller_not_reached_at_the_deadline_is_recorded_without_a_view() -> None:
    flow = past_deadline()
    with pytest.raises(InvalidInput):
        flow.do(RecordDeadlineCallback(satisfaction=Satisfaction.SATISFIED, reached=False), CALLBACK)
    event = flow.do(RecordDeadlineCallback(satisfaction=None, reached=False, reason="三次无人接听"),
                    SUPERVISOR)
    assert isinstance(event, ev.DeadlineCallbackRecorded) and not event.reached
    assert flow.ticket.status is S.IN_PROGRESS and flow.ticket.deadline_callback_view is None


def test_only_the_callback_desk_makes_the_deadline_callback_and_not_after_feedback() -> None:
    flow = past_deadline()
    for actor in (LEAD, AGENT, DISPATCHER, SYSTEM):
        with pytest.raises(PermissionDenied):
            flow.do(RecordDeadlineCallback(satisfaction=Satisfaction.SATISFIED), actor)
    flow.do(SubmitFeedback(result="已修复"), LEAD)
    with pytest.raises(IllegalTransition):  # the survey after the feedback takes over
        flow.do(RecordDeadlineCallback(satisfaction=Satisfaction.SATISFIED), CALLBACK)
# ---- 10. 投诉热线工作人员 (北京条例第三十三条第一项, 济南条例): the quality team's, never a unit's ----

STAFF_MEMBER = Actor("a-9", Role.AGENT)


def staff_complaint(about: str = STAFF_MEMBER.id, marker: Actor = AGENT) -> Flow:
    flow = Flow()
    flow.do(Classify(ticket_type=TicketType.COMPLAINT, summary="投诉话务员态度恶劣",
                     about_staff=about), marker)
    return flow


def found(flow: Flow, finding: QualityFinding = QualityFinding.SUBSTANTIATED) -> None:
    flow.do(RecordQualityFinding(finding=finding, result="经调听录音属实，已批评教育"), SUPERVISOR)


def test_a_complaint_about_staff_goes_to_the_quality_team() -> None:
    flow = staff_complaint()
    assert flow.ticket.status is S.QUALITY_CHECK and flow.ticket.about_staff == STAFF_MEMBER.id
    assert flow.ticket.requested_at == flow.now  # the quality team's clock starts (济南: 5 working days)
    assert flow.ticket.ticket_type is TicketType.COMPLAINT
    event = flow.events[-1]
    assert isinstance(event, ev.TicketClassified) and event.about_staff == STAFF_MEMBER.id
    assert fold(flow.events) == flow.ticket


def test_only_a_complaint_may_be_about_staff() -> None:
    flow = Flow()
    with pytest.raises(IllegalTransition) as info:
        flow.do(Classify(ticket_type=TicketType.HELP, summary="求助", about_staff="a-9"), AGENT)
    assert info.value.context["rule"] == "staff_complaint_is_complaint"
    flow.do(Classify(ticket_type=TicketType.COMPLAINT, summary="投诉物业", about_staff="  "), AGENT)
    assert flow.ticket.status is S.DRAFT and flow.ticket.about_staff is None


def test_staff_complaint_is_never_dispatched() -> None:
    flow = staff_complaint()
    with pytest.raises(IllegalTransition) as info:
        flow.dispatch()
    assert info.value.context["rule"] == "staff_complaint_not_dispatched"
    assert Dispatch not in offered_commands(flow.ticket, DISPATCHER)
    assert RecordQualityFinding in offered_commands(flow.ticket, SUPERVISOR)


def test_concerned_staff_never_acts_on_the_complaint() -> None:
    flow = staff_complaint(about=SUPERVISOR.id)
    with pytest.raises(PermissionDenied) as info:
        found(flow)
    assert info.value.context["rule"] == "concerned_staff"
    assert offered_commands(flow.ticket, SUPERVISOR) == []
    other = Actor("s-2", Role.SUPERVISOR)
    flow.do(RecordQualityFinding(finding=QualityFinding.UNSUBSTANTIATED, result="调听录音，服务规范"),
            other)
    assert flow.ticket.status is S.FEEDBACK_ACCEPTED


def test_the_agent_on_the_call_may_mark_a_complaint_about_themselves() -> None:
    flow = staff_complaint(marker=STAFF_MEMBER)
    assert flow.ticket.status is S.QUALITY_CHECK
    with pytest.raises(PermissionDenied):
        flow.do(AddProgressNote(note="我解释一下"), STAFF_MEMBER)


def test_only_the_quality_team_records_the_finding_with_its_result() -> None:
    flow = staff_complaint()
    for actor in (AGENT, DISPATCHER, CALLBACK, LEAD):
        with pytest.raises(PermissionDenied):
            flow.do(RecordQualityFinding(finding=QualityFinding.SUBSTANTIATED, result="x"), actor)
    with pytest.raises(InvalidInput):
        flow.do(RecordQualityFinding(finding=QualityFinding.SUBSTANTIATED, result=" "), SUPERVISOR)
    found(flow)
    event = flow.events[-1]
    assert isinstance(event, ev.QualityFindingRecorded) and event.finding is QualityFinding.SUBSTANTIATED
    assert flow.ticket.quality_finding is QualityFinding.SUBSTANTIATED
    assert flow.ticket.feedback_at == flow.now


def test_the_quality_finding_makes_the_callback_due_and_the_ticket_closes_normally() -> None:
    flow = staff_complaint()
    found(flow)
    flow.now += timedelta(hours=1)
    # The hotline's own finding needs no review, even where units' feedback does.
    ticket, _ = apply(flow.ticket, RecordCallback(satisfaction=Satisfaction.SATISFIED), CALLBACK,
                      flow.now, REVIEWED)
    assert ticket.status is S.CLOSED and ticket.closure_reason is ClosureReason.CALLBACK_COMPLETED
    flow = staff_complaint()
    found(flow)
    flow.do(CloseUnreached(attempts=DEFAULT_POLICY.callback_attempts), CALLBACK)
    assert flow.ticket.closure_reason is ClosureReason.CALLBACK_UNREACHED


def test_a_staff_complaint_reopened_goes_back_to_the_quality_team() -> None:
    flow = staff_complaint()
    found(flow)
    flow.do(RecordCallback(satisfaction=Satisfaction.UNSATISFIED, reason="处理太轻"), CALLBACK)
    assert flow.ticket.status is S.REOPEN_REQUESTED
    flow.do(ReviewReopen(reasonable=True, reason="诉求合理"), SUPERVISOR)
    assert flow.ticket.status is S.QUALITY_CHECK and flow.ticket.deadline is None
    assert flow.ticket.reopen_count == 1 and flow.ticket.quality_finding is None
    found(flow)
    flow.do(RecordCallback(satisfaction=None, handled_as_required=False), CALLBACK)  # 应办未办
    assert flow.ticket.status is S.QUALITY_CHECK and flow.ticket.lead_unit is None
    assert fold(flow.events) == flow.ticket
