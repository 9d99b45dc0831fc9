"""What a member may see and do on a case opened from the signed link of its SMS.

A link names one case and one member; it opens the case only while that member still
holds it: the assignee, or, for a case waiting in a department's queue, a dispatcher of
that department (the rule SMS commands follow). A member who held the case before is told
it moved on; anyone else is told it does not exist. Each move here is one service call:
it finds the case, checks the member, writes one event and commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ticketing.cases import repository, services
from ticketing.cases.links import CaseLink
from ticketing.exceptions import InvalidInput, InvalidTransition, NotFound, NotPermitted
from ticketing.history.recording import record_event
from ticketing.models.cases import Attachment, Ticket, TicketEvent
from ticketing.models.people import Staff
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import Actor, ActorKind, EventKind
from ticketing.vocabulary.lifecycle import TRANSITIONS, TicketStatus, can_transition

NOTE_MAX = 2000


class HandledElsewhere(NotPermitted):
    """The member held this case once, but it has since gone to someone else."""


@dataclass(frozen=True)
class Photo:
    """A photo whose bytes the edge has already checked and stored."""

    filename: str
    content_type: str
    size: int
    sha256: str
    stored_path: str


@dataclass(frozen=True)
class Note:
    at: datetime
    who: str
    text: str
    photo_ids: tuple[int, ...]


@dataclass(frozen=True)
class LinkedCase:
    """A plain snapshot of the case as its member sees it on the phone."""

    number: str
    status: TicketStatus
    category_en: str
    category_zh: str
    priority: str
    place: str
    description: str
    transcript: str | None
    caller_phone: str | None
    accept_by: datetime | None
    resolve_by: datetime | None
    point: tuple[float, float] | None  # (lat, lon)
    outline: dict[str, Any] | None  # the grid's GeoJSON polygon
    member_name: str
    member_language: str
    notes: tuple[Note, ...]
    can_accept: bool
    can_resolve: bool
    can_note: bool


def _member_and_case(uow: UnitOfWork, link: CaseLink) -> tuple[Staff, Ticket]:
    """The member and the case of an authentic link, if the member still holds it."""
    session = uow.session
    ticket = repository.ticket_by_number(session, link.number)
    staff = session.get(Staff, link.staff_id)
    if ticket is None or staff is None:
        raise NotFound("no such case for this link")
    if staff.active and _holds(staff, ticket):
        return staff, ticket
    if _held(staff, ticket):
        raise HandledElsewhere(f"case {ticket.number} is now handled by someone else")
    raise NotFound("no such case for this link")


def _holds(staff: Staff, ticket: Ticket) -> bool:
    if ticket.assignee_id is not None:
        return ticket.assignee_id == staff.id
    return ticket.department_id is not None and ticket.department_id == staff.department_id


def _held(staff: Staff, ticket: Ticket) -> bool:
    """Whether the case was ever given to this member or their department."""
    for event in ticket.events:
        if event.kind != EventKind.ASSIGNED:
            continue
        if event.data.get("staff_id") == staff.id:
            return True
        department = event.data.get("department_id")
        if department is not None and department == staff.department_id:
            return True
    return False


def view(uow: UnitOfWork, link: CaseLink) -> LinkedCase:
    """The case for its member's page; raise NotFound or HandledElsewhere."""
    staff, ticket = _member_and_case(uow, link)
    return _snapshot(uow, staff, ticket)


def accept(uow: UnitOfWork, link: CaseLink, now: datetime) -> None:
    """The member takes the case from the page."""
    staff, ticket = _member_and_case(uow, link)
    if ticket.status is not TicketStatus.ASSIGNED:  # resolved -> accepted is a reopening
        raise InvalidTransition(f"case {ticket.number} is {ticket.status.value}")
    services.accept(uow, ticket, staff, "accepted from the mobile page", now)
    uow.commit()


def resolve(uow: UnitOfWork, link: CaseLink, note: str, now: datetime) -> None:
    """The member marks the work done, saying what was done; the caller is told."""
    note = _clean(note)
    if not note:
        raise InvalidInput("say in a few words what was done")
    staff, ticket = _member_and_case(uow, link)
    _require(ticket, TicketStatus.RESOLVED)
    services.resolve(uow, ticket, staff, note, now)
    uow.commit()


def add_note(
    uow: UnitOfWork, link: CaseLink, text: str, photos: Sequence[Photo], now: datetime
) -> int:
    """A progress note, with photos, in the case's history; the status is left alone.
    Returns the note's event id."""
    staff, ticket, text = _note_allowed(uow, link, text, len(photos))
    actor = Actor.staff(staff.id)
    event = record_event(
        ticket, EventKind.NOTE, actor, now, note=text, data={"photos": len(photos)}
    )
    uow.session.flush()
    for photo in photos:
        uow.session.add(
            Attachment(
                ticket_id=ticket.id,
                event_id=event.id,
                filename=photo.filename,
                content_type=photo.content_type,
                size=photo.size,
                sha256=photo.sha256,
                stored_path=photo.stored_path,
                uploaded_by=str(actor),
                at=now,
            )
        )
    uow.commit()
    return event.id


