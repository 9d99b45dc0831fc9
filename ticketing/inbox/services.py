"""Reading SMS sent to the hotline: members' commands, applied only from the right phone,
and residents' answers to the rating SMS, applied only to their own case."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ticketing.cases import closure, repository
from ticketing.cases.services import accept, resolve, send_back
from ticketing.history.recording import record_event
from ticketing.inbox.commands import (
    CommandKind,
    CommandParser,
    SmsCommand,
    Spelling,
    Text,
    parse_rating,
)
from ticketing.inbox.replies import (
    LIST_CAP,
    ZH,
    CaseLine,
    caller_reply,
    list_reply,
    reply,
    status_reply,
)
from ticketing.models.cases import Ticket
from ticketing.models.people import Staff
from ticketing.models.sms import SmsDirection, SmsMessage, SmsStatus
from ticketing.people.phones import try_e164
from ticketing.sla.services import PolicyCatalog, load_catalog
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import Actor, EventKind
from ticketing.vocabulary.lifecycle import OPEN_STATUSES, TRANSITIONS, TicketStatus, can_transition

log = logging.getLogger(__name__)

_REFUSALS = {"not_registered", "not_yours", "not_found", "bad_state"}

# A command on one case, from its assignee's phone: (outcome, reply) for the member.
CaseHandler = Callable[[UnitOfWork, Staff, Ticket, str, datetime], tuple[str, str]]
# A command about the member's own work, sent without a case number.
MemberHandler = Callable[[UnitOfWork, Staff], tuple[str, str]]
# A lifecycle move (accept, resolve, send back); returns the outcome.
Move = Callable[[UnitOfWork, Ticket, Staff, str, datetime], str]


@dataclass(frozen=True)
class OnCase:
    """A command on one case: one of `words`, its number, then text as `text` says;
    applied only from the phone of the case's assignee."""

    words: tuple[str, ...]
    handler: CaseHandler
    text: Text = Text.OPTIONAL

    @property
    def spelling(self) -> Spelling:
        return Spelling(self.words, case_number=True, text=self.text)


@dataclass(frozen=True)
class OnMember:
    """A command about the member's own work: one of `words`, alone."""

    words: tuple[str, ...]
    handler: MemberHandler

    @property
    def spelling(self) -> Spelling:
        return Spelling(self.words, case_number=False)


@dataclass(frozen=True)
class InboundSms:
    message_sid: str
    from_number: str
    to_number: str
    body: str


@dataclass(frozen=True)
class _Answer:
    purpose: str  # "command:<outcome>" for members, "resident:<outcome>" for callers
    text: str
    ticket: Ticket | None = None


def handle_inbound_sms(uow: UnitOfWork, sms: InboundSms, now: datetime) -> str:
    """Apply a member's command or a resident's rating and return the reply text; the
    same reply on a retry."""
    session = uow.session
    seen = _seen(session, sms.message_sid)
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
    try:
        # The row first, in a savepoint: a concurrent retry of the same message waits here
        # on the first one's uncommitted row, then meets its SID, and answers as it did.
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        seen = _seen(session, sms.message_sid)
        return (seen.reply or "") if seen is not None else ""
    phone = try_e164(sms.from_number)
    staff = repository.staff_by_phone(session, phone) if phone else None
    answer = _answer(uow, phone, staff, sms.body, now)
    record.staff_id = staff.id if staff else None
    record.ticket = answer.ticket
    record.purpose = answer.purpose
    record.reply = answer.text
    if answer.purpose.removeprefix("command:") in _REFUSALS:
        log.warning("refused SMS %s from %s: %s", sms.message_sid, sms.from_number, answer.purpose)
    uow.commit()
    return answer.text


def _seen(session: Session, message_sid: str) -> SmsMessage | None:
    """The message as first received, if this one is Twilio's retry of it."""
    return session.scalars(
        select(SmsMessage).where(SmsMessage.provider_sid == message_sid)
    ).one_or_none()


