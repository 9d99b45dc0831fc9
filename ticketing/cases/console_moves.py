"""The moves a console user makes on the case page, each one use case that commits.

Every move takes the case by its number, locked until the commit, and only if the user
may see it (`people.visibility.case_filter`): any other case is NotFound whatever the
move, so its existence does not leak. Then the user's role must be one `MOVES` allows for
that move (MoveNotAllowed otherwise), the form's input is read, and the move is made by
the steps of `cases.agent_moves` and `cases.services`, which check the transition table,
write the events and keep the SLA columns true; the use case commits them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select

from ticketing.cases import agent_moves as moves
from ticketing.cases import services as cases
from ticketing.cases.numbers import normalise_case_number
from ticketing.exceptions import InvalidInput, InvalidTransition, MoveNotAllowed, NotFound
from ticketing.models.accounts import User, UserRole
from ticketing.models.cases import Ticket
from ticketing.models.catalogue import Department
from ticketing.models.people import Staff
from ticketing.people.routing import RoutingDecision
from ticketing.people.visibility import case_filter, check_assignment_scope
from ticketing.places.indexes import LocatorSource
from ticketing.places.points import parse_place_id, parse_point
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.catalogue import Priority
from ticketing.vocabulary.events import Actor
from ticketing.vocabulary.lifecycle import OPEN_STATUSES, TicketStatus


@dataclass(frozen=True)
class Rule:
    """Who may make a move, and in which statuses the page offers it (the move decides)."""

    roles: frozenset[UserRole]
    statuses: frozenset[TicketStatus]


_R = UserRole
EVERYONE = frozenset(UserRole)
CORRECTORS = frozenset({_R.AGENT, _R.SUPERVISOR, _R.ADMIN})
ANY = frozenset(TicketStatus)
OPEN = frozenset(OPEN_STATUSES)
# In the order the page shows the forms.
MOVES: dict[str, Rule] = {
    "note": Rule(EVERYONE, ANY),
    "callback": Rule(CORRECTORS, ANY),
    "category": Rule(CORRECTORS, OPEN),
    "priority": Rule(CORRECTORS, OPEN),
    "place": Rule(CORRECTORS, OPEN),
    "assign": Rule(CORRECTORS | {_R.DISPATCHER}, OPEN),
    "merge": Rule(CORRECTORS, OPEN),
    "resolve": Rule(CORRECTORS | {_R.DISPATCHER}, frozenset({TicketStatus.ACCEPTED})),
    "close": Rule(CORRECTORS, frozenset({TicketStatus.RESOLVED})),
    "reopen": Rule(CORRECTORS, frozenset({TicketStatus.RESOLVED})),
    "cancel": Rule(CORRECTORS, OPEN),
}


def offered(user: User, status: TicketStatus) -> tuple[str, ...]:
    """The moves whose form the page shows this user on a case in this status."""
    return tuple(
        name for name, rule in MOVES.items() if user.role in rule.roles and status in rule.statuses
    )


@dataclass(frozen=True)
class Mover:
    """Who makes a move and when: the user, the actor its events name, now, the city's zone."""

    user: User
    actor: Actor
    now: datetime
    tz: ZoneInfo


def _locked(uow: UnitOfWork, number: str, visible: ColumnElement[bool]) -> Ticket | None:
    # Locked until the commit: two people moving one case take turns, and the second
    # move is checked against the case as the first left it.
    return uow.session.scalars(
        select(Ticket).where(Ticket.number == number, visible).with_for_update(of=Ticket)
    ).one_or_none()


def _take(
    uow: UnitOfWork,
    by: Mover,
    number: str,
    move: str,
    visible: ColumnElement[bool] | None = None,
) -> Ticket:
    """The case, locked, if the user may see it and its role may make the move."""
    if visible is None:
        visible = case_filter(uow.session, by.user)
    ticket = _locked(uow, number, visible)
    if ticket is None:
        raise NotFound(f"no case {number}")
    if by.user.role not in MOVES[move].roles:
        raise MoveNotAllowed(f"a {by.user.role.value} may not make the move {move!r}")
    return ticket


def add_note(uow: UnitOfWork, by: Mover, number: str, note: str) -> None:
    """Write a remark into the case's history."""
    ticket = _take(uow, by, number, "note")
    moves.add_note(uow, ticket, by.actor, note, by.now)
    uow.commit()


def request_callback(uow: UnitOfWork, by: Mover, number: str, phone: str, reason: str) -> str:
    """Ask for the caller to be phoned back; returns the number to call."""
    ticket = _take(uow, by, number, "callback")
    called = moves.request_callback(uow, ticket, by.actor, phone, reason, by.now)
    uow.commit()
    return called


