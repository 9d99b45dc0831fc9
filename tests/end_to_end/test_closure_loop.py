"""The closure loop through the signed SMS webhook: the resident rates a resolved case,
or says it is not fixed; silence closes it after HOTLINE_AUTO_CLOSE_DAYS."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from hotline.bootstrap import Services
from hotline.jobs import tasks
from hotline.simulator.caller import Simulator
from tests.conftest import FixedClock
from tests.factories import (
    CALLER,
    EN_STREET_LIGHT_IN_1101,
    ZH_STREET_LIGHT_IN_1102,
    report_by_phone,
)
from ticketing.models.cases import Ticket
from ticketing.models.sms import SmsDirection, SmsMessage, SmsStatus
from ticketing.sla.business_time import OFFICE_HOURS
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.lifecycle import TicketStatus

pytestmark = pytest.mark.functional

STRANGER = "+8613700000000"


def _resolved_case(
    simulator: Simulator, keys: Sequence[str] = EN_STREET_LIGHT_IN_1101, caller: str = CALLER
) -> tuple[str, str]:
    """A case reported by phone that its member then accepts and resolves by SMS."""
    number, member = report_by_phone(simulator, keys, caller)
    simulator.sms(member, f"A {number}")
    simulator.sms(member, f"D {number} bulb replaced")
    return number, member


def _ticket(uow: UnitOfWork, number: str) -> Ticket:
    return uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()


def _sent(uow: UnitOfWork, to: str) -> list[tuple[str, str]]:
    return [
        (m.purpose, m.body)
        for m in uow.session.scalars(
            select(SmsMessage)
            .where(SmsMessage.direction == SmsDirection.OUTBOUND, SmsMessage.to_number == to)
            .order_by(SmsMessage.id)
        )
    ]


def _inbound(uow: UnitOfWork) -> list[tuple[str, int | None]]:
    return [
        (m.purpose, m.ticket_id)
        for m in uow.session.scalars(
            select(SmsMessage)
            .where(SmsMessage.status == SmsStatus.RECEIVED)
            .order_by(SmsMessage.id)
        )
    ]


def test_resolving_asks_the_caller_for_a_rating_that_closes_the_case(
    simulator: Simulator, services: Services, clock: FixedClock
) -> None:
    number, _ = _resolved_case(simulator)
    with services.uow() as uow:
        assert _sent(uow, CALLER)[1:] == [
            (
                "caller_done",
                f"[Hotline] Your case {number} has been resolved: bulb replaced. Rate it: "
                "reply 1 (poor) to 5 (very good), or 0 if not fixed.",
            ),
        ]
    clock.now += timedelta(hours=2)
    reply = simulator.sms(CALLER, " 4 ")
    assert reply == f"Thank you for your rating. Case {number} is now closed."
    with services.uow() as uow:
        ticket = _ticket(uow, number)
        closed = ticket.events[-1]
        assert ticket.status is TicketStatus.CLOSED
        assert ticket.closed_at == clock.now
        assert (closed.kind, closed.actor, closed.data) == (
            "closed",
            f"caller:{CALLER}",
            {"rating": 4},
        )
        assert (closed.from_status, closed.to_status) == (
            TicketStatus.RESOLVED,
            TicketStatus.CLOSED,
        )
        assert (ticket.accept_by, ticket.resolve_by, ticket.next_escalation_at) == (None,) * 3
        assert _inbound(uow)[-1] == ("resident:rated", ticket.id)


def test_chinese_case_full_width_rating(simulator: Simulator, services: Services) -> None:
    number, _ = _resolved_case(simulator, ZH_STREET_LIGHT_IN_1102)
    with services.uow() as uow:
        purpose, body = _sent(uow, CALLER)[-1]
        assert purpose == "caller_done"
        assert body.endswith("请回复1至5评分，未解决请回复0。")
    assert simulator.sms(CALLER, "５") == f"感谢您的评价！工单{number}已结案。"
    with services.uow() as uow:
        assert _ticket(uow, number).events[-1].data == {"rating": 5}


def test_zero_reopens_to_the_same_assignee_who_is_told(
    simulator: Simulator, services: Services, clock: FixedClock
) -> None:
    number, member = _resolved_case(simulator)
    with services.uow() as uow:
        assignee_id = _ticket(uow, number).assignee_id
    clock.now += timedelta(hours=1)
    reply = simulator.sms(CALLER, "0")
    assert reply == f"Sorry it is not fixed. Case {number} is reopened and back with the same team."
    with services.uow() as uow:
        ticket = _ticket(uow, number)
        reopened = ticket.events[-1]
        assert ticket.status is TicketStatus.ACCEPTED
        assert ticket.assignee_id == assignee_id
        assert ticket.resolved_at is None
        assert (reopened.kind, reopened.data, reopened.actor) == (
            "reopened",
            {"reopen": True},
            f"caller:{CALLER}",
        )
        assert (reopened.from_status, reopened.to_status) == (
            TicketStatus.RESOLVED,
            TicketStatus.ACCEPTED,
        )
        # A new resolve clock, with the policy's full time from the reopening.
        assert ticket.deadline_version == 2
        assert ticket.sla_policy is not None
        assert ticket.resolve_by == OFFICE_HOURS.add(
            clock.now, timedelta(minutes=ticket.sla_policy.resolve_minutes)
        )
        assert ticket.next_escalation_at is not None
        assert _sent(uow, member)[-1] == (
            "reopened",
            f"[Hotline] Case {number} (broken street light) is reopened: the caller says "
            f"it is not fixed. Reply D {number} <note> when done.",
        )
        assert _inbound(uow)[-1] == ("resident:reopened", ticket.id)
    # The member fixes it properly; the caller is asked again and rates it.
    assert simulator.sms(member, f"D {number} wiring replaced") == (
        f"Case {number} resolved; the caller is told."
    )
    assert simulator.sms(CALLER, "5") == f"Thank you for your rating. Case {number} is now closed."
    with services.uow() as uow:
        ticket = _ticket(uow, number)
        kinds = [e.kind for e in ticket.events]
        assert kinds.count("reopened") == 1
        assert kinds[kinds.index("reopened") :] == ["reopened", "resolved", "closed"]
        assert [p for p, _ in _sent(uow, CALLER)].count("caller_done") == 2


def test_a_strangers_rating_changes_nothing(simulator: Simulator, services: Services) -> None:
    number, _ = _resolved_case(simulator)
    reply = simulator.sms(STRANGER, "5")
    assert reply == "本号码未登记为网格员，无法办理。请联系社区。"
    assert simulator.sms(STRANGER, "0") == reply
    with services.uow() as uow:
        ticket = _ticket(uow, number)
        assert ticket.status is TicketStatus.RESOLVED
        assert ticket.events[-1].kind == "resolved"
        assert _inbound(uow)[-2:] == [("command:not_registered", None)] * 2


def test_a_rating_before_the_case_is_resolved_changes_nothing(
    simulator: Simulator, services: Services
) -> None:
    number, member = report_by_phone(simulator)
    simulator.sms(member, f"A {number}")
    reply = simulator.sms(CALLER, "5")
    assert reply == (
        f"Your case {number} is in progress. To report something new, please call the hotline."
    )
    assert simulator.sms(CALLER, "0") == reply
    with services.uow() as uow:
        ticket = _ticket(uow, number)
        assert ticket.status is TicketStatus.ACCEPTED
        assert [e.kind for e in ticket.events][-1] == "accepted"
        assert _inbound(uow)[-2:] == [("resident:nothing_to_rate", ticket.id)] * 2


def test_a_second_rating_after_closing_changes_nothing(
    simulator: Simulator, services: Services
) -> None:
    number, _ = _resolved_case(simulator, ZH_STREET_LIGHT_IN_1102)
    simulator.sms(CALLER, "5")
    assert simulator.sms(CALLER, "1") == (
        f"您的工单{number}已结案。短信不受理新问题，请拨打热线反映。"
    )
    assert simulator.sms(CALLER, "0").startswith(f"您的工单{number}已结案。")
    with services.uow() as uow:
        ticket = _ticket(uow, number)
        assert ticket.status is TicketStatus.CLOSED
        assert [e.data for e in ticket.events if e.kind == "closed"] == [{"rating": 5}]
        assert "reopened" not in [e.kind for e in ticket.events]


def test_a_digit_rates_the_most_recently_resolved_case_first(
    simulator: Simulator, services: Services, clock: FixedClock
) -> None:
    older, _ = _resolved_case(simulator)
    clock.now += timedelta(minutes=5)
    newer, _ = _resolved_case(simulator, ZH_STREET_LIGHT_IN_1102)
    assert simulator.sms(CALLER, "3") == f"感谢您的评价！工单{newer}已结案。"
    assert simulator.sms(CALLER, "2") == f"Thank you for your rating. Case {older} is now closed."
    with services.uow() as uow:
        assert _ticket(uow, newer).events[-1].data == {"rating": 3}
        assert _ticket(uow, older).events[-1].data == {"rating": 2}


def test_a_retried_rating_is_applied_once(simulator: Simulator, services: Services) -> None:
    number, _ = _resolved_case(simulator)
    params = {"MessageSid": "SM" + "c" * 32, "From": CALLER, "To": "+8637112345", "Body": "0"}
    first = simulator.post("/twilio/sms/incoming", params).body
    again = simulator.post("/twilio/sms/incoming", params).body
    assert first == again
    assert "reopened" in first
    with services.uow() as uow:
        ticket = _ticket(uow, number)
        assert ticket.status is TicketStatus.ACCEPTED
        assert [e.kind for e in ticket.events].count("reopened") == 1


def test_a_resident_writing_words_is_told_how_to_answer(
    simulator: Simulator, services: Services
) -> None:
    number, member = _resolved_case(simulator, ZH_STREET_LIGHT_IN_1102)
    assert simulator.sms(CALLER, "修得很好，谢谢") == (
        f"请回复1至5为工单{number}评分（5为非常满意），未解决请回复0。反映新问题请拨打热线。"
    )
    simulator.sms(CALLER, "5")
    assert simulator.sms(CALLER, "thanks") == (
        f"您的工单{number}已结案。短信不受理新问题，请拨打热线反映。"
    )
    with services.uow() as uow:
        ticket = _ticket(uow, number)
        assert [p for p, _ in _inbound(uow)][-3:] == [
            "resident:text",
            "resident:rated",
            "resident:text",
        ]
        assert _inbound(uow)[-1][1] == ticket.id
    # A member texting a digit that is no rating of theirs still gets the command help.
    assert simulator.sms(member, "5") == "没看懂这条短信。回复 ? 查看用法。"


def test_a_landline_caller_is_not_asked_to_rate(simulator: Simulator, services: Services) -> None:
    landline = "+8637161234567"  # Zhengzhou fixed line: no SMS reaches it
    number, _ = _resolved_case(simulator, caller=landline)
    with services.uow() as uow:
        ticket = _ticket(uow, number)
        assert ticket.caller_phone == landline
        assert ticket.status is TicketStatus.RESOLVED
        assert _sent(uow, landline) == []


def _tick(services: Services, run_jobs: Callable[[], int]) -> None:
    """One minute tick as the scheduler runs it, then the SMS it queued, by a worker."""
    tasks.tick()
    run_jobs()


def test_no_answer_closes_the_case_after_the_configured_days(
    simulator: Simulator,
    services: Services,
    clock: FixedClock,
    run_jobs: Callable[[], int],
) -> None:
    services.settings = replace(services.settings, auto_close_days=3)
    resolved_at = clock.now
    number, _ = _resolved_case(simulator)
    rated, _ = _resolved_case(simulator, ZH_STREET_LIGHT_IN_1102, caller="+8613812340000")
    simulator.sms("+8613812340000", "4")
    clock.now = resolved_at + timedelta(days=3) - timedelta(minutes=1)
    _tick(services, run_jobs)
    with services.uow() as uow:
        assert _ticket(uow, number).status is TicketStatus.RESOLVED
    clock.now = resolved_at + timedelta(days=3)
    _tick(services, run_jobs)
    _tick(services, run_jobs)  # a second run finds nothing more to close
    with services.uow() as uow:
        ticket = _ticket(uow, number)
        closed = [e for e in ticket.events if e.kind == "closed"]
        assert ticket.status is TicketStatus.CLOSED
        assert ticket.closed_at == clock.now
        assert [(e.actor, e.data) for e in closed] == [("system", {"auto": True})]
        assert _ticket(uow, rated).events[-1].data == {"rating": 4}  # untouched
    # Too late to rate: the resident hears where the case stands.
    assert simulator.sms(CALLER, "5").startswith(f"Your case {number} is closed.")


def test_the_default_is_seven_days(
    simulator: Simulator,
    services: Services,
    clock: FixedClock,
    run_jobs: Callable[[], int],
) -> None:
    assert services.settings.auto_close_days == 7  # HOTLINE_AUTO_CLOSE_DAYS unset
    resolved_at = clock.now
    number, _ = _resolved_case(simulator)
    clock.now = resolved_at + timedelta(days=6, hours=23)
    _tick(services, run_jobs)
    with services.uow() as uow:
        assert _ticket(uow, number).status is TicketStatus.RESOLVED
    clock.now = resolved_at + timedelta(days=7)
    _tick(services, run_jobs)
    with services.uow() as uow:
        assert _ticket(uow, number).status is TicketStatus.CLOSED
