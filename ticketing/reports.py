"""Reading cases and their histories into the assessment's outcomes.

The history is read in SQL, one row per case, by a single GROUP BY over the case and the
events the figures depend on: first assignment, first acceptance and whether it was in
time, last resolution and whether it was in time, the last closing's rating, any
reopening. No ORM objects are built, so a month of a big city's cases is one round trip;
the rates themselves are computed once, in `ticketing.assessment.assess`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Select,
    and_,
    case,
    cast,
    func,
    select,
    true,
    type_coerce,
)
from sqlalchemy.orm import QueryableAttribute, Session, aliased

from ticketing.assessment import Level, Outcome, Row, assess
from ticketing.lifecycle import OPEN_STATUSES
from ticketing.models import Department, Grid, Region, Staff, Ticket, TicketEvent

_KINDS = ("assigned", "accepted", "resolved", "closed", "reopened")
_NO_RATING = 7  # ratings are 1 to 5; packed in 3 bits, 7 stands for "closed unrated"
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


def _plain(
    column: ColumnElement[Any] | QueryableAttribute[Any], name: str
) -> ColumnElement[datetime]:
    """Read a timestamp as the driver gives it: only differences are taken, and turning
    every value into aware UTC first cost more than the query on a month of cases."""
    return type_coerce(column, DateTime(timezone=True)).label(name)


def _flagged(kind: str, flag: ColumnElement[Any], bits: int) -> ColumnElement[Any]:
    """An event's id with a small value packed below it (id * 2**bits + value), so that
    min() or max() over a case's events picks the first or last such event and its value
    together, in one GROUP BY instead of a join back to the event per case."""
    packed = cast(TicketEvent.id, BigInteger) * (2**bits) + flag
    return case((TicketEvent.kind == kind, packed))


def _facts(
    level: Level, start: datetime, end: datetime, now: datetime, where: ColumnElement[bool]
) -> Select[Any]:
    """One row per case registered in [start, end) that `where` selects: its unit,
    whether it is open past its deadline, and what its history says."""
    kind, at = TicketEvent.kind, TicketEvent.at
    on_time = case((TicketEvent.data["on_time"].as_boolean(), 1), else_=0)
    rating = func.coalesce(TicketEvent.data["rating"].as_integer(), _NO_RATING)
    unit, joins = _unit_column(level)
    columns: list[Any] = [
        unit,
        and_(Ticket.status.in_(OPEN_STATUSES), Ticket.resolve_by < now),
        _plain(Ticket.created_at, "created_at"),
        _plain(func.min(case((kind == "assigned", at))), "assigned_at"),
        _plain(func.min(case((kind == "accepted", at))), "accepted_at"),
        func.min(_flagged("accepted", on_time, 1)),
        _plain(func.max(case((kind == "resolved", at))), "resolved_at"),
        func.max(_flagged("resolved", on_time, 1)),
        func.max(_flagged("closed", rating, 3)),
        func.count(case((kind == "reopened", 1))),
    ]
    query = select(*columns).select_from(Ticket)
    for target, on in joins:
        query = query.outerjoin(target, on)
    events = and_(TicketEvent.ticket_id == Ticket.id, kind.in_(_KINDS))
    return (
        query.outerjoin(TicketEvent, events)
        .where(Ticket.created_at >= start, Ticket.created_at < end, where)
        .group_by(Ticket.id, unit)
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
    query = _facts(level, start, end, now, true() if where is None else where)
    rows = session.execute(query).all()
    labels = unit_labels(session, level, (row[0] for row in rows if row[0] is not None))
    missing = _NONE_LABEL.get(level, "(no place)")
    found = []
    for (
        unit,
        overdue_open,
        created_at,
        assigned_at,
        accepted_at,
        first_accepted,
        resolved_at,
        last_resolved,
        last_closed,
        reopens,
    ) in rows:
        rating = last_closed % 8 if last_closed is not None else _NO_RATING
        found.append(
            Outcome(
                unit=labels[unit] if unit is not None else missing,
                assigned=assigned_at is not None,
                accepted_on_time=first_accepted is not None and first_accepted % 2 == 1,
                resolved=resolved_at is not None,
                resolved_on_time=last_resolved is not None and last_resolved % 2 == 1,
                overdue_open=bool(overdue_open),
                rating=None if rating == _NO_RATING else rating,
                reopened=reopens > 0,
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