def check_note(uow: UnitOfWork, link: CaseLink, text: str, photo_count: int) -> None:
    """Raise what `add_note` would raise for this note, so the edge can refuse it before
    it stores any photo."""
    _note_allowed(uow, link, text, photo_count)


def _note_allowed(
    uow: UnitOfWork, link: CaseLink, text: str, photo_count: int
) -> tuple[Staff, Ticket, str]:
    text = _clean(text)
    if not text and not photo_count:
        raise InvalidInput("write a note or add a photo")
    staff, ticket = _member_and_case(uow, link)
    if not TRANSITIONS[ticket.status]:
        raise InvalidTransition(f"case {ticket.number} is {ticket.status}: the file is shut")
    return staff, ticket, text


def photo(uow: UnitOfWork, link: CaseLink, attachment_id: int) -> Attachment:
    """One photo of the case, for the member who holds it; NotFound for any other."""
    _staff, ticket = _member_and_case(uow, link)
    attachment = uow.session.get(Attachment, attachment_id)
    if attachment is None or attachment.ticket_id != ticket.id:
        raise NotFound("no such photo on this case")
    return attachment


def local_time(at: datetime | None, tz: ZoneInfo, now: datetime) -> str | None:
    """A deadline as a phone shows it: HH:MM today, MM-DD HH:MM another day."""
    if at is None:
        return None
    local = at.astimezone(tz)
    same_day = local.date() == now.astimezone(tz).date()
    return local.strftime("%H:%M" if same_day else "%m-%d %H:%M")


def _require(ticket: Ticket, target: TicketStatus) -> None:
    if not can_transition(ticket.status, target):
        raise InvalidTransition(f"case {ticket.number} is {ticket.status.value}")


def _clean(text: str) -> str:
    text = text.strip()
    if len(text) > NOTE_MAX:
        raise InvalidInput(f"keep the note under {NOTE_MAX} characters")
    return text


def _snapshot(uow: UnitOfWork, staff: Staff, ticket: Ticket) -> LinkedCase:
    grid = ticket.grid
    place = grid.name if grid else (ticket.community.name_en if ticket.community else "")
    if ticket.lat is not None and ticket.lon is not None:
        point: tuple[float, float] | None = (ticket.lat, ticket.lon)
    else:
        point = (grid.centre_lat, grid.centre_lon) if grid else None
    transcripts = [e.note for e in ticket.events if e.kind == EventKind.TRANSCRIBED and e.note]
    transcript = transcripts[-1] if transcripts else None
    return LinkedCase(
        number=ticket.number,
        status=ticket.status,
        category_en=ticket.category.name_en,
        category_zh=ticket.category.name_zh,
        priority=ticket.priority.value,
        place=place,
        description=ticket.description,
        transcript=transcript if transcript != ticket.description else None,
        caller_phone=ticket.caller_phone,
        accept_by=ticket.accept_by if ticket.status is TicketStatus.ASSIGNED else None,
        resolve_by=ticket.resolve_by,
        point=point,
        outline=grid.polygon if grid else None,
        member_name=staff.name,
        member_language=staff.language,
        notes=_notes(uow, ticket),
        can_accept=ticket.status is TicketStatus.ASSIGNED,
        can_resolve=can_transition(ticket.status, TicketStatus.RESOLVED),
        can_note=bool(TRANSITIONS[ticket.status]),
    )


def _notes(uow: UnitOfWork, ticket: Ticket) -> tuple[Note, ...]:
    """The notes on the case, newest first, each with the ids of its photos."""
    photos: dict[int | None, list[int]] = {}
    for attachment in uow.session.scalars(
        select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id)
    ):
        photos.setdefault(attachment.event_id, []).append(attachment.id)
    names = {s.id: s.name for s in _people(uow, ticket.events)}
    notes = [
        Note(e.at, _who(e.actor, names), e.note, tuple(photos.get(e.id, ())))
        for e in ticket.events
        if e.kind in (EventKind.NOTE, EventKind.ACCEPTED, EventKind.RESOLVED)
        and (e.note or photos.get(e.id))
    ]
    return tuple(reversed(notes))


def _people(uow: UnitOfWork, events: Sequence[TicketEvent]) -> Sequence[Staff]:
    ids = {i for e in events if (i := Actor.parse(e.actor).staff_id) is not None}
    if not ids:
        return []
    return list(uow.session.scalars(select(Staff).where(Staff.id.in_(ids))))


def _who(stored: str, names: dict[int, str]) -> str:
    """A member by name, anyone else by their kind ("caller", "system"), and a form the
    hotline does not write as it was stored."""
    actor = Actor.parse(stored)
    if actor.staff_id is not None:
        return names.get(actor.staff_id, stored)
    return stored if actor.kind is ActorKind.OTHER else actor.kind.value
