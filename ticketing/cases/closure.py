"""The end of the case loop: the resident rates a resolved case, or says it is not fixed.

A resolved case waits for its caller: a rating of 1 to 5 closes it, a 0 reopens it to the
same assignee, and silence closes it after a configurable time. The rating lives in the
data of the "closed" event, and a reopen is a "reopened" event marked {"reopen": true},
so performance reports read both from the history. Like the services, these functions
leave committing to their caller, except the batch job `auto_close`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ticketing.cases import repository
from ticketing.exceptions import InvalidInput
from ticketing.history.recording import case_facts, queue_sms, record_event
from ticketing.models.cases import Ticket
from ticketing.notices import wording
from ticketing.sla.services import PolicyCatalog, load_catalog, refresh_deadlines
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import Actor, EventKind
from ticketing.vocabulary.lifecycle import TicketStatus

SYSTEM = Actor.system()
NOT_FIXED = 0
RATINGS = range(1, 6)


def awaiting_rating(session: Session, phone: str) -> Ticket | None:
    """The caller's most recently resolved case, the one a bare digit from them rates.

    The row is locked, so a rating racing another rating or the auto-close finds the
    case still resolved or not at all, never half-way.
    """
    return session.scalars(
        select(Ticket)
        .where(Ticket.caller_phone == phone, Ticket.status == TicketStatus.RESOLVED)
        .order_by(Ticket.resolved_at.desc(), Ticket.id.desc())
        .limit(1)
        .with_for_update(of=Ticket)
    ).first()


def latest_case_of_caller(session: Session, phone: str) -> Ticket | None:
    """The newest case reported from this phone, whatever its status."""
    return session.scalars(
        select(Ticket)
        .where(Ticket.caller_phone == phone)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(1)
    ).first()


def rate(uow: UnitOfWork, ticket: Ticket, score: int, actor: Actor, now: datetime) -> str:
    """Apply the caller's answer: 1 to 5 closes the case, 0 reopens it; returns which."""
    if score == NOT_FIXED:
        reopen(uow, ticket, actor, "the caller says it is not fixed", now)
        return "reopened"
    if score not in RATINGS:
        raise InvalidInput(f"a rating is 0 to 5, not {score}")
    close(uow, ticket, actor, now, rating=score)
    return "rated"


def close(
    uow: UnitOfWork,
    ticket: Ticket,
    actor: Actor,
    now: datetime,
    *,
    rating: int | None = None,
    auto: bool = False,
    catalog: PolicyCatalog | None = None,
) -> None:
    """Close a resolved case, keeping the caller's rating (if any) in the event."""
    data: dict[str, object] = {}
    if rating is not None:
        data["rating"] = rating
    if auto:
        data["auto"] = True
    record_event(ticket, EventKind.CLOSED, actor, now, to_status=TicketStatus.CLOSED, data=data)
    ticket.closed_at = now
    refresh_deadlines(uow.session, ticket, catalog)


def reopen(uow: UnitOfWork, ticket: Ticket, actor: Actor, reason: str, now: datetime) -> None:
    """Give a resolved case back to its assignee, who is told by SMS; counts as a reopen."""
    record_event(
        ticket,
        EventKind.REOPENED,
        actor,
        now,
        to_status=TicketStatus.ACCEPTED,
        note=reason,
        data={"reopen": True},
    )
    ticket.resolved_at = None
    ticket.deadline_version += 1  # a new resolve clock, with its own escalation rungs
    refresh_deadlines(uow.session, ticket)
    people = (
        [ticket.assignee]
        if ticket.assignee is not None
        else repository.department_dispatchers(uow.session, ticket.department_id or 0)
    )
    for person in people:
        body = wording.reopened(case_facts(ticket), person.language)
        queue_sms(uow, ticket, person.phone, body, "reopened", now, staff=person)


def auto_close(uow: UnitOfWork, now: datetime, after: timedelta, limit: int = 500) -> int:
    """Close cases resolved at least `after` ago that nobody rated (at most `limit`);
    commits and returns how many. Concurrent runs skip each other's rows."""
    session = uow.session
    catalog = load_catalog(session)
    tickets = session.scalars(
        select(Ticket)
        .where(Ticket.status == TicketStatus.RESOLVED, Ticket.resolved_at <= now - after)
        .order_by(Ticket.resolved_at, Ticket.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Ticket)
        .options(selectinload(Ticket.events))
    ).all()
    for ticket in tickets:
        close(uow, ticket, SYSTEM, now, auto=True, catalog=catalog)
    uow.commit()
    return len(tickets)
