"""Reading cases and their histories into the assessment's outcomes.

What a case's history says for the assessment (first assignment, first acceptance and
whether it was in time, last resolution and whether it was in time, the last closing's
rating, any reopening) is kept on the case as its events are recorded, so `assessment`
counts and takes the medians per unit over the month's cases alone, in two statements
(counts by a hash aggregate, medians over only the cases with a duration): only the
table's few rows come back. `assessment_per_case` reads the same facts from the
events themselves, by a GROUP BY over the case and its history, and computes the table in
Python through `ticketing.reporting.assessment.assess`: the reference the fast path is tested
against, so a fact kept wrong shows up as a difference.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Float,
    Select,
    and_,
    case,
    cast,
    func,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute, Session, aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from ticketing.models.cases import Ticket, TicketEvent
from ticketing.models.catalogue import Department
from ticketing.models.people import Staff
from ticketing.models.places import Grid, Region
from ticketing.reporting.assessment import Level, Outcome, Row, assess
from ticketing.vocabulary.events import EventKind
from ticketing.vocabulary.lifecycle import OPEN_STATUSES

_KINDS = (
    EventKind.ASSIGNED,
    EventKind.ACCEPTED,
    EventKind.RESOLVED,
    EventKind.CLOSED,
    EventKind.REOPENED,
)
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
    unit, joins = _above_community(level)
    return unit, [(Region, Region.id == Ticket.community_id), *joins]


_ABOVE_COMMUNITY = (Level.STREET, Level.DISTRICT)


def _above_community(level: Level) -> tuple[Any, list[Any]]:
    """The street or district of a community (`Region`), and the joins from it."""
    street = aliased(Region)
    joins: list[Any] = [(street, street.id == Region.parent_id)]
    if level is Level.STREET:
        return street.id, joins
    district = aliased(Region)
    return district.id, [*joins, (district, district.id == street.parent_id)]


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


def _flagged(kind: EventKind, flag: ColumnElement[Any], bits: int) -> ColumnElement[Any]:
    """An event's id with a small value packed below it (id * 2**bits + value), so that
    min() or max() over a case's events picks the first or last such event and its value
    together, in one GROUP BY instead of a join back to the event per case."""
    packed = cast(TicketEvent.id, BigInteger) * (2**bits) + flag
    return case((TicketEvent.kind == kind, packed))


def _case_rows(
    unit_joins: tuple[Any, list[Any]],
    start: datetime,
    end: datetime,
    now: datetime,
    where: ColumnElement[bool],
    history: list[Any],
) -> Select[Any]:
    """One row per case registered in [start, end) that `where` selects: its unit (a
    column and the joins it needs), whether it is open past its deadline, its
    registration, then the `history` columns."""
    unit, joins = unit_joins
    columns: list[Any] = [
        unit.label("unit"),
        case((and_(Ticket.status.in_(OPEN_STATUSES), Ticket.resolve_by < now), 1), else_=0).label(
            "overdue_open"
        ),
        _plain(Ticket.created_at, "created_at"),
        *history,
    ]
    query = select(*columns).select_from(Ticket)
    for target, on in joins:
        query = query.outerjoin(target, on)
    return query.where(Ticket.created_at >= start, Ticket.created_at < end, where)


def _facts(
    level: Level, start: datetime, end: datetime, now: datetime, where: ColumnElement[bool]
) -> Select[Any]:
    """The cases' rows with what their events say (the reference path)."""
    kind, at = TicketEvent.kind, TicketEvent.at
    on_time = case((TicketEvent.data["on_time"].as_boolean(), 1), else_=0)
    rating = func.coalesce(TicketEvent.data["rating"].as_integer(), _NO_RATING)
    history = [
        _plain(func.min(case((kind == EventKind.ASSIGNED, at))), "assigned_at"),
        _plain(func.min(case((kind == EventKind.ACCEPTED, at))), "accepted_at"),
        func.min(_flagged(EventKind.ACCEPTED, on_time, 1)).label("first_accepted"),
        _plain(func.max(case((kind == EventKind.RESOLVED, at))), "resolved_at"),
        func.max(_flagged(EventKind.RESOLVED, on_time, 1)).label("last_resolved"),
        func.max(_flagged(EventKind.CLOSED, rating, 3)).label("last_closed"),
        func.count(case((kind == EventKind.REOPENED, 1))).label("reopens"),
    ]
    unit_joins = _unit_column(level)
    query = _case_rows(unit_joins, start, end, now, where, history)
    events = and_(TicketEvent.ticket_id == Ticket.id, kind.in_(_KINDS))
    return query.outerjoin(TicketEvent, events).group_by(Ticket.id, unit_joins[0])