def _answer(
    uow: UnitOfWork, phone: str | None, staff: Staff | None, body: str, now: datetime
) -> _Answer:
    """A bare digit from a caller with a resolved case is a rating (a digit is never a
    member's command, so a member reporting as a resident can rate too); otherwise
    members get their commands and callers a pointer to their case."""
    score = parse_rating(body)
    waiting = closure.awaiting_rating(uow.session, phone) if phone and score is not None else None
    if waiting is not None and score is not None:
        outcome = closure.rate(uow, waiting, score, Actor.caller(phone), now)
        return _Answer(
            f"resident:{outcome}", reply(outcome, waiting.language, waiting.number), waiting
        )
    if staff is not None and staff.active:
        outcome, text = _apply_command(uow, staff, parse_command(body), body, now)
        return _Answer(f"command:{outcome}", text)
    latest = closure.latest_case_of_caller(uow.session, phone) if phone else None
    if latest is None:
        return _Answer("command:not_registered", reply("not_registered", ZH))
    return _resident_text(uow.session, phone or "", latest, score is not None)


def _resident_text(session: Session, phone: str, latest: Ticket, was_rating: bool) -> _Answer:
    """A caller wrote something other than a rating we can apply: say how to rate, or
    where their latest case stands, rather than that they are not registered."""
    if was_rating:  # nothing resolved to rate: not yet resolved, or rated already
        text = caller_reply(latest.number, latest.status.value, latest.language)
        return _Answer("resident:nothing_to_rate", text, latest)
    waiting = closure.awaiting_rating(session, phone)
    if waiting is not None:
        return _Answer(
            "resident:text", reply("rate_hint", waiting.language, waiting.number), waiting
        )
    text = caller_reply(latest.number, latest.status.value, latest.language)
    return _Answer("resident:text", text, latest)


def parse_command(body: str) -> SmsCommand:
    """An SMS body read as one of COMMANDS; UNKNOWN when it is not exactly one."""
    return _PARSER.parse(body)


def _apply_command(
    uow: UnitOfWork, staff: Staff, command: SmsCommand, body: str, now: datetime
) -> tuple[str, str]:
    """Returns (outcome, reply) from the command's handler in COMMANDS. Only the
    assignee's phone may change or read a case."""
    language = staff.language
    found = COMMANDS.get(command.kind)
    if found is None:  # UNKNOWN: not exactly a command, so nothing changes
        return command.kind.value, reply(command.kind.value, language)
    if isinstance(found, OnMember):
        return found.handler(uow, staff)
    number = command.case_number
    ticket = repository.ticket_by_number(uow.session, number)
    if ticket is None:
        return "not_found", reply("not_found", language, number)
    if not _is_assignee(staff, ticket):
        record_event(ticket, EventKind.REFUSED_COMMAND, Actor.staff(staff.id), now, note=body)
        return "not_yours", reply("not_yours", language, number)
    return found.handler(uow, staff, ticket, command.text, now)


def _move(target: TicketStatus, move: Move) -> CaseHandler:
    """The handler of a lifecycle move: `move` when the case may go to `target`."""

    def handler(
        uow: UnitOfWork, staff: Staff, ticket: Ticket, text: str, now: datetime
    ) -> tuple[str, str]:
        if not can_transition(ticket.status, target):
            return "bad_state", reply("bad_state", staff.language, ticket.number)
        outcome = move(uow, ticket, staff, text, now)
        return outcome, reply(outcome, staff.language, ticket.number)

    return handler


def _note(
    uow: UnitOfWork, staff: Staff, ticket: Ticket, text: str, now: datetime
) -> tuple[str, str]:
    """A progress note: history only; the status and the SLA clocks are left alone."""
    language = staff.language
    if not TRANSITIONS[ticket.status]:  # closed, cancelled, merged: the file is shut
        return "bad_state", reply("bad_state", language, ticket.number)
    record_event(ticket, EventKind.NOTE, Actor.staff(staff.id), now, note=text)
    return "noted", reply("noted", language, ticket.number)


