"""Who gets a new case: the first version of the routing policy, as a pure function.

Routing must explain itself (supervisors ask "why did this come to me?"), so every
decision carries the rule that made it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ticketing.catalogue import CategoryLevel


class AssignmentRole(enum.StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"


@dataclass(frozen=True)
class GridMemberView:
    staff_id: int
    role: AssignmentRole
    active: bool


@dataclass(frozen=True)
class RoutingInput:
    category_level: CategoryLevel
    department_id: int | None
    grid_id: int | None
    members: Sequence[GridMemberView] = ()


@dataclass(frozen=True)
class RoutingDecision:
    staff_id: int | None
    department_id: int | None
    rule: str

    @property
    def needs_triage(self) -> bool:
        return self.staff_id is None and self.department_id is None


def route(case: RoutingInput) -> RoutingDecision:
    """Choose the grid member or department queue for a new case, or send it to triage."""
    if case.category_level is CategoryLevel.DEPARTMENT:
        if case.department_id is None:
            return RoutingDecision(None, None, "department category without a department")
        return RoutingDecision(None, case.department_id, "department category: dispatch queue")
    if case.grid_id is None:
        return RoutingDecision(None, None, "location unknown: agent triage")
    for role in (AssignmentRole.PRIMARY, AssignmentRole.BACKUP):
        for member in case.members:
            if member.role is role and member.active:
                return RoutingDecision(member.staff_id, None, f"grid {role} member")
    return RoutingDecision(None, None, "no active grid member: agent triage")
