"""Use cases of the case loop. Each takes a UnitOfWork, does one thing, and commits once.

Callers (webhooks, SMS replies, the CLI, jobs) pass the current time in, so every rule
here can be replayed and tested at any instant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ticketing import messages, repository
from ticketing.casenumbers import day_prefix, format_case_number, normalise_case_number
from ticketing.exceptions import InvalidInput, InvalidTransition, NotFound
from ticketing.lifecycle import OPEN_STATUSES, TicketStatus, can_transition, transition
from ticketing.models import (
    Region,
    SmsDirection,
    SmsMessage,
    SmsStatus,
    Staff,
    Ticket,
    TicketEvent,
)
from ticketing.phones import is_mobile, try_e164
from ticketing.routing import RoutingInput, route
from ticketing.sla import pauses
from ticketing.sla_service import pause_history, refresh_deadlines
from ticketing.sms_commands import CommandKind, parse_command
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


def _event(
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


def _facts(ticket: Ticket) -> messages.CaseFacts:
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


def _queue_sms(
    uow: UnitOfWork,
    ticket: Ticket,
    to: str,
    body: str,
    purpose: str,
    now: datetime,
    staff: Staff | None = None,
) -> None:
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
    _event(
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
        _event(ticket, "triage", SYSTEM, now, note=decision.rule)
    else:
        _assign(uow, ticket, decision.staff_id, decision.department_id, decision.rule, now)
    if ticket.caller_phone and is_mobile(ticket.caller_phone):
        _queue_sms(
            uow,
            ticket,
            ticket.caller_phone,
            messages.caller_receipt(_facts(ticket), ticket.language),
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
    _event(
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
        _queue_sms(
            uow,
            ticket,
            person.phone,
            messages.assignment(_facts(ticket), person.language),
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
    _event(ticket, "recording", SYSTEM, now, data={"sid": recording_sid, "status": status})
    return True


@dataclass(frozen=True)
class InboundSms:
    message_sid: str
    from_number: str
    to_number: str
    body: str


def handle_inbound_sms(uow: UnitOfWork, sms: InboundSms, now: datetime) -> str:
    """Apply a member's SMS command and return the reply text; the same reply on a retry."""
    session = uow.session
    seen = session.scalars(
        select(SmsMessage).where(SmsMessage.provider_sid == sms.message_sid)
    ).one_or_none()
    if seen is not None:
        return seen.reply or ""
    record = SmsMessage(
        direction=SmsDirection.INBOUND,
        to_number=sms.to_number,
        from_number=sms.from_number,
        body=sms.body,
        status=SmsStatus.RECEIVED,
        purpose="command",
        provider_sid=sms.message_sid,
        created_at=now,
        updated_at=now,
    )
    session.add(record)
    phone = try_e164(sms.from_number)
    staff = repository.staff_by_phone(session, phone) if phone else None
    outcome, text = _apply_command(uow, staff, sms.body, now)
    record.staff_id = staff.id if staff else None
    record.purpose = f"command:{outcome}"
    record.reply = text
    if outcome in {"not_registered", "not_yours", "not_found", "bad_state"}:
        log.warning("refused SMS %s from %s: %s", sms.message_sid, sms.from_number, outcome)
    uow.commit()
    return text


def _apply_command(
    uow: UnitOfWork, staff: Staff | None, body: str, now: datetime
) -> tuple[str, str]:
    """Returns (outcome, reply). Only the assignee's phone may change a case."""
    command = parse_command(body)
    language = staff.language if staff else messages.ZH
    if staff is None or not staff.active:
        return "not_registered", messages.reply("not_registered", language)
    if command.kind is CommandKind.HELP:
        return "help", messages.reply("help", language)
    if command.kind is CommandKind.UNKNOWN:
        return "unknown", messages.reply("unknown", language)
    number = command.case_number
    ticket = repository.ticket_by_number(uow.session, number)
    if ticket is None:
        return "not_found", messages.reply("not_found", language, number)
    if not _is_assignee(staff, ticket):
        _event(ticket, "refused_command", f"staff:{staff.id}", now, note=body)
        return "not_yours", messages.reply("not_yours", language, number)
    target = {
        CommandKind.ACCEPT: TicketStatus.ACCEPTED,
        CommandKind.DONE: TicketStatus.RESOLVED,
        CommandKind.RETURN: TicketStatus.RETURNED,
    }[command.kind]
    if not can_transition(ticket.status, target):
        return "bad_state", messages.reply("bad_state", language, number)
    apply = {CommandKind.ACCEPT: accept, CommandKind.DONE: resolve, CommandKind.RETURN: send_back}
    outcome = apply[command.kind](uow, ticket, staff, command.text, now)
    return outcome, messages.reply(outcome, language, number)


# The moves a person makes on a case. Each checks the transition table, appends its
# event, keeps the SLA columns true, and leaves committing to its caller.


def accept(uow: UnitOfWork, ticket: Ticket, staff: Staff, note: str, now: datetime) -> str:
    """The assignee (or a dispatcher of the case's department) takes the case."""
    if ticket.assignee is None:  # a department dispatcher takes the case personally
        ticket.assignee = staff
    _event(ticket, "accepted", f"staff:{staff.id}", now, to_status=TicketStatus.ACCEPTED, note=note)
    ticket.accepted_at = now
    refresh_deadlines(uow.session, ticket)
    return "accepted"


