"""The outbox's claim and record of each send, on the real database: every SMS passes
through both, so each is one statement, and the claim still lets only one worker send."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import CALLER, NOW
from ticketing.exceptions import NotFound
from ticketing.models.sms import SmsDirection, SmsMessage, SmsStatus
from ticketing.notices import outbox
from ticketing.notices.outbox import OutgoingSms
from ticketing.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration

BODY = "【热线】您的工单2611270001已受理。"


def _queued(session_factory: sessionmaker[Session], status: SmsStatus = SmsStatus.QUEUED) -> int:
    with UnitOfWork(session_factory) as uow:
        message = SmsMessage(
            direction=SmsDirection.OUTBOUND,
            to_number=CALLER,
            from_number="",
            body=BODY,
            status=status,
            purpose="caller_receipt",
            created_at=NOW,
            updated_at=NOW,
        )
        uow.session.add(message)
        uow.commit()
        return message.id


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
    message_id = _queued(session_factory)
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
    message_id = _queued(session_factory)
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
    message_id = _queued(session_factory, SmsStatus.DELIVERED)
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
    message_id = _queued(factory)
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
