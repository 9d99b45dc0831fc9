"""A made-up district to try the hotline on: streets, communities, grids, staff, a gazetteer.

It is plain data built by plain functions, so the same city comes out on every run and the
tests can check its geometry without a database; `ticketing.demo.seeding` writes it into one.
Codes follow the keypad: a caller keys a 2-digit community code or a 4-digit grid code, so
street codes start with a letter and can never be mistaken for either.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any, Literal

from ticketing.vocabulary.catalogue import DEPARTMENTS
from ticketing.vocabulary.roles import AssignmentRole

Level = Literal["city", "district", "street", "community"]
Role = Literal["grid_member", "supervisor", "call_agent", "dispatcher"]
Employment = Literal["full_time", "professional", "part_time"]

CITY_CODE = "4101"
DISTRICT_CODE = "410105"
GRIDS_PER_COMMUNITY = 23
CELL_DEG = 0.003
_BLOCK = 5  # a community is a 5 x 5 block of cells; 23 of the 25 are its grids
_SPAN = 3 * _BLOCK  # 3 communities across, 3 streets down
_WEST = 113.68 - _SPAN * CELL_DEG / 2  # so the lattice is centred on (34.77, 113.68)
_NORTH = 34.77 + _SPAN * CELL_DEG / 2
_BACKUP_SPLIT = 12  # the first backup covers grids 01-12 of a community, the second 13-23
CALL_AGENTS = 8
DISPATCHERS_PER_DEPARTMENT = 2

# fmt: off
# Data tables read better a row per line than one item per line, as the formatter wants.
_STREETS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("Huayuan Road Street", "花园路街道",
     (("Weilai", "未来"), ("Nongke", "农科"), ("Jinshui Garden", "金水花园"))),
    ("Jingba Road Street", "经八路街道",
     (("Jingsan", "经三"), ("Weiwu", "纬五"), ("Fengchan", "丰产"))),
    ("Dongfeng Road Street", "东风路街道",
     (("Dongfeng", "东风"), ("Guotai", "国泰"), ("Wenhua", "文化"))),
)
_SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu",
             "Xu", "Sun", "Hu", "Zhu", "Gao", "Lin", "He", "Guo", "Ma", "Luo")
_GIVEN_NAMES = ("Wei", "Fang", "Na", "Min", "Jing", "Li", "Qiang", "Lei", "Jun", "Yang", "Yong",
                "Yan", "Jie", "Juan", "Tao", "Ming", "Chao", "Xiulan", "Xia", "Ping", "Gang",
                "Hui", "Hong", "Jian")
_ROADS = (
    ("Jingsan Road", "经三路"), ("Weiwu Road", "纬五路"), ("Huayuan Road", "花园路"),
    ("Nongye Road", "农业路"), ("Dongfeng Road", "东风路"), ("Jinshui Road", "金水路"),
    ("Wenhua Road", "文化路"), ("Fengchan Road", "丰产路"), ("Jingqi Road", "经七路"),
    ("Weiyi Road", "纬一路"),
)
_ADDRESSES = 80
_POINTS_OF_INTEREST: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("landmark", (("Jinshui Cultural Centre", "金水文化中心"),
                  ("Huayuan Road Bus Terminal", "花园路公交总站"),
                  ("Dongfeng Road Metro Station", "东风路地铁站"), ("Weilai Plaza", "未来广场"),
                  ("Nongye Road Flyover", "农业路立交桥"), ("Jinshui River Bridge", "金水河桥"))),
    ("school", (("Weilai Road Primary School", "未来路小学"),
                ("Jinshui No. 1 Middle School", "金水第一中学"),
                ("Wenhua Road Primary School", "文化路小学"), ("Nongke Kindergarten", "农科幼儿园"),
                ("Jingba Road Primary School", "经八路小学"),
                ("Dongfeng Road Middle School", "东风路中学"))),
    ("market", (("Huayuan Road Farmers' Market", "花园路农贸市场"),
                ("Jingsan Road Vegetable Market", "经三路菜市场"),
                ("Fengchan Road Night Market", "丰产路夜市"), ("Guotai Supermarket", "国泰超市"),
                ("Dongfeng Wholesale Market", "东风批发市场"),
                ("Weiwu Road Food Market", "纬五路菜市场"))),
    ("hospital", (("Jinshui District People's Hospital", "金水区人民医院"),
                  ("Huayuan Road Community Health Centre", "花园路社区卫生服务中心"),
                  ("Jingba Road Clinic", "经八路诊所"),
                  ("Dongfeng Road Hospital of Chinese Medicine", "东风路中医院"),
                  ("Wenhua Road Dental Clinic", "文化路口腔诊所"),
                  ("Guotai Maternity Clinic", "国泰妇幼诊所"))),
    ("park", (("Jinshui Riverside Park", "金水河滨公园"), ("Weilai Pocket Park", "未来口袋公园"),
              ("Nongke Garden", "农科花园"), ("Dongfeng Canal Park", "东风渠公园"),
              ("Fengchan Road Greenway", "丰产路绿道"), ("Wenhua Square Park", "文化广场公园"))),
)
# fmt: on


@dataclass(frozen=True)
class RegionSeed:
    code: str
    level: Level
    name_en: str
    name_zh: str
    parent_code: str | None


@dataclass(frozen=True)
class GridSeed:
    """One lattice cell; bounds rather than a ring keep the seed hashable."""

    code: str
    name: str
    community_code: str
    west: float
    south: float
    east: float
    north: float

    @property
    def polygon(self) -> dict[str, Any]:
        """The cell as a GeoJSON Polygon, exterior ring counter-clockwise and closed."""
        w, s, e, n = self.west, self.south, self.east, self.north
        return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}

    @property
    def centre_lat(self) -> float:
        return round((self.south + self.north) / 2, 6)

    @property
    def centre_lon(self) -> float:
        return round((self.west + self.east) / 2, 6)


@dataclass(frozen=True)
class StaffSeed:
    employee_no: str
    name: str
    phone: str  # E.164
    role: Role
    employment_type: Employment | None = None
    region_code: str | None = None
    department_code: str | None = None
    language: str = "zh-CN"


@dataclass(frozen=True)
class AssignmentSeed:
    grid_code: str
    employee_no: str
    role: AssignmentRole


@dataclass(frozen=True)
class PlaceSeed:
    name_en: str
    name_zh: str
    kind: str
    lat: float
    lon: float
    grid_code: str


@dataclass(frozen=True)
class DemoCity:
    regions: tuple[RegionSeed, ...]
    grids: tuple[GridSeed, ...]
    staff: tuple[StaffSeed, ...]
    assignments: tuple[AssignmentSeed, ...]
    places: tuple[PlaceSeed, ...]
    shifts: tuple[ShiftSeed, ...] = ()
    leaves: tuple[LeaveSeed, ...] = ()


@dataclass(frozen=True)
class ShiftSeed:
    employee_no: str
    weekday: int  # 0 = Monday
    start: str  # "08:00", local time
    end: str


@dataclass(frozen=True)
class LeaveSeed:
    employee_no: str
    first_day: date
    last_day: date
    reason: str


# Rosters that make routing show its rules: part-time backups work weekday daytime
# shifts, and grid 1102's primary member is on a long leave, so its cases go to the backup
# by day and to the least-loaded member of the community at night.
LEAVE_GRID = "1102"


@cache
def build_demo_city() -> DemoCity:
    """Build the demo district; the same value on every call and every run."""
    regions = _regions()
    grids = _grids()
    people = (_person_name(i) for i in itertools.count())
    grid_staff, assignments = _grid_staff(grids, people)
    staff = grid_staff + _supervisors(regions, people) + _office_staff(people)
    shifts, leaves = _rosters(staff, assignments)
    return DemoCity(regions, grids, staff, assignments, _places(grids), shifts, leaves)


def _rosters(
    staff: tuple[StaffSeed, ...], assignments: tuple[AssignmentSeed, ...]
) -> tuple[tuple[ShiftSeed, ...], tuple[LeaveSeed, ...]]:
    backups = sorted({a.employee_no for a in assignments if a.role is AssignmentRole.BACKUP})
    shifts = tuple(
        ShiftSeed(member, day, start, end)
        for member in backups
        for day in range(5)
        for start, end in (("08:00", "12:00"), ("14:00", "18:00"))
    )
    on_leave = next(
        a.employee_no
        for a in assignments
        if a.grid_code == LEAVE_GRID and a.role is AssignmentRole.PRIMARY
    )
    leave = LeaveSeed(on_leave, date(2026, 11, 1), date(2027, 6, 30), "maternity leave")
    return shifts, (leave,)


def _regions() -> tuple[RegionSeed, ...]:
    regions = [
        RegionSeed(CITY_CODE, "city", "Zhengzhou (demo)", "郑州市（演示）", None),
        RegionSeed(
            DISTRICT_CODE, "district", "Jinshui District (demo)", "金水区（演示）", CITY_CODE
        ),
    ]
    for s, (street_en, street_zh, communities) in enumerate(_STREETS, start=1):
        regions.append(RegionSeed(f"S{s}", "street", street_en, street_zh, DISTRICT_CODE))
        for c, (en, zh) in enumerate(communities, start=1):
            regions.append(
                RegionSeed(f"{s}{c}", "community", f"{en} Community", f"{zh}社区", f"S{s}")
            )
    return tuple(regions)


def _grids() -> tuple[GridSeed, ...]:
    """Street s is the s-th band of blocks from the north, community c the c-th from the west."""
    grids = []
    for s, (_, _, communities) in enumerate(_STREETS, start=1):
        for c, (community_en, _) in enumerate(communities, start=1):
            for n in range(1, GRIDS_PER_COMMUNITY + 1):
                col = (c - 1) * _BLOCK + (n - 1) % _BLOCK
                row = (s - 1) * _BLOCK + (n - 1) // _BLOCK
                grids.append(
                    GridSeed(
                        code=f"{s}{c}{n:02d}",
                        name=f"{community_en} Community grid {n:02d}",
                        community_code=f"{s}{c}",
                        west=_edge(_WEST, col),
                        south=_edge(_NORTH, -(row + 1)),
                        east=_edge(_WEST, col + 1),
                        north=_edge(_NORTH, -row),
                    )
                )
    return tuple(grids)


def _edge(origin: float, cells: int) -> float:
    """Rounded once from the origin, so neighbouring cells share their edge exactly."""
    return round(origin + cells * CELL_DEG, 6)


def _person_name(i: int) -> str:
    """A different surname-given name pair for each i below 480, spread by a coprime step."""
    pairs = len(_SURNAMES) * len(_GIVEN_NAMES)
    k = (i * 173 + 7) % pairs
    return f"{_SURNAMES[k // len(_GIVEN_NAMES)]} {_GIVEN_NAMES[k % len(_GIVEN_NAMES)]}"


def _phone(prefix: str, n: int) -> str:
    """A China mobile number; the prefix tells roles apart and 0371 is Zhengzhou's area code."""
    return f"+86{prefix}0371{n:04d}"


