"""Registering a case: numbering, placing, routing and telling the people concerned.

`open_case` is the use case: it registers the case for any channel and commits. A caller
that must commit the case together with its own records (the call step that opened it,
the console's typed-in case with its place and priority) uses `open_case_uncommitted` and
commits itself. Routing and dispatch are public because reassigning and re-routing a case
later reuse them; like every step here they never commit.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ticketing.cases import repository
from ticketing.cases.numbers import day_prefix, format_case_number, normalise_case_number
from ticketing.exceptions import InvalidInput, NotFound
from ticketing.history.recording import case_facts, queue_sms, record_event
from ticketing.models.calls import Call
from ticketing.models.cases import Ticket
from ticketing.models.people import Staff
from ticketing.models.places import Grid, Region
from ticketing.notices import wording
from ticketing.people.phones import is_mobile, try_e164
from ticketing.people.routing import RoutingDecision, RoutingInput, route
from ticketing.sla.services import refresh_deadlines
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.catalogue import Priority
from ticketing.vocabulary.events import Actor, EventKind
from ticketing.vocabulary.lifecycle import OPEN_STATUSES, TicketStatus

log = logging.getLogger(__name__)

SYSTEM = Actor.system()


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


def _place(session: Session, code: str | None) -> tuple[Grid | None, Region | None]:
    """The grid and community a keyed-in code names (a community code names no grid)."""
    if not code:
        return None, None
    grid = repository.grid_by_code(session, code)
    if grid is not None:
        return grid, grid.community
    return None, repository.community_by_code(session, code)


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
    summary, _ticket = open_case_uncommitted(uow, new, now, tz)
    uow.commit()
    return summary


def open_case_uncommitted(
    uow: UnitOfWork, new: NewCase, now: datetime, tz: ZoneInfo
) -> tuple[CaseSummary, Ticket]:
    """`open_case` inside a transaction its caller commits, with records of its own (the
    call step's answer, the typed-in case's place); returns the case too."""
    session = uow.session
    category = repository.category_by_code(session, new.category_code)
    if category is None:
        raise InvalidInput(f"unknown category {new.category_code!r}")
    grid, community = _place(session, new.location_code)
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
        EventKind.CREATED,
        Actor.caller(ticket.caller_phone),
        now,
        note=new.description,
        data={"source": new.source, "location": new.location_code},
    )
    session.flush()
    # Routing and the SLA read a lot and change the new row many times: one flush at the
    # end instead of one before every read.
    with session.no_autoflush:
        decision = route_case(session, ticket, now, tz)
        dispatch(uow, ticket, decision, SYSTEM, now)
        _flag_possible_duplicate(session, ticket, now)
        if ticket.caller_phone and is_mobile(ticket.caller_phone):
            queue_sms(
                uow,
                ticket,
                ticket.caller_phone,
                wording.caller_receipt(case_facts(ticket), ticket.language),
                "caller_receipt",
                now,
            )
        refresh_deadlines(session, ticket, reselect=True, fresh=True)
    return summarise(ticket, decision.rule), ticket


def route_case(session: Session, ticket: Ticket, now: datetime, tz: ZoneInfo) -> RoutingDecision:
    """Gather what routing needs about the case's place and people, then decide."""
    grid, category = ticket.grid, ticket.category
    community_id = ticket.community.id if ticket.community else None
    members = repository.grid_members(session, grid.id, now, tz) if grid else []
    # The community pool (every member, with rosters and loads) is only needed when
    # nobody of the grid can take the case, which is rare: skip reading it otherwise.
    needs_pool = grid is not None and not any(m.available for m in members)
    return route(
        RoutingInput(
            category.level,
            category.department_id,
            grid.id if grid else None,
            members,
            repository.community_pool(session, grid.community_id, now, tz)
            if grid is not None and needs_pool
            else (),
            urgent=ticket.priority is Priority.URGENT,
            supervisors=[s.id for s in repository.supervisors(session, community_id)],
        )
    )


def dispatch(
    uow: UnitOfWork, ticket: Ticket, decision: RoutingDecision, actor: Actor, now: datetime
) -> None:
    """Apply a routing decision: assign or send to triage, and tell who must know."""
    if decision.needs_triage:
        ticket.needs_triage = True
        ticket.triage_reason = decision.rule
        ticket.assignee = None
        record_event(ticket, EventKind.TRIAGE, actor, now, note=decision.rule)
    else:
        assign(uow, ticket, decision.staff_id, decision.department_id, decision.rule, actor, now)
    facts = case_facts(ticket)
    for purpose, ids, text in (
        ("informed", decision.inform, wording.informed),
        ("urgent_alert", decision.alert, wording.urgent_alert),
    ):
        for person in (uow.session.get(Staff, i) for i in ids):
            if person is not None:
                queue_sms(
                    uow, ticket, person.phone, text(facts, person.language), purpose, now, person
                )


