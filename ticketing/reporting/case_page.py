"""What the console's case pages read: one case as a user sees it, with what its forms
offer, and the form for a case typed in by hand.

The moves a user is offered follow `cases.console_moves.MOVES` (each move checks again);
callers' numbers are masked as `people.visibility.mask_phone` says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.cases.attachments import AttachmentInfo, for_case
from ticketing.cases.console_moves import offered
from ticketing.exceptions import NotPermitted
from ticketing.models.accounts import User, UserRole
from ticketing.models.cases import Ticket
from ticketing.models.catalogue import Category, Department
from ticketing.models.people import GridAssignment, Staff
from ticketing.people.visibility import case_filter, check_assignment_scope, mask_phone
from ticketing.places.outlines import city_bounds
from ticketing.reporting import queues as qq
from ticketing.vocabulary.catalogue import Priority
from ticketing.vocabulary.events import Actor, EventKind


@dataclass(frozen=True)
class CasePage:
    """One case as the user may see it, and the choices of the forms it is offered."""

    detail: qq.CaseDetail
    moves: tuple[str, ...]  # the moves whose form the user is offered, in page order
    caller: str  # the caller's number, masked for this user
    callback_phone: str  # the number an open callback request asks to call, masked
    callback_phones: dict[int, str]  # callback request event id -> its number, masked
    actors: dict[str, str]  # an event's actor -> how it reads (a name, a masked caller)
    members: list[tuple[str, str]]  # the grid's active staff the user may assign to
    categories: list[tuple[str, str]]  # active categories: code, English name
    departments: list[tuple[str, str]]  # the queues the user may hand the case to
    priorities: list[tuple[str, str]]
    geo: dict[str, Any]  # the grid's outline, the case's point, else the city's box
    attachments: list[AttachmentInfo]  # oldest first


def case_page(session: Session, user: User, number: str, now: datetime) -> CasePage | None:
    """The case for its page, or None if there is no such case the user may see."""
    detail = qq.case_detail(session, number, case_filter(session, user), now)
    if detail is None:
        return None
    ticket = detail.ticket
    moves = offered(user, ticket.status)
    members: list[tuple[str, str]] = []
    if "assign" in moves and ticket.grid_id is not None:
        members = [
            (staff.employee_no, f"{staff.name} ({role})")
            for staff, role in session.execute(
                select(Staff, GridAssignment.role)
                .join(GridAssignment, GridAssignment.staff_id == Staff.id)
                .where(GridAssignment.grid_id == ticket.grid_id, Staff.active)
                .order_by(GridAssignment.role, Staff.name)
            )
            if _may_assign(session, user, staff)
        ]
    departments = select(Department.code, Department.name_en).order_by(Department.name_en)
    if user.role is UserRole.DISPATCHER:  # the only queue it may hand a case to
        departments = departments.where(Department.id == user.department_id)
    categories = session.execute(
        select(Category.code, Category.name_en).where(Category.active).order_by(Category.name_en)
    )
    return CasePage(
        detail=detail,
        moves=moves,
        caller=mask_phone(ticket.caller_phone, user),
        callback_phone=mask_phone(str(detail.callback.data.get("phone", "")), user)
        if detail.callback
        else "",
        callback_phones={
            e.id: mask_phone(str(e.data.get("phone", "")), user)
            for e in ticket.events
            if e.kind == EventKind.CALLBACK_REQUESTED
        },
        actors=_actor_names(session, user, ticket),
        members=members,
        categories=[(code, name) for code, name in categories],
        departments=[(code, name) for code, name in session.execute(departments)],
        priorities=[(p.value, p.value) for p in Priority],
        geo={
            "outline": detail.polygon,
            "point": [ticket.lat, ticket.lon] if ticket.lat is not None else None,
            "bounds": None if detail.polygon else city_bounds(session),
        },
        attachments=for_case(session, ticket.id),
    )


def _may_assign(session: Session, user: User, staff: Staff) -> bool:
    """Whether the assign form should offer this person (the move itself checks again)."""
    try:
        check_assignment_scope(session, user, staff, None)
    except NotPermitted:
        return False
    return True


def _actor_names(session: Session, user: User, ticket: Ticket) -> dict[str, str]:
    """How each event's actor reads on the page: a name, or a masked caller."""
    names: dict[str, str] = {str(Actor.system()): "system"}
    user_ids, staff_ids = set(), set()
    for event in ticket.events:
        who = Actor.parse(event.actor)
        if who.user_id is not None:
            user_ids.add(who.user_id)
        elif who.staff_id is not None:
            staff_ids.add(who.staff_id)
        elif who.phone is not None:
            names[event.actor] = f"caller {mask_phone(who.phone, user)}"
        elif who == Actor.caller(None):
            names[event.actor] = "caller (no number)"
    if user_ids:
        for user_id, name in session.execute(
            select(User.id, User.display_name).where(User.id.in_(user_ids))
        ):
            names[str(Actor.user(user_id))] = name
    if staff_ids:
        for staff_id, name in session.execute(
            select(Staff.id, Staff.name).where(Staff.id.in_(staff_ids))
        ):
            names[str(Actor.staff(staff_id))] = name
    return names


@dataclass(frozen=True)
class NewCaseForm:
    """The choices of the new-case form and where its map opens."""

    categories: list[tuple[str, str, str, Priority]]  # active: code, English, Chinese, priority
    bounds: list[list[float]] | None


def new_case_form(session: Session) -> NewCaseForm:
    """The active categories, by English name, and the box around the city's grids."""
    categories = session.execute(
        select(Category.code, Category.name_en, Category.name_zh, Category.default_priority)
        .where(Category.active)
        .order_by(Category.name_en)
    ).all()
    choices = [(code, en, zh, priority) for code, en, zh, priority in categories]
    return NewCaseForm(choices, city_bounds(session))
