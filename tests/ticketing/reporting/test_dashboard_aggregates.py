"""The dashboard's one-pass queries give exactly what the per-figure and per-case ones give.

The page reads the open cases once (`open_cases`), the weeks' intake once
(`intake_and_trend`), and the assessment as an SQL aggregate (`outcomes.assessment`); the
exports and the CLI's reference (`outcomes.assessment_per_case`) compute the same figures
another way. Cases come from the real services, with varied histories, so a wrong count,
a median off by one place or a lost "(no grid)" unit shows as a difference.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from hotline.bootstrap import Services
from tests.factories import new_case
from ticketing.cases import closure, intake
from ticketing.cases import services as cases
from ticketing.models.cases import Ticket
from ticketing.models.places import Region
from ticketing.reporting import dashboards, outcomes
from ticketing.reporting.assessment import Level, Row, month_bounds
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import Actor

pytestmark = pytest.mark.integration

SH = ZoneInfo("Asia/Shanghai")
CALLER = Actor.caller("+8613812345678")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date(2026, 11, day), time(hour, minute), tzinfo=SH).astimezone(UTC)


def street(session: Session, code: str) -> ColumnElement[bool]:
    street_id = session.scalar(select(Region.id).where(Region.code == code))
    inside = select(Region.id).where(or_(Region.id == street_id, Region.parent_id == street_id))
    return Ticket.community_id.in_(inside)


def history(uow: UnitOfWork) -> None:
    """Thirteen cases in November: accepted in time or late, resolved once or twice,
    rated high, low or not at all, reopened, left open past their deadlines, one in a
    community without a grid and one the router could not place."""

    def new(category: str, place: str, source: str, at: datetime) -> Ticket:
        made = new_case(category=category, where=place, source=source)
        return intake.open_case_uncommitted(uow, made, at, SH)[1]

    plan = [  # place, day, minutes to accept (None: never), hours to resolve, rating
        ("1101", 2, 20, 3, 5),
        ("1101", 3, 50, 30, 4),
        ("1102", 3, 600, 5, 2),
        ("1102", 4, 15, None, None),
        ("1103", 5, None, None, None),
        ("1105", 6, 30, 2, None),
        ("1201", 9, 40, 7, 5),
        ("1201", 10, 45, 26, 1),
        ("2101", 11, 10, 1, 3),
        ("2101", 12, 2000, None, None),
        ("12", 13, None, None, None),  # a community with no grid
    ]
    for n, (place, day, accept, resolve, rating) in enumerate(plan):
        ticket = new("street_light" if n % 2 else "garbage", place, "phone", local(day, 9))
        staff = ticket.assignee
        if staff is None or accept is None:
            continue
        cases.accept(uow, ticket, staff, "", local(day, 9) + timedelta(minutes=accept))
        if resolve is None:
            continue
        cases.resolve(uow, ticket, staff, "fixed", local(day, 9) + timedelta(hours=resolve))
        if n == 1:  # reopened by the caller, resolved again
            closure.reopen(uow, ticket, CALLER, "not fixed", local(day + 2, 9))
            cases.resolve(uow, ticket, staff, "fixed again", local(day + 3, 9))
        if rating is not None:
            closure.rate(uow, ticket, rating, CALLER, local(day + 4, 9))
    new("street_light", "", "sms", local(14, 9))  # no place: waits in triage
    new("garbage", "1101", "sms", local(27, 10))  # today
    uow.session.flush()


def _rounded(row: Row) -> Row:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 9)

    return replace(
        row,
        median_hours_to_accept=r(row.median_hours_to_accept),
        median_hours_to_resolve=r(row.median_hours_to_resolve),
    )


def test_assessment_in_sql_is_the_per_case_assessment(services: Services) -> None:
    seen = datetime(2026, 11, 27, 10, 30, tzinfo=SH)  # some deadlines long past
    start, end = month_bounds("2026-11", SH)
    with services.uow() as uow:
        history(uow)
        session = uow.session
        for level in Level:
            for where in (true(), street(session, "S1")):
                aggregated = outcomes.assessment(session, level, start, end, seen, where)
                per_case = outcomes.assessment_per_case(session, level, start, end, seen, where)
                # Medians agree to the last bits of a float: PostgreSQL's percentile_cont
                # interpolates where Python averages the two middle values.
                assert [_rounded(r) for r in aggregated] == [_rounded(r) for r in per_case], level
        city = outcomes.assessment(session, Level.STREET, start, end, seen)
        grids = outcomes.assessment(session, Level.GRID, start, end, seen)
    assert sum(r.cases for r in city) == 13
    assert any(r.unit == "(no grid)" for r in grids)
    assert any(r.median_hours_to_resolve is not None for r in city)
    assert any(r.satisfaction_rate not in (None, 0.0, 1.0) for r in city)


def test_one_pass_figures_are_the_single_figure_ones(services: Services) -> None:
    now = local(27, 10, 30)
    with services.uow() as uow:
        history(uow)
        session = uow.session
        for where in (true(), street(session, "S1"), street(session, "S2")):
            found = dashboards.open_cases(session, where, now)
            assert found.by_status == dashboards.open_by_status(session, where)
            assert found.grids == dashboards.open_by_grid(session, where, now)
            late = dashboards.overdue(session, where, now, 5)
            assert found.overdue == late.total
            assert dashboards.overdue(session, where, now, 5, found.overdue) == late
            today, trend = dashboards.intake_and_trend(session, where, now, SH, 8)
            assert today == dashboards.todays_intake(session, where, now, SH)
            assert trend == dashboards.weekly_trend(session, where, now, SH, 8)
        everything = dashboards.open_cases(session, true(), now)
        today, trend = dashboards.intake_and_trend(session, true(), now, SH, 8)
    assert everything.overdue > 0
    assert sum(g.open for g in everything.grids) > 0
    assert today.total == 1
    assert sum(sum(s.counts) for s in trend.series) == 13
