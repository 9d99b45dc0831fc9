"""The system of record, in typed SQLAlchemy 2.

The ticket row holds the current state; `TicketEvent` rows are the append-only history it
was derived from. Times are stored as timezone-aware UTC on every backend.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ticketing.catalogue import CategoryLevel, Priority
from ticketing.lifecycle import TicketStatus
from ticketing.routing import AssignmentRole

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always aware UTC, even on SQLite which forgets the zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass an aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _enum(kind: type[enum.Enum], length: int = 20) -> Enum:
    """Store enums by value as plain strings, so adding a member needs no type migration."""
    return Enum(
        kind,
        values_callable=lambda members: [m.value for m in members],
        native_enum=False,
        create_constraint=False,
        length=length,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
        list[list[str]]: JSON,
    }


class RegionLevel(enum.StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"


class StaffRole(enum.StrEnum):
    GRID_MEMBER = "grid_member"
    SUPERVISOR = "supervisor"
    CALL_AGENT = "call_agent"
    DISPATCHER = "dispatcher"


class EmploymentType(enum.StrEnum):
    FULL_TIME = "full_time"
    PROFESSIONAL = "professional"
    PART_TIME = "part_time"


class SmsDirection(enum.StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class SmsStatus(enum.StrEnum):
    """Delivery states; `rank` orders them so callbacks only ever move a message forward."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    LOGGED = "logged"  # no SMS provider configured: written to the log instead
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    READ = "read"
    RECEIVED = "received"

    @property
    def rank(self) -> int:
        return _SMS_RANK[self]


_SMS_RANK = {
    SmsStatus.QUEUED: 0,
    SmsStatus.SENDING: 1,
    SmsStatus.SENT: 2,
    SmsStatus.LOGGED: 3,
    SmsStatus.DELIVERED: 3,
    SmsStatus.UNDELIVERED: 3,
    SmsStatus.FAILED: 3,
    SmsStatus.READ: 4,
    SmsStatus.RECEIVED: 4,
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Region(Base):
    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    level: Mapped[RegionLevel] = mapped_column(_enum(RegionLevel))
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))

    parent: Mapped[Region | None] = relationship(remote_side=[id])


class Grid(Base):
    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    community_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    # A GeoJSON Polygon geometry; the spatial index over it comes with smart routing.
    polygon: Mapped[dict[str, Any]] = mapped_column(JSON)
    centre_lat: Mapped[float] = mapped_column(Float)
    centre_lon: Mapped[float] = mapped_column(Float)

    community: Mapped[Region] = relationship()
    assignments: Mapped[list[GridAssignment]] = relationship(back_populates="grid")


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole))
    employment_type: Mapped[EmploymentType | None] = mapped_column(_enum(EmploymentType))
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
    role: Mapped[AssignmentRole] = mapped_column(_enum(AssignmentRole))

    grid: Mapped[Grid] = relationship(back_populates="assignments")
    staff: Mapped[Staff] = relationship()


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))
    level: Mapped[CategoryLevel] = mapped_column(_enum(CategoryLevel))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    default_priority: Mapped[Priority] = mapped_column(_enum(Priority))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    department: Mapped[Department | None] = relationship()


class Place(Base):
    """A gazetteer entry: a named road address, landmark, school or market."""

    __tablename__ = "places"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_en: Mapped[str] = mapped_column(String(200), index=True)
    name_zh: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))