def _employment(n: int) -> Employment:
    """Mostly full-time, with professional and part-time members mixed in as in real grids."""
    if n % 10 in (3, 7):
        return "professional"
    return "part_time" if n % 10 == 9 else "full_time"


def _grid_staff(
    grids: tuple[GridSeed, ...], people: Iterator[str]
) -> tuple[tuple[StaffSeed, ...], tuple[AssignmentSeed, ...]]:
    staff: list[StaffSeed] = []
    assignments: list[AssignmentSeed] = []
    for n, grid in enumerate(grids, start=1):
        member = StaffSeed(
            f"GM{n:04d}",
            next(people),
            _phone("139", n),
            "grid_member",
            _employment(n),
            grid.community_code,
            language="en-US" if grid.code == "1101" else "zh-CN",
        )
        staff.append(member)
        assignments.append(AssignmentSeed(grid.code, member.employee_no, AssignmentRole.PRIMARY))
    communities = sorted({grid.community_code for grid in grids})
    for c, community in enumerate(communities):
        backups = [
            StaffSeed(
                f"GM{n:04d}", next(people), _phone("139", n), "grid_member", "part_time", community
            )
            for n in (len(grids) + 2 * c + 1, len(grids) + 2 * c + 2)
        ]
        staff.extend(backups)
        for grid in (g for g in grids if g.community_code == community):
            backup = backups[0] if int(grid.code[2:]) <= _BACKUP_SPLIT else backups[1]
            assignments.append(AssignmentSeed(grid.code, backup.employee_no, AssignmentRole.BACKUP))
    return tuple(staff), tuple(assignments)


