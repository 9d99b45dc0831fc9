"""The full set of members' SMS commands, in letters and Chinese keywords, through the
signed SMS webhook on the real database: notes, status, the list of open cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hotline.bootstrap import Services
from hotline.simulator.caller import Simulator
from tests.conftest import FixedClock
from tests.factories import (
    CALLER,
    EN_GAS_SMELL_IN_1101,
    EN_STREET_LIGHT_IN_1101,
    ZH_STREET_LIGHT_IN_1102,
    open_case,
    report_by_phone,
)
from ticketing.inbox.commands import Text
from ticketing.inbox.replies import segments
from ticketing.inbox.services import COMMANDS, OnCase
from ticketing.models.cases import Ticket
from ticketing.models.people import Staff, StaffRole
from ticketing.models.sms import SmsMessage, SmsStatus
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.lifecycle import TicketStatus

pytestmark = pytest.mark.functional


def _ticket(uow: UnitOfWork, number: str) -> Ticket:
    return uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()


def _purposes(uow: UnitOfWork) -> list[str]:
    return list(
        uow.session.scalars(
            select(SmsMessage.purpose)
            .where(SmsMessage.status == SmsStatus.RECEIVED)
            .order_by(SmsMessage.id)
        )
    )


def test_a_note_is_history_only(simulator: Simulator, services: Services) -> None:
    number, member = report_by_phone(simulator, EN_STREET_LIGHT_IN_1101)
    with services.uow() as uow:
        before = _ticket(uow, number)
        clocks = (before.accept_by, before.resolve_by, before.next_escalation_at)
        versions = (before.deadline_version, before.assignment_version)
    reply = simulator.sms(member, f"N {number} ladder truck booked for 3pm")
    assert reply == f"Note added to case {number}."
    with services.uow() as uow:
        ticket = _ticket(uow, number)
        note = ticket.events[-1]
        assert (note.kind, note.note, note.actor) == (
            "note",
            "ladder truck booked for 3pm",
            f"staff:{ticket.assignee_id}",
        )
        assert (note.from_status, note.to_status) == (None, None)
        assert ticket.status is TicketStatus.ASSIGNED
        assert (ticket.accept_by, ticket.resolve_by, ticket.next_escalation_at) == clocks
        assert (ticket.deadline_version, ticket.assignment_version) == versions
        assert _purposes(uow) == ["command:noted"]


def test_chinese_keywords_run_the_whole_case(simulator: Simulator, services: Services) -> None:
    number, member = report_by_phone(simulator, ZH_STREET_LIGHT_IN_1102)
    assert simulator.sms(member, f"接{number}") == (
        f"已接单{number}。完成后回复 D {number} 处理情况。"
    )
    assert simulator.sms(member, f"备注 {number} 已联系物业，明天更换灯泡") == (
        f"工单{number}已记录备注。"
    )
    assert simulator.sms(member, f"完成{number}已更换灯泡。") == (
        f"工单{number}已办结，已通知来电人。"
    )
    with services.uow() as uow:
        ticket = _ticket(uow, number)
        assert ticket.status is TicketStatus.RESOLVED
        assert [(e.kind, e.note) for e in ticket.events[-3:]] == [
            ("accepted", ""),
            ("note", "已联系物业，明天更换灯泡"),
            ("resolved", "已更换灯泡"),
        ]


def test_chinese_return_glued_to_the_number_with_full_width_digits(
    simulator: Simulator, services: Services
) -> None:
    number, member = report_by_phone(simulator, ZH_STREET_LIGHT_IN_1102)
    wide = number.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    assert simulator.sms(member, f"退回{wide}不是本网格") == f"工单{number}已退回派单员。"
    with services.uow() as uow:
        ticket = _ticket(uow, number)
        assert ticket.status is TicketStatus.RETURNED
        assert ticket.events[-1].note == "不是本网格"


def test_status_in_the_members_language_with_local_deadlines(
    simulator: Simulator, services: Services
) -> None:
    number, member = report_by_phone(simulator, EN_STREET_LIGHT_IN_1101)  # 10:30 Shanghai, a Friday
    with services.uow() as uow:
        assignee = _ticket(uow, number).assignee
        assert assignee is not None
        name = assignee.name
    # General policy on office hours: 4 working hours to accept, 7 working days to resolve.
    assert simulator.sms(member, f"S {number}") == (
        f"Case {number}: awaiting acceptance; assignee {name}; "
        "accept by 11-27 16:00, resolve by 12-08 10:30."
    )
    simulator.sms(member, f"A {number}")
    assert simulator.sms(member, f"s {number}") == (
        f"Case {number}: in progress; assignee {name}; resolve by 12-08 10:30."
    )
    zh_number, zh_member = report_by_phone(simulator, ZH_STREET_LIGHT_IN_1102)
    with services.uow() as uow:
        zh_assignee = _ticket(uow, zh_number).assignee
        assert zh_assignee is not None
    assert simulator.sms(zh_member, f"查询{zh_number}") == (
        f"工单{zh_number}：待接单；承办：{zh_assignee.name}；"
        "接单时限11-27 16:00，办结时限12-08 10:30。"
    )
    with services.uow() as uow:
        assert _purposes(uow)[-1] == "command:status"
        assert _ticket(uow, number).events[-1].kind == "accepted"  # S wrote nothing


def test_note_and_status_on_another_members_case_are_refused(
    simulator: Simulator, services: Services
) -> None:
    number, _ = report_by_phone(simulator, EN_STREET_LIGHT_IN_1101)
    _, other = report_by_phone(simulator, ZH_STREET_LIGHT_IN_1102)
    assert (
        simulator.sms(other, f"备注 {number} 我来看看") == f"工单{number}不是派给您的，未做更改。"
    )
    assert simulator.sms(other, f"S {number}") == f"工单{number}不是派给您的，未做更改。"
    with services.uow() as uow:
        ticket = _ticket(uow, number)
        kinds = [e.kind for e in ticket.events]
        assert "note" not in kinds
        assert kinds[-2:] == ["refused_command", "refused_command"]
        assert ticket.events[-2].note == f"备注 {number} 我来看看"
        assert _purposes(uow) == ["command:not_yours", "command:not_yours"]


def test_a_note_needs_text_and_an_open_file(
    simulator: Simulator, services: Services, clock: FixedClock
) -> None:
    number, member = report_by_phone(simulator, EN_STREET_LIGHT_IN_1101)
    assert simulator.sms(member, f"N {number}") == (
        "Sorry, we could not read that. Reply ? for the commands."
    )
    assert simulator.sms(member, "N 999 hello") == "No case 999. Please check the number."
    simulator.sms(member, f"A {number}")
    simulator.sms(member, f"D {number} bulb replaced")
    # A note on a resolved case is still welcome; on a closed one the file is shut.
    assert simulator.sms(member, f"N {number} resident phoned to thank us") == (
        f"Note added to case {number}."
    )
    simulator.sms(CALLER, "5")
    assert simulator.sms(member, f"N {number} one more thing") == (
        f"Case {number} cannot do that now."
    )
    assert simulator.sms(member, f"S {number}") == (
        f"Case {number}: closed; assignee {_assignee_name(services, number)}."
    )


def _assignee_name(services: Services, number: str) -> str:
    with services.uow() as uow:
        assignee = _ticket(uow, number).assignee
        assert assignee is not None
        return assignee.name


def test_list_puts_the_nearest_deadline_first(
    simulator: Simulator, services: Services, clock: FixedClock
) -> None:
    first, member = report_by_phone(simulator, EN_STREET_LIGHT_IN_1101)  # 10:30
    simulator.sms(member, f"A {first}")  # now only its resolve-by runs: 12-08 10:30
    clock.now += timedelta(hours=1)
    second, _ = report_by_phone(simulator, EN_STREET_LIGHT_IN_1101)  # 11:30: accept by 17:00
    clock.now += timedelta(minutes=30)
    third, _ = report_by_phone(simulator, EN_STREET_LIGHT_IN_1101)  # 12:00, lunch: accept by 17:30
    closed, _ = report_by_phone(simulator, EN_STREET_LIGHT_IN_1101)
    simulator.sms(member, f"R {closed} wrong grid")  # returned: no longer the member's
    assert simulator.sms(member, "L") == (
        f"3 open: {second} accept by 11-27 17:00; {third} accept by 11-27 17:30; "
        f"{first} resolve by 12-08 10:30"
    )
    _, zh_member = report_by_phone(simulator, ZH_STREET_LIGHT_IN_1102)
    assert simulator.sms(zh_member, "我的").startswith("在办1件：")
    agent = "+8613603710001"  # a call agent: registered, with no cases
    assert simulator.sms(agent, "L") == "You have no open cases."
    with services.uow() as uow:
        assert _purposes(uow)[-3:] == ["command:list", "command:list", "command:list"]


def test_a_long_list_fits_two_segments_and_counts_the_rest(
    simulator: Simulator, services: Services, clock: FixedClock
) -> None:
    with services.uow() as uow:
        for _ in range(12):
            open_case(uow, clock(), where="1102")
            clock.now += timedelta(minutes=1)
        member = uow.session.scalars(select(Ticket).order_by(Ticket.id)).first()
        assert member is not None
        assert member.assignee is not None
        phone = member.assignee.phone
        mine = uow.session.scalars(
            select(Ticket.number)
            .where(Ticket.assignee_id == member.assignee_id)
            .order_by(Ticket.accept_by, Ticket.id)
        ).all()
    assert len(mine) == 12
    listing = simulator.sms(phone, "列表")
    shown = listing.count(" 接单")
    assert segments(listing) == 2
    assert 3 <= shown < 12
    assert listing.startswith(f"在办12件：{mine[0]} 接单")
    assert listing.endswith(f"另{12 - shown}件")
    assert [n for n in mine if n in listing] == list(mine[:shown])


def test_a_dispatcher_lists_the_departments_queue(simulator: Simulator, services: Services) -> None:
    case = simulator.call(CALLER, EN_GAS_SMELL_IN_1101).as_json()  # gas: fire dept
    number = case["case_number"]
    with services.uow() as uow:
        dispatcher = uow.session.scalars(
            select(Staff)
            .join(Staff.department)
            .where(Staff.role == StaffRole.DISPATCHER)
            .order_by(Staff.id)
        ).all()
        fire = next(d for d in dispatcher if d.department and d.department.code == "fire")
        accept_by = _ticket(uow, number).accept_by
        assert accept_by is not None
        due = accept_by.astimezone(services.settings.timezone).strftime("%m-%d %H:%M")
    assert fire.language == "zh-CN"
    assert simulator.sms(fire.phone, "L") == f"在办1件：{number} 接单{due}"
    assert simulator.sms(fire.phone, f"查询 {number}").startswith(
        f"工单{number}：待接单；承办：{fire.department.name_zh if fire.department else ''}；"
    )


def test_help_lists_every_command_in_both_languages(simulator: Simulator) -> None:
    _, en_member = report_by_phone(simulator, EN_STREET_LIGHT_IN_1101)
    _, zh_member = report_by_phone(simulator, ZH_STREET_LIGHT_IN_1102)
    assert simulator.sms(en_member, "?") == (
        "Reply A <case> to accept, D <case> <note> when done, R <case> <reason> to return, "
        "N <case> <note> to add a note, S <case> for its status, L for your cases."
    )
    assert simulator.sms(zh_member, "帮助") == (
        "接/A 工单号；完成/D 工单号 情况；退回/R 工单号 原因；"
        "备注/N 工单号 内容；查询/S 工单号；列表/L"
    )
    assert simulator.sms(zh_member, "？") == simulator.sms(zh_member, "help")


def test_every_command_of_the_table_is_applied(simulator: Simulator, services: Services) -> None:
    number, member = report_by_phone(simulator, EN_STREET_LIGHT_IN_1101)
    for command in COMMANDS.values():
        for word in command.words:
            body = word
            if isinstance(command, OnCase):
                body += f" {number}" + ("" if command.text is Text.NONE else " on it")
            simulator.sms(member, body)
    with services.uow() as uow:
        purposes = _purposes(uow)
    assert len(purposes) == sum(len(c.words) for c in COMMANDS.values())
    assert "command:unknown" not in purposes
