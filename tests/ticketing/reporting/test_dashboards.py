"""The dashboard's figures over cases made by the real services, scoped by a WHERE clause."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from hotline.bootstrap import Services
from tests.conftest import FixedClock
from tests.factories import new_case
from ticketing.cases import closure, intake
from ticketing.cases import services as cases
from ticketing.models.cases import Ticket
from ticketing.models.places import Region
from ticketing.reporting import dashboards, tables
from ticketing.reporting.assessment import COLUMNS, Level
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import Actor
from ticketing.vocabulary.lifecycle import TicketStatus

pytestmark = pytest.mark.integration

SH = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date(2026, 11, day), time(hour, minute), tzinfo=SH).astimezone(UTC)


def street(session: Session, code: str) -> ColumnElement[bool]:
    """Cases placed in a street's communities: what its supervisor sees."""
    street_id = session.scalar(select(Region.id).where(Region.code == code))
    inside = select(Region.id).where(or_(Region.id == street_id, Region.parent_id == street_id))
    return Ticket.community_id.in_(inside)


def register(uow: UnitOfWork, category: str, place: str, source: str, at: datetime) -> Ticket:
    new = new_case(category=category, where=place, source=source)
    _, ticket = intake.open_case_uncommitted(uow, new, at, SH)
    assert ticket.assignee is not None, "the demo city routes these to a grid member"
    return ticket


@pytest.fixture
def city(services: Services, clock: FixedClock) -> dict[str, Ticket]:
    """Cases of the last three weeks as of Friday 27 November 2026, 10:30 in Shanghai."""
    with services.uow() as uow:
        made = {
            # today
            "a": register(uow, "street_light", "1101", "phone", local(27, 9)),
            "b": register(uow, "garbage", "1102", "phone", local(27, 9, 10)),
            "c": register(uow, "street_light", "1201", "sms", local(27, 9, 20)),
            "d": register(uow, "garbage", "2101", "phone", local(27, 9, 30)),  # street S2
            # last week: never accepted
            "e": register(uow, "street_light", "1101", "phone", local(20, 9)),
            # the week before: accepted in time, never resolved
            "f": register(uow, "garbage", "1103", "phone", local(10, 9)),
            # the week before: resolved, reopened, resolved again, rated 5
            "g": register(uow, "street_light", "1101", "phone", local(10, 9, 30)),
        }
        f, g = made["f"], made["g"]
        assert f.assignee is not None
        assert g.assignee is not None
        cases.accept(uow, f, f.assignee, "", local(10, 10))
        cases.accept(uow, g, g.assignee, "", local(10, 9, 45))
        cases.resolve(uow, g, g.assignee, "fixed", local(10, 11))
        closure.reopen(uow, g, Actor.caller("+8613812345678"), "still dark", local(10, 12))
        cases.resolve(uow, g, g.assignee, "fixed again", local(11, 10))
        closure.rate(uow, g, 5, Actor.caller("+8613812345678"), local(11, 12))
        uow.commit()
    return made


def test_open_cases_by_status_in_scope(services: Services, city: dict[str, Ticket]) -> None:
    with services.uow() as uow:
        mine = dashboards.open_by_status(uow.session, street(uow.session, "S1"))
        everyone = dashboards.open_by_status(uow.session, true())
    assert [(c.key, c.count) for c in mine] == [
        ("new", 0),
        ("returned", 0),
        ("assigned", 4),  # a, b, c, e
        ("accepted", 1),  # f
    ]
    assert {c.key: c.count for c in everyone}["assigned"] == 5  # and d


def test_overdue_cases_most_late_first(
    services: Services, clock: FixedClock, city: dict[str, Ticket]
) -> None:
    now = clock()
    with services.uow() as uow:
        found = dashboards.overdue(uow.session, street(uow.session, "S1"), now, limit=5)
        first_only = dashboards.overdue(uow.session, street(uow.session, "S1"), now, limit=1)
    e, f = city["e"], city["f"]
    assert f.resolve_by is not None
    assert f.resolve_by < now
    assert e.accept_by is not None
    assert e.accept_by < now
    assert found.total == 2
    assert [(c.number, c.clock, c.due_at, c.late) for c in found.worst] == [
        (f.number, "resolve", f.resolve_by, now - f.resolve_by),
        (e.number, "accept", e.accept_by, now - e.accept_by),
    ]
    assert found.worst[0].category == "garbage not collected"
    assert found.worst[0].grid == "1103 Weilai Community grid 03"
    assert found.worst[0].status is TicketStatus.ACCEPTED
    assert first_only.total == 2
    assert len(first_only.worst) == 1


