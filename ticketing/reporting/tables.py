"""The dashboard's tables as text rows (a header, then the rows), for CSV exports.

Each table is computed on its own, so an export runs only the queries its table needs.
The assessment is written exactly as `hotline report assessment --csv` writes it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from ticketing.models.accounts import User, UserRole
from ticketing.models.catalogue import Department
from ticketing.models.places import Region
from ticketing.people import visibility
from ticketing.reporting import dashboards
from ticketing.reporting.assessment import COLUMNS, Level, cells

OVERDUE_EXPORT_LIMIT = 5000  # the page lists the worst few; the export nearly all


@dataclass(frozen=True)
class Scope:
    """Whose dashboard: the cases it counts, its sub-area level, and the moment."""

    session: Session
    where: ColumnElement[bool]
    now: datetime
    zone: ZoneInfo
    level: Level
    weeks: int = 8


def scope_for(
    session: Session, user: User, now: datetime, zone: ZoneInfo, weeks: int
) -> tuple[str, Scope]:
    """The dashboard scope of what `user` may see, and how the page names it."""
    area, region_id = _area(session, user)
    scope = Scope(
        session=session,
        where=visibility.case_filter(session, user),
        now=now,
        zone=zone,
        level=dashboards.subarea_level(session, region_id),
        weeks=weeks,
    )
    return area, scope


def _area(session: Session, user: User) -> tuple[str, int | None]:
    """How the viewer's scope is named, and its region (None: not a region)."""
    if user.role is UserRole.SUPERVISOR and user.region_id is not None:
        region = session.get(Region, user.region_id)
        return (f"{region.name_en} ({region.code})" if region else "your area"), user.region_id
    if user.role is UserRole.DISPATCHER and user.department_id is not None:
        name = session.scalar(select(Department.name_en).where(Department.id == user.department_id))
        return f"{name or 'your department'}: its cases", None
    return "the whole city", None


@dataclass(frozen=True)
class Live:
    """The dashboard's figures that are always read afresh (the assessment may be kept)."""

    status: tuple[dashboards.Count, ...]
    grids: tuple[dashboards.GridLoad, ...]
    overdue: dashboards.Overdue
    intake: dashboards.Intake
    trend: dashboards.Trend


def live(scope: Scope, overdue_limit: int) -> Live:
    """The open cases by status and grid, the `overdue_limit` most overdue, today's intake
    and the weeks' trend; each set of cases is read once: the open ones, then the weeks'."""
    session, where, now, zone = scope.session, scope.where, scope.now, scope.zone
    open_cases = dashboards.open_cases(session, where, now)
    late = dashboards.overdue(session, where, now, overdue_limit, open_cases.overdue)
    intake, trend = dashboards.intake_and_trend(session, where, now, zone, scope.weeks)
    return Live(open_cases.by_status, open_cases.grids, late, intake, trend)


def hours(late_seconds: float) -> str:
    return f"{late_seconds / 3600:.1f}"


def status_rows(counts: Sequence[dashboards.Count]) -> list[list[str]]:
    return [["status", "open"], *([c.key, str(c.count)] for c in counts)]


def overdue_rows(found: dashboards.Overdue, zone: ZoneInfo) -> list[list[str]]:
    header = ["case", "category", "grid", "status", "deadline", "due", "hours_late"]
    return [
        header,
        *(
            [
                c.number,
                c.category,
                c.grid,
                c.status.value,
                c.clock,
                c.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                hours(c.late.total_seconds()),
            ]
            for c in found.worst
        ),
    ]


def channel_rows(intake: dashboards.Intake) -> list[list[str]]:
    return [["channel", "cases"], *([c.key, str(c.count)] for c in intake.by_channel)]


def category_rows(intake: dashboards.Intake) -> list[list[str]]:
    return [
        ["category_code", "category", "cases"],
        *([c.key, c.label, str(c.count)] for c in intake.by_category),
    ]


def assessment_rows(table: dashboards.Assessment) -> list[list[str]]:
    return [list(COLUMNS), *(cells(row) for row in table.rows)]


def grid_rows(loads: Sequence[dashboards.GridLoad]) -> list[list[str]]:
    return [
        ["grid", "name", "open", "overdue", "centre_lat", "centre_lon"],
        *(
            [g.code, g.name, str(g.open), str(g.overdue), str(g.centre_lat), str(g.centre_lon)]
            for g in loads
        ),
    ]


def trend_rows(trend: dashboards.Trend) -> list[list[str]]:
    return [
        ["category_code", "category", *trend.weeks],
        *([s.key, s.label, *(str(n) for n in s.counts)] for s in trend.series),
    ]


def _today(scope: Scope) -> dashboards.Intake:
    return dashboards.todays_intake(scope.session, scope.where, scope.now, scope.zone)


TABLES: dict[str, Callable[[Scope], list[list[str]]]] = {
    "status": lambda s: status_rows(dashboards.open_by_status(s.session, s.where)),
    "overdue": lambda s: overdue_rows(
        dashboards.overdue(s.session, s.where, s.now, OVERDUE_EXPORT_LIMIT), s.zone
    ),
    "intake-channels": lambda s: channel_rows(_today(s)),
    "intake-categories": lambda s: category_rows(_today(s)),
    "assessment": lambda s: assessment_rows(
        dashboards.assessment_by_subarea(s.session, s.where, s.now, s.zone, s.level)
    ),
    "grids": lambda s: grid_rows(dashboards.open_by_grid(s.session, s.where, s.now)),
    "trends": lambda s: trend_rows(
        dashboards.weekly_trend(s.session, s.where, s.now, s.zone, s.weeks)
    ),
}


_NUMBER = re.compile(r"-?\d+(\.\d+)?%?|-")


def spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet would run as a formula (= + - @ first: a grid or category
    name from an import, a caller's note) gets a leading quote; numbers stay numbers."""
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_text(rows: Sequence[Sequence[str]]) -> str:
    """Rows as CSV text (RFC 4180 line ends, as the csv module writes them), every cell
    safe to open in a spreadsheet."""
    out = io.StringIO()
    csv.writer(out).writerows([spreadsheet_safe(str(c)) for c in row] for row in rows)
    return out.getvalue()
