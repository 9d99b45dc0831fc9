"""Reading SMS sent to the hotline: members' commands, applied only from the right phone."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ticketing import repository
from ticketing.case_records import record_event
from ticketing.lifecycle import TicketStatus, can_transition
from ticketing.models import SmsDirection, SmsMessage, SmsStatus, Staff, Ticket
from ticketing.phones import try_e164
from ticketing.services import accept, resolve, send_back
from ticketing.sms_commands import CommandKind, parse_command
from ticketing.sms_replies import ZH, reply
from ticketing.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


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
    language = staff.language if staff else ZH
    if staff is None or not staff.active:
        return "not_registered", reply("not_registered", language)
    if command.kind is CommandKind.HELP:
        return "help", reply("help", language)
    if command.kind is CommandKind.UNKNOWN:
        return "unknown", reply("unknown", language)
    number = command.case_number
    ticket = repository.ticket_by_number(uow.session, number)
    if ticket is None:
        return "not_found", reply("not_found", language, number)
    if not _is_assignee(staff, ticket):
        record_event(ticket, "refused_command", f"staff:{staff.id}", now, note=body)
        return "not_yours", reply("not_yours", language, number)
    target = {
        CommandKind.ACCEPT: TicketStatus.ACCEPTED,
        CommandKind.DONE: TicketStatus.RESOLVED,
        CommandKind.RETURN: TicketStatus.RETURNED,
    }[command.kind]
    if not can_transition(ticket.status, target):
        return "bad_state", reply("bad_state", language, number)
    apply = {CommandKind.ACCEPT: accept, CommandKind.DONE: resolve, CommandKind.RETURN: send_back}
    outcome = apply[command.kind](uow, ticket, staff, command.text, now)
    return outcome, reply(outcome, language, number)


def _is_assignee(staff: Staff, ticket: Ticket) -> bool:
    if ticket.assignee_id is not None:
        return ticket.assignee_id == staff.id
    return ticket.department_id is not None and ticket.department_id == staff.department_id