def resolve(uow: UnitOfWork, ticket: Ticket, staff: Staff, note: str, now: datetime) -> str:
    """The work is done: the caller is told by SMS, with the member's note."""
    _event(ticket, "resolved", f"staff:{staff.id}", now, to_status=TicketStatus.RESOLVED, note=note)
    ticket.resolved_at = now
    if ticket.caller_phone and is_mobile(ticket.caller_phone):
        text = note or ("已处理" if ticket.language.startswith("zh") else "done")
        _queue_sms(
            uow,
            ticket,
            ticket.caller_phone,
            messages.caller_done(_facts(ticket), text, ticket.language),
            "caller_done",
            now,
        )
    refresh_deadlines(uow.session, ticket)
    return "resolved"


def send_back(uow: UnitOfWork, ticket: Ticket, staff: Staff, reason: str, now: datetime) -> str:
    """The assignee returns the case to triage with a reason; the accept clock stops."""
    _event(
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
    _event(ticket, "paused", actor, now, note=reason)
    refresh_deadlines(uow.session, ticket)


def resume(uow: UnitOfWork, ticket: Ticket, actor: str, note: str, now: datetime) -> None:
    """Restart the SLA clocks; the paused time is added to every deadline."""
    if not any(p.end is None for p in pauses(pause_history(ticket))):
        raise InvalidTransition(f"case {ticket.number} is not waiting on the resident")
    _event(ticket, "resumed", actor, now, note=note)
    refresh_deadlines(uow.session, ticket)


def _is_assignee(staff: Staff, ticket: Ticket) -> bool:
    if ticket.assignee_id is not None:
        return ticket.assignee_id == staff.id
    return ticket.department_id is not None and ticket.department_id == staff.department_id


def record_sms_status(
    uow: UnitOfWork, message_sid: str, status: str, error_code: str | None, now: datetime
) -> bool:
    """Apply a delivery callback if it moves the message forward; False if ignored."""
    try:
        new = SmsStatus(status)
    except ValueError as exc:
        raise InvalidInput(f"unknown message status {status!r}") from exc
    message = uow.session.scalars(
        select(SmsMessage).where(SmsMessage.provider_sid == message_sid)
    ).one_or_none()
    if message is None:
        raise NotFound(f"no message {message_sid}")
    if new.rank <= message.status.rank:
        return False  # late or repeated callback: states only move forward
    message.status = new
    message.error = error_code or message.error
    message.updated_at = now
    uow.commit()
    return True


@dataclass(frozen=True)
class OutgoingSms:
    id: int
    to: str
    body: str


def claim_for_sending(uow: UnitOfWork, message_id: int, now: datetime) -> OutgoingSms | None:
    """Mark a queued message as being sent; None if it was sent already (a repeated job)."""
    message = uow.session.get(SmsMessage, message_id, with_for_update=True)
    if message is None:
        raise NotFound(f"no message {message_id}")
    if message.status is not SmsStatus.QUEUED:
        return None
    message.status = SmsStatus.SENDING
    message.attempts += 1
    message.updated_at = now
    outgoing = OutgoingSms(message.id, message.to_number, message.body)
    uow.commit()
    return outgoing


MAX_SEND_ATTEMPTS = 5
# A worker killed between claiming a message and recording the result leaves it
# "sending" with no provider id; after this long it is assumed lost and sent again.
STALE_SENDING = timedelta(minutes=5)


def mark_sent(
    uow: UnitOfWork, message_id: int, provider_sid: str | None, status: SmsStatus, now: datetime
) -> None:
    """Record what the provider said when it took the message."""
    message = _message(uow, message_id)
    message.provider_sid = provider_sid
    message.error = None
    if status.rank > message.status.rank:
        message.status = status
    message.updated_at = now
    uow.commit()


def mark_send_failed(
    uow: UnitOfWork, message_id: int, error: str, now: datetime, *, permanent: bool
) -> SmsStatus:
    """After a failed attempt: back to the queue, or FAILED if retrying cannot help or the
    attempts are used up. Returns the new status."""
    message = _message(uow, message_id)
    give_up = permanent or message.attempts >= MAX_SEND_ATTEMPTS
    message.status = SmsStatus.FAILED if give_up else SmsStatus.QUEUED
    message.error = error[:300]
    message.updated_at = now
    uow.commit()
    return message.status


def _message(uow: UnitOfWork, message_id: int) -> SmsMessage:
    message = uow.session.get(SmsMessage, message_id)
    if message is None:
        raise NotFound(f"no message {message_id}")
    return message


def messages_to_retry(
    uow: UnitOfWork, now: datetime, older_than: timedelta, limit: int = 500
) -> list[int]:
    """Outbox rows to send again, oldest first: queued ones whose job never ran, and
    'sending' ones abandoned by a dead worker (put back in the queue here)."""
    stale = uow.session.scalars(
        select(SmsMessage).where(
            SmsMessage.status == SmsStatus.SENDING,
            SmsMessage.provider_sid.is_(None),
            SmsMessage.updated_at < now - STALE_SENDING,
        )
    ).all()
    for message in stale:
        message.status = SmsStatus.QUEUED
    uow.commit()
    return list(
        uow.session.scalars(
            select(SmsMessage.id)
            .where(SmsMessage.status == SmsStatus.QUEUED, SmsMessage.updated_at < now - older_than)
            .order_by(SmsMessage.created_at)
            .limit(limit)
        )
    )
