"""The outbox's bookkeeping: claiming a message to send, recording what the provider
said, retrying what failed, and moving delivery states forward only.

Every move of a message's state goes through `_move`, which publishes it as an
`SmsStatusChanged` for the subscribers (the metrics count SMS by status from it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from ticketing.exceptions import InvalidInput, NotFound
from ticketing.models.sms import SmsDirection, SmsMessage, SmsStatus
from ticketing.unit_of_work import SmsStatusChanged, UnitOfWork


def _move(uow: UnitOfWork, message: SmsMessage, status: SmsStatus) -> None:
    """Set a message's delivery state, told to the subscribers once committed."""
    message.status = status
    uow.publish(SmsStatusChanged(message.id, status))


def record_sms_status(
    uow: UnitOfWork,
    message_sid: str,
    status: str,
    error_code: str | None,
    now: datetime,
    *,
    message_id: int | None = None,
) -> bool:
    """Apply a delivery callback if it moves the message forward; False if ignored.

    The provider may call back before the sending job has stored the SID it was answered
    (a fast carrier, a slow commit); `message_id`, from the callback's URL, finds the
    message then, and the SID is stored here first.
    """
    try:
        new = SmsStatus(status)
    except ValueError as exc:
        raise InvalidInput(f"unknown message status {status!r}") from exc
    # Locked: two callbacks for one message (sent, delivered) may arrive at once, and the
    # later state must win whatever order they commit in.
    mine = SmsMessage.direction == SmsDirection.OUTBOUND
    if message_id is not None:
        found = SmsMessage.id == message_id
    else:
        found = SmsMessage.provider_sid == message_sid
    message = uow.session.scalars(
        select(SmsMessage).where(mine, found).with_for_update()
    ).one_or_none()
    if message is not None and message.provider_sid is None:
        message.provider_sid = message_sid  # before the sending job stored it
    elif message is not None and message.provider_sid != message_sid:
        message = None  # a callback for another message than the one its URL names
    if message is None:
        raise NotFound(f"no message {message_sid}")
    if new.rank <= message.status.rank:
        return False  # late or repeated callback: states only move forward
    _move(uow, message, new)
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
    """Mark a queued message as being sent; None if it was sent already (a repeated job).

    One conditional UPDATE: of two workers given the same message, the second waits on the
    first's row lock, then finds it no longer queued, so only one of them sends it. Every
    SMS passes here, so it is one statement rather than a locked read, an ORM load and a
    flush.
    """
    claimed = uow.session.execute(
        update(SmsMessage)
        .where(SmsMessage.id == message_id, SmsMessage.status == SmsStatus.QUEUED)
        .values(status=SmsStatus.SENDING, attempts=SmsMessage.attempts + 1, updated_at=now)
        .returning(SmsMessage.to_number, SmsMessage.body)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if claimed is None:
        if not uow.session.scalar(select(exists().where(SmsMessage.id == message_id))):
            raise NotFound(f"no message {message_id}")
        return None
    uow.publish(SmsStatusChanged(message_id, SmsStatus.SENDING))
    uow.commit()
    return OutgoingSms(message_id, claimed.to_number, claimed.body)


MAX_SEND_ATTEMPTS = 5
# A worker killed between claiming a message and recording the result leaves it
# "sending" with no provider id; after this long it is assumed lost and sent again.
STALE_SENDING = timedelta(minutes=5)


def mark_sent(
    uow: UnitOfWork, message_id: int, provider_sid: str | None, status: SmsStatus, now: datetime
) -> None:
    """Record what the provider said when it took the message, in one UPDATE (every SMS
    passes here): the status moves forward only, as everywhere in the outbox, and a move
    is told to the subscribers. A second UPDATE stores the SID alone when the status stays
    (the usual "in flight" answer, which the claim recorded, or a callback got ahead).
    """
    found = SmsMessage.id == message_id
    said = {"provider_sid": provider_sid, "error": None, "updated_at": now}
    if status.rank > SmsStatus.SENDING.rank:
        behind = [s for s in SmsStatus if s.rank < status.rank]
        moved = uow.session.execute(
            update(SmsMessage)
            .where(found, SmsMessage.status.in_(behind))
            .values(status=status, **said)
            .returning(SmsMessage.id)
            .execution_options(synchronize_session=False)
        ).first()
        if moved is not None:
            uow.publish(SmsStatusChanged(message_id, status))
            uow.commit()
            return
    recorded = uow.session.execute(
        update(SmsMessage).where(found).values(**said).execution_options(synchronize_session=False)
    )
    if recorded.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"no message {message_id}")
    uow.commit()


def mark_send_failed(
    uow: UnitOfWork, message_id: int, error: str, now: datetime, *, permanent: bool
) -> SmsStatus:
    """After a failed attempt: back to the queue, or FAILED if retrying cannot help or the
    attempts are used up. Returns the new status."""
    message = _message(uow, message_id)
    give_up = permanent or message.attempts >= MAX_SEND_ATTEMPTS
    _move(uow, message, SmsStatus.FAILED if give_up else SmsStatus.QUEUED)
    message.error = error[:300]
    message.updated_at = now
    uow.commit()
    return message.status


def _message(uow: UnitOfWork, message_id: int) -> SmsMessage:
    """The message, locked: a delivery callback may be moving it forward at this moment."""
    message = uow.session.get(SmsMessage, message_id, with_for_update=True)
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
        _move(uow, message, SmsStatus.QUEUED)
    uow.commit()
    return list(
        uow.session.scalars(
            select(SmsMessage.id)
            .where(SmsMessage.status == SmsStatus.QUEUED, SmsMessage.updated_at < now - older_than)
            .order_by(SmsMessage.created_at)
            .limit(limit)
        )
    )


def newest_outbound(session: Session, to_number: str | None, limit: int) -> list[SmsMessage]:
    """The newest outgoing messages, newest first (only those to `to_number` if given)."""
    query = select(SmsMessage).where(SmsMessage.direction == SmsDirection.OUTBOUND)
    if to_number:
        query = query.where(SmsMessage.to_number == to_number)
    return list(session.scalars(query.order_by(SmsMessage.id.desc()).limit(limit)))


@dataclass(frozen=True)
class Backlog:
    """What waits in the outbox: messages queued and being sent, and since when the oldest
    queued one waits (None when none does)."""

    queued: int
    sending: int
    oldest_queued_at: datetime | None


def backlog(uow: UnitOfWork) -> Backlog:
    """The outbox's backlog now, read through the (status, created_at) index; the metrics
    read it at each scrape. Only outgoing messages are ever queued or being sent."""
    rows = uow.session.execute(
        select(SmsMessage.status, func.count(), func.min(SmsMessage.created_at))
        .where(SmsMessage.status.in_((SmsStatus.QUEUED, SmsStatus.SENDING)))
        .group_by(SmsMessage.status)
    ).all()
    found = {status: (int(n), oldest) for status, n, oldest in rows}
    queued, oldest = found.get(SmsStatus.QUEUED, (0, None))
    return Backlog(queued, found.get(SmsStatus.SENDING, (0, None))[0], oldest)
