"""Use cases of the case loop. Each takes a UnitOfWork, does one thing, and commits once.

Callers (webhooks, SMS replies, the CLI, jobs) pass the current time in, so every rule
here can be replayed and tested at any instant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ticketing import messages, repository
from ticketing.case_records import case_facts, queue_sms, record_event
from ticketing.casenumbers import day_prefix, format_case_number, normalise_case_number
from ticketing.exceptions import InvalidInput, InvalidTransition, NotFound
from ticketing.lifecycle import OPEN_STATUSES, TicketStatus
from ticketing.models import (
    Region,
    Staff,
    Ticket,
)
from ticketing.phones import is_mobile, try_e164
from ticketing.routing import RoutingInput, route
from ticketing.sla import pauses
from ticketing.sla_service import pause_history, refresh_deadlines
from ticketing.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

SYSTEM = "system"


@dataclass(frozen=True)
class Location:
    """Where a caller says the problem is: a grid, or only a community."""

    grid_code: str | None
    community_code: str | None
    label: str


@dataclass(frozen=True)
class NewCase:
    category_code: str
    location_code: str | None  # grid or community code; None when the caller did not know
    description: str
    caller_phone: str | None
    language: str
    source: str
    recording_sid: str | None = None
    recording_url: str | None = None


@dataclass(frozen=True)
class CaseSummary:
    number: str
    status: TicketStatus
    category: str
    grid: str | None
    community: str | None
    assignee: str | None
    assignee_phone: str | None
    department: str | None
    needs_triage: bool
    routing_rule: str


def find_location(uow: UnitOfWork, code: str) -> Location | None:
    """Resolve a keyed-in grid or community code; None if it names neither."""
    grid = repository.grid_by_code(uow.session, code)
    if grid is not None:
        return Location(grid.code, grid.community.code, grid.name)
    community = repository.community_by_code(uow.session, code)
    if community is not None:
        return Location(None, community.code, community.name_en)
    return None


def open_case(uow: UnitOfWork, new: NewCase, now: datetime, tz: ZoneInfo) -> CaseSummary:
    """Register a case, route it, queue the SMS to its assignee and its caller, commit."""
    summary, _ticket = register_case(uow, new, now, tz)
    uow.commit()
    return summary


def register_case(
    uow: UnitOfWork, new: NewCase, now: datetime, tz: ZoneInfo
) -> tuple[CaseSummary, Ticket]:
    """Like open_case but without committing, for callers that must commit the case
    together with their own records (the call step that created it)."""
    session = uow.session
    category = repository.category_by_code(session, new.category_code)
    if category is None:
        raise InvalidInput(f"unknown category {new.category_code!r}")
    location = find_location(uow, new.location_code) if new.location_code else None
    grid = (
        repository.grid_by_code(session, location.grid_code)
        if location and location.grid_code
        else None
    )
    community: Region | None = (
        grid.community
        if grid
        else (
            repository.community_by_code(session, location.community_code)
            if location and location.community_code
            else None
        )
    )
    day = day_prefix(now.astimezone(tz).date())
    number = format_case_number(
        now.astimezone(tz).date(), repository.next_case_sequence(session, day)
    )
    ticket = Ticket(
        number=number,
        status=TicketStatus.NEW,
        category=category,
        priority=category.default_priority,
        grid=grid,
        community=community,
        description=new.description,
        source=new.source,
        language=new.language,
        caller_phone=try_e164(new.caller_phone),
        recording_sid=new.recording_sid,
        recording_url=new.recording_url,
        created_at=now,
        updated_at=now,
        deadline_version=1,
        assignment_version=0,
    )
    session.add(ticket)
    record_event(
        ticket,
        "created",
        f"caller:{ticket.caller_phone or 'unknown'}",
        now,
        note=new.description,
        data={"source": new.source, "location": new.location_code},
    )
    decision = route(
        RoutingInput(
            category.level,
            category.department_id,
            grid.id if grid else None,
            repository.grid_members(session, grid.id) if grid else (),
        )
    )
    session.flush()
    if decision.needs_triage:
        ticket.needs_triage = True
        ticket.triage_reason = decision.rule
        record_event(ticket, "triage", SYSTEM, now, note=decision.rule)
    else:
        _assign(uow, ticket, decision.staff_id, decision.department_id, decision.rule, now)
    if ticket.caller_phone and is_mobile(ticket.caller_phone):
        queue_sms(
            uow,
            ticket,
            ticket.caller_phone,
            messages.caller_receipt(case_facts(ticket), ticket.language),
            "caller_receipt",
            now,
        )
    refresh_deadlines(session, ticket, reselect=True)
    return summarise(ticket, decision.rule), ticket


def _assign(
    uow: UnitOfWork,
    ticket: Ticket,
    staff_id: int | None,
    department_id: int | None,
    rule: str,
    now: datetime,
) -> None:
    session = uow.session
    staff = session.get(Staff, staff_id) if staff_id else None
    ticket.assignee = staff
    ticket.department_id = department_id if staff is None else None
    ticket.needs_triage = False
    ticket.assigned_at = now
    ticket.assignment_version += 1  # a new accept clock, with its own escalation rungs
    record_event(
        ticket,
        "assigned",
        SYSTEM,
        now,
        to_status=TicketStatus.ASSIGNED,
        note=rule,
        data={"staff_id": staff_id, "department_id": department_id, "rule": rule},
    )
    session.flush()
    recipients = (
        [staff] if staff else repository.department_dispatchers(session, department_id or 0)
    )
    for person in recipients:
        queue_sms(
            uow,
            ticket,
            person.phone,
            messages.assignment(case_facts(ticket), person.language),
            "assignment",
            now,
            staff=person,
        )


def summarise(ticket: Ticket, rule: str = "") -> CaseSummary:
    """A plain snapshot of a case, safe to use after its session is closed."""
    return CaseSummary(
        number=ticket.number,
        status=ticket.status,
        category=ticket.category.code,
        grid=ticket.grid.code if ticket.grid else None,
        community=ticket.community.code if ticket.community else None,
        assignee=ticket.assignee.name if ticket.assignee else None,
        assignee_phone=ticket.assignee.phone if ticket.assignee else None,
        department=ticket.department.code if ticket.department else None,
        needs_triage=ticket.needs_triage,
        routing_rule=rule,
    )


def get_case(uow: UnitOfWork, number: str) -> CaseSummary:
    """Look a case up by its number; raise NotFound."""
    ticket = repository.ticket_by_number(uow.session, normalise_case_number(number))
    if ticket is None:
        raise NotFound(f"no case {number}")
    rules = [e.data.get("rule", "") for e in ticket.events if e.kind == "assigned"]
    return summarise(ticket, str(rules[-1]) if rules else ticket.triage_reason or "")


def attach_recording(
    ticket: Ticket, recording_sid: str, url: str, status: str, now: datetime
) -> bool:
    """Keep the reference to a caller's recorded description; False if already known.

    Does not commit: the caller (the recording webhook) commits with its call record.
    """
    if ticket.recording_sid == recording_sid and ticket.recording_status == status:
        return False  # a retried callback
    ticket.recording_sid, ticket.recording_url = recording_sid, url
    ticket.recording_status = status
    record_event(ticket, "recording", SYSTEM, now, data={"sid": recording_sid, "status": status})
    return True


# The moves a person makes on a case. Each checks the transition table, appends its
# event, keeps the SLA columns true, and leaves committing to its caller.


def accept(uow: UnitOfWork, ticket: Ticket, staff: Staff, note: str, now: datetime) -> str:
    """The assignee (or a dispatcher of the case's department) takes the case."""
    if ticket.assignee is None:  # a department dispatcher takes the case personally
        ticket.assignee = staff
    record_event(
        ticket, "accepted", f"staff:{staff.id}", now, to_status=TicketStatus.ACCEPTED, note=note
    )
    ticket.accepted_at = now
    refresh_deadlines(uow.session, ticket)
    return "accepted"


def resolve(uow: UnitOfWork, ticket: Ticket, staff: Staff, note: str, now: datetime) -> str:
    """The work is done: the caller is told by SMS, with the member's note."""
    record_event(
        ticket, "resolved", f"staff:{staff.id}", now, to_status=TicketStatus.RESOLVED, note=note
    )
    ticket.resolved_at = now
    if ticket.caller_phone and is_mobile(ticket.caller_phone):
        text = note or ("已处理" if ticket.language.startswith("zh") else "done")
        queue_sms(
            uow,
            ticket,
            ticket.caller_phone,
            messages.caller_done(case_facts(ticket), text, ticket.language),
            "caller_done",
            now,
        )
    refresh_deadlines(uow.session, ticket)
    return "resolved"


def send_back(uow: UnitOfWork, ticket: Ticket, staff: Staff, reason: str, now: datetime) -> str:
    """The assignee returns the case to triage with a reason; the accept clock stops."""
    record_event(
        ticket, "returned", f"staff:{staff.id}", now, to_status=TicketStatus.RETURNED, note=reason
    )
    ticket.needs_triage = True
    ticket.triage_reason = f"returned: {reason}"
    ticket.assignee = None
    refresh_deadlines(uow.session, ticket)
    return "returned"


def pause(uow: UnitOfWork, ticket: Ticket, actor: str, reason: str, now: datetime) -> None:
    """Stop the SLA clocks while the case waits on the resident (a visit, a document)."""
    if any(p.end is None for p in pauses(pause_history(ticket))):
        raise InvalidTransition(f"case {ticket.number} is already waiting on the resident")
    if ticket.status not in OPEN_STATUSES:
        raise InvalidTransition(f"case {ticket.number} is {ticket.status}: nothing to pause")
    record_event(ticket, "paused", actor, now, note=reason)
    refresh_deadlines(uow.session, ticket)


def resume(uow: UnitOfWork, ticket: Ticket, actor: str, note: str, now: datetime) -> None:
    """Restart the SLA clocks; the paused time is added to every deadline."""
    if not any(p.end is None for p in pauses(pause_history(ticket))):
        raise InvalidTransition(f"case {ticket.number} is not waiting on the resident")
    record_event(ticket, "resumed", actor, now, note=note)
    refresh_deadlines(uow.session, ticket)
