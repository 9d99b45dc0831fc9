"""The three writes every use case makes: an event in the case's history, the facts an
SMS quotes, and an SMS queued in the outbox within the same transaction."""

from __future__ import annotations

from datetime import datetime

from ticketing import messages
from ticketing.lifecycle import TicketStatus, transition
from ticketing.models import SmsDirection, SmsMessage, SmsStatus, Staff, Ticket, TicketEvent
from ticketing.unit_of_work import UnitOfWork


def record_event(
    ticket: Ticket,
    kind: str,
    actor: str,
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
        kind=kind,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        note=note,
        data=dict(data or {}),
    )
    ticket.events.append(event)
    return event


def case_facts(ticket: Ticket) -> messages.CaseFacts:
    """What an SMS about the case may quote: number, category, place, caller."""
    place = (
        ticket.grid.name if ticket.grid else (ticket.community.name_en if ticket.community else "?")
    )
    return messages.CaseFacts(
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
