"""Who gets a new case: the first version of the routing policy, as a pure function.

Routing must explain itself (supervisors ask "why did this come to me?"), so every
decision carries the rule that made it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ticketing.vocabulary.catalogue import CategoryLevel
from ticketing.vocabulary.roles import AssignmentRole


@dataclass(frozen=True)
class GridMemberView:
    """A member as routing sees them: for this grid (primary, backup) or the community pool."""

    staff_id: int
    role: AssignmentRole | None  # None: a member of another grid of the same community
    active: bool
    on_duty: bool = True
    duty_note: str = ""
    open_cases: int = 0

    @property
    def available(self) -> bool:
        return self.active and self.on_duty


@dataclass(frozen=True)
class RoutingInput:
    category_level: CategoryLevel
    department_id: int | None
    grid_id: int | None
    members: Sequence[GridMemberView] = ()
    community_pool: Sequence[GridMemberView] = ()
    urgent: bool = False
    supervisors: Sequence[int] = ()  # of the case's community, alerted on urgent cases


@dataclass(frozen=True)
class RoutingDecision:
    staff_id: int | None
    department_id: int | None
    rule: str
    inform: tuple[int, ...] = ()  # told of the case, not responsible (the grid member)
    alert: tuple[int, ...] = ()  # told at once because it is urgent (the supervisor)

    @property
    def needs_triage(self) -> bool:
        return self.staff_id is None and self.department_id is None


def route(case: RoutingInput) -> RoutingDecision:
    """Choose who answers for a new case, or send it to triage, and say why."""
    alert = tuple(case.supervisors) if case.urgent else ()
    if case.category_level is CategoryLevel.DEPARTMENT:
        if case.department_id is None:
            return RoutingDecision(None, None, "department category without a department")
        local = _grid_member(case.members)
        inform = (local[0].staff_id,) if local else ()
        return RoutingDecision(
            None, case.department_id, "department category: dispatch queue", inform, alert
        )
    if case.grid_id is None:
        return RoutingDecision(None, None, "location unknown: agent triage")
    chosen = _grid_member(case.members)
    if chosen is not None:
        member, rule = chosen
        return RoutingDecision(member.staff_id, None, rule, alert=alert)
    pool = [m for m in case.community_pool if m.available]
    if pool:
        least = min(pool, key=lambda m: (m.open_cases, m.staff_id))
        rule = (
            f"nobody of the grid on duty: least-loaded member of the community "
            f"({least.open_cases} open cases, {least.duty_note})"
        )
        return RoutingDecision(least.staff_id, None, rule, alert=alert)
    return RoutingDecision(None, None, "no grid or community member on duty: agent triage")


def _grid_member(members: Sequence[GridMemberView]) -> tuple[GridMemberView, str] | None:
    """The on-duty primary, else the on-duty backup, with the reason in words."""
    primary = next((m for m in members if m.role is AssignmentRole.PRIMARY), None)
    for role in (AssignmentRole.PRIMARY, AssignmentRole.BACKUP):
        for member in members:
            if member.role is role and member.available:
                why = f"grid {role} member ({member.duty_note or 'active'})"
                if role is AssignmentRole.BACKUP and primary is not None:
                    absent = "inactive" if not primary.active else primary.duty_note
                    why += f"; primary {absent or 'unavailable'}"
                return member, why
    return None
