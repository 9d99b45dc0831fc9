"""Queries the services share, so each rule about "which row" is written once."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ticketing.models import (
    CaseSequence,
    Category,
    Grid,
    GridAssignment,
    Region,
    RegionLevel,
    Staff,
    StaffRole,
    Ticket,
)
from ticketing.routing import GridMemberView


def next_case_sequence(session: Session, day: str) -> int:
    """Atomically take the next number of a day, safe across processes and backends."""
    bump = (
        update(CaseSequence)
        .where(CaseSequence.day == day)
        .values(last=CaseSequence.last + 1)
        .returning(CaseSequence.last)
    )
    value = session.execute(bump).scalar_one_or_none()
    if value is not None:
        return int(value)
    try:
        with session.begin_nested():
            session.add(CaseSequence(day=day, last=0))
    except IntegrityError:
        pass  # another transaction created the day's row first; bump theirs
    return int(session.execute(bump).scalar_one())


def category_by_code(session: Session, code: str) -> Category | None:
    return session.scalars(select(Category).where(Category.code == code)).one_or_none()


def grid_by_code(session: Session, code: str) -> Grid | None:
    return session.scalars(select(Grid).where(Grid.code == code)).one_or_none()


def community_by_code(session: Session, code: str) -> Region | None:
    return session.scalars(
        select(Region).where(Region.code == code, Region.level == RegionLevel.COMMUNITY)
    ).one_or_none()


def ticket_by_number(session: Session, number: str) -> Ticket | None:
    return session.scalars(select(Ticket).where(Ticket.number == number)).one_or_none()


def staff_by_phone(session: Session, phone: str) -> Staff | None:
    return session.scalars(select(Staff).where(Staff.phone == phone)).one_or_none()


def grid_members(session: Session, grid_id: int) -> list[GridMemberView]:
    rows = session.execute(
        select(GridAssignment.staff_id, GridAssignment.role, Staff.active)
        .join(Staff, Staff.id == GridAssignment.staff_id)
        .where(GridAssignment.grid_id == grid_id)
        .order_by(GridAssignment.id)
    ).all()
    return [GridMemberView(staff_id, role, active) for staff_id, role, active in rows]


def department_dispatchers(session: Session, department_id: int) -> list[Staff]:
    return list(
        session.scalars(
            select(Staff)
            .where(
                Staff.department_id == department_id,
                Staff.role == StaffRole.DISPATCHER,
                Staff.active.is_(True),
            )
            .order_by(Staff.id)
        )
    )
