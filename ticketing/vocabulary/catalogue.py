"""The starting catalogue of departments and case categories.

It is data, loaded into the database by `hotline demo load` and editable there afterwards;
the code reads categories from the database, never from this module, so a city can change
its catalogue without a release.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CategoryLevel(enum.StrEnum):
    GRID = "grid"  # solved inside the grid by its members
    DEPARTMENT = "department"  # goes to a city department's dispatch queue


class Priority(enum.StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


@dataclass(frozen=True)
class DepartmentSpec:
    code: str
    name_en: str
    name_zh: str


@dataclass(frozen=True)
class CategorySpec:
    code: str
    name_en: str
    name_zh: str
    level: CategoryLevel
    department: str | None
    priority: Priority = Priority.NORMAL


DEPARTMENTS: tuple[DepartmentSpec, ...] = (
    DepartmentSpec("public_security", "Public Security Bureau", "公安局"),
    DepartmentSpec("fire", "Fire and Rescue Department", "消防救援支队"),
    DepartmentSpec("transport", "Transport Bureau", "交通运输局"),
    DepartmentSpec("urban_management", "Urban Management Bureau", "城市管理局"),
    DepartmentSpec("law_enforcement", "Comprehensive Law Enforcement Bureau", "综合行政执法局"),
    DepartmentSpec("environment", "Environmental Protection Bureau", "生态环境局"),
    DepartmentSpec("civil_affairs", "Civil Affairs Bureau", "民政局"),
    DepartmentSpec("water_utility", "Water Supply Company", "自来水公司"),
)

_G, _D = CategoryLevel.GRID, CategoryLevel.DEPARTMENT

CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("street_light", "broken street light", "路灯故障", _G, "urban_management"),
    CategorySpec("garbage", "garbage not collected", "垃圾清运", _G, "urban_management"),
    CategorySpec("water_leak", "water leak", "供水漏水", _D, "water_utility", Priority.HIGH),
    CategorySpec("drainage", "blocked drain or flooding", "排水不畅", _G, "urban_management"),
    CategorySpec("road_damage", "damaged road or pavement", "道路破损", _D, "transport"),
    CategorySpec("illegal_parking", "illegal parking", "违章停车", _G, "public_security"),
    CategorySpec("noise", "noise", "噪音扰民", _G, "environment"),
    CategorySpec("illegal_construction", "illegal construction", "违章建筑", _D, "law_enforcement"),
    CategorySpec("street_vending", "street vending", "占道经营", _G, "law_enforcement"),
    CategorySpec("tree_greening", "trees and greenery", "绿化养护", _G, "urban_management"),
    CategorySpec("public_facility", "damaged public facility", "公共设施损坏", _G, None),
    CategorySpec("stray_animal", "stray animal", "流浪动物", _G, None),
    CategorySpec("heating", "no heating", "供暖问题", _G, None, Priority.HIGH),
    CategorySpec("gas_smell", "smell of gas", "燃气泄漏", _D, "fire", Priority.URGENT),
    CategorySpec("fire_hazard", "fire hazard", "消防隐患", _D, "fire", Priority.URGENT),
    CategorySpec("elderly_care", "elderly care", "养老服务", _D, "civil_affairs"),
    CategorySpec("neighbour_dispute", "neighbour dispute", "邻里纠纷", _G, None),
    CategorySpec("other", "other problem", "其他问题", _G, None, Priority.LOW),
)
