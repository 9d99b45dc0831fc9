"""The unit of work on the real database: after-commit hooks and the domain events it
publishes, only for what was committed."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import FixedClock
from tests.factories import new_case
from ticketing.cases import intake
from ticketing.models.cases import Ticket
from ticketing.unit_of_work import CaseEvent, DomainEvent, SmsQueued, UnitOfWork

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _new_case() -> intake.NewCase:
    return new_case(description="lamp out", language="en-US")


def test_hooks_run_after_the_commit_in_order(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    ran: list[str] = []
    with UnitOfWork(session_factory) as uow:
        summary = intake.open_case_uncommitted(uow, _new_case(), clock(), SHANGHAI)[0]
        uow.after_commit(lambda: ran.append("first"))
        uow.after_commit(lambda: ran.append("second"))
        assert ran == []
        uow.commit()
        assert ran == ["first", "second"]
    with UnitOfWork(session_factory) as uow:
        assert uow.session.scalar(select(Ticket.id).where(Ticket.number == summary.number))


def test_nothing_runs_and_nothing_is_published_without_a_commit(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    ran: list[str] = []
    heard: list[DomainEvent] = []
    with UnitOfWork(session_factory, [heard.append]) as uow:
        intake.open_case_uncommitted(uow, _new_case(), clock(), SHANGHAI)
        uow.after_commit(lambda: ran.append("hook"))
    assert (ran, heard) == ([], [])


def test_a_failing_hook_is_logged_and_neither_undoes_the_commit_nor_stops_the_rest(
    session_factory: sessionmaker[Session], clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise ConnectionError("redis is down")

    with UnitOfWork(session_factory) as uow:
        summary = intake.open_case_uncommitted(uow, _new_case(), clock(), SHANGHAI)[0]
        uow.after_commit(broken)
        uow.after_commit(lambda: ran.append("after"))
        with caplog.at_level(logging.ERROR, logger="ticketing.unit_of_work"):
            uow.commit()
    assert ran == ["after"]
    assert "after-commit hook failed" in caplog.text
    with UnitOfWork(session_factory) as uow:
        assert uow.session.scalar(select(Ticket.id).where(Ticket.number == summary.number))


def test_subscribers_hear_each_history_row_and_each_queued_sms_of_the_transaction(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    heard: list[DomainEvent] = []
    with UnitOfWork(session_factory, [heard.append]) as uow:
        summary = intake.open_case_uncommitted(uow, _new_case(), clock(), SHANGHAI)[0]
        assert heard == []
        uow.commit()
    cases = [e for e in heard if isinstance(e, CaseEvent)]
    assert [e.kind for e in cases] == ["created", "assigned"]
    assert {(e.case_number, e.channel, e.category) for e in cases} == {
        (summary.number, "phone", "street_light")
    }
    assert cases[0].at == clock()
    sms = [e for e in heard if isinstance(e, SmsQueued)]
    assert len(sms) == 2  # the grid member's assignment and the caller's receipt
    assert all(e.message_id for e in sms)


def test_rows_of_a_rolled_back_savepoint_are_not_published(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    heard: list[DomainEvent] = []
    with UnitOfWork(session_factory, [heard.append]) as uow:
        savepoint = uow.session.begin_nested()
        intake.open_case_uncommitted(uow, _new_case(), clock(), SHANGHAI)
        uow.session.flush()
        savepoint.rollback()
        uow.commit()
    assert [e for e in heard if isinstance(e, CaseEvent)] == []


def test_a_second_commit_publishes_only_its_own_events(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    heard: list[DomainEvent] = []
    with UnitOfWork(session_factory, [heard.append]) as uow:
        intake.open_case_uncommitted(uow, _new_case(), clock(), SHANGHAI)
        uow.commit()
        first = len(heard)
        uow.commit()
    assert len(heard) == first