def _supervisors(regions: tuple[RegionSeed, ...], people: Iterator[str]) -> tuple[StaffSeed, ...]:
    """One supervisor for each region: the city office (last, so the others keep their
    numbers), the district, each street and each community."""
    overseen = [r for r in regions if r.level != "city"] + [r for r in regions if r.level == "city"]
    return tuple(
        StaffSeed(f"SV{n:02d}", next(people), _phone("137", n), "supervisor", None, region.code)
        for n, region in enumerate(overseen, start=1)
    )


def _office_staff(people: Iterator[str]) -> tuple[StaffSeed, ...]:
    """Call agents answer in English, so demos show both languages; two dispatchers a department."""
    agents = [
        StaffSeed(f"CA{n:02d}", next(people), _phone("136", n), "call_agent", language="en-US")
        for n in range(1, CALL_AGENTS + 1)
    ]
    codes = [d.code for d in DEPARTMENTS for _ in range(DISPATCHERS_PER_DEPARTMENT)]
    dispatchers = [
        StaffSeed(f"DP{n:02d}", next(people), _phone("138", n), "dispatcher", department_code=code)
        for n, code in enumerate(codes, start=1)
    ]
    return tuple(agents + dispatchers)


def _places(grids: tuple[GridSeed, ...]) -> tuple[PlaceSeed, ...]:
    """Road addresses then named places, scattered over the lattice by coprime strides."""
    places = []
    for i in range(_ADDRESSES):
        road_en, road_zh = _ROADS[i % len(_ROADS)]
        number = 12 + 6 * (i // len(_ROADS))
        grid = grids[(i * 37) % len(grids)]  # grid 1101 gets "No. 12 Jingsan Road"
        places.append(_place(f"No. {number} {road_en}", f"{road_zh}{number}号", "address", grid, i))
    named = [(kind, en, zh) for kind, names in _POINTS_OF_INTEREST for en, zh in names]
    for k, (kind, name_en, name_zh) in enumerate(named):
        grid = grids[(k * 53 + 11) % len(grids)]
        places.append(_place(name_en, name_zh, kind, grid, _ADDRESSES + k))
    return tuple(places)


def _place(name_en: str, name_zh: str, kind: str, grid: GridSeed, salt: int) -> PlaceSeed:
    """Put the place 15-85 % of the way across its cell, never on an edge."""
    fx = 0.15 + 0.7 * ((salt * 37) % 101) / 100
    fy = 0.15 + 0.7 * ((salt * 61) % 101) / 100
    lat = round(grid.south + fy * (grid.north - grid.south), 6)
    lon = round(grid.west + fx * (grid.east - grid.west), 6)
    return PlaceSeed(name_en, name_zh, kind, lat, lon, grid.code)
