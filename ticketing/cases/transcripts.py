"""What a case's recorded description says: the transcription job's reads and writes.

The job (`hotline.jobs.tasks.transcribe_recording`) reads what to fetch, works without a
transaction open while it downloads and recognises the audio, then calls one of the two
use cases below, each of which writes one event and commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ticketing.cases.intake import SYSTEM
from ticketing.exceptions import NotFound
from ticketing.history.recording import record_event
from ticketing.models.cases import Ticket
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import EventKind


@dataclass(frozen=True)
class Recording:
    """A case's recording still to transcribe."""

    url: str
    number: str
    language: str


def recording_to_transcribe(uow: UnitOfWork, ticket_id: int) -> Recording | None:
    """The case's recording, or None when it has none or was transcribed already (a
    repeated job)."""
    ticket = uow.session.get(Ticket, ticket_id)
    if ticket is None or not ticket.recording_url:
        return None
    if any(
        e.kind in (EventKind.TRANSCRIBED, EventKind.TRANSCRIPTION_FAILED) for e in ticket.events
    ):
        return None
    return Recording(ticket.recording_url, ticket.number, ticket.language)


def attach_transcript(
    uow: UnitOfWork, ticket_id: int, text: str, confidence: float, engine: str, now: datetime
) -> None:
    """Keep what the recogniser heard in the caller's recording; it fills an empty
    description, so the agent reads something before listening."""
    ticket = uow.session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"no case {ticket_id}")
    record_event(
        ticket,
        EventKind.TRANSCRIBED,
        SYSTEM,
        now,
        note=text,
        data={"confidence": round(confidence, 3), "engine": engine},
    )
    if not ticket.description and text:
        ticket.description = text
    uow.commit()


def note_transcription_failure(uow: UnitOfWork, ticket_id: int, reason: str, now: datetime) -> None:
    """The recording could not be read: say so on the case, which carries on regardless."""
    ticket = uow.session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"no case {ticket_id}")
    record_event(ticket, EventKind.TRANSCRIPTION_FAILED, SYSTEM, now, note=reason)
    uow.commit()
