"""Grid and staff imports on the demo city: all or nothing, upserts, reports, progress."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from hotline.bootstrap import Services
from tests.conftest import FIXTURES, FixedClock, count
from ticketing.admin.grid_import import import_grids
from ticketing.admin.imports import ImportResult
from ticketing.admin.staff_import import import_staff
from ticketing.models.accounts import AuditEntry
from ticketing.models.people import GridAssignment, Staff, StaffRole
from ticketing.models.places import Grid
from ticketing.places.indexes import grid_index
from ticketing.vocabulary.events import Actor
from ticketing.vocabulary.roles import AssignmentRole

pytestmark = pytest.mark.integration

IMPORTS = FIXTURES / "import"
ACTOR = Actor.cli("test")


def _grids(services: Services, clock: FixedClock, source: str | bytes, **kw: Any) -> ImportResult:
    with services.uow() as uow:
        return import_grids(uow, source, ACTOR, clock(), **kw)


def _staff(services: Services, clock: FixedClock, source: str | bytes) -> ImportResult:
    with services.uow() as uow:
        return import_staff(uow, source, ACTOR, clock(), filename="staff.csv")


def _sample(name: str) -> bytes:
    return (IMPORTS / name).read_bytes()


def _collection(*features: dict[str, Any]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def _square(code: str, community: str, west: float, south: float, side: float = 0.001) -> Any:
    e, n = west + side, south + side
    ring = [[west, south], [e, south], [e, n], [west, n], [west, south]]
    return {
        "type": "Feature",
        "properties": {"code": code, "name": f"grid {code}", "community": community},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_grid_sample_is_imported_then_reimporting_changes_nothing(
    services: Services, clock: FixedClock
) -> None:
    seen: list[tuple[int, int]] = []
    first = _grids(
        services,
        clock,
        _sample("grids_sample.geojson"),
        filename="grids_sample.geojson",
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert first.ok, first.rejected
    assert (first.rows, first.created, first.updated, first.unchanged) == (3, 2, 0, 1)
    assert seen[-1] == (6, 6)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    with services.uow() as uow:
        grids = {g.code: g for g in uow.session.scalars(select(Grid).where(Grid.code > "1123"))}
        assert grids["1124"].community.code == "11"
        assert grids["1125"].polygon["type"] == "MultiPolygon"
        index = grid_index(uow.session)
        # the representative point is inside its own grid
        for code in ("1124", "1125"):
            assert index.locate(grids[code].centre_lat, grids[code].centre_lon) == code
        audit = uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert audit is not None
        assert (audit.action, audit.actor, audit.target) == (
            "grids.import",
            "cli:test",
            "grids_sample.geojson",
        )
        assert audit.data["created"] == 2
        audits = count(uow.session, "audit_log")
    again = _grids(services, clock, _sample("grids_sample.geojson"))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    with services.uow() as uow:
        assert count(uow.session, "audit_log") == audits + 1


def test_a_changed_grid_is_updated_in_place(services: Services, clock: FixedClock) -> None:
    with services.uow() as uow:
        before = uow.session.scalars(select(Grid).where(Grid.code == "1101")).one()
        grid_id, grids = before.id, count(uow.session, "grids")
    moved = _square("1101", "12", 113.6575, 34.7895)
    moved["properties"]["name"] = "renamed"
    result = _grids(services, clock, _collection(moved))
    assert (result.created, result.updated) == (0, 1)
    with services.uow() as uow:
        after = uow.session.get(Grid, grid_id)
        assert after is not None
        assert (after.name, after.community.code) == ("renamed", "12")
        assert (after.centre_lat, after.centre_lon) == (34.79, 113.658)
        assert count(uow.session, "grids") == grids


def test_bad_grid_file_is_reported_whole_and_nothing_is_written(
    services: Services, clock: FixedClock
) -> None:
    with services.uow() as uow:
        grids, audits = count(uow.session, "grids"), count(uow.session, "audit_log")
    result = _grids(services, clock, _sample("grids_bad.geojson"))
    assert not result.ok
    found = {(r.where, r.field): r.reason for r in result.rejected}
    assert "Self-intersection" in found["feature 1", "geometry"]
    assert "99" in found["feature 2", "community"]
    assert found["feature 3", "code"] == "1124 is also the code of feature 0"
    assert "out of range" in found["feature 4", "geometry"]
    assert "Point" in found["feature 5", "geometry"]
    assert found["feature 6", "name"] == "missing"
    assert (
        "closed" in found["feature 7", "geometry"]
        or "4 positions" in found["feature 7", "geometry"]
    )
    assert ("feature 0", "geometry") not in found  # the good feature is not blamed
    assert "nothing was imported" in result.summary()
    with services.uow() as uow:
        assert count(uow.session, "grids") == grids
        assert count(uow.session, "audit_log") == audits


def test_unreadable_grid_files(services: Services, clock: FixedClock) -> None:
    assert _grids(services, clock, b"{not json").rejected[0].field == "json"
    assert _grids(services, clock, '{"type": "Feature"}').rejected[0].field == "type"
    assert _grids(services, clock, _collection()).rejected[0].field == "features"
    empty_ring = _square("9950", "11", 113.0, 34.0)
    empty_ring["geometry"]["coordinates"] = [[[113.0, 34.0]] * 4]
    assert _grids(services, clock, _collection(empty_ring)).rejected[0].field == "geometry"


def test_staff_sample_after_grid_sample(services: Services, clock: FixedClock) -> None:
    assert _grids(services, clock, _sample("grids_sample.geojson")).ok
    seen: list[tuple[int, int]] = []
    with services.uow() as uow:
        result = import_staff(
            uow,
            _sample("staff_sample.csv"),
            ACTOR,
            clock(),
            on_progress=lambda done, total: seen.append((done, total)),
        )
    assert result.ok, result.rejected
    assert (result.rows, result.created, result.updated, result.unchanged) == (4, 4, 0, 0)
    assert result.extra["assignments_added"] == 4
    assert seen[-1] == (8, 8)
    with services.uow() as uow:
        member = uow.session.scalars(select(Staff).where(Staff.employee_no == "GM9001")).one()
        assert (member.phone, member.role, member.region and member.region.code) == (
            "+8613903719001",
            StaffRole.GRID_MEMBER,
            "11",
        )
        held = {
            (a.grid.code, a.staff.employee_no): a.role
            for a in uow.session.scalars(
                select(GridAssignment).join(Grid).where(Grid.code.in_(["1124", "1125"]))
            )
        }
        assert held == {
            ("1124", "GM9001"): AssignmentRole.PRIMARY,
            ("1125", "GM9001"): AssignmentRole.PRIMARY,
            ("1124", "GM9002"): AssignmentRole.BACKUP,
            ("1125", "GM9002"): AssignmentRole.BACKUP,
        }
        dispatcher = uow.session.scalars(select(Staff).where(Staff.employee_no == "DP9001")).one()
        assert dispatcher.department is not None
        assert dispatcher.department.code == "urban_management"
    again = _staff(services, clock, _sample("staff_sample.csv"))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert again.extra == {
        "assignments_added": 0,
        "assignments_removed": 0,
        "assignments_changed": 0,
    }


def test_a_members_grids_in_the_file_replace_those_on_record(
    services: Services, clock: FixedClock
) -> None:
    """GM0001 (primary of 1101) hands 1101 to its backup and becomes a backup of 1102."""
    with services.uow() as uow:
        backup = uow.session.scalars(
            select(Staff)
            .join(GridAssignment, GridAssignment.staff_id == Staff.id)
            .join(Grid)
            .where(Grid.code == "1101", GridAssignment.role == AssignmentRole.BACKUP)
        ).one()
        backup_no, backup_phone = backup.employee_no, backup.phone
        backup_grids = [
            f"{a.grid.code}:{a.role.value}"
            for a in uow.session.scalars(
                select(GridAssignment).where(GridAssignment.staff_id == backup.id)
            )
            if a.grid.code != "1101"
        ]
    rows = [
        "employee_no,name,phone,role,employment_type,region,department,language,grids",
        "GM0001,Wang Lei,+8613903710001,grid_member,full_time,11,,en-US,1102:backup",
        f"{backup_no},New Name,{backup_phone},grid_member,part_time,11,,zh-CN,"
        + ";".join([*backup_grids, "1101:primary"]),
    ]
    result = _staff(services, clock, "\n".join(rows) + "\n")
    assert result.ok, result.rejected
    assert result.updated == 2
    assert result.extra["assignments_removed"] == 1
    assert result.extra["assignments_added"] == 1  # GM0001 as backup of 1102
    assert result.extra["assignments_changed"] == 1  # the backup of 1101 becomes primary
    with services.uow() as uow:
        roles = {
            (a.grid.code, a.staff.employee_no): a.role
            for a in uow.session.scalars(
                select(GridAssignment).join(Grid).where(Grid.code.in_(["1101", "1102"]))
            )
        }
        assert roles[("1101", backup_no)] is AssignmentRole.PRIMARY
        assert ("1101", "GM0001") not in roles
        assert roles[("1102", "GM0001")] is AssignmentRole.BACKUP
        renamed = uow.session.scalars(select(Staff).where(Staff.employee_no == backup_no)).one()
        assert renamed.name == "New Name"


def test_two_members_can_swap_phones(services: Services, clock: FixedClock) -> None:
    rows = [
        "employee_no,name,phone,role,employment_type,region,department,language,grids",
        "CA01,Agent One,+8613603710002,call_agent,,,,en-US,",
        "CA02,Agent Two,+8613603710001,call_agent,,,,en-US,",
    ]
    result = _staff(services, clock, "\n".join(rows))
    assert result.ok, result.rejected
    with services.uow() as uow:
        phones = dict(
            uow.session.execute(
                select(Staff.employee_no, Staff.phone).where(
                    Staff.employee_no.in_(["CA01", "CA02"])
                )
            ).all()
        )
    assert phones == {"CA01": "+8613603710002", "CA02": "+8613603710001"}


def test_a_new_hire_takes_the_old_phone_of_a_member_who_moves_to_a_new_one(
    services: Services, clock: FixedClock
) -> None:
    rows = [
        "employee_no,name,phone,role,employment_type,region,department,language,grids",
        "CA01,Agent One,+8613603719999,call_agent,,,,en-US,",
        "CA99,New Hire,+8613603710001,call_agent,,,,en-US,",
    ]
    result = _staff(services, clock, "\n".join(rows))
    assert result.ok, result.rejected
    assert (result.created, result.updated) == (1, 1)
    with services.uow() as uow:
        phones = dict(
            uow.session.execute(
                select(Staff.employee_no, Staff.phone).where(
                    Staff.employee_no.in_(["CA01", "CA99"])
                )
            ).all()
        )
    assert phones == {"CA01": "+8613603719999", "CA99": "+8613603710001"}


def test_bad_staff_file_is_reported_whole_and_nothing_is_written(
    services: Services, clock: FixedClock
) -> None:
    with services.uow() as uow:
        staff, audits = count(uow.session, "staff"), count(uow.session, "audit_log")
    result = _staff(services, clock, _sample("staff_bad.csv"))
    found = {(r.where, r.field): r.reason for r in result.rejected}
    assert "not a phone number" in found["line 2", "phone"]
    assert "janitor" in found["line 3", "role"]
    assert found["line 4", "grids"] == "no grid with code '7777'"
    assert found["line 5", "employee_no"] == "also on line 4"
    assert "already has a primary member: GM0001" in found["line 6", "grids"]
    assert found["line 7", "region"] == "a grid member belongs to a community"
    assert found["line 8", "department"] == "required for a dispatcher"
    assert found["line 9", "phone"] == "+8613903710002 is the phone of GM0002"
    assert found["line 9", "grids"] == "grid 1201 is not in community 11"
    with services.uow() as uow:
        assert count(uow.session, "staff") == staff
        assert count(uow.session, "audit_log") == audits


def test_staff_file_shape_problems(services: Services, clock: FixedClock) -> None:
    header = _staff(services, clock, "employee_no,name\nX,Y\n")
    assert header.rejected[0].field == "header"
    assert "missing phone" in header.rejected[0].reason
    short = _staff(
        services,
        clock,
        "employee_no,name,phone,role,employment_type,region,department,language,grids\n"
        "X1,Y,13903719999\n",
    )
    assert str(short.rejected[0]) == "line 2: row: 3 values for 9 columns"
    assert _staff(services, clock, b"\xff\xfe bad").rejected[0].field == "encoding"
