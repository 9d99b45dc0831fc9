"""Cases: the ticket row (its current state), its append-only history, its files."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.db import Base, enum_column, utcnow
from ticketing.vocabulary.catalogue import Priority
from ticketing.vocabulary.lifecycle import TicketStatus

if TYPE_CHECKING:
    from ticketing.models.catalogue import Category, Department
    from ticketing.models.people import Staff
    from ticketing.models.places import Grid, Region
    from ticketing.models.sla import SlaPolicyRow


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
    status: Mapped[TicketStatus] = mapped_column(enum_column(TicketStatus))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    priority: Mapped[Priority] = mapped_column(enum_column(Priority))
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
    from_status: Mapped[TicketStatus | None] = mapped_column(enum_column(TicketStatus))
    to_status: Mapped[TicketStatus | None] = mapped_column(enum_column(TicketStatus))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class Attachment(Base):
    """A file added to a case (a grid member's photo); the bytes live under var/."""

    __tablename__ = "case_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_events.id"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_path: Mapped[str] = mapped_column(Text)
    uploaded_by: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship()
