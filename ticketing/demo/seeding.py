"""Write the category catalogue and the demo city into the database, as often as you like.

Every row is matched on its natural key (code, employee number, place name, grid and staff
member) and only missing rows are inserted, so a second run changes nothing, a half-finished
first run is completed, and what an administrator edited since (a category's department,
a member's phone) is kept: the catalogue is the city's data once loaded. Each table is
read once and written in one flush, which keeps a full load well under a second.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.db import Base, utcnow
from ticketing.demo.city import DemoCity, build_demo_city
from ticketing.demo.users import load_demo_users
from ticketing.models.catalogue import Category, Department
from ticketing.models.people import (
    EmploymentType,
    GridAssignment,
    LeavePeriod,
    RosterShift,
    Staff,
    StaffRole,
)
from ticketing.models.places import Grid, Place, Region, RegionLevel
from ticketing.models.sla import CalendarRow, SlaPolicyRow, SlaRuleRow
from ticketing.sla.policies import DEFAULT_CALENDARS, DEFAULT_POLICIES, DEFAULT_RULES
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.catalogue import CATEGORIES, DEPARTMENTS
from ticketing.vocabulary.roles import AssignmentRole

M = TypeVar("M", bound=Base)
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class DemoSummary:
    """What was loaded, and a few values to try the hotline with straight away."""

    regions: int
    grids: int
    departments: int
    categories: int
    staff: int
    assignments: int
    places: int
    grid_code: str
    grid_member_name: str
    grid_member_phone: str
    community_code: str
    dispatcher_phone: str
    call_agent_name: str


def load_catalogue(uow: UnitOfWork) -> dict[str, int]:
    """Upsert the starting departments and categories (`ticketing.vocabulary.catalogue`);
    call inside `with uow:`."""
    counts = _load_catalogue(uow.session)
    uow.commit()
    return counts


def load_demo_city(
    uow: UnitOfWork, demo_passwords: Mapping[str, str] | None = None, now: datetime | None = None
) -> DemoSummary:
    """Upsert the catalogue and the demo district; call inside `with uow:`.

    `demo_passwords` (username -> password) are given to the demo console accounts when
    they are created; without them those accounts get random passwords nobody knows.
    """
    session = uow.session
    city = build_demo_city()
    catalogue = _load_catalogue(session)
    regions = _load_regions(session, city)
    grids = _insert_missing(
        session,
        Grid,
        lambda row: row.code,
        {
            grid.code: {
                "code": grid.code,
                "name": grid.name,
                "community_id": regions[grid.community_code].id,
                "polygon": grid.polygon,
                "centre_lat": grid.centre_lat,
                "centre_lon": grid.centre_lon,
            }
            for grid in city.grids
        },
    )
    staff = _load_staff(session, city, regions)
    _insert_missing(
        session,
        GridAssignment,
        lambda row: (row.grid_id, row.staff_id),
        {
            (grids[a.grid_code].id, staff[a.employee_no].id): {
                "grid_id": grids[a.grid_code].id,
                "staff_id": staff[a.employee_no].id,
                "role": a.role,
            }
            for a in city.assignments
        },
    )
    _insert_missing(
        session,
        Place,
        lambda row: row.name_en,
        {
            place.name_en: {
                "name_en": place.name_en,
                "name_zh": place.name_zh,
                "kind": place.kind,
                "lat": place.lat,
                "lon": place.lon,
                "grid_id": grids[place.grid_code].id,
            }
            for place in city.places
        },
    )
    _insert_missing(
        session,
        RosterShift,
        lambda row: (row.staff_id, row.weekday, row.start),
        {
            (staff[x.employee_no].id, x.weekday, x.start): {
                "staff_id": staff[x.employee_no].id,
                "weekday": x.weekday,
                "start": x.start,
                "end": x.end,
            }
            for x in city.shifts
        },
    )
    _insert_missing(
        session,
        LeavePeriod,
        lambda row: (row.staff_id, row.first_day),
        {
            (staff[x.employee_no].id, x.first_day): {
                "staff_id": staff[x.employee_no].id,
                "first_day": x.first_day,
                "last_day": x.last_day,
                "reason": x.reason,
            }
            for x in city.leaves
        },
    )
    load_demo_users(uow, city, demo_passwords, now or utcnow())
    summary = _summarise(city, catalogue)
    uow.commit()
    return summary


def _insert_missing(
    session: Session, model: type[M], key_of: Callable[[M], K], wanted: Mapping[K, dict[str, Any]]
) -> dict[K, M]:
    """Create the missing rows, leave existing ones as they are; return every row by key."""
    rows = {key_of(row): row for row in session.scalars(select(model))}
    for key, values in wanted.items():
        if key not in rows:
            rows[key] = model(**values)
            session.add(rows[key])
    session.flush()
    return rows


def _load_catalogue(session: Session) -> dict[str, int]:
    departments = _insert_missing(
        session,
        Department,
        lambda row: row.code,
        {d.code: {"code": d.code, "name_en": d.name_en, "name_zh": d.name_zh} for d in DEPARTMENTS},
    )
    _insert_missing(
        session,
        Category,
        lambda row: row.code,
        {
            c.code: {
                "code": c.code,
                "name_en": c.name_en,
                "name_zh": c.name_zh,
                "level": c.level,
                "department_id": departments[c.department].id if c.department else None,
                "default_priority": c.priority,
            }
            for c in CATEGORIES
        },
    )
    _load_sla(session)
    return {"departments": len(DEPARTMENTS), "categories": len(CATEGORIES)}


def _minutes(duration: timedelta) -> int:
    return int(duration.total_seconds() // 60)


def _load_sla(session: Session) -> None:
    """The default calendars, policies (version 1) and rule list; the rule list is one
    ordered whole, so it is written only when there is none yet."""
    _insert_missing(
        session,
        CalendarRow,
        lambda row: row.code,
        {
            code: {
                "code": code,
                "zone": cal.zone.key,
                "official": "cn",
                "windows": [
                    [w.start.strftime("%H:%M"), w.end.strftime("%H:%M")] for w in cal.windows
                ],
                "extra_holidays": [],
                "extra_workdays": [],
            }
            for code, cal in DEFAULT_CALENDARS.items()
        },
    )
    _insert_missing(
        session,
        SlaPolicyRow,
        lambda row: (row.code, row.version),
        {
            (p.code, p.version): {
                "code": p.code,
                "version": p.version,
                "name": p.name,
                "calendar_code": p.calendar,
                "accept_minutes": _minutes(p.accept_within),
                "resolve_minutes": _minutes(p.resolve_within),
                "update_minutes": _minutes(p.update_every) if p.update_every else None,
                "current": True,
            }
            for p in DEFAULT_POLICIES
        },
    )
    if session.scalars(select(SlaRuleRow).limit(1)).first() is None:
        for position, rule in enumerate(DEFAULT_RULES, start=1):
            session.add(
                SlaRuleRow(
                    position=position,
                    policy_code=rule.policy,
                    categories=sorted(rule.categories) if rule.categories is not None else None,
                    priorities=sorted(p.value for p in rule.priorities)
                    if rule.priorities is not None
                    else None,
                )
            )
        session.flush()


def _load_regions(session: Session, city: DemoCity) -> dict[str, Region]:
    """Level by level from the top, so each parent has an id before its children need it."""
    rows: dict[str, Region] = {}
    for level in RegionLevel:
        wanted = {
            r.code: {
                "code": r.code,
                "level": level,
                "name_en": r.name_en,
                "name_zh": r.name_zh,
                "parent_id": rows[r.parent_code].id if r.parent_code else None,
            }
            for r in city.regions
            if r.level == level.value
        }
        rows = _insert_missing(session, Region, lambda row: row.code, wanted)
    return rows


def _load_staff(
    session: Session, city: DemoCity, regions: Mapping[str, Region]
) -> dict[str, Staff]:
    departments = {d.code: d for d in session.scalars(select(Department))}
    return _insert_missing(
        session,
        Staff,
        lambda row: row.employee_no,
        {
            s.employee_no: {
                "employee_no": s.employee_no,
                "name": s.name,
                "phone": s.phone,
                "role": StaffRole(s.role),
                "employment_type": EmploymentType(s.employment_type) if s.employment_type else None,
                "region_id": regions[s.region_code].id if s.region_code else None,
                "department_id": departments[s.department_code].id if s.department_code else None,
                "language": s.language,
            }
            for s in city.staff
        },
    )


def _summarise(city: DemoCity, catalogue: Mapping[str, int]) -> DemoSummary:
    grid = city.grids[0]
    people = {s.employee_no: s for s in city.staff}
    primary = next(
        people[a.employee_no]
        for a in city.assignments
        if a.grid_code == grid.code and a.role is AssignmentRole.PRIMARY
    )
    dispatcher = next(s for s in city.staff if s.role == "dispatcher")
    agent = next(s for s in city.staff if s.role == "call_agent")
    return DemoSummary(
        regions=len(city.regions),
        grids=len(city.grids),
        departments=catalogue["departments"],
        categories=catalogue["categories"],
        staff=len(city.staff),
        assignments=len(city.assignments),
        places=len(city.places),
        grid_code=grid.code,
        grid_member_name=primary.name,
        grid_member_phone=primary.phone,
        community_code=grid.community_code,
        dispatcher_phone=dispatcher.phone,
        call_agent_name=agent.name,
    )
