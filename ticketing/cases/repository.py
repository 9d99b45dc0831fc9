"""Queries the services share, so each rule about "which row" is written once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ticketing.models.cases import CaseSequence, Ticket
from ticketing.models.catalogue import Category
from ticketing.models.people import GridAssignment, LeavePeriod, RosterShift, Staff, StaffRole
from ticketing.models.places import Grid, Region, RegionLevel
from ticketing.people.rosters import Leave, Roster, WeeklyShift, on_duty
from ticketing.people.routing import GridMemberView
from ticketing.vocabulary.lifecycle import OPEN_STATUSES
from ticketing.vocabulary.roles import AssignmentRole


def next_case_sequence(session: Session, day: str) -> int:
    """Atomically take the next number of a day, safe across processes and backends.

    On a server database the number is taken in its own short transaction: the day's row
    is then locked for a millisecond, not for the whole case-creating transaction, which
    would make every new case in the city wait for the one before it. The price is a gap
    in the numbers when a case's transaction rolls back. SQLite has one writer anyway, and
    a second connection would wait on our own lock, so there it stays in the session.
    """
    bind = session.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name != "sqlite":
        with bind.connect() as connection:
            number = _bump(connection, day)
            connection.commit()
            return number
    return _bump(session.connection(), day)


def _bump(connection: Connection, day: str) -> int:
    bump = (
        update(CaseSequence)
        .where(CaseSequence.day == day)
        .values(last=CaseSequence.last + 1)
        .returning(CaseSequence.last)
    )
    value = connection.execute(bump).scalar_one_or_none()
    if value is not None:
        return int(value)
    try:
        with connection.begin_nested():
            connection.execute(insert(CaseSequence).values(day=day, last=0))
    except IntegrityError:
        pass  # another transaction created the day's row first; bump theirs
    return int(connection.execute(bump).scalar_one())


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


def rosters(session: Session, staff_ids: Collection[int]) -> dict[int, Roster]:
    """Each member's weekly shifts and leave, read in two queries for a whole group."""
    shifts: dict[int, list[WeeklyShift]] = defaultdict(list)
    leaves: dict[int, list[Leave]] = defaultdict(list)
    for row in session.scalars(select(RosterShift).where(RosterShift.staff_id.in_(staff_ids))):
        shifts[row.staff_id].append(
            WeeklyShift(row.weekday, time.fromisoformat(row.start), time.fromisoformat(row.end))
        )
    for leave in session.scalars(select(LeavePeriod).where(LeavePeriod.staff_id.in_(staff_ids))):
        leaves[leave.staff_id].append(Leave(leave.first_day, leave.last_day, leave.reason))
    return {i: Roster(tuple(shifts[i]), tuple(leaves[i])) for i in staff_ids}


def _views(
    session: Session,
    rows: Sequence[tuple[int, AssignmentRole | None, bool]],
    at: datetime,
    zone: ZoneInfo,
    with_load: bool = False,
) -> list[GridMemberView]:
    ids = [staff_id for staff_id, _, _ in rows]
    duty = rosters(session, ids)
    load = open_case_counts(session, ids) if with_load else {}
    views = []
    for staff_id, role, active in rows:
        working, why = on_duty(duty[staff_id], at, zone)
        views.append(GridMemberView(staff_id, role, active, working, why, load.get(staff_id, 0)))
    return views


def grid_members(
    session: Session, grid_id: int, at: datetime, zone: ZoneInfo
) -> list[GridMemberView]:
    """The grid's primary and backup members, with whether each is on duty at `at`."""
    rows = session.execute(
        select(GridAssignment.staff_id, GridAssignment.role, Staff.active)
        .join(Staff, Staff.id == GridAssignment.staff_id)
        .where(GridAssignment.grid_id == grid_id)
        .order_by(GridAssignment.id)
    ).all()
    return _views(session, [(i, role, active) for i, role, active in rows], at, zone)


def community_pool(
    session: Session, community_id: int, at: datetime, zone: ZoneInfo
) -> list[GridMemberView]:
    """Every grid member of the community, with duty and open cases, for load balancing."""
    rows = session.execute(
        select(Staff.id, Staff.active)
        .join(GridAssignment, GridAssignment.staff_id == Staff.id)
        .join(Grid, Grid.id == GridAssignment.grid_id)
        .where(Grid.community_id == community_id)
        .distinct()
        .order_by(Staff.id)
    ).all()
    return _views(session, [(i, None, active) for i, active in rows], at, zone, with_load=True)


def open_case_counts(session: Session, staff_ids: Collection[int]) -> dict[int, int]:
    rows = session.execute(
        select(Ticket.assignee_id, func.count())
        .where(Ticket.assignee_id.in_(staff_ids), Ticket.status.in_(OPEN_STATUSES))
        .group_by(Ticket.assignee_id)
    ).all()
    return {int(staff_id): int(n) for staff_id, n in rows if staff_id is not None}


def supervisors(session: Session, region_id: int | None) -> list[Staff]:
    """The active supervisors of a region (a community, street, district or the city)."""
    if region_id is None:
        return []
    return list(
        session.scalars(
            select(Staff)
            .where(
                Staff.role == StaffRole.SUPERVISOR,
                Staff.region_id == region_id,
                Staff.active.is_(True),
            )
            .order_by(Staff.id)
        )
    )


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
