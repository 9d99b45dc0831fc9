"""The people who solve cases: staff, the grids they hold, their shifts and leave."""

from __future__ import annotations

import enum
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.db import Base, enum_column
from ticketing.vocabulary.roles import AssignmentRole

if TYPE_CHECKING:
    from ticketing.models.catalogue import Department
    from ticketing.models.places import Grid, Region


class StaffRole(enum.StrEnum):
    GRID_MEMBER = "grid_member"
    SUPERVISOR = "supervisor"
    CALL_AGENT = "call_agent"
    DISPATCHER = "dispatcher"


class EmploymentType(enum.StrEnum):
    FULL_TIME = "full_time"
    PROFESSIONAL = "professional"
    PART_TIME = "part_time"


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    role: Mapped[StaffRole] = mapped_column(enum_column(StaffRole))
    employment_type: Mapped[EmploymentType | None] = mapped_column(enum_column(EmploymentType))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    language: Mapped[str] = mapped_column(String(10), default="zh-CN")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    region: Mapped[Region | None] = relationship()
    department: Mapped[Department | None] = relationship()


class GridAssignment(Base):
    __tablename__ = "grid_assignments"
    __table_args__ = (UniqueConstraint("grid_id", "staff_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    role: Mapped[AssignmentRole] = mapped_column(enum_column(AssignmentRole))

    grid: Mapped[Grid] = relationship(back_populates="assignments")
    staff: Mapped[Staff] = relationship()


class RosterShift(Base):
    """A weekly shift of a member, in local wall-clock time (see ticketing.people.rosters)."""

    __tablename__ = "roster_shifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    start: Mapped[str] = mapped_column(String(5))  # "08:30"
    end: Mapped[str] = mapped_column(String(5))


class LeavePeriod(Base):
    """Days a member is away; routing passes over them."""

    __tablename__ = "leave_periods"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    first_day: Mapped[date]
    last_day: Mapped[date]
    reason: Mapped[str] = mapped_column(String(200), default="")
