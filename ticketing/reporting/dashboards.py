"""The leaders' dashboard: what is open, what is late, what came in, and how well it went.

Every figure is an aggregate computed in SQL (GROUP BY) over the cases a WHERE clause on
`Ticket` selects, normally `ticketing.people.visibility.case_filter` for the logged-in user, so
the dashboard costs a handful of queries whatever the size of the city. The page reads
each set of cases once: `open_cases` (statuses, overdue count, grid map) and
`intake_and_trend` (today and the weeks); the single-figure functions serve the exports.
Functions take `now` and the city's zone: "today" and "this week" are local days, never UTC ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, CompoundSelect, and_, case, func, or_, select, union_all
from sqlalchemy.orm import Session

from ticketing.models.cases import Ticket
from ticketing.models.catalogue import Category
from ticketing.models.places import Grid, Region, RegionLevel
from ticketing.reporting.assessment import Level, Row, month_bounds
from ticketing.reporting.outcomes import assessment
from ticketing.vocabulary.lifecycle import OPEN_STATUSES, TicketStatus

# Open statuses in the order a case moves through them, for charts and tables.
STATUS_ORDER = (
    TicketStatus.NEW,
    TicketStatus.RETURNED,
    TicketStatus.ASSIGNED,
    TicketStatus.ACCEPTED,
)
assert frozenset(STATUS_ORDER) == OPEN_STATUSES
_OPEN = Ticket.status.in_(STATUS_ORDER)


@dataclass(frozen=True)
class Count:
    key: str
    label: str
    count: int


@dataclass(frozen=True)
class OverdueCase:
    number: str
    category: str
    grid: str  # "1101 Weilai Community grid 01", or "" for a case without a grid
    status: TicketStatus
    clock: str  # "accept" or "resolve": the deadline that passed first
    due_at: datetime
    late: timedelta


@dataclass(frozen=True)
class Overdue:
    total: int
    worst: tuple[OverdueCase, ...]  # the most overdue first


@dataclass(frozen=True)
class Intake:
    day: date  # the local day
    total: int
    by_channel: tuple[Count, ...]
    by_category: tuple[Count, ...]


@dataclass(frozen=True)
class GridLoad:
    code: str
    name: str
    open: int
    overdue: int
    centre_lat: float
    centre_lon: float
    polygon: dict[str, Any]  # GeoJSON Polygon geometry


@dataclass(frozen=True)
class Series:
    key: str  # category code
    label: str
    counts: tuple[int, ...]  # one per week, oldest first


@dataclass(frozen=True)
class Trend:
    weeks: tuple[str, ...]  # ISO weeks, "2026-W48", oldest first
    week_starts: tuple[date, ...]  # their local Mondays
    series: tuple[Series, ...]  # categories with at least one case, most cases first


@dataclass(frozen=True)
class Assessment:
    level: Level  # what a row is: the sub-areas of the viewer's area
    period: str  # "2026-11": the local month so far
    rows: tuple[Row, ...]
    as_of: datetime  # when the figures were read (the page may show kept ones)


@dataclass(frozen=True)
class OpenCases:
    by_status: tuple[Count, ...]  # every open status, zero included
    overdue: int  # how many are past a running deadline
    grids: tuple[GridLoad, ...]  # the grids with open cases, most first


def open_cases(session: Session, where: ColumnElement[bool], now: datetime) -> OpenCases:
    """Open cases by status, how many are overdue, and the load of each grid: one pass
    over the open cases (GROUP BY status and grid), then the outlines of the grids found.
    Three scans of the open cases before; each costs tens of ms at 100,000 of them."""
    rows = session.execute(
        select(
            Ticket.status,
            Ticket.grid_id,
            func.count(),
            func.sum(case((_is_overdue(now), 1), else_=0)),
        )
        .where(_OPEN, where)
        .group_by(Ticket.status, Ticket.grid_id)
    ).all()
    per_status: dict[TicketStatus, int] = {}
    per_grid: dict[int, tuple[int, int]] = {}
    late_total = 0
    for status, grid_id, count, late in rows:
        per_status[status] = per_status.get(status, 0) + int(count)
        late_total += int(late or 0)
        if grid_id is not None:
            seen, seen_late = per_grid.get(grid_id, (0, 0))
            per_grid[grid_id] = (seen + int(count), seen_late + int(late or 0))
    by_status = tuple(Count(s.value, s.value, per_status.get(s, 0)) for s in STATUS_ORDER)
    return OpenCases(by_status, late_total, _grid_loads(session, per_grid))


def _grid_loads(session: Session, per_grid: dict[int, tuple[int, int]]) -> tuple[GridLoad, ...]:
    if not per_grid:
        return ()
    grids = session.execute(
        select(Grid.id, Grid.code, Grid.name, Grid.centre_lat, Grid.centre_lon, Grid.polygon).where(
            Grid.id.in_(sorted(per_grid))
        )
    ).all()
    loads = (
        GridLoad(code, name, *per_grid[grid_id], lat, lon, polygon)
        for grid_id, code, name, lat, lon, polygon in grids
    )
    return tuple(sorted(loads, key=lambda g: (-g.open, g.code)))


def open_by_status(session: Session, where: ColumnElement[bool]) -> tuple[Count, ...]:
    """Open cases per status, every open status listed (zero included)."""
    rows = session.execute(
        select(Ticket.status, func.count()).where(_OPEN, where).group_by(Ticket.status)
    )
    found = dict(rows.all())
    return tuple(Count(s.value, s.value, int(found.get(s, 0))) for s in STATUS_ORDER)


def _first_passed(now: datetime) -> ColumnElement[datetime]:
    """The earlier of the deadlines that have passed (accept or resolve)."""
    accept_first = and_(
        Ticket.accept_by.is_not(None),
        Ticket.accept_by < now,
        or_(Ticket.resolve_by.is_(None), Ticket.accept_by <= Ticket.resolve_by),
    )
    return case((accept_first, Ticket.accept_by), else_=Ticket.resolve_by)


def _is_overdue(now: datetime) -> ColumnElement[bool]:
    """Open with a running deadline already past. The SLA columns are kept true by every
    move and cleared when a case is done or paused, so this needs no history."""
    return and_(_OPEN, or_(Ticket.accept_by < now, Ticket.resolve_by < now))


def _worst_candidates(where: ColumnElement[bool], now: datetime, limit: int) -> CompoundSelect[Any]:
    """Ids among which the `limit` most overdue cases are: the first `limit` open cases by
    accept_by and by resolve_by (each a walk of a partial index, ix_tickets_open_*). The
    deadline that passed first is the earlier of the two, so a case left out has `limit`
    cases due before it by the same deadline, each as late or later than it."""
    parts = [
        select(Ticket.id)
        .where(_OPEN, deadline < now, where)
        .order_by(deadline, Ticket.id)
        .limit(limit)
        .subquery()
        for deadline in (Ticket.accept_by, Ticket.resolve_by)
    ]
    return union_all(*(select(part.c.id) for part in parts))


def overdue(
    session: Session,
    where: ColumnElement[bool],
    now: datetime,
    limit: int = 20,
    total: int | None = None,
) -> Overdue:
    """How many open cases are past a deadline (counted here unless `total` is known, as
    `open_cases` knows it), and the `limit` most overdue."""
    late = _is_overdue(now)
    if total is None:
        total = session.scalar(select(func.count()).select_from(Ticket).where(late, where)) or 0
    first = _first_passed(now).label("first")
    rows = session.execute(
        select(
            Ticket.number,
            Category.name_en,
            Grid.code,
            Grid.name,
            Ticket.status,
            Ticket.accept_by,
            first,
        )
        .select_from(Ticket)
        .join(Category, Category.id == Ticket.category_id)
        .outerjoin(Grid, Grid.id == Ticket.grid_id)
        .where(late, where, Ticket.id.in_(_worst_candidates(where, now, limit)))
        .order_by(first, Ticket.id)
        .limit(limit)
    ).all()
    worst = tuple(
        OverdueCase(
            number=number,
            category=category,
            grid=f"{code} {name}" if code else "",
            status=status,
            clock="accept" if due == accept_by else "resolve",
            due_at=due,
            late=now - due,
        )
        for number, category, code, name, status, accept_by, due in rows
    )
    return Overdue(int(total), worst)


def local_day(now: datetime, zone: ZoneInfo) -> tuple[date, datetime, datetime]:
    """Today in the city: the date and its [first instant, next day's first instant)."""
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time.min, tzinfo=zone)
    return day, start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


