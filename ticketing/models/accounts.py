"""Who may use the console, and the audit trail of what they changed."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.db import Base, enum_column, utcnow

if TYPE_CHECKING:
    from ticketing.models.catalogue import Department
    from ticketing.models.people import Staff
    from ticketing.models.places import Region


class UserRole(enum.StrEnum):
    """The console roles; a supervisor's area is its region (community, street or district)."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    DISPATCHER = "dispatcher"
    GRID_MEMBER = "grid_member"
    ADMIN = "admin"


class User(Base):
    """A console account. Area: `region` for supervisors, `department` for dispatchers,
    `staff` (and through it the grids) for grid members; agents and admins see all."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[UserRole] = mapped_column(enum_column(UserRole))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Each console session remembers the generation it began in; logging out, a password
    # change or reset and disabling raise it, so every older session cookie stops working
    # (the cookie is signed, not stored, so only the server can end it).
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    region: Mapped[Region | None] = relationship()
    department: Mapped[Department | None] = relationship()
    staff: Mapped[Staff | None] = relationship()


class AuditEntry(Base):
    """One administrative change (an import, a roster, a category, a user): who, what, when.
    Case changes are not here: they are the case's own events."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(120))  # "user:3", "cli:root", "system"
    action: Mapped[str] = mapped_column(String(60))  # "grids.import", "user.add", ...
    target: Mapped[str] = mapped_column(String(200), default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The network address the change came from (the console's client, after trusted
    # proxies); "" for the command line, the sweep and rows older than the column.
    source_ip: Mapped[str] = mapped_column(String(45), default="", server_default="")
