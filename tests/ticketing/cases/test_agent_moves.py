"""The console's moves on a case (ticketing.cases.agent_moves), on the demo city and the real DB.

Each move is checked for the one event it writes, the status it leaves, the clocks it
recomputes and the messages it queues, and for the input it refuses.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select

from hotline.bootstrap import Services
from tests.factories import CALLER, SH, grid_member, open_case
from ticketing.cases import agent_moves as moves
from ticketing.cases import services as cases
from ticketing.exceptions import InvalidInput, InvalidTransition
from ticketing.models.cases import Ticket
from ticketing.models.catalogue import Department
from ticketing.models.people import Staff, StaffRole
from ticketing.models.places import Grid, Place
from ticketing.models.sms import SmsMessage
from ticketing.places.indexes import Locator
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.catalogue import Priority
from ticketing.vocabulary.events import Actor
from ticketing.vocabulary.lifecycle import TicketStatus

pytestmark = pytest.mark.integration

AGENT = Actor.user(1)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date(2026, 11, day), time(hour, minute), tzinfo=SH).astimezone(UTC)


def _grid(uow: UnitOfWork, code: str) -> Grid:
    return uow.session.scalars(select(Grid).where(Grid.code == code)).one()


def _new_events(ticket: Ticket, before: int) -> list[str]:
    return [e.kind for e in ticket.events[before:]]


def _sms_to(uow: UnitOfWork, ticket: Ticket, purpose: str) -> list[str]:
    return list(
        uow.session.scalars(
            select(SmsMessage.to_number)
            .where(SmsMessage.ticket_id == ticket.id, SmsMessage.purpose == purpose)
            .order_by(SmsMessage.id)
        )
    )


def _resolved(uow: UnitOfWork) -> Ticket:
    ticket = open_case(uow)
    assert ticket.assignee is not None
    cases.accept(uow, ticket, ticket.assignee, "", local(27, 11))
    cases.resolve(uow, ticket, ticket.assignee, "lamp replaced", local(27, 12))
    uow.commit()
    return ticket


def test_a_note_is_one_event_and_an_empty_note_is_refused(services: Services) -> None:
    with services.uow() as uow:
        ticket = open_case(uow)
        before, status = len(ticket.events), ticket.status
        moves.add_note(uow, ticket, AGENT, "  caller says the lamp flickers  ", local(27, 11))
        uow.commit()
        assert _new_events(ticket, before) == ["note"]
        assert ticket.events[-1].note == "caller says the lamp flickers"
        assert (ticket.events[-1].actor, ticket.status) == ("user:1", status)
        with pytest.raises(InvalidInput, match="empty"):
            moves.add_note(uow, ticket, AGENT, "   ", local(27, 11))


def test_a_callback_keeps_the_number_and_does_not_pull_the_case_into_triage(
    services: Services,
) -> None:
    with services.uow() as uow:
        ticket = open_case(uow)
        before = len(ticket.events)
        number = moves.request_callback(
            uow, ticket, AGENT, "", "confirm the address", local(27, 11)
        )
        assert number == CALLER  # no number typed: the caller's own
        other = moves.request_callback(
            uow, ticket, AGENT, "139 1234 5678", "ask the neighbour", local(27, 11, 5)
        )
        uow.commit()
        assert other == "+8613912345678"
        assert _new_events(ticket, before) == ["callback_requested", "callback_requested"]
        assert ticket.events[-1].data == {"phone": "+8613912345678"}
        assert (ticket.status, ticket.needs_triage) == (TicketStatus.ASSIGNED, False)
        with pytest.raises(InvalidInput, match="phone number"):
            moves.request_callback(uow, ticket, AGENT, "call me", "x", local(27, 11))
        silent = open_case(uow, where="1102", caller=None)
        with pytest.raises(InvalidInput, match="no number"):
            moves.request_callback(uow, silent, AGENT, "", "x", local(27, 11))


def test_priority_change_recomputes_deadlines_and_urgent_alerts_supervisors(
    services: Services,
) -> None:
    with services.uow() as uow:
        ticket = open_case(uow)
        assert ticket.sla_policy is not None
        assert ticket.sla_policy.code == "general"
        before = len(ticket.events)
        moves.change_priority(uow, ticket, Priority.URGENT, AGENT, "children nearby", local(27, 11))
        uow.commit()
        assert _new_events(ticket, before) == ["priority_changed"]
        assert ticket.events[-1].data == {"from": "normal", "to": "urgent"}
        assert ticket.sla_policy.code == "urgent"
        assert ticket.resolve_by == local(27, 12, 30)  # 2 hours from registration, 24x7
        supervisors = uow.session.scalars(
            select(Staff.phone).where(
                Staff.role == StaffRole.SUPERVISOR, Staff.region_id == ticket.community_id
            )
        ).all()
        assert supervisors
        assert _sms_to(uow, ticket, "urgent_alert") == list(supervisors)
        with pytest.raises(InvalidInput, match="already urgent"):
            moves.change_priority(uow, ticket, Priority.URGENT, AGENT, "", local(27, 11))
        cases.cancel(uow, ticket, AGENT, "duplicate call", local(27, 12))
        with pytest.raises(InvalidTransition):
            moves.change_priority(uow, ticket, Priority.LOW, AGENT, "", local(27, 12))


def test_moving_a_case_to_another_grid_reroutes_it(services: Services) -> None:
    with services.uow() as uow:
        locator = Locator.load(uow.session)
        ticket = open_case(uow)
        target = _grid(uow, "1207")
        before = len(ticket.events)
        moves.change_place(
            uow,
            ticket,
            AGENT,
            "caller meant the other gate",
            local(27, 11),
            SH,
            locator,
            point=(target.centre_lat, target.centre_lon),
        )
        uow.commit()
        assert _new_events(ticket, before) == ["place_changed", "assigned"]
        assert ticket.events[before].data["to"]["grid"] == "1207"
        assert ticket.events[before].data["from"]["grid"] == "1101"
        assert ticket.grid is not None
        assert (ticket.grid.code, ticket.lat) == ("1207", target.centre_lat)
        assert ticket.assignee_id == grid_member(uow.session, "1207").id
        assert ticket.community_id == target.community_id


def test_moving_a_case_within_its_grid_sends_nobody_a_second_sms(services: Services) -> None:
    with services.uow() as uow:
        locator = Locator.load(uow.session)
        ticket = open_case(uow)
        grid = _grid(uow, "1101")
        version, sms = ticket.assignment_version, _sms_to(uow, ticket, "assignment")
        place = uow.session.scalars(select(Place).where(Place.grid_id == grid.id)).first()
        assert place is not None
        before = len(ticket.events)
        moves.change_place(uow, ticket, AGENT, "", local(27, 11), SH, locator, place_id=place.id)
        uow.commit()
        assert _new_events(ticket, before) == ["place_changed"]
        assert (ticket.place_id, ticket.lat, ticket.lon) == (place.id, place.lat, place.lon)
        assert ticket.assignment_version == version
        assert _sms_to(uow, ticket, "assignment") == sms


def test_a_place_must_exist_and_lie_in_a_grid(services: Services) -> None:
    with services.uow() as uow:
        locator = Locator.load(uow.session)
        ticket = open_case(uow)
        with pytest.raises(InvalidInput, match="outside every grid"):
            moves.change_place(uow, ticket, AGENT, "", local(27, 11), SH, locator, point=(0, 0))
        with pytest.raises(InvalidInput, match="no place"):
            moves.change_place(uow, ticket, AGENT, "", local(27, 11), SH, locator, place_id=-5)
        with pytest.raises(InvalidInput, match="choose a place"):
            moves.change_place(uow, ticket, AGENT, "", local(27, 11), SH, locator)
        assert ticket.events[-1].kind != "place_changed"


def test_a_triage_case_given_a_place_is_dispatched(services: Services) -> None:
    with services.uow() as uow:
        locator = Locator.load(uow.session)
        ticket = open_case(uow, where=None)
        assert (ticket.status, ticket.needs_triage) == (TicketStatus.NEW, True)
        grid = _grid(uow, "1203")
        moves.change_place(
            uow,
            ticket,
            AGENT,
            "",
            local(27, 11),
            SH,
            locator,
            point=(grid.centre_lat, grid.centre_lon),
        )
        uow.commit()
        assert (ticket.status, ticket.needs_triage) == (TicketStatus.ASSIGNED, False)
        assert ticket.assignee_id == grid_member(uow.session, "1203").id


def test_a_category_of_a_department_goes_to_its_queue(services: Services) -> None:
    with services.uow() as uow:
        ticket = open_case(uow)
        before = len(ticket.events)
        decision = moves.correct_category(
            uow, ticket, "water_leak", AGENT, "a burst pipe", local(27, 11), SH
        )
        uow.commit()
        assert _new_events(ticket, before) == ["recategorised", "assigned"]
        water = uow.session.scalars(select(Department).where(Department.code == "water_utility"))
        assert (ticket.department_id, ticket.assignee_id) == (water.one().id, None)
        assert decision.department_id == ticket.department_id
        assert ticket.sla_policy is not None
        assert ticket.sla_policy.code == "utilities"
        with pytest.raises(InvalidInput, match="already"):
            moves.correct_category(uow, ticket, "water_leak", AGENT, "", local(27, 11), SH)
        with pytest.raises(InvalidInput, match="unknown category"):
            moves.correct_category(uow, ticket, "weather", AGENT, "", local(27, 11), SH)


def test_an_agent_closes_a_resolved_case_with_a_reason(services: Services) -> None:
    with services.uow() as uow:
        ticket = open_case(uow)
        with pytest.raises(InvalidTransition, match="only resolved"):
            moves.close_case(uow, ticket, AGENT, "caller confirmed", local(27, 13))
        ticket = _resolved(uow)
        with pytest.raises(InvalidInput, match="reason"):
            moves.close_case(uow, ticket, AGENT, " ", local(27, 13))
        before = len(ticket.events)
        moves.close_case(uow, ticket, AGENT, "caller confirmed by phone", local(27, 13))
        uow.commit()
        assert _new_events(ticket, before) == ["closed"]
        assert ticket.events[-1].data == {"agent": True}
        assert (ticket.status, ticket.closed_at) == (TicketStatus.CLOSED, local(27, 13))


def test_an_agent_reopens_a_resolved_case_as_a_caller_would(services: Services) -> None:
    with services.uow() as uow:
        ticket = _resolved(uow)
        version = ticket.deadline_version
        assert ticket.assignee is not None
        member = ticket.assignee.phone
        before = len(ticket.events)
        moves.reopen_case(uow, ticket, AGENT, "the lamp is out again", local(27, 13))
        uow.commit()
        assert _new_events(ticket, before) == ["reopened"]
        assert ticket.events[-1].data == {"reopen": True}
        assert (ticket.status, ticket.resolved_at) == (TicketStatus.ACCEPTED, None)
        assert ticket.deadline_version == version + 1
        assert _sms_to(uow, ticket, "reopened") == [member]
        with pytest.raises(InvalidTransition, match="only a resolved"):
            moves.reopen_case(uow, ticket, AGENT, "again", local(27, 14))


def test_an_agent_resolves_an_accepted_case_for_its_member(services: Services) -> None:
    with services.uow() as uow:
        ticket = open_case(uow)
        with pytest.raises(InvalidTransition, match="only an accepted"):
            moves.resolve_case(uow, ticket, AGENT, "done", local(27, 11))
        assert ticket.assignee is not None
        cases.accept(uow, ticket, ticket.assignee, "", local(27, 11))
        before = len(ticket.events)
        moves.resolve_case(uow, ticket, AGENT, "member phoned: lamp replaced", local(27, 12))
        uow.commit()
        assert _new_events(ticket, before) == ["resolved"]
        assert (ticket.events[-1].actor, ticket.status) == ("user:1", TicketStatus.RESOLVED)
        assert _sms_to(uow, ticket, "caller_done") == [CALLER]