def todays_intake(
    session: Session, where: ColumnElement[bool], now: datetime, zone: ZoneInfo
) -> Intake:
    """Cases registered today (local), by channel and by category, most first."""
    day, start, end = local_day(now, zone)
    today = (Ticket.created_at >= start, Ticket.created_at < end, where)
    channels = session.execute(
        select(Ticket.source, func.count()).where(*today).group_by(Ticket.source)
    ).all()
    categories = session.execute(
        select(Category.code, Category.name_en, func.count())
        .select_from(Ticket)
        .join(Category, Category.id == Ticket.category_id)
        .where(*today)
        .group_by(Category.code, Category.name_en)
    ).all()
    by_channel = sorted((Count(s, s, int(n)) for s, n in channels), key=_most_first)
    by_category = sorted((Count(c, label, int(n)) for c, label, n in categories), key=_most_first)
    return Intake(day, sum(c.count for c in by_channel), tuple(by_channel), tuple(by_category))


def _most_first(count: Count) -> tuple[int, str]:
    return -count.count, count.key


def open_by_grid(
    session: Session, where: ColumnElement[bool], now: datetime
) -> tuple[GridLoad, ...]:
    """Open (and overdue) cases per grid with the grid's outline: the hot-spot map."""
    rows = session.execute(
        select(Ticket.grid_id, func.count(), func.sum(case((_is_overdue(now), 1), else_=0)))
        .where(_OPEN, Ticket.grid_id.is_not(None), where)
        .group_by(Ticket.grid_id)
    ).all()
    return _grid_loads(session, {g: (int(n), int(late or 0)) for g, n, late in rows})


