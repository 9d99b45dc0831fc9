"""The administrator's changes on the demo city: each validated, applied and audited once."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from hotline.bootstrap import Services
from hotline.jobs.admin import recompute_all
from tests.conftest import FixedClock, count
from tests.factories import register_case
from ticketing.admin.schedules import (
    HOLIDAY,
    WORKDAY,
    add_leave,
    add_shift,
    custom_dates,
    remove_custom_date,
    remove_leave,
    remove_shift,
    set_custom_date,
    staff_member,
)
from ticketing.admin.services import (
    add_category,
    change_sla_policy,
    parse_clock,
    parse_day,
    parse_duration,
    parse_weekday,
    update_category,
)
from ticketing.cases.repository import rosters
from ticketing.exceptions import InvalidInput, NotFound
from ticketing.models.accounts import AuditEntry
from ticketing.models.cases import Ticket
from ticketing.models.catalogue import Category
from ticketing.models.people import LeavePeriod, RosterShift
from ticketing.models.sla import SlaPolicyRow
from ticketing.sla.services import load_catalog
from ticketing.vocabulary.catalogue import CategoryLevel, Priority
from ticketing.vocabulary.events import Actor

pytestmark = pytest.mark.integration

ADMIN = Actor.user(1)


def _audits(services: Services) -> list[AuditEntry]:
    with services.uow() as uow:
        return list(uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def _last_audit(services: Services) -> AuditEntry:
    return _audits(services)[-1]


def test_form_value_parsers() -> None:
    assert parse_day(" 2026-10-01 ") == date(2026, 10, 1)
    assert parse_clock("8:00") == "08:00"
    assert (parse_weekday("0"), parse_weekday("Tue"), parse_weekday("sunday")) == (0, 1, 6)
    for bad, parse in (("2026-13-01", parse_day), ("1850-01-01", parse_day)):
        with pytest.raises(InvalidInput, match="date"):
            parse(bad)
    for bad in ("25:00", "8h", ""):
        with pytest.raises(InvalidInput, match="not a time like 08:30"):
            parse_clock(bad)
    office_day = timedelta(hours=7, minutes=30)
    assert parse_duration("30m", office_day) == timedelta(minutes=30)
    assert parse_duration(" 4H ", office_day) == timedelta(hours=4)
    assert parse_duration("2d", office_day) == timedelta(hours=15)
    with pytest.raises(InvalidInput, match="resolve: '7 days' is not like 30m, 4h or 7d"):
        parse_duration("7 days", office_day, "resolve")
    for bad in ("7", "xyz", "mo"):
        with pytest.raises(InvalidInput, match="weekday"):
            parse_weekday(bad)


def test_category_update_is_applied_and_audited(services: Services, clock: FixedClock) -> None:
    with services.uow() as uow:
        row = update_category(
            uow,
            ADMIN,
            clock(),
            "street_light",
            name_en="Street lamp out",
            department="urban_management",
            default_priority="high",
        )
        assert (row.level, row.default_priority) == (CategoryLevel.DEPARTMENT, Priority.HIGH)
    entry = _last_audit(services)
    assert (entry.action, entry.actor, entry.target) == (
        "category.update",
        "user:1",
        "category:street_light",
    )
    assert entry.data["default_priority"] == ["normal", "high"]
    assert entry.data["level"] == ["grid", "department"]
    with services.uow() as uow:
        update_category(uow, ADMIN, clock(), "street_light", department="", active=False)
        stored = uow.session.scalars(select(Category).where(Category.code == "street_light")).one()
        assert (stored.level, stored.department_id, stored.active) == (
            CategoryLevel.GRID,
            None,
            False,
        )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"default_priority": "whenever"}, "priority: 'whenever' is not one of"),
        ({"department": "nasa"}, "department: no department 'nasa'"),
        ({"name_en": "  "}, "English name: required"),
        ({"name_en": "x" * 201}, "at most 200 characters"),
        ({"default_priority": "normal"}, "nothing to change"),
    ],
)
def test_bad_category_changes_are_refused_and_not_audited(
    services: Services, clock: FixedClock, change: dict[str, str], reason: str
) -> None:
    before = len(_audits(services))
    with services.uow() as uow, pytest.raises(InvalidInput, match=reason):
        update_category(uow, ADMIN, clock(), "street_light", **change)  # type: ignore[arg-type]
    with services.uow() as uow:
        stored = uow.session.scalars(select(Category).where(Category.code == "street_light")).one()
        assert stored.default_priority is Priority.NORMAL
    assert len(_audits(services)) == before


def test_add_category(services: Services, clock: FixedClock) -> None:
    with services.uow() as uow:
        add_category(
            uow,
            ADMIN,
            clock(),
            code="shared_bikes",
            name_en="Shared bikes blocking a pavement",
            name_zh="共享单车占道",
            department="",
            default_priority="low",
        )
    assert _last_audit(services).action == "category.add"
    with services.uow() as uow, pytest.raises(InvalidInput, match="already exists"):
        add_category(
            uow,
            ADMIN,
            clock(),
            code="shared_bikes",
            name_en="x",
            name_zh="x",
            department=None,
            default_priority="low",
        )
    with services.uow() as uow, pytest.raises(InvalidInput, match="lower-case"):
        add_category(
            uow,
            ADMIN,
            clock(),
            code="Bad Code",
            name_en="x",
            name_zh="x",
            department=None,
            default_priority="low",
        )
    with services.uow() as uow, pytest.raises(NotFound):
        update_category(uow, ADMIN, clock(), "no_such_category", active=False)


def test_shifts_are_added_checked_and_removed(services: Services, clock: FixedClock) -> None:
    with services.uow() as uow:
        shift = add_shift(uow, ADMIN, clock(), "GM0001", 5, "9:00", "12:00")
        shift_id = shift.id
    entry = _last_audit(services)
    assert (entry.action, entry.target, entry.data["start"]) == (
        "roster.shift.add",
        "staff:GM0001",
        "09:00",
    )
    for args, reason in (
        ((5, "11:00", "13:00"), "overlaps the shift Sat 09:00-12:00"),
        ((5, "14:00", "13:00"), "ends after it starts"),
        ((5, "14:00", "14:00"), "ends after it starts"),
        ((9, "08:00", "09:00"), "weekday"),
        ((1, "08:00", "9 pm"), "end: '9 pm' is not a time"),
    ):
        with services.uow() as uow, pytest.raises(InvalidInput, match=reason):
            add_shift(uow, ADMIN, clock(), "GM0001", *args)
    with services.uow() as uow, pytest.raises(NotFound, match="GM9999"):
        add_shift(uow, ADMIN, clock(), "GM9999", 1, "08:00", "09:00")
    with services.uow() as uow:
        add_shift(uow, ADMIN, clock(), "GM0001", 5, "12:00", "13:00")  # touching is fine
        remove_shift(uow, ADMIN, clock(), shift_id)
    with services.uow() as uow:
        assert uow.session.get(RosterShift, shift_id) is None
    assert _last_audit(services).action == "roster.shift.remove"
    with services.uow() as uow, pytest.raises(NotFound):
        remove_shift(uow, ADMIN, clock(), shift_id)


def test_leave_is_added_checked_and_removed(services: Services, clock: FixedClock) -> None:
    with services.uow() as uow:
        leave = add_leave(
            uow, ADMIN, clock(), "GM0001", date(2026, 12, 1), date(2026, 12, 3), " training "
        )
        leave_id = leave.id
    assert _last_audit(services).data["reason"] == "training"
    for first, last, reason in (
        (date(2026, 12, 3), date(2026, 12, 5), "overlaps the leave 2026-12-01 to 2026-12-03"),
        (date(2026, 12, 9), date(2026, 12, 8), "is before the first day"),
        (date(2027, 1, 1), date(2030, 1, 1), "more than two years"),
    ):
        with services.uow() as uow, pytest.raises(InvalidInput, match=reason):
            add_leave(uow, ADMIN, clock(), "GM0001", first, last)
    with services.uow() as uow:
        remove_leave(uow, ADMIN, clock(), leave_id)
        assert uow.session.get(LeavePeriod, leave_id) is None
    assert _last_audit(services).action == "roster.leave.remove"


def test_leave_takes_a_member_off_routing(services: Services, clock: FixedClock) -> None:
    """The roster the router reads sees the new leave at once."""
    with services.uow() as uow:
        add_leave(uow, ADMIN, clock(), "GM0001", date(2026, 11, 27), date(2026, 11, 28), "ill")
    with services.uow() as uow:
        member = staff_member(uow.session, "GM0001").id
        roster = rosters(uow.session, [member])[member]
        assert any(leave.covers(date(2026, 11, 27)) for leave in roster.leaves)


def test_custom_dates_change_the_working_calendar(services: Services, clock: FixedClock) -> None:
    friday, saturday = date(2026, 12, 4), date(2026, 12, 5)
    with services.uow() as uow:
        office = load_catalog(uow.session).calendars["office_hours_cn"]
        assert office.working_day(friday)
        assert not office.working_day(saturday)
        changed = set_custom_date(uow, ADMIN, clock(), friday, HOLIDAY, name="City founding day")
        assert changed == ["24x7", "office_hours_cn"]
    with services.uow() as uow:
        set_custom_date(
            uow, ADMIN, clock(), saturday, WORKDAY, calendar="office_hours_cn", name="Make-up day"
        )
    with services.uow() as uow:
        office = load_catalog(uow.session).calendars["office_hours_cn"]
        assert not office.working_day(friday)
        assert office.working_day(saturday)
        dates = custom_dates(uow.session)
    assert [(d.day, d.kind, d.name) for d in dates] == [
        (saturday, WORKDAY, "Make-up day"),
        (friday, HOLIDAY, "City founding day"),
    ]
    entry = _last_audit(services)
    assert (entry.action, entry.target, entry.data["calendars"]) == (
        "calendar.workday.add",
        "date:2026-12-05",
        ["office_hours_cn"],
    )
    with services.uow() as uow, pytest.raises(InvalidInput, match="already a custom holiday"):
        set_custom_date(uow, ADMIN, clock(), friday, HOLIDAY)
    with services.uow() as uow, pytest.raises(InvalidInput, match="no calendar 'moon'"):
        set_custom_date(uow, ADMIN, clock(), friday, HOLIDAY, calendar="moon")
    with services.uow() as uow:
        # a worked Saturday turned into a holiday moves from one list to the other
        set_custom_date(uow, ADMIN, clock(), saturday, HOLIDAY, calendar="office_hours_cn")
        row = load_catalog(uow.session).calendars["office_hours_cn"]
        assert not row.working_day(saturday)
        remove_custom_date(uow, ADMIN, clock(), friday)
    with services.uow() as uow:
        assert load_catalog(uow.session).calendars["office_hours_cn"].working_day(friday)
        with pytest.raises(InvalidInput, match="not a custom date"):
            remove_custom_date(uow, ADMIN, clock(), friday)


def test_sla_policy_change_is_a_new_version_with_its_audit_row(
    services: Services, clock: FixedClock
) -> None:
    with services.uow() as uow:
        row = change_sla_policy(
            uow, ADMIN, clock(), "general", resolve_within=timedelta(hours=30), name="General: 30 h"
        )
        assert row.version == 2
    with services.uow() as uow:
        versions = uow.session.scalars(
            select(SlaPolicyRow)
            .where(SlaPolicyRow.code == "general")
            .order_by(SlaPolicyRow.version)
        ).all()
        assert [(v.version, v.current) for v in versions] == [(1, False), (2, True)]
        assert versions[1].resolve_minutes == 30 * 60
    entry = _last_audit(services)
    assert (entry.action, entry.target, entry.data["version"], entry.data["name"]) == (
        "sla.policy.version",
        "sla:general",
        2,
        "General: 30 h",
    )


@pytest.mark.parametrize(
    ("change", "error", "reason"),
    [
        ({"calendar": "moon"}, InvalidInput, "no calendar 'moon'"),
        ({"accept_within": timedelta(days=40)}, InvalidInput, "longer than the time to resolve"),
        ({"resolve_within": timedelta(seconds=10)}, InvalidInput, "between 1 minute and a year"),
        ({"name": "General: 7 working days"}, InvalidInput, "nothing to change"),
    ],
)
def test_bad_sla_changes_leave_no_version_and_no_audit(
    services: Services,
    clock: FixedClock,
    change: dict[str, object],
    error: type[Exception],
    reason: str,
) -> None:
    with services.uow() as uow:
        audits, policies = count(uow.session, "audit_log"), count(uow.session, "sla_policies")
    with services.uow() as uow, pytest.raises(error, match=reason):
        change_sla_policy(uow, ADMIN, clock(), "general", **change)  # type: ignore[arg-type]
    with services.uow() as uow:
        assert count(uow.session, "audit_log") == audits
        assert count(uow.session, "sla_policies") == policies
    with services.uow() as uow, pytest.raises(NotFound):
        change_sla_policy(uow, ADMIN, clock(), "nope", name="x")


def test_a_new_holiday_moves_open_cases_deadlines_once_recomputed(
    services: Services, clock: FixedClock
) -> None:
    """Friday 27 Nov 10:30 + 7 working days is Tuesday 8 Dec 10:30; a holiday on Tuesday
    1 Dec pushes it a working day, once the recompute job has run."""
    shanghai = ZoneInfo("Asia/Shanghai")
    number = register_case(services, language="en-US").number

    def resolve_by() -> datetime | None:
        with services.uow() as uow:
            ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
            return ticket.resolve_by

    assert resolve_by() == datetime(2026, 12, 8, 10, 30, tzinfo=shanghai)
    with services.uow() as uow:
        set_custom_date(uow, ADMIN, clock(), date(2026, 12, 1), HOLIDAY, name="Clean-up day")
    assert resolve_by() == datetime(2026, 12, 8, 10, 30, tzinfo=shanghai)  # not yet
    assert recompute_all(services) >= 1
    assert resolve_by() == datetime(2026, 12, 9, 10, 30, tzinfo=shanghai)