def test_a_case_done_or_within_its_deadlines_is_not_overdue(
    services: Services, clock: FixedClock, city: dict[str, Ticket]
) -> None:
    with services.uow() as uow:
        f = uow.session.get(Ticket, city["f"].id)
        assert f is not None
        assert f.assignee is not None
        cases.resolve(uow, f, f.assignee, "late but done", clock())
        uow.commit()
        found = dashboards.overdue(uow.session, true(), clock())
    assert [c.number for c in found.worst] == [city["e"].number]


def test_todays_intake_is_the_local_day(
    services: Services, clock: FixedClock, city: dict[str, Ticket]
) -> None:
    with services.uow() as uow:
        # 23:59 the evening before, local time: yesterday's intake, though the same UTC day.
        register(uow, "noise", "1101", "phone", local(26, 23, 59))
        uow.commit()
        mine = dashboards.todays_intake(uow.session, street(uow.session, "S1"), clock(), SH)
        everyone = dashboards.todays_intake(uow.session, true(), clock(), SH)
    assert mine.day == date(2026, 11, 27)
    assert mine.total == 3
    assert [(c.key, c.count) for c in mine.by_channel] == [("phone", 2), ("sms", 1)]
    assert [(c.key, c.label, c.count) for c in mine.by_category] == [
        ("street_light", "broken street light", 2),
        ("garbage", "garbage not collected", 1),
    ]
    assert everyone.total == 4
    assert [(c.key, c.count) for c in everyone.by_category] == [
        ("garbage", 2),
        ("street_light", 2),
    ]


def test_open_cases_per_grid_for_the_map(
    services: Services, clock: FixedClock, city: dict[str, Ticket]
) -> None:
    with services.uow() as uow:
        loads = dashboards.open_by_grid(uow.session, street(uow.session, "S1"), clock())
    assert [(g.code, g.open, g.overdue) for g in loads] == [
        ("1101", 2, 1),  # a, and e past its accept deadline (g is closed)
        ("1102", 1, 0),
        ("1103", 1, 1),
        ("1201", 1, 0),
    ]
    weilai_01 = loads[0]
    assert weilai_01.polygon["type"] == "Polygon"
    assert (weilai_01.centre_lat, weilai_01.centre_lon) == pytest.approx((34.791, 113.659))


def test_weekly_trend_by_category(
    services: Services, clock: FixedClock, city: dict[str, Ticket]
) -> None:
    with services.uow() as uow:
        # Sunday 22 November 23:30 local is still ISO week 47 (Monday 23 starts week 48).
        register(uow, "street_light", "1101", "phone", local(22, 23, 30))
        uow.commit()
        mine = dashboards.weekly_trend(uow.session, street(uow.session, "S1"), clock(), SH, 3)
        two = dashboards.weekly_trend(uow.session, true(), clock(), SH, 2)
    assert mine.weeks == ("2026-W46", "2026-W47", "2026-W48")
    assert mine.week_starts == (date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 23))
    assert [(s.key, s.counts) for s in mine.series] == [
        ("street_light", (1, 2, 2)),  # g; e and the Sunday night case; a and c
        ("garbage", (1, 0, 1)),  # f; b
    ]
    assert [(s.key, s.counts) for s in two.series] == [
        ("street_light", (2, 2)),
        ("garbage", (0, 2)),  # b and d (street S2)
    ]