def assign(
    uow: UnitOfWork,
    ticket: Ticket,
    staff_id: int | None,
    department_id: int | None,
    rule: str,
    actor: Actor,
    now: datetime,
) -> None:
    """Give the case to a person or a department queue, starting a new accept clock, and
    queue the assignment SMS to them (or to the department's dispatchers)."""
    session = uow.session
    staff = session.get(Staff, staff_id) if staff_id else None
    ticket.assignee = staff
    ticket.department_id = department_id if staff is None else None
    ticket.needs_triage = False
    ticket.triage_reason = None
    ticket.assigned_at = now
    ticket.assignment_version += 1  # a new accept clock, with its own escalation rungs
    record_event(
        ticket,
        EventKind.ASSIGNED,
        actor,
        now,
        to_status=TicketStatus.ASSIGNED,
        note=rule,
        data={"staff_id": staff_id, "department_id": department_id, "rule": rule},
    )
    recipients = (
        [staff] if staff else repository.department_dispatchers(session, department_id or 0)
    )
    for person in recipients:
        link = uow.links.url(ticket.number, person.id, now) if uow.links else None
        queue_sms(
            uow,
            ticket,
            person.phone,
            wording.assignment(case_facts(ticket), person.language, link),
            "assignment",
            now,
            staff=person,
        )


# Likely duplicates: the same category reported in the same grid within this window.
DUPLICATE_WINDOW = timedelta(hours=72)
DUPLICATE_METRES = 300.0


def _flag_possible_duplicate(session: Session, ticket: Ticket, now: datetime) -> None:
    """Point an agent at an open case of the same category close by; merging is theirs.

    The search is one indexed query returning at most one row: the same category, open,
    recent, and in the same grid or within a small box around the point.
    """
    if ticket.grid_id is None and ticket.lat is None:
        return
    near = []
    if ticket.grid_id is not None:
        near.append(Ticket.grid_id == ticket.grid_id)
    if ticket.lat is not None and ticket.lon is not None:
        d_lat = DUPLICATE_METRES / 111_320
        d_lon = d_lat / max(math.cos(math.radians(ticket.lat)), 0.01)
        near.append(
            Ticket.lat.between(ticket.lat - d_lat, ticket.lat + d_lat)
            & Ticket.lon.between(ticket.lon - d_lon, ticket.lon + d_lon)
        )
    other = session.scalars(
        select(Ticket)
        .where(
            Ticket.category_id == ticket.category_id,
            Ticket.status.in_(OPEN_STATUSES),
            Ticket.created_at >= now - DUPLICATE_WINDOW,
            Ticket.id != ticket.id,
            or_(*near),
        )
        .order_by(Ticket.created_at)
        .limit(1)
    ).first()
    if other is not None:
        ticket.possible_duplicate_of_id = other.id
        record_event(
            ticket,
            EventKind.POSSIBLE_DUPLICATE,
            SYSTEM,
            now,
            note=f"same category near case {other.number}",
            data={"of": other.number},
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
    rules = [e.data.get("rule", "") for e in ticket.events if e.kind == EventKind.ASSIGNED]
    return summarise(ticket, str(rules[-1]) if rules else ticket.triage_reason or "")


@dataclass(frozen=True)
class CallSummary:
    call_sid: str
    status: str
    case: CaseSummary | None  # the case the call opened, if it did


def get_call(uow: UnitOfWork, call_sid: str) -> CallSummary:
    """Look a call up by Twilio's call SID, with the case it opened; raise NotFound."""
    call = uow.session.scalars(select(Call).where(Call.call_sid == call_sid)).one_or_none()
    if call is None:
        raise NotFound(f"no call {call_sid}")
    ticket = uow.session.get(Ticket, call.ticket_id) if call.ticket_id else None
    case = get_case(uow, ticket.number) if ticket else None
    return CallSummary(call.call_sid, call.status, case)


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
    record_event(
        ticket, EventKind.RECORDING, SYSTEM, now, data={"sid": recording_sid, "status": status}
    )
    return True
