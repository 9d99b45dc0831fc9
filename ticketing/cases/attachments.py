"""Reading a case's attachments (the photos grid members add from the phone page) for the
console: the list the case page shows, and one file, only inside what the user may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models.accounts import User
from ticketing.models.cases import Attachment, Ticket
from ticketing.models.people import Staff
from ticketing.people.visibility import case_filter
from ticketing.vocabulary.events import Actor


@dataclass(frozen=True)
class AttachmentInfo:
    id: int
    filename: str
    content_type: str
    size: int
    at: datetime
    by: str  # the uploader's name, or the actor as recorded
    event_id: int | None

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


@dataclass(frozen=True)
class AttachmentFile:
    stored_path: str  # relative to the attachments folder
    content_type: str
    filename: str


def for_case(session: Session, ticket_id: int) -> list[AttachmentInfo]:
    """The case's attachments, oldest first, with who added each."""
    rows = session.scalars(
        select(Attachment).where(Attachment.ticket_id == ticket_id).order_by(Attachment.id)
    ).all()
    ids = {i for r in rows if (i := Actor.parse(r.uploaded_by).staff_id) is not None}
    names = (
        dict(session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(ids))).all())
        if ids
        else {}
    )

    def who(actor: str) -> str:
        staff_id = Actor.parse(actor).staff_id
        return names.get(staff_id, actor) if staff_id is not None else actor

    return [
        AttachmentInfo(
            r.id, r.filename, r.content_type, r.size, r.at, who(r.uploaded_by), r.event_id
        )
        for r in rows
    ]


def visible_file(
    session: Session, user: User, number: str, attachment_id: int
) -> AttachmentFile | None:
    """One attachment of case `number`, or None when there is none or the case is one
    `user` may not see (`people.visibility.case_filter`): both answer the same."""
    visible = case_filter(session, user)
    row = session.execute(
        select(Attachment.stored_path, Attachment.content_type, Attachment.filename)
        .join(Ticket, Ticket.id == Attachment.ticket_id)
        .where(Ticket.number == number, Attachment.id == attachment_id, visible)
    ).first()
    return AttachmentFile(*row) if row is not None else None