def _kept_facts(
    unit_joins: tuple[Any, list[Any]],
    start: datetime,
    end: datetime,
    now: datetime,
    where: ColumnElement[bool],
) -> Select[Any]:
    """The same rows as `_facts`, read from the facts kept on the case as its events were
    recorded: a scan of the month's cases, no join to their histories."""
    accepted, resolved = Ticket.first_accepted_at, Ticket.last_resolved_at
    history = [
        _plain(Ticket.first_assigned_at, "assigned_at"),
        _plain(accepted, "accepted_at"),
        case(
            (accepted.is_(None), None), (Ticket.first_accepted_on_time.is_(True), 1), else_=0
        ).label("first_accepted"),
        _plain(resolved, "resolved_at"),
        case(
            (resolved.is_(None), None), (Ticket.last_resolved_on_time.is_(True), 1), else_=0
        ).label("last_resolved"),
        Ticket.last_rating.label("last_closed"),
        Ticket.reopen_count.label("reopens"),
    ]
    return _case_rows(unit_joins, start, end, now, where, history)


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


class _hours_between(FunctionElement[float]):  # noqa: N801 (an SQL function's name)
    """Hours from the first timestamp to the second, as a float, on either backend."""

    type = Float()
    name = "hours_between"
    inherit_cache = True


@compiles(_hours_between)
def _hours_sqlite(element: _hours_between, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps timestamps as text; julianday() is exact to well under a millisecond.
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"(round((julianday({end}) - julianday({start})) * 86400.0, 3) / 3600.0)"


@compiles(_hours_between, "postgresql")
def _hours_postgresql(element: _hours_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS DOUBLE PRECISION) / 3600.0)"


def _base_column(level: Level) -> tuple[Any, list[Any]]:
    """What the counts are grouped by: the unit itself, or for streets and districts the
    case's community, whose street or district is looked up afterwards among a few
    hundred regions (instead of joining every case of the month to two of them)."""
    if level in _ABOVE_COMMUNITY:
        return Ticket.community_id, []
    return _unit_column(level)


def _units_of_communities(
    session: Session, level: Level, communities: Iterable[int | None]
) -> dict[int | None, int | None]:
    """Each community's unit at `level` (identity below the street level)."""
    wanted = sorted({c for c in communities if c is not None})
    if level not in _ABOVE_COMMUNITY or not wanted:
        return {c: c for c in wanted}
    unit, joins = _above_community(level)
    query = select(Region.id, unit).where(Region.id.in_(wanted))
    for target, on in joins:
        query = query.outerjoin(target, on)
    return dict(session.execute(query).all())