def correct_category(
    uow: UnitOfWork, by: Mover, number: str, category: str, reason: str
) -> RoutingDecision:
    """Correct the category, re-routing the case if someone else answers for it now."""
    ticket = _take(uow, by, number, "category")
    decision = moves.correct_category(uow, ticket, category, by.actor, reason, by.now, by.tz)
    uow.commit()
    return decision


def change_priority(
    uow: UnitOfWork, by: Mover, number: str, priority: str, reason: str
) -> Priority:
    """Correct the priority (a value of `Priority`, as the form sent it); returns it."""
    ticket = _take(uow, by, number, "priority")
    try:
        chosen = Priority(priority)
    except ValueError as exc:
        raise InvalidInput(f"there is no priority {priority!r}") from exc
    moves.change_priority(uow, ticket, chosen, by.actor, reason, by.now)
    uow.commit()
    return chosen


@dataclass(frozen=True)
class Placed:
    grid: str
    decision: RoutingDecision


def change_place(
    uow: UnitOfWork,
    by: Mover,
    number: str,
    locate: LocatorSource,
    reason: str,
    *,
    place_id: str = "",
    lat: str = "",
    lon: str = "",
) -> Placed:
    """Correct where the problem is: a gazetteer place (its id as the form sent it), or
    else a point clicked on the map; the case is re-routed if its grid's people change."""
    ticket = _take(uow, by, number, "place")
    decision = moves.change_place(
        uow,
        ticket,
        by.actor,
        reason,
        by.now,
        by.tz,
        locate(uow.session),
        place_id=parse_place_id(place_id),
        point=parse_point(lat, lon) if not place_id else None,
    )
    grid = ticket.grid.code if ticket.grid else "?"
    uow.commit()
    return Placed(grid, decision)


def assign_case(
    uow: UnitOfWork, by: Mover, number: str, employee_no: str, department: str, reason: str
) -> str:
    """Give the case to an active staff member (by employee number) or else to a
    department's queue (by code), within the user's own area; returns who has it."""
    ticket = _take(uow, by, number, "assign")
    session = uow.session
    staff = None
    if employee_no:
        staff = session.scalars(select(Staff).where(Staff.employee_no == employee_no)).one_or_none()
        if staff is None or not staff.active:
            raise InvalidInput(f"no active staff member with employee number {employee_no!r}")
    department_id = None
    if department and staff is None:
        department_id = session.scalar(select(Department.id).where(Department.code == department))
        if department_id is None:
            raise InvalidInput(f"there is no department {department!r}")
    check_assignment_scope(session, by.user, staff, department_id)
    cases.reassign(uow, ticket, staff, department_id, by.actor, reason, by.now)
    uow.commit()
    return staff.name if staff else department


def merge_case(uow: UnitOfWork, by: Mover, number: str, into: str) -> str:
    """Fold the case into another the user may see (its number as typed); returns the
    number of the case that carries on."""
    visible = case_filter(uow.session, by.user)
    duplicate = _take(uow, by, number, "merge", visible)
    target = normalise_case_number(into)
    survivor = _locked(uow, target, visible) if target else None
    if survivor is None:
        raise InvalidInput(f"there is no case {into!r} to merge into")
    cases.merge(uow, duplicate, survivor, by.actor, by.now)
    uow.commit()
    return survivor.number


def resolve_case(uow: UnitOfWork, by: Mover, number: str, note: str) -> None:
    """Mark an accepted case resolved for its assignee; the caller is told and asked to rate."""
    ticket = _take(uow, by, number, "resolve")
    moves.resolve_case(uow, ticket, by.actor, note, by.now)
    uow.commit()


def close_case(uow: UnitOfWork, by: Mover, number: str, reason: str) -> None:
    """Close a resolved case without the caller's rating, saying why."""
    ticket = _take(uow, by, number, "close")
    moves.close_case(uow, ticket, by.actor, reason, by.now)
    uow.commit()


def reopen_case(uow: UnitOfWork, by: Mover, number: str, reason: str) -> None:
    """Give a resolved case back to its assignee because the work is not done."""
    ticket = _take(uow, by, number, "reopen")
    moves.reopen_case(uow, ticket, by.actor, reason, by.now)
    uow.commit()


def cancel_case(uow: UnitOfWork, by: Mover, number: str, reason: str) -> None:
    """Withdraw an open case (a prank call, a mistake), saying why."""
    ticket = _take(uow, by, number, "cancel")
    if ticket.status not in OPEN_STATUSES:
        raise InvalidTransition(f"case {ticket.number} is {ticket.status}: nothing to cancel")
    cases.cancel(uow, ticket, by.actor, reason, by.now)
    uow.commit()
