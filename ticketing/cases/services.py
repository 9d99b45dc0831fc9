"""The moves people make on a case after it is registered.

Each checks the transition table, appends its event, keeps the SLA columns true, and
never commits: these are steps of the use cases that call them (the member's phone page,
an SMS command, a console move), each of which commits the move with its own records.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ticketing.cases import repository
from ticketing.cases.intake import assign, dispatch, find_location, route_case
from ticketing.exceptions import InvalidInput, InvalidTransition
from ticketing.history.recording import case_facts, queue_sms, record_event
from ticketing.models.cases import Ticket
from ticketing.models.people import Staff
from ticketing.notices import wording
from ticketing.people.phones import is_mobile
from ticketing.people.routing import RoutingDecision
from ticketing.sla.policies import pauses
from ticketing.sla.services import pause_history, refresh_deadlines
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.catalogue import Priority
from ticketing.vocabulary.events import Actor, EventKind
from ticketing.vocabulary.lifecycle import OPEN_STATUSES, TicketStatus


def accept(uow: UnitOfWork, ticket: Ticket, staff: Staff, note: str, now: datetime) -> str:
    """The assignee (or a dispatcher of the case's department) takes the case."""
    if ticket.assignee is None:  # a department dispatcher takes the case personally
        ticket.assignee = staff
    on_time = ticket.accept_by is None or now <= ticket.accept_by
    record_event(
        ticket,
        EventKind.ACCEPTED,
        Actor.staff(staff.id),
        now,
        to_status=TicketStatus.ACCEPTED,
        note=note,
        data={"on_time": on_time},
    )
    ticket.accepted_at = now
    refresh_deadlines(uow.session, ticket)
    return "accepted"


def resolve(
    uow: UnitOfWork,
    ticket: Ticket,
    staff: Staff,
    note: str,
    now: datetime,
    *,
    actor: Actor | None = None,
) -> str:
    """The work is done: the caller is told by SMS, with the member's note. `actor` names
    who marked it when that is not the member (an agent told by phone, in the console)."""
    on_time = ticket.resolve_by is None or now <= ticket.resolve_by
    record_event(
        ticket,
        EventKind.RESOLVED,
        actor or Actor.staff(staff.id),
        now,
        to_status=TicketStatus.RESOLVED,
        note=note,
        data={"on_time": on_time},
    )
    ticket.resolved_at = now
    text = note or ("已处理" if ticket.language.startswith("zh") else "done")
    told: set[str] = set()
    # Everyone who reported the problem hears it is fixed, including merged duplicates.
    merged = uow.session.scalars(select(Ticket).where(Ticket.merged_into_id == ticket.id))
    for reported in [ticket, *merged]:
        phone = reported.caller_phone
        if phone and phone not in told and is_mobile(phone):
            told.add(phone)
            # Only the surviving case is rated: a merged case's caller just hears the news.
            body = wording.caller_done(
                case_facts(reported), text, reported.language, ask_rating=reported is ticket
            )
            queue_sms(uow, reported, phone, body, "caller_done", now)
    refresh_deadlines(uow.session, ticket)
    return "resolved"


def send_back(uow: UnitOfWork, ticket: Ticket, staff: Staff, reason: str, now: datetime) -> str:
    """The assignee returns the case to triage with a reason; the accept clock stops."""
    record_event(
        ticket,
        EventKind.RETURNED,
        Actor.staff(staff.id),
        now,
        to_status=TicketStatus.RETURNED,
        note=reason,
    )
    ticket.needs_triage = True
    ticket.triage_reason = f"returned: {reason}"
    ticket.assignee = None
    refresh_deadlines(uow.session, ticket)
    return "returned"


def reassign(
    uow: UnitOfWork,
    ticket: Ticket,
    staff: Staff | None,
    department_id: int | None,
    actor: Actor,
    reason: str,
    now: datetime,
) -> None:
    """An agent or supervisor gives the case to someone else (or a department), saying why."""
    if not reason.strip():
        raise InvalidInput("a reassignment needs a reason")
    if staff is None and department_id is None:
        raise InvalidInput("reassign to a person or a department")
    assign(
        uow, ticket, staff.id if staff else None, department_id, f"reassigned: {reason}", actor, now
    )
    refresh_deadlines(uow.session, ticket)


def reroute(
    uow: UnitOfWork,
    ticket: Ticket,
    actor: Actor,
    reason: str,
    now: datetime,
    tz: ZoneInfo,
    location_code: str | None = None,
) -> RoutingDecision:
    """Route the case again, after its place was corrected or the roster changed."""
    if location_code is not None:
        location = find_location(uow, location_code)
        if location is None:
            raise InvalidInput(f"no grid or community {location_code!r}")
        ticket.grid = (
            repository.grid_by_code(uow.session, location.grid_code) if location.grid_code else None
        )
        ticket.community = repository.community_by_code(uow.session, location.community_code or "")
    decision = route_case(uow.session, ticket, now, tz)
    record_event(ticket, EventKind.REROUTED, actor, now, note=reason, data={"rule": decision.rule})
    dispatch(uow, ticket, decision, actor, now)
    refresh_deadlines(uow.session, ticket)
    return decision


def recategorise(
    uow: UnitOfWork,
    ticket: Ticket,
    category_code: str,
    priority: Priority,
    actor: Actor,
    reason: str,
    now: datetime,
) -> None:
    """Correct the category or priority; the SLA policy is chosen again."""
    category = repository.category_by_code(uow.session, category_code)
    if category is None:
        raise InvalidInput(f"unknown category {category_code!r}")
    record_event(
        ticket,
        EventKind.RECATEGORISED,
        actor,
        now,
        note=reason,
        data={
            "from": [ticket.category.code, ticket.priority.value],
            "to": [category.code, priority.value],
        },
    )
    ticket.category, ticket.priority = category, priority
    refresh_deadlines(uow.session, ticket, reselect=True)


def cancel(uow: UnitOfWork, ticket: Ticket, actor: Actor, reason: str, now: datetime) -> None:
    """Withdraw a case (a prank call, a mistake); the reason is kept, the clocks stop."""
    if not reason.strip():
        raise InvalidInput("a cancellation needs a reason")
    record_event(
        ticket, EventKind.CANCELLED, actor, now, to_status=TicketStatus.CANCELLED, note=reason
    )
    refresh_deadlines(uow.session, ticket)


def merge(uow: UnitOfWork, duplicate: Ticket, into: Ticket, actor: Actor, now: datetime) -> None:
    """Fold a duplicate into the case that carries on; its caller hears when that is done."""
    if duplicate.id == into.id or into.status not in OPEN_STATUSES:
        raise InvalidTransition(f"case {duplicate.number} cannot merge into {into.number}")
    record_event(
        duplicate,
        EventKind.MERGED,
        actor,
        now,
        to_status=TicketStatus.MERGED,
        note=f"duplicate of {into.number}",
        data={"into": into.number},
    )
    duplicate.merged_into = into
    record_event(
        into,
        EventKind.ABSORBED,
        actor,
        now,
        note=f"{duplicate.number} merged in",
        data={"from": duplicate.number},
    )
    refresh_deadlines(uow.session, duplicate)


def pause(uow: UnitOfWork, ticket: Ticket, actor: Actor, reason: str, now: datetime) -> None:
    """Stop the SLA clocks while the case waits on the resident (a visit, a document)."""
    if any(p.end is None for p in pauses(pause_history(ticket))):
        raise InvalidTransition(f"case {ticket.number} is already waiting on the resident")
    if ticket.status not in OPEN_STATUSES:
        raise InvalidTransition(f"case {ticket.number} is {ticket.status}: nothing to pause")
    record_event(ticket, EventKind.PAUSED, actor, now, note=reason)
    refresh_deadlines(uow.session, ticket)


def resume(uow: UnitOfWork, ticket: Ticket, actor: Actor, note: str, now: datetime) -> None:
    """Restart the SLA clocks; the paused time is added to every deadline."""
    if not any(p.end is None for p in pauses(pause_history(ticket))):
        raise InvalidTransition(f"case {ticket.number} is not waiting on the resident")
    record_event(ticket, EventKind.RESUMED, actor, now, note=note)
    refresh_deadlines(uow.session, ticket)