def test_assessment_by_sub_area(
    services: Services, clock: FixedClock, city: dict[str, Ticket]
) -> None:
    with services.uow() as uow:
        s1 = uow.session.scalar(select(Region.id).where(Region.code == "S1"))
        level = dashboards.subarea_level(uow.session, s1)
        table = dashboards.assessment_by_subarea(
            uow.session, street(uow.session, "S1"), clock(), SH, level
        )
        city_wide = dashboards.assessment_by_subarea(
            uow.session, true(), clock(), SH, dashboards.subarea_level(uow.session, None)
        )
    assert level is Level.COMMUNITY
    assert table.period == "2026-11"
    rows = {r.unit: r for r in table.rows}
    assert set(rows) == {"Weilai Community (11)", "Nongke Community (12)"}
    weilai = rows["Weilai Community (11)"]
    assert weilai.cases == 5  # a, b, e, f, g
    assert weilai.response_rate == 2 / 5  # f and g accepted in time, of five assigned
    assert weilai.on_time_rate == 1 / 2  # g resolved in time; f overdue and open
    assert weilai.satisfaction_rate == 1.0
    assert weilai.reopen_rate == 1.0
    assert rows["Nongke Community (12)"].cases == 1
    assert city_wide.level is Level.STREET
    assert {r.unit: r.cases for r in city_wide.rows} == {
        "Huayuan Road Street (S1)": 6,
        "Jingba Road Street (S2)": 1,
    }
    lines = tables.assessment_rows(table)
    assert lines[0] == list(COLUMNS)
    assert lines[1][:6] == ["Weilai Community (11)", "5", "40.0%", "50.0%", "100.0%", "100.0%"]


def test_sub_area_levels(services: Services) -> None:
    with services.uow() as uow:
        ids = dict(uow.session.execute(select(Region.code, Region.id)).all())
        levels = [
            dashboards.subarea_level(uow.session, ids[code])
            for code in ("4101", "410105", "S1", "11")
        ]
        assert dashboards.subarea_level(uow.session, None) is Level.STREET
    assert levels == [Level.DISTRICT, Level.STREET, Level.COMMUNITY, Level.GRID]


def test_every_table_exports_as_csv(
    services: Services, clock: FixedClock, city: dict[str, Ticket]
) -> None:
    with services.uow() as uow:
        scope = tables.Scope(
            uow.session, street(uow.session, "S1"), clock(), SH, Level.COMMUNITY, weeks=3
        )
        exported = {
            name: list(csv.reader(io.StringIO(tables.csv_text(table(scope)))))
            for name, table in tables.TABLES.items()
        }
    assert exported["status"] == [
        ["status", "open"],
        ["new", "0"],
        ["returned", "0"],
        ["assigned", "4"],
        ["accepted", "1"],
    ]
    f = city["f"]
    assert f.resolve_by is not None
    late = (clock() - f.resolve_by).total_seconds() / 3600
    assert exported["overdue"][1] == [
        f.number,
        "garbage not collected",
        "1103 Weilai Community grid 03",
        "accepted",
        "resolve",
        f.resolve_by.astimezone(SH).strftime("%Y-%m-%d %H:%M"),
        f"{late:.1f}",
    ]
    assert len(exported["overdue"]) == 3
    assert exported["intake-channels"] == [["channel", "cases"], ["phone", "2"], ["sms", "1"]]
    assert exported["intake-categories"][1] == ["street_light", "broken street light", "2"]
    assert exported["grids"][1][:4] == ["1101", "Weilai Community grid 01", "2", "1"]
    assert exported["trends"][0] == [
        "category_code",
        "category",
        "2026-W46",
        "2026-W47",
        "2026-W48",
    ]
    assert exported["trends"][1] == ["street_light", "broken street light", "1", "1", "2"]
    assert exported["assessment"][0] == list(COLUMNS)
    assert len(exported["assessment"]) == 3


def test_week_starts_are_local_mondays() -> None:
    now = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)  # Monday 23 November, 00:30 in Shanghai
    starts = dashboards.week_starts(now, SH, 2)
    assert [s.date() for s in starts] == [
        date(2026, 11, 16),
        date(2026, 11, 23),
        date(2026, 11, 30),
    ]
    assert starts[1] - starts[0] == timedelta(weeks=1)


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+86 138", "'+86 138"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-1+1", "'-1+1"),
        ("-", "-"),
        ("-2.5", "-2.5"),
        ("12.0%", "12.0%"),
        ("Weilai Community", "Weilai Community"),
    ],
)
def test_csv_cells_never_run_as_spreadsheet_formulas(cell: str, safe: str) -> None:
    assert tables.spreadsheet_safe(cell) == safe
    assert tables.csv_text([[cell]]).strip().strip('"').replace('""', '"') == safe
