"""The outbox on the real database: each move of a message's delivery state is told to
the subscribers once committed, and the backlog counts what still waits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import FixedClock
from tests.factories import open_case
from ticketing.models.sms import SmsDirection, SmsMessage, SmsStatus
from ticketing.notices import outbox
from ticketing.unit_of_work import DomainEvent, SmsStatusChanged, UnitOfWork

pytestmark = pytest.mark.integration


def _queued(session_factory: sessionmaker[Session], clock: FixedClock) -> list[int]:
    """The outbox rows a new case queues (its assignment SMS and the caller's receipt)."""
    with UnitOfWork(session_factory) as uow:
        ticket = open_case(uow, clock())
        return list(
            uow.session.scalars(
                select(SmsMessage.id).where(
                    SmsMessage.ticket_id == ticket.id,
                    SmsMessage.direction == SmsDirection.OUTBOUND,
                )
            )
        )


def _changes(heard: list[DomainEvent]) -> list[tuple[int, SmsStatus]]:
    return [(e.message_id, e.status) for e in heard if isinstance(e, SmsStatusChanged)]


def test_every_move_of_a_message_is_published_after_its_commit(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    first, second = _queued(session_factory, clock)[:2]
    heard: list[DomainEvent] = []
    with UnitOfWork(session_factory, [heard.append]) as uow:
        assert outbox.claim_for_sending(uow, first, clock()) is not None
    with UnitOfWork(session_factory, [heard.append]) as uow:
        outbox.mark_sent(uow, first, "SM1", SmsStatus.SENT, clock())
    with UnitOfWork(session_factory, [heard.append]) as uow:
        assert outbox.record_sms_status(uow, "SM1", "delivered", None, clock())
    with UnitOfWork(session_factory, [heard.append]) as uow:
        assert not outbox.record_sms_status(uow, "SM1", "sent", None, clock())  # late: ignored
    with UnitOfWork(session_factory, [heard.append]) as uow:
        outbox.claim_for_sending(uow, second, clock())
    with UnitOfWork(session_factory, [heard.append]) as uow:
        outbox.mark_send_failed(uow, second, "timeout", clock(), permanent=False)
    with UnitOfWork(session_factory, [heard.append]) as uow:
        outbox.claim_for_sending(uow, second, clock())
    with UnitOfWork(session_factory, [heard.append]) as uow:
        outbox.mark_send_failed(uow, second, "invalid number", clock(), permanent=True)
    assert _changes(heard) == [
        (first, SmsStatus.SENDING),
        (first, SmsStatus.SENT),
        (first, SmsStatus.DELIVERED),
        (second, SmsStatus.SENDING),
        (second, SmsStatus.QUEUED),
        (second, SmsStatus.SENDING),
        (second, SmsStatus.FAILED),
    ]


def test_a_message_a_dead_worker_left_sending_is_published_back_in_the_queue(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    message = _queued(session_factory, clock)[0]
    with UnitOfWork(session_factory) as uow:
        outbox.claim_for_sending(uow, message, clock())
    clock.now += outbox.STALE_SENDING + timedelta(minutes=1)
    heard: list[DomainEvent] = []
    with UnitOfWork(session_factory, [heard.append]) as uow:
        assert message in outbox.messages_to_retry(uow, clock(), timedelta(0))
    assert (message, SmsStatus.QUEUED) in _changes(heard)


def test_the_backlog_counts_what_waits_and_since_when(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    with UnitOfWork(session_factory) as uow:
        before = outbox.backlog(uow)
    created = clock()
    messages = _queued(session_factory, clock)
    with UnitOfWork(session_factory) as uow:
        outbox.claim_for_sending(uow, messages[0], clock())
    with UnitOfWork(session_factory) as uow:
        after = outbox.backlog(uow)
    assert after.queued == before.queued + len(messages) - 1
    assert after.sending == before.sending + 1
    assert after.oldest_queued_at is not None
    assert after.oldest_queued_at <= created
