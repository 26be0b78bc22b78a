"""Linking a repeated request to the caller's open ticket (重复件)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from tickets.duplicates import IncomingRequest, find_duplicate, normalize_number
from tickets.model import Caller, Channel, ClosureReason, Ticket, TicketStatus, TicketType

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def open_ticket(n: int, summary: str, *, number: str = "13812345678",
                ticket_type: TicketType = TicketType.COMPLAINT, district: str = "兰山区",
                status: TicketStatus = TicketStatus.IN_PROGRESS) -> Ticket:
    t = Ticket(ticket_no=f"20261120-N01-{n:06d}", channel=Channel.PHONE,
               caller=Caller(number=number), created_at=NOW, updated_at=NOW, status=status,
               ticket_type=ticket_type, summary=summary, district=district)
    if status in (TicketStatus.CLOSED, TicketStatus.ARCHIVED):
        t = dataclasses.replace(t, closure_reason=ClosureReason.CALLBACK_COMPLETED, closed_at=NOW)
    return t


ELEVATOR = open_ticket(1, "小区3号楼电梯停运一周，物业不修")
NOISE = open_ticket(2, "楼下烧烤店夜间噪音扰民")


def request(text: str, number: str = "13812345678", **kw: object) -> IncomingRequest:
    return IncomingRequest(caller_number=number, text=text, **kw)  # type: ignore[arg-type]


def test_same_caller_same_request_links_to_the_open_ticket() -> None:
    match = find_duplicate(request("3号楼电梯还是停运，物业一直不修"), [NOISE, ELEVATOR])
    assert match is not None and match.ticket_no == ELEVATOR.ticket_no
    assert 0 < match.score <= 1


def test_number_formats_are_the_same_caller() -> None:
    assert normalize_number("+86 138-1234-5678") == "13812345678"
    assert normalize_number("008613812345678") == "13812345678"
    assert find_duplicate(request("电梯停运一周物业不修", number="+8613812345678"), [ELEVATOR])


def test_other_caller_is_not_a_duplicate() -> None:
    assert find_duplicate(request("电梯停运一周物业不修", number="13900000000"), [ELEVATOR]) is None


def test_new_matter_from_same_caller_is_not_a_duplicate() -> None:
    assert find_duplicate(request("孩子学校乱收补课费"), [ELEVATOR, NOISE]) is None


def test_closed_ticket_is_not_linked() -> None:
    closed = open_ticket(3, "小区3号楼电梯停运一周，物业不修", status=TicketStatus.CLOSED)
    assert find_duplicate(request("电梯停运一周物业不修"), [closed]) is None


def test_different_type_or_district_is_not_a_duplicate() -> None:
    assert find_duplicate(request("电梯停运一周物业不修", ticket_type=TicketType.SUGGESTION),
                          [ELEVATOR]) is None
    assert find_duplicate(request("电梯停运一周物业不修", district="河东区"), [ELEVATOR]) is None


def test_caller_without_number_is_never_linked() -> None:
    assert find_duplicate(request("电梯停运一周物业不修", number=""), [ELEVATOR]) is None


def test_two_characters_do_not_make_a_duplicate() -> None:
    assert find_duplicate(request("电梯"), [ELEVATOR]) is None


def test_best_match_wins() -> None:
    close = open_ticket(4, "3号楼电梯停运")
    match = find_duplicate(request("3号楼电梯停运了"), [ELEVATOR, close])
    assert match is not None and match.ticket_no == close.ticket_no


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet="小区电梯停运物业不修噪音烧烤店水电费，。 ", max_size=30))
def test_matching_is_pure_and_only_ever_names_an_open_ticket_of_the_caller(text: str) -> None:
    stranger = open_ticket(5, "小区电梯停运", number="13900000000")
    tickets = [ELEVATOR, NOISE, stranger]
    first = find_duplicate(request(text), tickets)
    assert first == find_duplicate(request(text), list(reversed(tickets)))
    if first is not None:
        assert first.ticket_no in {ELEVATOR.ticket_no, NOISE.ticket_no}
