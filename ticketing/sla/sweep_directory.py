"""Who hears of an escalation, read once per sweep batch.

A batch fires up to a thousand rungs, and most share their people: the same community
supervisor, the same street office, the same department's dispatchers. Reading the
supervisors, dispatchers and backup members once, and remembering each answer by what it
depends on, replaces a few queries and a hierarchy walk per rung with a dictionary look-up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models.cases import Ticket
from ticketing.models.people import GridAssignment, Staff, StaffRole
from ticketing.models.places import Region
from ticketing.sla.ladder import Level
from ticketing.vocabulary.roles import AssignmentRole

# How many levels above the case's community each rung past the breach goes.
LEVELS_UP = {Level.STREET: 1, Level.DISTRICT: 2, Level.CITY: 3}


def _ancestor(region: Region | None, levels: int) -> Region | None:
    for _ in range(levels):
        region = region.parent if region is not None else None
    return region


class Directory:
    """Who to notify, read once per sweep batch instead of a few queries per rung."""

    def __init__(self, session: Session) -> None:
        self.supervisors: dict[int | None, list[Staff]] = defaultdict(list)
        self.dispatchers: dict[int | None, list[Staff]] = defaultdict(list)
        self.backups: dict[int, list[Staff]] = defaultdict(list)
        self._answers: dict[Hashable, list[Staff]] = {}
        people = session.scalars(
            select(Staff)
            .where(
                Staff.active.is_(True),
                Staff.role.in_([StaffRole.SUPERVISOR, StaffRole.DISPATCHER]),
            )
            .order_by(Staff.id)
        )
        for person in people:
            if person.role is StaffRole.SUPERVISOR:
                self.supervisors[person.region_id].append(person)
            else:
                self.dispatchers[person.department_id].append(person)
        backups = session.execute(
            select(GridAssignment.grid_id, Staff)
            .join(Staff, Staff.id == GridAssignment.staff_id)
            .where(GridAssignment.role == AssignmentRole.BACKUP, Staff.active.is_(True))
        )
        for grid_id, person in backups:
            self.backups[grid_id].append(person)

    def _responsible(self, ticket: Ticket) -> list[Staff]:
        if ticket.assignee is not None:
            return [ticket.assignee]
        return list(self.dispatchers.get(ticket.department_id, [])) if ticket.department_id else []

    def recipients(self, ticket: Ticket, level: Level) -> list[Staff]:
        """Who hears of a rung: the assignee first, then each level up the region
        hierarchy (community, street, district, city), starting from the case's community.

        The answer depends only on the ids in the key below, so it is worked out once per
        key and batch; callers must not change the list they get.
        """
        responsible = (ticket.assignee_id, ticket.department_id)
        key: Hashable
        if level is Level.REMINDER:
            key = (level, responsible)
        elif level is Level.BREACH:
            key = (level, ticket.grid_id, ticket.community_id, responsible)
        else:
            key = (level, ticket.community_id)
        found = self._answers.get(key)
        if found is None:
            found = self._answers[key] = self._work_out(ticket, level)
        return found

    def _work_out(self, ticket: Ticket, level: Level) -> list[Staff]:
        community = ticket.community
        if level is Level.REMINDER:
            people = self._responsible(ticket)
        elif level is Level.BREACH:
            backups = self.backups.get(ticket.grid_id, []) if ticket.grid_id else []
            local = self.supervisors.get(community.id, []) if community else []
            people = [*backups, *local] or self._responsible(ticket)
        else:
            region = _ancestor(community, LEVELS_UP[level])
            people = self.supervisors.get(region.id, []) if region else []
        unique = {person.id: person for person in people}
        return list(unique.values())