def _median(facts: Any, hours: ColumnElement[float], name: str) -> Select[Any]:
    """Per unit, the median of `hours` where it is known: the middle value, or the mean of
    the two middle ones (as `statistics.median`), by window functions both backends run."""
    ranked = (
        select(
            facts.c.unit,
            hours.label("h"),
            func.row_number().over(partition_by=facts.c.unit, order_by=hours).label("rn"),
            func.count().over(partition_by=facts.c.unit).label("n"),
        )
        .where(hours.is_not(None))
        .subquery()
    )
    r = ranked.c
    middle = r.rn.between((r.n + 1) // 2, (r.n + 2) // 2)
    return select(r.unit, func.avg(r.h).label(name)).where(middle).group_by(r.unit)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


_COUNTS = (
    "cases",
    "assigned",
    "accepted_on_time",
    "due",
    "resolved_on_time",
    "rated",
    "satisfied",
    "resolved",
    "reopened",
)


def _counts(facts: Any) -> Select[Any]:
    """Per unit of `facts`, the counts the rates divide: a hash aggregate, no sort."""
    f = facts.c
    assigned = f.assigned_at.is_not(None)
    resolved = f.resolved_at.is_not(None)
    rated = and_(f.last_closed.is_not(None), f.last_closed % 8 != _NO_RATING)
    return select(
        f.unit,
        func.count().label("cases"),
        _count(assigned).label("assigned"),
        _count(and_(assigned, f.first_accepted % 2 == 1)).label("accepted_on_time"),
        _count(or_(resolved, f.overdue_open == 1)).label("due"),
        _count(f.last_resolved % 2 == 1).label("resolved_on_time"),
        _count(rated).label("rated"),
        _count(and_(rated, f.last_closed % 8 >= 4)).label("satisfied"),
        _count(resolved).label("resolved"),
        _count(and_(resolved, f.reopens > 0)).label("reopened"),
    ).group_by(f.unit)


def _medians(
    session: Session, facts: Any, postgres: bool
) -> dict[int | None, tuple[float | None, float | None]]:
    """Per unit of `facts`, the median hours to accept and to resolve. On PostgreSQL by
    `percentile_cont(0.5)` (the middle value, or the mean of the two middle ones, as
    `statistics.median`) over only the cases with a duration, so the sort is short;
    elsewhere by window functions."""
    f = facts.c
    to_accept = _hours_between(f.assigned_at, f.accepted_at)
    to_resolve = _hours_between(f.created_at, f.resolved_at)
    if postgres:
        rows = session.execute(
            select(
                f.unit,
                func.percentile_cont(0.5).within_group(to_accept),
                func.percentile_cont(0.5).within_group(to_resolve),
            )
            .where(or_(f.accepted_at.is_not(None), f.resolved_at.is_not(None)))
            .group_by(f.unit)
        )
        return {unit: (accept, resolve) for unit, accept, resolve in rows}
    found: dict[int | None, list[float | None]] = {}
    for index, (hours, name) in enumerate(((to_accept, "accept"), (to_resolve, "resolve"))):
        for unit, median in session.execute(_median(facts, hours, name)):
            found.setdefault(unit, [None, None])[index] = median
    return {unit: (accept, resolve) for unit, (accept, resolve) in found.items()}


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def assessment(
    session: Session,
    level: Level,
    start: datetime,
    end: datetime,
    now: datetime,
    where: ColumnElement[bool] | None = None,
) -> list[Row]:
    """The assessment table for cases registered in [start, end), limited to the cases
    `where` selects (a WHERE clause on Ticket, such as what a console user may see).

    Aggregated in SQL, two statements over the month's cases: the counts grouped by the
    unit (or by community, summed here into streets or districts) and the medians per
    unit; only a few rows come back, whatever the month's size. The figures are those
    `ticketing.reporting.assessment.assess` makes of `outcomes`, which tests hold it to."""
    postgres = session.get_bind().dialect.name == "postgresql"
    where = true() if where is None else where
    base = _kept_facts(_base_column(level), start, end, now, where).subquery("facts")
    counted = session.execute(_counts(base)).all()
    unit_of = _units_of_communities(session, level, (r.unit for r in counted))
    totals: dict[int | None, Counter[str]] = {}
    for found in counted:
        sums = totals.setdefault(unit_of.get(found.unit), Counter())
        sums.update({name: int(getattr(found, name) or 0) for name in _COUNTS})
    by_unit = _kept_facts(_unit_column(level), start, end, now, where).subquery("facts")
    medians = _medians(session, by_unit, postgres)
    labels = unit_labels(session, level, (u for u in totals if u is not None))
    missing = _NONE_LABEL.get(level, "(no place)")
    rows = []
    for unit, n in totals.items():
        accept, resolve = medians.get(unit, (None, None))
        rows.append(
            Row(
                unit=labels[unit] if unit is not None else missing,
                cases=n["cases"],
                response_rate=_rate(n["accepted_on_time"], n["assigned"]),
                on_time_rate=_rate(n["resolved_on_time"], n["due"]),
                satisfaction_rate=_rate(n["satisfied"], n["rated"]),
                reopen_rate=_rate(n["reopened"], n["resolved"]),
                median_hours_to_accept=None if accept is None else float(accept),
                median_hours_to_resolve=None if resolve is None else float(resolve),
            )
        )
    # The order `assess` gives: best on-time rate first, units without one last.
    return sorted(rows, key=lambda r: (r.on_time_rate is None, -(r.on_time_rate or 0), r.unit))


def assessment_per_case(
    session: Session,
    level: Level,
    start: datetime,
    end: datetime,
    now: datetime,
    where: ColumnElement[bool] | None = None,
) -> list[Row]:
    """The same table computed in Python from every case's outcome: the reference the SQL
    aggregate is tested against, and the bench's baseline (seconds on 100,000 cases)."""
    return assess(outcomes(session, level, start, end, now, where))