class CaseSequence(Base):
    """The last case number handed out on a local day; rows are locked while incremented."""

    __tablename__ = "case_sequences"

    day: Mapped[str] = mapped_column(String(6), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


# The open statuses as SQL, for the partial index of the cases waiting for an agent.
_OPEN_SQL = "status IN ('accepted', 'assigned', 'new', 'returned')"


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_created", "status", "created_at"),
        Index("ix_tickets_status_resolved", "status", "resolved_at"),  # the auto-close
        Index("ix_tickets_caller_status", "caller_phone", "status"),  # a resident's SMS
        Index("ix_tickets_category_status_created", "category_id", "status", "created_at"),
        # The console's queue, oldest first (migration 0007): every case, and the waiting.
        Index("ix_tickets_created", "created_at", "id"),
        Index(
            "ix_tickets_waiting",
            "created_at",
            "id",
            postgresql_where=text(f"needs_triage AND {_OPEN_SQL}"),
            sqlite_where=text(f"needs_triage = 1 AND {_OPEN_SQL}"),
        ),
        # The dashboard's most overdue cases (migration 0008): open cases by each deadline.
        Index("ix_tickets_open_accept_by", "accept_by", "id", postgresql_where=text(_OPEN_SQL)),
        Index("ix_tickets_open_resolve_by", "resolve_by", "id", postgresql_where=text(_OPEN_SQL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    priority: Mapped[Priority] = mapped_column(_enum(Priority))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    needs_triage: Mapped[bool] = mapped_column(Boolean, default=False)
    triage_reason: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(10))
    caller_phone: Mapped[str | None] = mapped_column(String(20))
    recording_sid: Mapped[str | None] = mapped_column(String(64))
    recording_url: Mapped[str | None] = mapped_column(String(500))
    recording_status: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # The SLA: the exact policy version, when the running clocks started, their deadlines,
    # and when the sweep must look again. Recomputed on every relevant change.
    sla_policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policies.id"))
    assigned_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    accept_by: Mapped[datetime | None]
    resolve_by: Mapped[datetime | None]
    next_escalation_at: Mapped[datetime | None] = mapped_column(index=True)
    # Where exactly, when known (a gazetteer place, a map click); the grid otherwise.
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"))
    # A likely duplicate is only flagged; an agent decides and merges.
    possible_duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    deadline_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    assignment_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What the performance assessment reads of the history, kept as the events are
    # recorded (`case_records.record_event`), so a month's table is a scan of cases alone.
    first_assigned_at: Mapped[datetime | None]
    first_accepted_at: Mapped[datetime | None]
    first_accepted_on_time: Mapped[bool | None] = mapped_column(Boolean)
    last_resolved_at: Mapped[datetime | None]
    last_resolved_on_time: Mapped[bool | None] = mapped_column(Boolean)
    last_rating: Mapped[int | None] = mapped_column(Integer)  # of the last closing, if rated
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    category: Mapped[Category] = relationship()
    grid: Mapped[Grid | None] = relationship()
    community: Mapped[Region | None] = relationship()
    assignee: Mapped[Staff | None] = relationship()
    department: Mapped[Department | None] = relationship()
    sla_policy: Mapped[SlaPolicyRow | None] = relationship()
    merged_into: Mapped[Ticket | None] = relationship(
        remote_side=[id], foreign_keys=[merged_into_id]
    )
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id"
    )


class TicketEvent(Base):
    """One change to a case: who, when, what, why. Never updated, never deleted."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(120))  # "staff:12", "caller:+86...", "system"
    from_status: Mapped[TicketStatus | None] = mapped_column(_enum(TicketStatus))
    to_status: Mapped[TicketStatus | None] = mapped_column(_enum(TicketStatus))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class Call(Base):
    """A phone call and where it stands in its flow, keyed by Twilio's CallSid."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_number: Mapped[str] = mapped_column(String(40))
    to_number: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    flow: Mapped[str] = mapped_column(String(60))
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class WebhookReply(Base):
    """The answer given to one step of a call, replayed verbatim when Twilio retries it."""

    __tablename__ = "webhook_replies"
    __table_args__ = (UniqueConstraint("call_sid", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SmsMessage(Base):
    """Outbox and inbox in one table: every SMS we send or receive, with its delivery state."""

    __tablename__ = "sms_messages"
    __table_args__ = (Index("ix_sms_messages_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[SmsDirection] = mapped_column(_enum(SmsDirection))
    to_number: Mapped[str] = mapped_column(String(40), index=True)
    from_number: Mapped[str] = mapped_column(String(40), index=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[SmsStatus] = mapped_column(_enum(SmsStatus))
    purpose: Mapped[str] = mapped_column(String(40))
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    error: Mapped[str | None] = mapped_column(String(300))
    reply: Mapped[str | None] = mapped_column(Text)  # what we answered an inbound SMS
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket | None] = relationship()


class CalendarRow(Base):
    """A working calendar as the administrator edits it (see ticketing.business_time)."""

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


class RosterShift(Base):
    """A weekly shift of a member, in local wall-clock time (see ticketing.rosters)."""

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
