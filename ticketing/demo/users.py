"""One console account for each role on the demo city, so a newcomer can try every job.

The accounts are tied to people and places the README's walk-through uses: the supervisor
of the street office over grid 1101, a dispatcher of the water company (water leaks go
straight to its queue), and grid 1101's primary member. Passwords come from the caller
(the CLI keeps them per installation under var/); an account that exists already is left
exactly as it is, so loading the demo again never changes a password someone has learnt.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ticketing.demo.city import DemoCity
from ticketing.models.accounts import User, UserRole
from ticketing.people.accounts import Area, add_user_uncommitted
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import Actor
from ticketing.vocabulary.roles import AssignmentRole

DEMO_GRID = "1101"
# Street lights go to grid members; water leaks are a department's job from the start, so
# the demo dispatcher has a queue to work: the water company's.
DEMO_DEPARTMENT = "water_utility"
DEMO_ACTOR = Actor.system("demo")


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: UserRole
    display_name: str
    area: Area


def demo_users(city: DemoCity) -> tuple[DemoUser, ...]:
    """The five demo accounts, their names taken from the demo city's staff."""
    grid = next(g for g in city.grids if g.code == DEMO_GRID)
    street = next(r for r in city.regions if r.code == grid.community_code).parent_code or ""
    people = {s.employee_no: s for s in city.staff}
    member = next(
        people[a.employee_no]
        for a in city.assignments
        if a.grid_code == DEMO_GRID and a.role is AssignmentRole.PRIMARY
    )
    supervisor = next(s for s in city.staff if s.role == "supervisor" and s.region_code == street)
    dispatcher = next(
        s for s in city.staff if s.role == "dispatcher" and s.department_code == DEMO_DEPARTMENT
    )
    agent = next(s for s in city.staff if s.role == "call_agent")
    return (
        DemoUser("agent", UserRole.AGENT, agent.name, Area()),
        DemoUser("supervisor", UserRole.SUPERVISOR, supervisor.name, Area(region_code=street)),
        DemoUser(
            "dispatcher",
            UserRole.DISPATCHER,
            dispatcher.name,
            Area(department_code=DEMO_DEPARTMENT),
        ),
        DemoUser(
            "grid_member", UserRole.GRID_MEMBER, member.name, Area(employee_no=member.employee_no)
        ),
        DemoUser("admin", UserRole.ADMIN, "Administrator", Area()),
    )


def load_demo_users(
    uow: UnitOfWork, city: DemoCity, passwords: Mapping[str, str] | None, now: datetime
) -> list[str]:
    """Create the demo accounts that are missing, in the caller's transaction (the demo
    city's); return the usernames created.

    Without `passwords` (tests, benchmarks) each new account gets a random password nobody
    knows, so a forgotten demo database never opens with a guessable one.
    """
    existing = set(uow.session.scalars(select(User.username)))
    created = []
    for spec in demo_users(city):
        if spec.username in existing:
            continue
        password = (passwords or {}).get(spec.username) or secrets.token_urlsafe(18)
        add_user_uncommitted(
            uow,
            username=spec.username,
            password=password,
            role=spec.role,
            display_name=spec.display_name,
            area=spec.area,
            actor=DEMO_ACTOR,
            now=now,
        )
        created.append(spec.username)
    return created
