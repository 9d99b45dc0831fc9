"""Performance assessment: the figures leaders judge grids, streets and departments by.

Computed from the event history, not from the ticket's current columns, so a case that
was reopened still counts its reopen, and an acceptance is judged against the deadline
that was in force at the time (recorded on the "accepted" event).
"""

from __future__ import annotations

import enum
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo


class Level(enum.StrEnum):
    MEMBER = "member"
    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"
    DISTRICT = "district"
    DEPARTMENT = "department"


@dataclass(frozen=True)
class Outcome:
    """What happened to one case, reduced to what the figures need."""

    unit: str
    assigned: bool
    accepted_on_time: bool
    resolved: bool
    resolved_on_time: bool
    overdue_open: bool  # still open past its resolve deadline
    rating: int | None
    reopened: bool
    hours_to_accept: float | None
    hours_to_resolve: float | None


@dataclass(frozen=True)
class Row:
    unit: str
    cases: int
    response_rate: float | None  # accepted within the deadline / assigned
    on_time_rate: float | None  # resolved within the deadline / resolved or overdue
    satisfaction_rate: float | None  # rated 4 or 5 / rated
    reopen_rate: float | None  # reopened / resolved
    median_hours_to_accept: float | None
    median_hours_to_resolve: float | None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def assess(outcomes: Iterable[Outcome]) -> list[Row]:
    """One row per unit, best on-time rate first (units without figures last)."""
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[outcome.unit].append(outcome)
    rows = []
    for unit, cases in groups.items():
        assigned = [c for c in cases if c.assigned]
        resolved = [c for c in cases if c.resolved]
        due = [c for c in cases if c.resolved or c.overdue_open]
        rated = [c for c in cases if c.rating is not None]
        rows.append(
            Row(
                unit=unit,
                cases=len(cases),
                response_rate=_rate(sum(c.accepted_on_time for c in assigned), len(assigned)),
                on_time_rate=_rate(sum(c.resolved_on_time for c in due), len(due)),
                satisfaction_rate=_rate(sum((c.rating or 0) >= 4 for c in rated), len(rated)),
                reopen_rate=_rate(sum(c.reopened for c in resolved), len(resolved)),
                median_hours_to_accept=_median(
                    [c.hours_to_accept for c in cases if c.hours_to_accept is not None]
                ),
                median_hours_to_resolve=_median(
                    [c.hours_to_resolve for c in cases if c.hours_to_resolve is not None]
                ),
            )
        )
    return sorted(rows, key=lambda r: (r.on_time_rate is None, -(r.on_time_rate or 0), r.unit))


# The table's columns as the CLI prints them and every CSV export writes them.
COLUMNS = (
    "unit",
    "cases",
    "response",
    "on_time",
    "satisfaction",
    "reopen",
    "median_h_accept",
    "median_h_resolve",
)


def percent(value: float | None) -> str:
    """A rate as '87.5%', or '-' when there was nothing to count."""
    return "-" if value is None else f"{100 * value:.1f}%"


def number(value: float | None) -> str:
    """Hours to one decimal, or '-'."""
    return "-" if value is None else f"{value:.1f}"


def cells(row: Row) -> list[str]:
    """One table row as text, in COLUMNS order."""
    return [
        row.unit,
        str(row.cases),
        percent(row.response_rate),
        percent(row.on_time_rate),
        percent(row.satisfaction_rate),
        percent(row.reopen_rate),
        number(row.median_hours_to_accept),
        number(row.median_hours_to_resolve),
    ]


def month_bounds(period: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """'2026-11' as [first instant, first instant of the next month) in the local zone."""
    try:
        year, month = (int(part) for part in period.split("-"))
        first = date(year, month, 1)
    except ValueError as exc:
        raise ValueError(f"a period is YYYY-MM, not {period!r}") from exc
    following = date(year + month // 12, month % 12 + 1, 1)
    return (
        datetime.combine(first, datetime.min.time(), tzinfo=zone),
        datetime.combine(following, datetime.min.time(), tzinfo=zone),
    )