def _status(
    uow: UnitOfWork, staff: Staff, ticket: Ticket, text: str, now: datetime
) -> tuple[str, str]:
    """How the case stands, with its deadlines."""
    catalog = load_catalog(uow.session)
    return "status", status_reply(_case_line(ticket, catalog), staff.language)


def _list(uow: UnitOfWork, staff: Staff) -> tuple[str, str]:
    """The member's open cases, nearest deadline first."""
    shown, total = _open_cases(uow.session, staff)
    return "list", list_reply(shown, total, staff.language)


def _help(uow: UnitOfWork, staff: Staff) -> tuple[str, str]:
    """Every command and how to write it, in the member's language."""
    return "help", reply("help", staff.language)


# Every command members can send: how it is spelled (the parser reads `words`) and what
# applies it. Returning a case without saying why leaves triage guessing, and an empty
# note says nothing, so both need text; a status query takes none.
COMMANDS: dict[CommandKind, OnCase | OnMember] = {
    CommandKind.ACCEPT: OnCase(("A", "接单", "接"), _move(TicketStatus.ACCEPTED, accept)),
    CommandKind.DONE: OnCase(("D", "完成", "办结"), _move(TicketStatus.RESOLVED, resolve)),
    CommandKind.RETURN: OnCase(
        ("R", "退回"), _move(TicketStatus.RETURNED, send_back), text=Text.REQUIRED
    ),
    CommandKind.NOTE: OnCase(("N", "备注"), _note, text=Text.REQUIRED),
    CommandKind.STATUS: OnCase(("S", "查询"), _status, text=Text.NONE),
    CommandKind.LIST: OnMember(("L", "列表", "我的"), _list),
    CommandKind.HELP: OnMember(("?", "HELP", "帮助"), _help),
}
_PARSER = CommandParser({kind: command.spelling for kind, command in COMMANDS.items()})


def _is_assignee(staff: Staff, ticket: Ticket) -> bool:
    if ticket.assignee_id is not None:
        return ticket.assignee_id == staff.id
    return ticket.department_id is not None and ticket.department_id == staff.department_id


def _open_cases(session: Session, staff: Staff) -> tuple[list[CaseLine], int]:
    """The first LIST_CAP of the member's open cases (for a dispatcher, with the
    department's unassigned ones), nearest deadline first, and how many there are."""
    mine = Ticket.assignee_id == staff.id
    if staff.department_id is not None:
        queue = (Ticket.assignee_id.is_(None)) & (Ticket.department_id == staff.department_id)
        mine = or_(mine, queue)
    tickets = session.scalars(
        select(Ticket).where(mine, Ticket.status.in_(OPEN_STATUSES)).order_by(Ticket.id)
    ).all()
    far = datetime.max.replace(tzinfo=UTC)
    tickets = sorted(tickets, key=lambda t: (_next_deadline(t) or far, t.id))
    catalog = load_catalog(session)
    return [_case_line(t, catalog) for t in tickets[:LIST_CAP]], len(tickets)


def _next_deadline(ticket: Ticket) -> datetime | None:
    return min((d for d in (ticket.accept_by, ticket.resolve_by) if d is not None), default=None)


def _case_line(ticket: Ticket, catalog: PolicyCatalog) -> CaseLine:
    """The case as a member may read it, with deadlines in the local time of its SLA
    calendar (a case with no policy has no deadlines to show)."""
    zone: tzinfo = (
        catalog.calendar_of(ticket.sla_policy_id).zone
        if ticket.sla_policy_id in catalog.policies
        else UTC
    )

    def local(at: datetime | None) -> str | None:
        return at.astimezone(zone).strftime("%m-%d %H:%M") if at is not None else None

    person, department = ticket.assignee, ticket.department
    return CaseLine(
        number=ticket.number,
        status=ticket.status.value,
        assignee_en=person.name if person else (department.name_en if department else ""),
        assignee_zh=person.name if person else (department.name_zh if department else ""),
        accept_by=local(ticket.accept_by),
        resolve_by=local(ticket.resolve_by),
    )
