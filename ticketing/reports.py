"""Reading cases and their histories into the assessment's outcomes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ticketing.assessment import Level, Outcome, Row, assess
from ticketing.lifecycle import OPEN_STATUSES
from ticketing.models import Region, Ticket, TicketEvent

_UP = {Level.COMMUNITY: 0, Level.STREET: 1, Level.DISTRICT: 2}


def _unit(ticket: Ticket, level: Level) -> str:
    if level is Level.MEMBER:
        who = ticket.assignee
        return f"{who.name} ({who.employee_no})" if who else "(unassigned)"
    if level is Level.GRID:
        return f"{ticket.grid.code} {ticket.grid.name}" if ticket.grid else "(no grid)"
    if level is Level.DEPARTMENT:
        return ticket.department.name_en if ticket.department else "(grid cases)"
    region: Region | None = ticket.community
    for _ in range(_UP[level]):
        region = region.parent if region else None
    return f"{region.name_en} ({region.code})" if region else "(no place)"


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 3600


def outcome(ticket: Ticket, level: Level, now: datetime) -> Outcome:
    """One case's outcome, read from its events (first acceptance, last resolution)."""
    first: dict[str, TicketEvent] = {}
    last: dict[str, TicketEvent] = {}
    for event in ticket.events:
        first.setdefault(event.kind, event)
        last[event.kind] = event
    assigned, accepted = first.get("assigned"), first.get("accepted")
    resolved, closed = last.get("resolved"), last.get("closed")
    rating = closed.data.get("rating") if closed else None
    return Outcome(
        unit=_unit(ticket, level),
        assigned=assigned is not None,
        accepted_on_time=bool(accepted and accepted.data.get("on_time")),
        resolved=resolved is not None,
        resolved_on_time=bool(resolved and resolved.data.get("on_time")),
        overdue_open=ticket.status in OPEN_STATUSES
        and ticket.resolve_by is not None
        and ticket.resolve_by < now,
        rating=rating if isinstance(rating, int) else None,
        reopened="reopened" in first,
        hours_to_accept=_hours(
            assigned.at if assigned else None, accepted.at if accepted else None
        ),
        hours_to_resolve=_hours(ticket.created_at, resolved.at if resolved else None),
    )


def assessment(
    session: Session, level: Level, start: datetime, end: datetime, now: datetime
) -> list[Row]:
    """The assessment table for cases registered in [start, end)."""
    tickets = session.scalars(
        select(Ticket)
        .where(Ticket.created_at >= start, Ticket.created_at < end)
        .options(selectinload(Ticket.events))
    )
    return assess(outcome(ticket, level, now) for ticket in tickets)
