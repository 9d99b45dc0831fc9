"""The demo district is consistent on its own, before any database sees it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from itertools import combinations, pairwise

import pytest

from ticketing.demo.city import DemoCity, GridSeed, build_demo_city
from ticketing.people.phones import is_mobile
from ticketing.vocabulary.catalogue import DEPARTMENTS
from ticketing.vocabulary.roles import AssignmentRole

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def city() -> DemoCity:
    return build_demo_city()


def _inside(lat: float, lon: float, polygon: dict[str, object]) -> bool:
    """Ray casting over the exterior ring, so the test does not trust the seed's bounds."""
    ring = polygon["coordinates"][0]  # type: ignore[index]
    inside = False
    for (x1, y1), (x2, y2) in pairwise(ring):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def test_counts(city: DemoCity) -> None:
    levels = Counter(region.level for region in city.regions)
    assert levels == {"city": 1, "district": 1, "street": 3, "community": 9}
    assert len(city.grids) == 207
    assert len(city.staff) >= 250
    assert len(city.assignments) == 2 * 207
    assert len(city.places) >= 100


def test_region_hierarchy_and_codes(city: DemoCity) -> None:
    by_code = {region.code: region for region in city.regions}
    parent_level = {"district": "city", "street": "district", "community": "street"}
    for region in city.regions:
        if region.level == "city":
            assert (region.code, region.parent_code) == ("4101", None)
        else:
            assert region.parent_code is not None
            assert by_code[region.parent_code].level == parent_level[region.level]
    assert by_code["410105"].level == "district"
    streets = {r.code for r in city.regions if r.level == "street"}
    communities = {r.code for r in city.regions if r.level == "community"}
    assert streets == {"S1", "S2", "S3"}
    assert communities == {f"{s}{c}" for s in "123" for c in "123"}
    assert all(by_code[c].parent_code == f"S{c[0]}" for c in communities)


def test_codes_and_names_are_unique(city: DemoCity) -> None:
    grid_codes = [grid.code for grid in city.grids]
    assert len(set(grid_codes)) == len(grid_codes)
    assert all(re.fullmatch(r"[1-3][1-3](0[1-9]|1\d|2[0-3])", code) for code in grid_codes)
    assert all(grid.code.startswith(grid.community_code) for grid in city.grids)
    assert not set(grid_codes) & {region.code for region in city.regions}
    for field in ("employee_no", "phone", "name"):
        values = [getattr(member, field) for member in city.staff]
        assert len(set(values)) == len(values), field
    names = [place.name_en for place in city.places]
    assert len(set(names)) == len(names)


def test_every_phone_is_a_china_mobile_in_e164(city: DemoCity) -> None:
    for member in city.staff:
        assert re.fullmatch(r"\+861\d{10}", member.phone), member
        assert is_mobile(member.phone), member


def test_staff_roles(city: DemoCity) -> None:
    roles = Counter(member.role for member in city.staff)
    assert roles["grid_member"] == 207 + 18
    assert roles["supervisor"] == 1 + 1 + 3 + 9  # city office, district, streets, communities
    assert roles["call_agent"] == 8
    assert roles["dispatcher"] == 2 * len(DEPARTMENTS)
    dispatchers = Counter(m.department_code for m in city.staff if m.role == "dispatcher")
    assert dispatchers == {d.code: 2 for d in DEPARTMENTS}
    kinds = Counter(m.employment_type for m in city.staff if m.role == "grid_member")
    assert kinds["full_time"] > kinds["professional"] > 0
    assert kinds["part_time"] > 0


def test_every_grid_has_one_primary_and_one_backup(city: DemoCity) -> None:
    staff = {member.employee_no: member for member in city.staff}
    roles = Counter((a.grid_code, a.role) for a in city.assignments)
    for grid in city.grids:
        assert roles[(grid.code, AssignmentRole.PRIMARY)] == 1
        assert roles[(grid.code, AssignmentRole.BACKUP)] == 1
    for a in city.assignments:
        member = staff[a.employee_no]
        assert member.role == "grid_member"
        assert member.region_code == a.grid_code[:2]
        if a.role is AssignmentRole.BACKUP:
            assert member.employment_type == "part_time"
    backups = Counter(a.employee_no for a in city.assignments if a.role is AssignmentRole.BACKUP)
    assert len(backups) == 18
    assert set(backups.values()) == {11, 12}


def test_languages(city: DemoCity) -> None:
    english = {m.employee_no for m in city.staff if m.language == "en-US"}
    primary_1101 = next(
        a.employee_no
        for a in city.assignments
        if a.grid_code == "1101" and a.role is AssignmentRole.PRIMARY
    )
    agents = {m.employee_no for m in city.staff if m.role == "call_agent"}
    assert english == agents | {primary_1101}
    assert all(m.language in ("en-US", "zh-CN") for m in city.staff)


def test_grids_are_closed_rectangles_of_a_lattice_near_zhengzhou(city: DemoCity) -> None:
    for grid in city.grids:
        ring = grid.polygon["coordinates"][0]
        assert grid.polygon["type"] == "Polygon"
        assert ring[0] == ring[-1]
        assert len(ring) == 5
        assert grid.east - grid.west == pytest.approx(0.003)
        assert grid.north - grid.south == pytest.approx(0.003)
        assert _inside(grid.centre_lat, grid.centre_lon, grid.polygon)
        assert abs(grid.centre_lat - 34.77) < 0.03
        assert abs(grid.centre_lon - 113.68) < 0.03


def test_grids_do_not_overlap(city: DemoCity) -> None:
    def overlap(a: GridSeed, b: GridSeed) -> bool:
        return a.west < b.east and b.west < a.east and a.south < b.north and b.south < a.north

    assert not [(a.code, b.code) for a, b in combinations(city.grids, 2) if overlap(a, b)]


def test_every_place_lies_inside_its_grid(city: DemoCity) -> None:
    grids = {grid.code: grid for grid in city.grids}
    for place in city.places:
        assert _inside(place.lat, place.lon, grids[place.grid_code].polygon), place
    kinds = {place.kind for place in city.places}
    assert kinds == {"address", "landmark", "school", "market", "hospital", "park"}
    first = next(p for p in city.places if p.name_en == "No. 12 Jingsan Road")
    assert (first.name_zh, first.grid_code) == ("经三路12号", "1101")


def test_build_is_deterministic_across_calls_and_processes(city: DemoCity) -> None:
    assert build_demo_city.__wrapped__() == city
    script = "from ticketing.demo.city import build_demo_city; print(repr(build_demo_city()))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {repr(city) + "\n"}
