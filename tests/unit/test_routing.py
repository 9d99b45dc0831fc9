from __future__ import annotations

from ticketing.catalogue import CategoryLevel
from ticketing.routing import AssignmentRole, GridMemberView, RoutingInput, route

PRIMARY = GridMemberView(1, AssignmentRole.PRIMARY, active=True)
BACKUP = GridMemberView(2, AssignmentRole.BACKUP, active=True)


def _grid_case(*members: GridMemberView) -> RoutingInput:
    return RoutingInput(CategoryLevel.GRID, None, grid_id=7, members=members)


def test_grid_case_goes_to_the_primary_member() -> None:
    decision = route(_grid_case(BACKUP, PRIMARY))
    assert (decision.staff_id, decision.rule) == (1, "grid primary member")


def test_inactive_primary_hands_over_to_the_backup() -> None:
    inactive = GridMemberView(1, AssignmentRole.PRIMARY, active=False)
    decision = route(_grid_case(inactive, BACKUP))
    assert (decision.staff_id, decision.rule) == (2, "grid backup member")


def test_nobody_active_goes_to_triage() -> None:
    decision = route(_grid_case(GridMemberView(1, AssignmentRole.PRIMARY, active=False)))
    assert decision.needs_triage
    assert "triage" in decision.rule


def test_unknown_location_goes_to_triage() -> None:
    decision = route(RoutingInput(CategoryLevel.GRID, None, grid_id=None))
    assert decision.needs_triage


def test_department_category_goes_to_the_department_queue_even_with_a_grid() -> None:
    decision = route(RoutingInput(CategoryLevel.DEPARTMENT, 5, grid_id=7, members=[PRIMARY]))
    assert (decision.staff_id, decision.department_id) == (None, 5)
    assert not decision.needs_triage
