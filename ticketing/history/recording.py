"""The three writes every use case makes: an event in the case's history, the facts an
SMS quotes, and an SMS queued in the outbox within the same transaction."""

from __future__ import annotations

from datetime import datetime

from ticketing.models.cases import Ticket, TicketEvent
from ticketing.models.people import Staff
from ticketing.models.sms import SmsDirection, SmsMessage, SmsStatus
from ticketing.notices import wording
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import Actor, EventKind
from ticketing.vocabulary.lifecycle import TicketStatus, transition


def record_event(
    ticket: Ticket,
    kind: EventKind,
    actor: Actor,
    now: datetime,
    *,
    to_status: TicketStatus | None = None,
    note: str = "",
    data: dict[str, object] | None = None,
) -> TicketEvent:
    """Append one history row, moving the status first if the event changes it."""
    from_status = ticket.status if to_status is not None else None
    if to_status is not None:
        ticket.status = transition(ticket.status, to_status)
    ticket.updated_at = now
    event = TicketEvent(
        at=now,
        kind=kind.value,
        actor=str(actor),
        from_status=from_status,
        to_status=to_status,
        note=note,
        data=dict(data or {}),
    )
    ticket.events.append(event)
    _keep_assessment_facts(ticket, kind, now, event.data)
    return event


def _keep_assessment_facts(
    ticket: Ticket, kind: EventKind, now: datetime, data: dict[str, object]
) -> None:
    """The history's facts the assessment counts (first assignment and acceptance, last
    resolution and rating, reopens), kept on the case as each event is written."""
    if kind is EventKind.ASSIGNED and ticket.first_assigned_at is None:
        ticket.first_assigned_at = now
    elif kind is EventKind.ACCEPTED and ticket.first_accepted_at is None:
        ticket.first_accepted_at = now
        ticket.first_accepted_on_time = bool(data.get("on_time"))
    elif kind is EventKind.RESOLVED:
        ticket.last_resolved_at = now
        ticket.last_resolved_on_time = bool(data.get("on_time"))
    elif kind is EventKind.CLOSED:
        rating = data.get("rating")
        ticket.last_rating = rating if isinstance(rating, int) else None
    elif kind is EventKind.REOPENED:
        ticket.reopen_count = (ticket.reopen_count or 0) + 1


def case_facts(ticket: Ticket) -> wording.CaseFacts:
    """What an SMS about the case may quote: number, category, place, caller."""
    place = (
        ticket.grid.name if ticket.grid else (ticket.community.name_en if ticket.community else "?")
    )
    return wording.CaseFacts(
        ticket.number,
        ticket.category.name_en,
        ticket.category.name_zh,
        place,
        ticket.caller_phone,
    )


def queue_sms(
    uow: UnitOfWork,
    ticket: Ticket,
    to: str,
    body: str,
    purpose: str,
    now: datetime,
    staff: Staff | None = None,
) -> None:
    """Queue an SMS about the case; the sender job gets it once the transaction commits."""
    uow.add_outbound(
        SmsMessage(
            direction=SmsDirection.OUTBOUND,
            to_number=to,
            from_number="",
            body=body,
            status=SmsStatus.QUEUED,
            purpose=purpose,
            ticket=ticket,
            staff_id=staff.id if staff else None,
            created_at=now,
            updated_at=now,
        )
    )
