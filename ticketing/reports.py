"""Reading cases and their histories into the assessment's outcomes.

The history is read in SQL, one row per case: the ids of the events the figures depend
on (first assignment, first acceptance, last resolution, last closing, any reopening) are
picked with a GROUP BY over the events, then joined back for their time and flags. No
ORM objects are built, so a month of a big city's cases is read in one round trip; the
rates themselves are computed once, in `ticketing.assessment.assess`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select, true
from sqlalchemy.orm import QueryableAttribute, Session, aliased

from ticketing.assessment import Level, Outcome, Row, assess
from ticketing.lifecycle import OPEN_STATUSES
from ticketing.models import Department, Grid, Region, Staff, Ticket, TicketEvent

_KINDS = ("assigned", "accepted", "resolved", "closed", "reopened")
_NONE_LABEL = {
    Level.MEMBER: "(unassigned)",
    Level.GRID: "(no grid)",
    Level.DEPARTMENT: "(grid cases)",
}


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 3600


def _unit_column(level: Level) -> tuple[QueryableAttribute[Any], list[Any]]:
    """The column naming a case's unit at `level`, and the joins it needs."""
    if level is Level.MEMBER:
        return Ticket.assignee_id, []
    if level is Level.GRID:
        return Ticket.grid_id, []
    if level is Level.DEPARTMENT:
        return Ticket.department_id, []
    if level is Level.COMMUNITY:
        return Ticket.community_id, []
    street = aliased(Region)
    joins: list[Any] = [(street, street.id == Region.parent_id)]
    if level is Level.STREET:
        return street.id, [(Region, Region.id == Ticket.community_id), *joins]
    district = aliased(Region)
    return district.id, [
        (Region, Region.id == Ticket.community_id),
        *joins,
        (district, district.id == street.parent_id),
    ]


def unit_labels(session: Session, level: Level, ids: Iterable[int]) -> dict[int, str]:
    """How each unit is named in the table, read for the units present only."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    if level is Level.MEMBER:
        people = session.execute(
            select(Staff.id, Staff.name, Staff.employee_no).where(Staff.id.in_(wanted))
        )
        return {i: f"{name} ({no})" for i, name, no in people}
    if level is Level.GRID:
        grids = session.execute(select(Grid.id, Grid.code, Grid.name).where(Grid.id.in_(wanted)))
        return {i: f"{code} {name}" for i, code, name in grids}
    if level is Level.DEPARTMENT:
        departments = session.execute(
            select(Department.id, Department.name_en).where(Department.id.in_(wanted))
        )
        return dict(departments.all())
    regions = session.execute(
        select(Region.id, Region.name_en, Region.code).where(Region.id.in_(wanted))
    )
    return {i: f"{name} ({code})" for i, name, code in regions}


def _facts(level: Level, start: datetime, end: datetime, where: ColumnElement[bool]) -> Select[Any]:
    in_scope = (Ticket.created_at >= start, Ticket.created_at < end, where)
    kind, event_id = TicketEvent.kind, TicketEvent.id
    picked = (
        select(
            TicketEvent.ticket_id.label("ticket_id"),
            func.min(case((kind == "assigned", event_id))).label("assigned"),
            func.min(case((kind == "accepted", event_id))).label("accepted"),
            func.max(case((kind == "resolved", event_id))).label("resolved"),
            func.max(case((kind == "closed", event_id))).label("closed"),
            func.min(case((kind == "reopened", event_id))).label("reopened"),
        )
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(kind.in_(_KINDS), *in_scope)
        .group_by(TicketEvent.ticket_id)
        .subquery()
    )
    assigned, accepted, resolved, closed = (aliased(TicketEvent) for _ in range(4))
    unit, joins = _unit_column(level)
    query = select(
        unit,
        Ticket.status,
        Ticket.resolve_by,
        Ticket.created_at,
        assigned.at,
        accepted.at,
        accepted.data["on_time"].as_boolean(),
        resolved.at,
        resolved.data["on_time"].as_boolean(),
        closed.data["rating"].as_integer(),
        picked.c.reopened,
    ).select_from(Ticket)
    for target, on in joins:
        query = query.outerjoin(target, on)
    return (
        query.outerjoin(picked, picked.c.ticket_id == Ticket.id)
        .outerjoin(assigned, assigned.id == picked.c.assigned)
        .outerjoin(accepted, accepted.id == picked.c.accepted)
        .outerjoin(resolved, resolved.id == picked.c.resolved)
        .outerjoin(closed, closed.id == picked.c.closed)
        .where(*in_scope)
    )


def outcomes(
    session: Session,
    level: Level,
    start: datetime,
    end: datetime,
    now: datetime,
    where: ColumnElement[bool] | None = None,
) -> list[Outcome]:
    """Each case's outcome, read from its events (first acceptance, last resolution)."""
    rows = session.execute(_facts(level, start, end, true() if where is None else where)).all()
    labels = unit_labels(session, level, (row[0] for row in rows if row[0] is not None))
    missing = _NONE_LABEL.get(level, "(no place)")
    found = []
    for (
        unit,
        status,
        resolve_by,
        created_at,
        assigned_at,
        accepted_at,
        accepted_on_time,
        resolved_at,
        resolved_on_time,
        rating,
        reopened,
    ) in rows:
        found.append(
            Outcome(
                unit=labels[unit] if unit is not None else missing,
                assigned=assigned_at is not None,
                accepted_on_time=bool(accepted_on_time),
                resolved=resolved_at is not None,
                resolved_on_time=bool(resolved_on_time),
                overdue_open=status in OPEN_STATUSES
                and resolve_by is not None
                and resolve_by < now,
                rating=rating,
                reopened=reopened is not None,
                hours_to_accept=_hours(assigned_at, accepted_at),
                hours_to_resolve=_hours(created_at, resolved_at),
            )
        )
    return found


def assessment(
    session: Session,
    level: Level,
    start: datetime,
    end: datetime,
    now: datetime,
    where: ColumnElement[bool] | None = None,
) -> list[Row]:
    """The assessment table for cases registered in [start, end), limited to the cases
    `where` selects (a WHERE clause on Ticket, such as what a console user may see)."""
    return assess(outcomes(session, level, start, end, now, where))
