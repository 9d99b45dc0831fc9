"""Business-time arithmetic: properties over many instants, and the dates that matter."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketing.sla.business_time import (
    OFFICE_HOURS,
    TWENTY_FOUR_SEVEN,
    BusinessCalendar,
    Window,
    WorkingDays,
    weekdays,
)

pytestmark = pytest.mark.unit

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
US_OFFICE = BusinessCalendar(
    "us_office",
    NEW_YORK,
    (Window(time(0, 30), time(3, 30)), Window(time(9), time(17))),
    WorkingDays(official=weekdays),
)
CALENDARS = [OFFICE_HOURS, US_OFFICE, TWENTY_FOUR_SEVEN]
MICRO = timedelta(microseconds=1)

instants = st.datetimes(
    # hypothesis wants naive bounds and adds the zone itself
    min_value=datetime(2025, 1, 1),  # noqa: DTZ001
    max_value=datetime(2026, 12, 20),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda d: d.replace(microsecond=0))
durations = st.integers(min_value=0, max_value=15 * 24 * 60).map(lambda m: timedelta(minutes=m))
calendars = st.sampled_from(CALENDARS)


@settings(max_examples=300, deadline=None)
@given(calendars, instants, durations, durations)
def test_adding_is_monotone(
    cal: BusinessCalendar, start: datetime, a: timedelta, b: timedelta
) -> None:
    small, large = sorted([a, b])
    assert cal.add(start, small) <= cal.add(start, large)


@settings(max_examples=300, deadline=None)
@given(calendars, instants, durations, durations)
def test_adding_is_additive(
    cal: BusinessCalendar, start: datetime, a: timedelta, b: timedelta
) -> None:
    assert cal.add(cal.add(start, a), b) == cal.add(start, a + b)


@settings(max_examples=300, deadline=None)
@given(calendars, instants, durations.filter(lambda d: d > timedelta()))
def test_a_deadline_never_lands_outside_working_hours(
    cal: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    due = cal.add(start, duration)
    assert cal.is_open(due - MICRO), f"{due.astimezone(cal.zone)} is outside {cal.name}"


@settings(max_examples=300, deadline=None)
@given(calendars, instants, durations)
def test_between_measures_what_add_added(
    cal: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    assert cal.between(start, cal.add(start, duration)) == duration


def _local(day: date, hour: int, minute: int = 0, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def test_national_day_holiday_and_the_adjusted_saturday() -> None:
    # 2026: 1-7 October off; Saturday 10 October is worked in exchange.
    start = _local(date(2026, 9, 30), 16, 30)
    due = OFFICE_HOURS.add(start, timedelta(hours=2))
    assert due == _local(date(2026, 10, 8), 9, 30)
    assert OFFICE_HOURS.is_open(_local(date(2026, 10, 10), 10))
    assert not OFFICE_HOURS.is_open(_local(date(2026, 10, 11), 10))  # an ordinary Sunday


def test_spring_festival_is_skipped_and_its_saturdays_are_worked() -> None:
    # 2026: 15-23 February off; Saturdays 14 and 28 February are worked in exchange.
    friday = _local(date(2026, 2, 13), 17)
    assert OFFICE_HOURS.add(friday, timedelta(hours=1)) == _local(date(2026, 2, 14), 9)
    saturday = _local(date(2026, 2, 14), 17)
    assert OFFICE_HOURS.add(saturday, timedelta(hours=1)) == _local(date(2026, 2, 24), 9)
    assert not OFFICE_HOURS.is_open(_local(date(2026, 2, 17), 10))


def test_custom_dates_override_the_official_calendar() -> None:
    storm_day, make_up = date(2026, 7, 20), date(2026, 7, 25)
    city = BusinessCalendar(
        "city",
        SHANGHAI,
        OFFICE_HOURS.windows,
        WorkingDays(extra_holidays=frozenset({storm_day}), extra_workdays=frozenset({make_up})),
    )
    assert not city.is_open(_local(storm_day, 10))
    assert city.is_open(_local(make_up, 10))


def test_years_without_official_data_fall_back_to_weekdays() -> None:
    assert OFFICE_HOURS.is_open(_local(date(2031, 3, 4), 10))  # a Tuesday
    assert not OFFICE_HOURS.is_open(_local(date(2031, 3, 8), 10))  # a Saturday


def test_windows_across_daylight_saving_changes_count_real_hours() -> None:
    spring, autumn = date(2026, 3, 8), date(2026, 11, 2)  # US changes (a Sunday; a Monday)
    monday = date(2026, 3, 9)
    # 00:30-03:30 on a normal night is 3 hours of working time.
    assert US_OFFICE.between(_local(monday, 0, 30, NEW_YORK), _local(monday, 3, 30, NEW_YORK)) == (
        timedelta(hours=3)
    )
    assert not US_OFFICE.is_open(_local(spring, 1, zone=NEW_YORK))  # Sunday: closed anyway
    # Clocks go back at 02:00 on 1 November 2026 (a Sunday); Monday 2 November is normal.
    assert US_OFFICE.working_day_length == timedelta(hours=11)
    start = _local(autumn, 16, zone=NEW_YORK)
    assert US_OFFICE.add(start, timedelta(hours=2)) == _local(date(2026, 11, 3), 1, 30, NEW_YORK)


def test_a_window_on_the_night_the_clocks_jump_is_as_long_as_the_clock_says() -> None:
    every_day = BusinessCalendar(
        "nights",
        NEW_YORK,
        (Window(time(0, 30), time(3, 30)),),
        WorkingDays(official=lambda d: True),
    )
    spring, autumn = date(2026, 3, 8), date(2026, 11, 1)
    day_before = spring - timedelta(days=1)
    total = every_day.between(
        _local(day_before, 12, zone=NEW_YORK), _local(spring, 12, zone=NEW_YORK)
    )
    assert total == timedelta(hours=2)  # 02:00-03:00 does not exist that night
    day_before = autumn - timedelta(days=1)
    total = every_day.between(
        _local(day_before, 12, zone=NEW_YORK), _local(autumn, 12, zone=NEW_YORK)
    )
    assert total == timedelta(hours=4)  # 01:00-02:00 happens twice


def test_naive_times_and_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        OFFICE_HOURS.add(datetime(2026, 1, 5, 9), timedelta(hours=1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="not negative"):
        OFFICE_HOURS.add(_local(date(2026, 1, 5), 9), -timedelta(hours=1))


def test_office_day_is_seven_and_a_half_hours_and_24x7_is_plain_time() -> None:
    assert OFFICE_HOURS.working_day_length == timedelta(hours=7, minutes=30)
    start = _local(date(2026, 10, 3), 23)
    assert TWENTY_FOUR_SEVEN.add(start, timedelta(hours=2)) == start + timedelta(hours=2)
