"""The minute tick: with Redis one process per minute enqueues it; in-process it just runs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hotline.bootstrap import Services
from hotline.jobs.clock import TICK_LOCK, start_ticker, tick_once
from hotline.jobs.queue import RqJobQueue
from tests.conftest import FixedClock
from tests.factories import register_case
from ticketing.models.sla import Escalation

pytestmark = pytest.mark.integration


def test_a_tick_sweeps_due_escalations(
    services: Services, clock: FixedClock, run_jobs: Callable[[], int]
) -> None:
    register_case(services, category="gas_smell")
    clock.now += timedelta(minutes=12)  # the accept reminder of an urgent case (75% of 15)
    if isinstance(services.jobs, RqJobQueue):
        services.jobs.redis.delete(TICK_LOCK)
    assert tick_once(services)
    run_jobs()
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Escalation)) == 1


def test_only_one_process_enqueues_each_minute(services: Services) -> None:
    if not isinstance(services.jobs, RqJobQueue):
        pytest.skip("needs REDIS_URL: in-process there is one process, every tick runs")
    services.jobs.redis.delete(TICK_LOCK)
    assert tick_once(services)
    assert not tick_once(services)  # a second worker in the same minute
    assert len(services.jobs.queue("default")) == 1


def test_the_ticker_thread_calls_until_stopped() -> None:
    calls = threading.Semaphore(0)
    stop = start_ticker(calls.release, every=0.01)
    assert calls.acquire(timeout=5)
    assert calls.acquire(timeout=5)
    stop.set()