def week_starts(now: datetime, zone: ZoneInfo, weeks: int) -> list[datetime]:
    """The local Mondays opening the last `weeks` ISO weeks (this one last), and the next."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    return [
        datetime.combine(monday - timedelta(weeks=weeks - 1 - i), time.min, tzinfo=zone)
        for i in range(weeks + 1)
    ]


def weekly_trend(
    session: Session, where: ColumnElement[bool], now: datetime, zone: ZoneInfo, weeks: int = 8
) -> Trend:
    """Cases registered per ISO week (local) per category, this week included."""
    bounds = week_starts(now, zone, weeks)
    # Week numbers from bounds computed here, not from SQL date functions, so the result
    # is the same on every backend and honours the city's zone.
    week = case(
        *((Ticket.created_at < bounds[i + 1], i) for i in range(weeks - 1)), else_=weeks - 1
    ).label("week")
    dated = (
        select(week, Ticket.category_id.label("category_id"))
        .where(Ticket.created_at >= bounds[0], Ticket.created_at < bounds[-1], where)
        .subquery()
    )
    rows = session.execute(
        select(dated.c.week, Category.code, Category.name_en, func.count())
        .select_from(dated)
        .join(Category, Category.id == dated.c.category_id)
        .group_by(dated.c.week, Category.code, Category.name_en)
    ).all()
    counts: dict[tuple[str, str], list[int]] = {}
    for index, code, label, n in rows:
        counts.setdefault((code, label), [0] * weeks)[int(index)] += int(n)
    return _trend(bounds, counts)


def intake_and_trend(
    session: Session, where: ColumnElement[bool], now: datetime, zone: ZoneInfo, weeks: int = 8
) -> tuple[Intake, Trend]:
    """`todays_intake` and `weekly_trend` from one pass over the weeks' cases (today is in
    this week): GROUP BY week, today or not, category and channel, at most a few hundred
    rows, summed here both ways."""
    bounds = week_starts(now, zone, weeks)
    day, start, end = local_day(now, zone)
    week = case(
        *((Ticket.created_at < bounds[i + 1], i) for i in range(weeks - 1)), else_=weeks - 1
    ).label("week")
    today = case((and_(Ticket.created_at >= start, Ticket.created_at < end), 1), else_=0)
    grouped = (
        select(
            week,
            today.label("today"),
            Ticket.category_id.label("category_id"),
            Ticket.source.label("source"),
            func.count().label("n"),
        )
        .where(Ticket.created_at >= bounds[0], Ticket.created_at < bounds[-1], where)
        .group_by(week, today, Ticket.category_id, Ticket.source)
        .subquery()
    )
    g = grouped.c
    rows = session.execute(
        select(g.week, g.today, Category.code, Category.name_en, g.source, g.n).join(
            Category, Category.id == g.category_id
        )
    ).all()
    counts: dict[tuple[str, str], list[int]] = {}
    channels: dict[str, int] = {}
    categories: dict[tuple[str, str], int] = {}
    for index, is_today, code, label, source, n in rows:
        counts.setdefault((code, label), [0] * weeks)[int(index)] += int(n)
        if is_today:
            channels[source] = channels.get(source, 0) + int(n)
            categories[(code, label)] = categories.get((code, label), 0) + int(n)
    by_channel = sorted((Count(s, s, n) for s, n in channels.items()), key=_most_first)
    by_category = sorted(
        (Count(c, label, n) for (c, label), n in categories.items()), key=_most_first
    )
    intake = Intake(day, sum(c.count for c in by_channel), tuple(by_channel), tuple(by_category))
    return intake, _trend(bounds, counts)


def _trend(bounds: list[datetime], counts: dict[tuple[str, str], list[int]]) -> Trend:
    series = sorted(
        (Series(code, label, tuple(per_week)) for (code, label), per_week in counts.items()),
        key=lambda s: (-sum(s.counts), s.key),
    )
    starts = tuple(b.date() for b in bounds[:-1])
    labels = tuple(f"{d.isocalendar().year}-W{d.isocalendar().week:02d}" for d in starts)
    return Trend(labels, starts, tuple(series))


_CHILD_LEVEL = {
    RegionLevel.CITY: Level.DISTRICT,
    RegionLevel.DISTRICT: Level.STREET,
    RegionLevel.STREET: Level.COMMUNITY,
    RegionLevel.COMMUNITY: Level.GRID,
}


def subarea_level(session: Session, region_id: int | None) -> Level:
    """What the assessment's rows are for a viewer whose area is `region_id`: its child
    regions, or its grids for a community. Without an area (the whole city), the first
    level below the top that has more than one region, so a one-district city shows its
    streets rather than a single row."""
    if region_id is not None:
        level = session.scalar(select(Region.level).where(Region.id == region_id))
        return _CHILD_LEVEL[level] if level is not None else Level.STREET
    rows = session.execute(select(Region.level, func.count()).group_by(Region.level))
    counts = dict(rows.all())
    for level in (RegionLevel.DISTRICT, RegionLevel.STREET, RegionLevel.COMMUNITY):
        if counts.get(level, 0) > 1:
            return Level(level.value)
    return Level.GRID


def assessment_by_subarea(
    session: Session,
    where: ColumnElement[bool],
    now: datetime,
    zone: ZoneInfo,
    level: Level,
) -> Assessment:
    """The assessment table for the cases registered this local month so far."""
    local = now.astimezone(zone)
    period = f"{local.year:04d}-{local.month:02d}"
    start, end = month_bounds(period, zone)
    rows = tuple(assessment(session, level, start, end, now, where))
    return Assessment(level, period, rows, now)
