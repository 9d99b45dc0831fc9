"""What is promised: working calendars, SLA policies and their rules, fired rungs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ticketing.db import Base


class CalendarRow(Base):
    """A working calendar as the administrator edits it (see ticketing.sla.business_time)."""

    __tablename__ = "business_calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    zone: Mapped[str] = mapped_column(String(60))
    # [["08:30", "12:00"], ...]; empty for a 24x7 calendar
    windows: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    official: Mapped[str] = mapped_column(String(20))  # "cn" (State Council) or "weekdays"
    extra_holidays: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO dates
    extra_workdays: Mapped[list[str]] = mapped_column(JSON, default=list)


class SlaPolicyRow(Base):
    """One version of a policy; a change makes a new version, so cases keep their promise."""

    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    calendar_code: Mapped[str] = mapped_column(String(40))
    accept_minutes: Mapped[int] = mapped_column(Integer)
    resolve_minutes: Mapped[int] = mapped_column(Integer)
    update_minutes: Mapped[int | None] = mapped_column(Integer)
    current: Mapped[bool] = mapped_column(Boolean, default=True)


class SlaRuleRow(Base):
    """An entry of the ordered rule list that picks a policy; the last must match all."""

    __tablename__ = "sla_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, unique=True)
    policy_code: Mapped[str] = mapped_column(String(40))
    categories: Mapped[list[str] | None] = mapped_column(JSON)
    priorities: Mapped[list[str] | None] = mapped_column(JSON)


class Escalation(Base):
    """A rung of the ladder that fired; the unique key makes each fire exactly once."""

    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("ticket_id", "clock", "deadline_version", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    clock: Mapped[str] = mapped_column(String(20))
    # the ticket's deadline_version for the resolve clock, assignment_version for accept
    deadline_version: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime]
