"""Importing staff from CSV, all or nothing, with the grids each member holds.

Columns: employee_no, name, phone, role, employment_type, region, department, language,
grids. `grids` lists grid codes separated by `;`, each optionally followed by its role,
`1101:primary;1102:backup` (a bare code means primary). A member's grids in the file
replace the ones on record, so moving a grid from one member to another is one file.

Checked for the whole file before anything is written: phones become E.164 (and stay
unique, as an incoming SMS is matched to its member by phone), roles and employment types
are known values, regions and departments exist and fit the role (a grid member belongs
to a community, a dispatcher to a department), each grid exists, lies in the member's
community, and ends up with at most one primary member.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from ticketing.admin.imports import CHUNK, ImportResult, Progress, Rejections, no_progress
from ticketing.admin.staff_csv import HEADER, StaffRow, parse_row, read_rows
from ticketing.models.catalogue import Department
from ticketing.models.people import GridAssignment, Staff, StaffRole
from ticketing.models.places import Grid, Region, RegionLevel
from ticketing.people.audit import record_change
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import Actor
from ticketing.vocabulary.roles import AssignmentRole

__all__ = ["HEADER", "import_staff"]

_FIELDS = ("name", "phone", "role", "employment_type", "region_id", "department_id", "language")


@dataclass(frozen=True)
class _Known:
    """What the checks need from the database, read once."""

    regions: dict[str, tuple[int, RegionLevel]]
    departments: dict[str, int]
    grids: dict[str, tuple[int, int]]  # code -> (id, community id)
    staff: dict[str, Any]  # employee_no -> row of the staff columns
    phones: dict[str, str]  # phone -> employee_no
    assignments: list[Any]  # (id, grid_id, staff_id, role)


def import_staff(
    uow: UnitOfWork,
    source: str | bytes,
    actor: Actor,
    now: datetime,
    *,
    filename: str = "",
    on_progress: Progress = no_progress,
) -> ImportResult:
    """Check every row, then insert or update staff by employee number and set their grids;
    call inside `with uow:`. Progress runs over checking, then writing."""
    result = ImportResult("staff")
    problems = Rejections()
    records = read_rows(source, problems)
    total = 2 * len(records)
    result.rows = len(records)
    rows = []
    for n, (line, record) in enumerate(records):
        row = parse_row(line, record, problems)
        if row is not None:
            rows.append(row)
        if n % CHUNK == CHUNK - 1:
            on_progress(n + 1, total)
    known = _known(uow.session)
    _check_against(rows, known, problems)
    on_progress(len(records), total)
    if problems:
        result.rejected = problems.items
        return result
    _write(uow.session, rows, known, result)
    record_change(uow.session, actor, "staff.import", now, target=filename, data=result.counts())
    uow.commit()
    on_progress(total, total)
    return result


def _known(session: Session) -> _Known:
    staff = {
        row.employee_no: row
        for row in session.execute(
            select(Staff.id, Staff.employee_no, *(getattr(Staff, f) for f in _FIELDS))
        )
    }
    return _Known(
        regions={
            c: (i, lvl)
            for c, i, lvl in session.execute(select(Region.code, Region.id, Region.level))
        },
        departments=dict(session.execute(select(Department.code, Department.id)).all()),
        grids={
            c: (i, cid)
            for c, i, cid in session.execute(select(Grid.code, Grid.id, Grid.community_id))
        },
        staff=staff,
        phones={row.phone: no for no, row in staff.items()},
        assignments=list(
            session.execute(
                select(
                    GridAssignment.id,
                    GridAssignment.grid_id,
                    GridAssignment.staff_id,
                    GridAssignment.role,
                )
            )
        ),
    )


def _check_against(rows: Sequence[StaffRow], known: _Known, problems: Rejections) -> None:
    """The checks that need the whole file or the database: uniqueness, references, roles."""
    seen_no: dict[str, int] = {}
    seen_phone: dict[str, int] = {}
    in_file = {row.employee_no for row in rows}
    for row in rows:
        where = f"line {row.line}"
        if row.employee_no in seen_no:
            problems.add(row.line, where, "employee_no", f"also on line {seen_no[row.employee_no]}")
        seen_no.setdefault(row.employee_no, row.line)
        if row.phone in seen_phone:
            problems.add(row.line, where, "phone", f"also on line {seen_phone[row.phone]}")
        seen_phone.setdefault(row.phone, row.line)
        owner = known.phones.get(row.phone)
        if owner is not None and owner != row.employee_no and owner not in in_file:
            problems.add(row.line, where, "phone", f"{row.phone} is the phone of {owner}")
        _check_area(row, known, problems)
    _check_primaries(rows, known, problems)


def _check_area(row: StaffRow, known: _Known, problems: Rejections) -> None:
    where = f"line {row.line}"
    region = known.regions.get(row.region) if row.region else None
    if row.region and region is None:
        problems.add(row.line, where, "region", f"no region with code {row.region!r}")
    if row.department and row.department not in known.departments:
        problems.add(row.line, where, "department", f"no department {row.department!r}")
    community = region is None or region[1] is RegionLevel.COMMUNITY
    if row.role is StaffRole.GRID_MEMBER and not community:
        problems.add(row.line, where, "region", "a grid member belongs to a community")
    if row.role in (StaffRole.GRID_MEMBER, StaffRole.SUPERVISOR) and not row.region:
        problems.add(row.line, where, "region", f"required for a {row.role.value}")
    if row.role is StaffRole.DISPATCHER and not row.department:
        problems.add(row.line, where, "department", "required for a dispatcher")
    for code, _ in row.grids:
        grid = known.grids.get(code)
        if grid is None:
            problems.add(row.line, where, "grids", f"no grid with code {code!r}")
        elif region is not None and grid[1] != region[0]:
            problems.add(row.line, where, "grids", f"grid {code} is not in community {row.region}")


def _check_primaries(rows: Sequence[StaffRow], known: _Known, problems: Rejections) -> None:
    """After the import each grid may have one primary member at most."""
    replaced = {known.staff[row.employee_no].id for row in rows if row.employee_no in known.staff}
    by_id = {row.id: no for no, row in known.staff.items()}
    holder: dict[int, str] = {
        a.grid_id: f"{by_id.get(a.staff_id, a.staff_id)} (on record)"
        for a in known.assignments
        if a.role is AssignmentRole.PRIMARY and a.staff_id not in replaced
    }
    for row in rows:
        for code, role in row.grids:
            grid = known.grids.get(code)
            if grid is None or role is not AssignmentRole.PRIMARY:
                continue
            if grid[0] in holder:
                problems.add(
                    row.line,
                    f"line {row.line}",
                    "grids",
                    f"grid {code} already has a primary member: {holder[grid[0]]}",
                )
            else:
                holder[grid[0]] = f"{row.employee_no} (line {row.line})"


def _write(session: Session, rows: Sequence[StaffRow], known: _Known, result: ImportResult) -> None:
    inserts, updates = [], []
    changed: set[str] = set()
    for row in rows:
        values = {
            "employee_no": row.employee_no,
            "name": row.name,
            "phone": row.phone,
            "role": row.role,
            "employment_type": row.employment_type,
            "region_id": known.regions[row.region][0] if row.region else None,
            "department_id": known.departments[row.department] if row.department else None,
            "language": row.language,
        }
        old = known.staff.get(row.employee_no)
        if old is None:
            inserts.append({**values, "active": True})
        elif any(values[f] != getattr(old, f) for f in _FIELDS):
            updates.append({"id": old.id, **values})
            changed.add(row.employee_no)
    _free_phones(session, [*updates, *inserts], known)
    for start in range(0, len(updates), CHUNK):
        session.execute(update(Staff), updates[start : start + CHUNK])
    for start in range(0, len(inserts), CHUNK):
        session.execute(insert(Staff), inserts[start : start + CHUNK])
    ids = dict(session.execute(select(Staff.employee_no, Staff.id)).all())
    changed |= _write_assignments(session, rows, ids, known, result)
    result.created = len(inserts)
    result.updated = len(changed)
    result.unchanged = len(rows) - result.created - result.updated


def _free_phones(session: Session, written: Sequence[dict[str, Any]], known: _Known) -> None:
    """Park the numbers that change hands inside the file (two members swapping phones, a
    new hire taking the old phone of a member who moved to a new one), so the unique phone
    column never sees two rows with one number mid-write. The checks made sure every such
    holder is in the file with a phone of their own, which their update then sets."""
    taken = {
        w["phone"] for w in written if known.phones.get(w["phone"]) not in (None, w["employee_no"])
    }
    parked = [
        {"id": known.staff[no].id, "phone": f"#{known.staff[no].id}"}
        for phone, no in known.phones.items()
        if phone in taken
    ]
    if parked:
        session.execute(update(Staff), parked)


def _write_assignments(
    session: Session,
    rows: Sequence[StaffRow],
    ids: Mapping[str, int],
    known: _Known,
    result: ImportResult,
) -> set[str]:
    """Make each listed member's grids those of the file; the employee numbers changed."""
    wanted = {
        ids[row.employee_no]: {known.grids[code][0]: role for code, role in row.grids}
        for row in rows
    }
    current: dict[int, dict[int, tuple[int, AssignmentRole]]] = defaultdict(dict)
    for a in known.assignments:
        if a.staff_id in wanted:
            current[a.staff_id][a.grid_id] = (a.id, a.role)
    removed, retyped, added = [], [], []
    touched: set[int] = set()
    for staff_id, grids in wanted.items():
        for grid_id, (assignment_id, role) in current[staff_id].items():
            if grid_id not in grids:
                removed.append(assignment_id)
                touched.add(staff_id)
            elif grids[grid_id] is not role:
                retyped.append({"id": assignment_id, "role": grids[grid_id]})
                touched.add(staff_id)
        for grid_id, role in grids.items():
            if grid_id not in current[staff_id]:
                added.append({"grid_id": grid_id, "staff_id": staff_id, "role": role})
                touched.add(staff_id)
    for start in range(0, len(removed), CHUNK):
        chunk = removed[start : start + CHUNK]
        session.execute(delete(GridAssignment).where(GridAssignment.id.in_(chunk)))
    if retyped:
        session.execute(update(GridAssignment), retyped)
    for start in range(0, len(added), CHUNK):
        session.execute(insert(GridAssignment), added[start : start + CHUNK])
    result.extra = {
        "assignments_added": len(added),
        "assignments_removed": len(removed),
        "assignments_changed": len(retyped),
    }
    numbers = {staff_id: no for no, staff_id in ids.items()}
    new = {row.employee_no for row in rows if row.employee_no not in known.staff}
    return {numbers[s] for s in touched} - new
