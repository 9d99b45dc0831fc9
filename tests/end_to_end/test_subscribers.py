"""The edge hears what the core did through subscribers given to bootstrap, without any
use case knowing: the way metrics and outbound webhooks will hook in."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hotline.app import create_app
from hotline.bootstrap import Services, bootstrap
from hotline.jobs import context
from hotline.jobs.queue import JobQueue
from hotline.settings import Settings
from hotline.simulator.caller import FlaskTransport, Simulator
from tests.conftest import PUBLIC_BASE_URL, TEST_TOKEN, FixedClock
from tests.factories import CALLER, EN_STREET_LIGHT_IN_1101
from ticketing.unit_of_work import CaseEvent, DomainEvent, SmsQueued
from ticketing.vocabulary.events import ActorKind, EventKind

pytestmark = pytest.mark.functional


class RegisteredCases:
    """What a Prometheus counter of registered cases would count, as a subscriber."""

    def __init__(self) -> None:
        self.by_channel_and_category: Counter[tuple[str, str]] = Counter()
        self.heard: list[DomainEvent] = []

    def __call__(self, event: DomainEvent) -> None:
        self.heard.append(event)
        if isinstance(event, CaseEvent) and event.kind is EventKind.CREATED:
            self.by_channel_and_category[(event.channel, event.category)] += 1


def _services(
    settings: Settings,
    db_engine: Engine,
    session_factory: sessionmaker[Session],
    job_queue: JobQueue,
    clock: FixedClock,
    counter: RegisteredCases,
) -> Services:
    return bootstrap(
        settings,
        engine=db_engine,
        session_factory=session_factory,
        jobs=job_queue,
        clock=clock,
        subscribers=[counter],
    )


def test_a_subscriber_counts_each_registered_case_and_hears_the_moves_that_follow(
    settings: Settings,
    db_engine: Engine,
    session_factory: sessionmaker[Session],
    job_queue: JobQueue,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    counter = RegisteredCases()
    services = _services(settings, db_engine, session_factory, job_queue, clock, counter)
    simulator = Simulator(
        FlaskTransport(create_app(services=services)), PUBLIC_BASE_URL, TEST_TOKEN
    )
    with context.running_on(services):
        case = simulator.call(CALLER, EN_STREET_LIGHT_IN_1101).as_json()
        assert counter.by_channel_and_category == Counter({("phone", "street_light"): 1})
        number = str(case["case_number"])
        assert "accepted" in simulator.sms(str(case["assignee_phone"]), f"A {number}")

    kinds = [(e.kind, e.actor.kind) for e in counter.heard if isinstance(e, CaseEvent)]
    assert kinds[0] == (EventKind.CREATED, ActorKind.CALLER)
    assert (EventKind.ACCEPTED, ActorKind.STAFF) in kinds
    assert {e.case_number for e in counter.heard if isinstance(e, CaseEvent)} == {number}
    # every SMS the core queued was heard too: the assignment and the caller's receipt
    assert len([e for e in counter.heard if isinstance(e, SmsQueued)]) >= 2


def test_a_failing_subscriber_loses_no_case_and_no_sms(
    settings: Settings,
    db_engine: Engine,
    session_factory: sessionmaker[Session],
    job_queue: JobQueue,
    clock: FixedClock,
) -> None:
    def broken(event: DomainEvent) -> None:
        raise RuntimeError("the metrics backend is down")

    services = bootstrap(
        settings,
        engine=db_engine,
        session_factory=session_factory,
        jobs=job_queue,
        clock=clock,
        subscribers=[broken],
    )
    simulator = Simulator(
        FlaskTransport(create_app(services=services)), PUBLIC_BASE_URL, TEST_TOKEN
    )
    with context.running_on(services):
        case = simulator.call(CALLER, EN_STREET_LIGHT_IN_1101).as_json()
    assert case["status"] == "assigned"
    assert case["assignee_phone"]
