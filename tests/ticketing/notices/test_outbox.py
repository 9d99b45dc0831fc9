"""The outbox on the real database: each move of a message's delivery state is told to
the subscribers once committed, the backlog counts what still waits, and the claim and
record of each send are one statement apiece (every SMS passes through both) while the
claim still lets only one worker send."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import FixedClock
from tests.factories import CALLER, NOW, open_case, queued_receipt
from ticketing.exceptions import NotFound
from ticketing.models.sms import SmsDirection, SmsMessage, SmsStatus
from ticketing.notices import outbox
from ticketing.notices.outbox import OutgoingSms
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


BODY = "【热线】您的工单2611270001已受理。"


def _row(session_factory: sessionmaker[Session], message_id: int) -> SmsMessage:
    with UnitOfWork(session_factory) as uow:
        row = uow.session.get(SmsMessage, message_id)
        assert row is not None
        return row


# The test's own savepoints around each unit of work, which production does not send.
TRANSACTION_CONTROL = {"SAVEPOINT", "RELEASE", "ROLLBACK"}


class Statements:
    """The first word of each SQL statement sent while counting, savepoints left out."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        verb = statement.split(None, 1)[0].upper()
        if verb not in TRANSACTION_CONTROL:
            self.sql.append(verb)


@pytest.fixture
def statements(session_factory: sessionmaker[Session]) -> Iterator[Statements]:
    bind = session_factory.kw["bind"]
    seen = Statements()
    event.listen(bind, "before_cursor_execute", seen)
    yield seen
    event.remove(bind, "before_cursor_execute", seen)


def test_a_queued_message_is_claimed_once_in_one_statement(
    session_factory: sessionmaker[Session], statements: Statements
) -> None:
    message_id = queued_receipt(session_factory, NOW, body=BODY)
    statements.sql.clear()

    with UnitOfWork(session_factory) as uow:
        claimed = outbox.claim_for_sending(uow, message_id, NOW)

    assert claimed == OutgoingSms(message_id, CALLER, BODY)
    assert statements.sql == ["UPDATE"]
    row = _row(session_factory, message_id)
    assert (row.status, row.attempts, row.updated_at) == (SmsStatus.SENDING, 1, NOW)
    with UnitOfWork(session_factory) as uow:
        assert outbox.claim_for_sending(uow, message_id, NOW) is None  # a repeated job
    assert _row(session_factory, message_id).attempts == 1


def test_claiming_a_message_that_does_not_exist_is_not_found(
    session_factory: sessionmaker[Session],
) -> None:
    with UnitOfWork(session_factory) as uow, pytest.raises(NotFound):
        outbox.claim_for_sending(uow, 10**9, NOW)


@pytest.mark.parametrize(
    ("answered", "expected"),
    [(SmsStatus.SENDING, SmsStatus.SENDING), (SmsStatus.LOGGED, SmsStatus.LOGGED)],
)
def test_the_providers_answer_is_recorded_in_one_statement(
    session_factory: sessionmaker[Session],
    statements: Statements,
    answered: SmsStatus,
    expected: SmsStatus,
) -> None:
    message_id = queued_receipt(session_factory, NOW, body=BODY)
    with UnitOfWork(session_factory) as uow:
        outbox.claim_for_sending(uow, message_id, NOW)
    statements.sql.clear()

    sid = "SM" + "1" * 32 if answered is SmsStatus.SENDING else None
    with UnitOfWork(session_factory) as uow:
        outbox.mark_sent(uow, message_id, sid, answered, NOW)

    assert statements.sql == ["UPDATE"]
    row = _row(session_factory, message_id)
    assert (row.status, row.provider_sid, row.error) == (expected, sid, None)


def test_recording_the_answer_never_moves_a_message_back(
    session_factory: sessionmaker[Session],
) -> None:
    message_id = queued_receipt(session_factory, NOW, body=BODY, status=SmsStatus.DELIVERED)
    with UnitOfWork(session_factory) as uow:
        outbox.mark_sent(uow, message_id, "SM" + "2" * 32, SmsStatus.SENDING, NOW)
    row = _row(session_factory, message_id)
    assert (row.status, row.provider_sid) == (SmsStatus.DELIVERED, "SM" + "2" * 32)


def test_recording_an_answer_for_no_message_is_not_found(
    session_factory: sessionmaker[Session],
) -> None:
    with UnitOfWork(session_factory) as uow, pytest.raises(NotFound):
        outbox.mark_sent(uow, 10**9, None, SmsStatus.LOGGED, NOW)


def test_two_workers_claiming_the_same_message_at_once_send_it_once(db_engine: Engine) -> None:
    """Each worker on a connection of its own, committed for real (not in the test's
    rolled-back transaction): the second claim waits for the first and finds it taken."""
    factory = sessionmaker(db_engine, expire_on_commit=False)
    message_id = queued_receipt(factory, NOW, body=BODY)
    start = threading.Barrier(2)
    claims: list[OutgoingSms | None] = []

    def worker() -> None:
        start.wait()
        with UnitOfWork(factory) as uow:
            claims.append(outbox.claim_for_sending(uow, message_id, NOW))

    try:
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(claims, key=lambda c: c is None) == [
            OutgoingSms(message_id, CALLER, BODY),
            None,
        ]
        assert _row(factory, message_id).attempts == 1
    finally:
        with UnitOfWork(factory) as uow:
            uow.session.execute(delete(SmsMessage).where(SmsMessage.id == message_id))
            uow.commit()
