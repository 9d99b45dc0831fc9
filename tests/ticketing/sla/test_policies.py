"""Policies, deadlines and the escalation ladder as pure functions, with exact instants."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketing.sla.business_time import OFFICE_HOURS, TWENTY_FOUR_SEVEN, BusinessCalendar
from ticketing.sla.ladder import LADDER, Clock, Level, RunningClock, due, next_time, schedule
from ticketing.sla.policies import (
    DEFAULT_POLICIES,
    DEFAULT_RULES,
    Pause,
    PolicyRule,
    choose_policy,
    deadline,
    deadlines,
    pauses,
)
from ticketing.vocabulary.catalogue import CATEGORIES, Priority

pytestmark = pytest.mark.unit

SH = ZoneInfo("Asia/Shanghai")
GENERAL = next(p for p in DEFAULT_POLICIES if p.code == "general")
URGENT = next(p for p in DEFAULT_POLICIES if p.code == "urgent")


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime.combine(date(2026, month, day), time(hour, minute), tzinfo=SH)


@pytest.mark.parametrize(
    ("category", "priority", "policy"),
    [
        ("gas_smell", Priority.URGENT, "urgent"),
        ("fire_hazard", Priority.URGENT, "urgent"),
        ("water_leak", Priority.HIGH, "utilities"),
        ("heating", Priority.HIGH, "utilities"),
        ("street_light", Priority.NORMAL, "general"),
        ("street_light", Priority.URGENT, "urgent"),  # an agent raised its priority
        ("illegal_construction", Priority.NORMAL, "complex"),
        ("other", Priority.LOW, "general"),
    ],
)
def test_first_matching_rule_wins(category: str, priority: Priority, policy: str) -> None:
    assert choose_policy(DEFAULT_RULES, category, priority) == policy


def test_every_catalogue_category_gets_a_policy_and_a_rule_list_needs_a_catch_all() -> None:
    for spec in CATEGORIES:
        assert choose_policy(DEFAULT_RULES, spec.code, spec.priority)
    with pytest.raises(ValueError, match="catch-all"):
        choose_policy(
            [PolicyRule("urgent", priorities=frozenset({Priority.URGENT}))], "x", Priority.LOW
        )


def test_defaults_follow_12345_practice() -> None:
    durations = {p.code: p.resolve_within for p in DEFAULT_POLICIES}
    assert durations["urgent"] == timedelta(hours=2)
    assert durations["utilities"] == timedelta(hours=24)
    assert durations["general"] == 7 * OFFICE_HOURS.working_day_length
    assert durations["complex"] == 15 * OFFICE_HOURS.working_day_length


def test_general_case_registered_friday_afternoon() -> None:
    # Friday 27 Nov 2026 15:00; 7 working days of 7.5 h; accept within 4 working hours.
    found = deadlines(GENERAL, OFFICE_HOURS, at(27, 15), at(27, 15), False, [])
    # Friday 15:00-17:30 is 2.5 h; Monday 08:30 + 1.5 h.
    assert found.accept_by == at(30, 10)
    # 52.5 h: Friday 2.5, the next week 37.5, Monday 7 Dec 7.5, Tuesday 3.5 + 1.5.
    assert found.resolve_by == at(8, 15, month=12)


def test_a_pause_pushes_the_deadline_by_the_working_time_it_lasted() -> None:
    history = [(at(30, 9), "paused"), (at(30, 15), "resumed")]  # 3 + 1.5 = 4.5 working hours
    plain = deadline(OFFICE_HOURS, at(27, 15), GENERAL.resolve_within, [])
    paused = deadline(OFFICE_HOURS, at(27, 15), GENERAL.resolve_within, pauses(history))
    assert plain is not None
    assert OFFICE_HOURS.between(plain, paused or plain) == timedelta(hours=4, minutes=30)


def test_an_open_pause_stops_the_clock_and_pauses_are_read_from_history() -> None:
    history = [(at(30, 9), "paused"), (at(30, 10), "resumed"), (at(30, 11), "paused")]
    assert pauses(history) == [Pause(at(30, 9), at(30, 10)), Pause(at(30, 11), None)]
    assert deadline(OFFICE_HOURS, at(27, 15), GENERAL.resolve_within, pauses(history)) is None


def test_a_pause_after_the_deadline_changes_nothing() -> None:
    late = [(at(20, 9, month=12), "paused"), (at(21, 9, month=12), "resumed")]
    assert deadline(OFFICE_HOURS, at(27, 15), GENERAL.resolve_within, pauses(late)) == at(
        8, 15, month=12
    )


def test_urgent_ladder_runs_round_the_clock() -> None:
    start = at(27, 23)
    steps = schedule(
        TWENTY_FOUR_SEVEN, [RunningClock(Clock.RESOLVE, start, URGENT.resolve_within)], []
    )
    assert [(s.level, s.at) for s in steps] == [
        (Level.REMINDER, start + timedelta(minutes=90)),
        (Level.BREACH, start + timedelta(hours=2)),
        (Level.STREET, start + timedelta(minutes=150)),
        (Level.DISTRICT, start + timedelta(hours=3)),
        (Level.CITY, start + timedelta(hours=4)),
    ]


def test_ladder_fires_each_rung_once_and_says_when_to_look_again() -> None:
    start = at(27, 9)
    steps = schedule(OFFICE_HOURS, [RunningClock(Clock.ACCEPT, start, timedelta(hours=4))], [])
    now = at(27, 14)  # 3.5 working hours in: the reminder (3 h) is due, the breach is not
    first = due(steps, set(), now)
    assert [s.level for s in first] == [Level.REMINDER]
    fired = {(s.clock, s.level) for s in first}
    assert due(steps, fired, now) == []
    assert next_time(steps, fired) == at(27, 14, 30)  # the breach, in working time
    assert next_time(steps, {(s.clock, s.level) for s in steps}) is None


def test_rungs_of_a_working_hours_policy_fall_in_working_hours() -> None:
    start = at(27, 17)  # half an hour before Friday closes
    steps = schedule(OFFICE_HOURS, [RunningClock(Clock.ACCEPT, start, timedelta(hours=4))], [])
    for step in steps:
        assert OFFICE_HOURS.is_open(step.at - timedelta(microseconds=1))


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 1)),  # noqa: DTZ001
    st.integers(min_value=1, max_value=20 * 24 * 60),
    st.sampled_from([OFFICE_HOURS, TWENTY_FOUR_SEVEN]),
)
def test_the_one_walk_ladder_equals_each_rung_computed_alone(
    start: datetime, minutes: int, calendar: BusinessCalendar
) -> None:
    clock = RunningClock(Clock.RESOLVE, start.replace(tzinfo=SH), timedelta(minutes=minutes))
    alone = {
        rung.level: deadline(calendar, clock.start, clock.allowed * rung.fraction, [])
        for rung in LADDER
    }
    assert {s.level: s.at for s in schedule(calendar, [clock], [])} == alone
