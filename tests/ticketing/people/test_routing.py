from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from ticketing.people.rosters import Leave, Roster, WeeklyShift, on_duty
from ticketing.people.routing import GridMemberView, RoutingInput, route
from ticketing.vocabulary.catalogue import CategoryLevel
from ticketing.vocabulary.roles import AssignmentRole

pytestmark = pytest.mark.unit

PRIMARY = GridMemberView(1, AssignmentRole.PRIMARY, active=True, duty_note="on call")
BACKUP = GridMemberView(2, AssignmentRole.BACKUP, active=True, duty_note="on shift")
SH = ZoneInfo("Asia/Shanghai")


def _grid_case(*members: GridMemberView, pool: tuple[GridMemberView, ...] = ()) -> RoutingInput:
    return RoutingInput(CategoryLevel.GRID, None, grid_id=7, members=members, community_pool=pool)


def test_grid_case_goes_to_the_on_duty_primary_and_says_why() -> None:
    decision = route(_grid_case(BACKUP, PRIMARY))
    assert (decision.staff_id, decision.rule) == (1, "grid primary member (on call)")


def test_inactive_primary_hands_over_to_the_backup() -> None:
    inactive = GridMemberView(1, AssignmentRole.PRIMARY, active=False)
    decision = route(_grid_case(inactive, BACKUP))
    assert decision.staff_id == 2
    assert decision.rule == "grid backup member (on shift); primary inactive"


def test_primary_on_leave_hands_over_to_the_backup_with_the_roster_reason() -> None:
    away = GridMemberView(1, AssignmentRole.PRIMARY, True, False, "on leave until 2026-12-31")
    decision = route(_grid_case(away, BACKUP))
    assert decision.staff_id == 2
    assert decision.rule.endswith("primary on leave until 2026-12-31")


def test_nobody_of_the_grid_on_duty_goes_to_the_least_loaded_of_the_community() -> None:
    off = [
        GridMemberView(1, AssignmentRole.PRIMARY, True, False, "off shift"),
        GridMemberView(2, AssignmentRole.BACKUP, True, False, "off shift"),
    ]
    pool = (
        GridMemberView(5, None, True, True, "on call", open_cases=4),
        GridMemberView(6, None, True, True, "on call", open_cases=1),
        GridMemberView(7, None, True, False, "off shift", open_cases=0),
    )
    decision = route(_grid_case(*off, pool=pool))
    assert decision.staff_id == 6
    assert "least-loaded member of the community (1 open cases" in decision.rule


def test_nobody_on_duty_anywhere_goes_to_triage() -> None:
    decision = route(_grid_case(GridMemberView(1, AssignmentRole.PRIMARY, active=False)))
    assert decision.needs_triage
    assert "triage" in decision.rule


def test_unknown_location_goes_to_triage() -> None:
    decision = route(RoutingInput(CategoryLevel.GRID, None, grid_id=None))
    assert decision.needs_triage


def test_department_category_goes_to_the_queue_and_the_grid_member_is_informed() -> None:
    decision = route(RoutingInput(CategoryLevel.DEPARTMENT, 5, grid_id=7, members=[PRIMARY]))
    assert (decision.staff_id, decision.department_id) == (None, 5)
    assert decision.inform == (1,)
    assert decision.alert == ()
    assert not decision.needs_triage


def test_urgent_cases_alert_the_supervisor_at_once() -> None:
    decision = route(
        RoutingInput(CategoryLevel.DEPARTMENT, 5, 7, [PRIMARY], urgent=True, supervisors=[40])
    )
    assert decision.alert == (40,)


def test_rosters_weekly_shifts_and_leave() -> None:
    roster = Roster(
        shifts=(WeeklyShift(0, time(8, 30), time(12)),),  # Monday mornings
        leaves=(Leave(date(2026, 12, 24), date(2026, 12, 26), "family"),),
    )
    monday_9 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert on_duty(roster, monday_9, SH) == (True, "on shift Mon 08:30-12:00")
    assert on_duty(roster, monday_9.replace(hour=5), SH) == (False, "off shift")
    christmas = datetime(2026, 12, 24, 1, 0, tzinfo=UTC)
    assert on_duty(roster, christmas, SH) == (False, "on leave until 2026-12-26")
    assert on_duty(Roster(), monday_9, SH) == (True, "on call (no shifts on record)")
