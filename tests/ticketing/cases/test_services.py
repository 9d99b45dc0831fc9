"""Routing by roster, and the moves agents and supervisors make on cases, on the real DB."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from hotline.bootstrap import Services
from tests.factories import CALLER, SH, grid_member, open_case
from ticketing.admin.services import change_sla_policy
from ticketing.cases import services as cases
from ticketing.exceptions import InvalidInput, InvalidTransition
from ticketing.models.cases import Ticket
from ticketing.models.people import Staff, StaffRole
from ticketing.models.sms import SmsMessage
from ticketing.sla.services import recompute_open_cases
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.catalogue import Priority
from ticketing.vocabulary.events import Actor
from ticketing.vocabulary.lifecycle import TicketStatus
from ticketing.vocabulary.roles import AssignmentRole

pytestmark = pytest.mark.integration

OTHER_CALLER = "+8613812340000"


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date(2026, 11, day), time(hour, minute), tzinfo=SH).astimezone(UTC)


def _sms(uow: UnitOfWork, ticket: Ticket, purpose: str) -> list[str]:
    return list(
        uow.session.scalars(
            select(SmsMessage.to_number).where(
                SmsMessage.ticket_id == ticket.id, SmsMessage.purpose == purpose
            )
        )
    )


def test_primary_on_leave_goes_to_the_backup_by_day(services: Services) -> None:
    with services.uow() as uow:
        ticket = open_case(uow, local(27, 10, 30), where="1102")  # Friday 10:30
        backup = grid_member(uow.session, "1102", AssignmentRole.BACKUP)
        assert ticket.assignee_id == backup.id
        rule = ticket.events[1].data["rule"]
        assert rule.startswith("grid backup member (on shift Fri 08:00-12:00)")
        assert rule.endswith("primary on leave until 2027-06-30")


def test_at_night_it_goes_to_the_least_loaded_member_of_the_community(
    services: Services,
) -> None:
    with services.uow() as uow:
        busy = open_case(uow, local(27, 23), where="1103")  # a case for grid 1103's primary
        ticket = open_case(uow, local(27, 23), category="garbage", where="1102")
        assert ticket.assignee_id is not None
        assert ticket.assignee_id != busy.assignee_id  # 1103's primary now has one case more
        assert (
            "least-loaded member of the community (0 open cases" in (ticket.events[1].data["rule"])
        )
        member = uow.session.get(Staff, ticket.assignee_id)
        assert member is not None
        assert member.role is StaffRole.GRID_MEMBER


def test_urgent_case_alerts_the_supervisor_and_informs_the_grid_member(
    services: Services,
) -> None:
    with services.uow() as uow:
        ticket = open_case(uow, local(27, 10, 30), category="gas_smell", where="1101")
        primary = grid_member(uow.session, "1101", AssignmentRole.PRIMARY)
        assert ticket.department is not None
        assert ticket.department.code == "fire"
        assert _sms(uow, ticket, "informed") == [primary.phone]
        supervisors = uow.session.scalars(
            select(Staff.phone).where(
                Staff.role == StaffRole.SUPERVISOR, Staff.region_id == ticket.community_id
            )
        ).all()
        assert _sms(uow, ticket, "urgent_alert") == list(supervisors)


def test_reassign_needs_a_reason_and_starts_a_new_accept_clock(services: Services) -> None:
    with services.uow() as uow:
        ticket = open_case(uow, local(27, 10, 30))
        other = grid_member(uow.session, "1103", AssignmentRole.PRIMARY)
        with pytest.raises(InvalidInput, match="reason"):
            cases.reassign(uow, ticket, other, None, Actor.user(1), " ", local(27, 11))
        version = ticket.assignment_version
        cases.reassign(uow, ticket, other, None, Actor.user(1), "member is sick", local(27, 11))
        uow.commit()
        assert (ticket.assignee_id, ticket.assignment_version) == (other.id, version + 1)
        assert ticket.accept_by == local(27, 16, 30)  # 4 working hours from 11:00
        assert _sms(uow, ticket, "assignment")[-1] == other.phone


def test_reroute_after_the_agent_fixes_the_place(services: Services) -> None:
    with services.uow() as uow:
        ticket = open_case(uow, local(27, 10, 30), where="0")
        assert ticket.needs_triage
        decision = cases.reroute(
            uow,
            ticket,
            Actor.user(1),
            "caller named the road",
            local(27, 11),
            SH,
            location_code="1207",
        )
        uow.commit()
        assert ticket.grid is not None
        assert ticket.grid.code == "1207"
        assert ticket.status is TicketStatus.ASSIGNED
        assert decision.staff_id == grid_member(uow.session, "1207", AssignmentRole.PRIMARY).id
        assert [e.kind for e in ticket.events][-2:] == ["rerouted", "assigned"]


def test_recategorising_chooses_the_policy_again(services: Services) -> None:
    with services.uow() as uow:
        ticket = open_case(uow, local(27, 10, 30))
        assert ticket.sla_policy is not None
        assert ticket.sla_policy.code == "general"
        cases.recategorise(
            uow, ticket, "water_leak", Priority.HIGH, Actor.user(1), "it is a pipe", local(27, 11)
        )
        uow.commit()
        assert ticket.sla_policy.code == "utilities"
        assert ticket.deadline_version == 2
        assert ticket.resolve_by == local(28, 10, 30)  # 24 h, round the clock


def test_cancel_needs_a_reason_and_clears_the_deadlines(services: Services) -> None:
    with services.uow() as uow:
        ticket = open_case(uow, local(27, 10, 30))
        cases.cancel(uow, ticket, Actor.user(1), "prank call", local(27, 11))
        uow.commit()
        assert ticket.status is TicketStatus.CANCELLED
        assert (ticket.accept_by, ticket.resolve_by, ticket.next_escalation_at) == (None,) * 3


def test_a_likely_duplicate_is_flagged_and_merged_callers_hear_of_the_fix(
    services: Services,
) -> None:
    with services.uow() as uow:
        first = open_case(uow, local(27, 10, 30))
        second = open_case(uow, local(27, 12), caller=OTHER_CALLER)
        elsewhere = open_case(uow, local(27, 12), where="1207")
        assert second.possible_duplicate_of_id == first.id
        assert elsewhere.possible_duplicate_of_id is None
        cases.merge(uow, second, first, Actor.user(1), local(27, 13))
        with pytest.raises(InvalidTransition):
            cases.merge(uow, first, first, Actor.user(1), local(27, 13))
        assert first.assignee is not None
        cases.accept(uow, first, first.assignee, "", local(27, 14))
        cases.resolve(uow, first, first.assignee, "lamp replaced", local(27, 15))
        uow.commit()
        assert second.status is TicketStatus.MERGED
        assert sorted(_sms(uow, first, "caller_done") + _sms(uow, second, "caller_done")) == (
            sorted([CALLER, OTHER_CALLER])
        )


def test_a_policy_change_recomputes_open_cases_in_batches(services: Services) -> None:
    with services.uow() as uow:
        tickets = [open_case(uow, local(27, 10, 30), where=f"12{n:02d}") for n in range(1, 6)]
        before = [t.resolve_by for t in tickets]
        change_sla_policy(
            uow,
            Actor.cli("admin"),
            local(27, 10, 31),
            "general",
            resolve_within=timedelta(hours=15),
        )  # 2 working days
        last, sizes = 0, []
        while True:
            done, last = recompute_open_cases(uow, after_id=last, batch=2)
            if not done:
                break
            sizes.append(done)
        assert sizes == [2, 2, 1]  # the five new cases (the demo city has no open cases)
        for ticket, old in zip(tickets, before, strict=True):
            uow.session.refresh(ticket)
            assert ticket.sla_policy is not None
            assert (ticket.sla_policy.code, ticket.sla_policy.version) == ("general", 2)
            assert ticket.deadline_version == 2
            # 15 working hours: Friday 5.5, Monday 7.5, Tuesday 2.
            assert ticket.resolve_by == datetime(2026, 12, 1, 10, 30, tzinfo=SH)
            assert old is not None
            assert ticket.resolve_by < old
