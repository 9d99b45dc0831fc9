"""The scheduler: one tick per slot across every scheduler, a standby taking over."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from redis import Redis
from sqlalchemy import func, select

from hotline.bootstrap import Services
from hotline.jobs import tasks
from hotline.jobs.scheduler import LEADER_KEY, Lease, Scheduler, TickRun, start_in_thread
from tests.conftest import FixedClock
from tests.factories import register_case
from ticketing.models.sla import Escalation

pytestmark = pytest.mark.integration


class FakeTime:
    """Wall-clock seconds the test moves by hand."""

    def __init__(self, now: float = 1_000_050.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def redis(redis_url: str | None) -> Iterator[Redis]:
    if redis_url is None:
        pytest.skip("needs REDIS_URL: schedulers on several hosts elect one through Redis")
    client = Redis.from_url(redis_url)
    for key in client.scan_iter("hotline:scheduler:*"):
        client.delete(key)
    yield client
    client.close()


def test_the_tick_sweeps_drains_and_auto_closes(
    services: Services, clock: FixedClock, run_jobs: Callable[[], int]
) -> None:
    register_case(services, category="gas_smell")
    clock.now += timedelta(minutes=12)  # the accept reminder of an urgent case (75% of 15)
    done = tasks.tick()
    assert (done.fired, done.auto_closed) == (1, 0)
    assert str(done).startswith("fired 1 escalation(s), re-enqueued ")
    run_jobs()
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Escalation)) == 1
    assert tasks.tick().fired == 0  # each rung fires once


def test_without_redis_every_slot_ticks_once() -> None:
    now = FakeTime()
    runs: list[TickRun] = []
    ticks_before = _sample("hotline_sweep_ticks_total")
    scheduler = Scheduler(lambda: "done", every=60, on_tick=runs.append, now=now)
    ticked = []
    for _ in range(4):  # four passes 20 s apart: two in one minute, two in the next
        ticked.append(scheduler.step())
        now.now += 20
    assert ticked == [True, False, True, False]
    assert [run.result for run in runs] == ["done", "done"]
    assert runs[0].lag_seconds == pytest.approx(30)  # half a minute into its slot
    assert _sample("hotline_sweep_ticks_total") == ticks_before + 2  # /metrics sees each


def test_a_tick_counts_the_rungs_it_fired_in_the_metrics() -> None:
    fired_before = _sample("hotline_sweep_fired_total")
    Scheduler(lambda: tasks.Tick(fired=3, re_enqueued=0, auto_closed=1), every=60).step()
    assert _sample("hotline_sweep_fired_total") == fired_before + 3


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_a_failing_tick_is_logged_and_the_next_slot_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = threading.Semaphore(0)
    failures = iter([True])

    def tick() -> None:
        calls.release()
        if next(failures, False):
            raise RuntimeError("database away")

    scheduler = Scheduler(tick, every=0.05)
    start_in_thread(scheduler)
    try:
        assert calls.acquire(timeout=5)
        assert calls.acquire(timeout=5)  # the failure stopped nothing
    finally:
        scheduler.stop()
    assert "the tick failed" in caplog.text


def test_two_schedulers_tick_each_slot_once(redis: Redis) -> None:
    slots: Counter[str] = Counter()
    by: Counter[int] = Counter()

    def make(n: int) -> Scheduler:
        def tick() -> None:
            slots[str(int(time.time() / 0.25))] += 1
            by[n] += 1

        return Scheduler(tick, every=0.25, redis=redis)

    first, second = make(1), make(2)
    threads = [start_in_thread(first), start_in_thread(second)]
    time.sleep(2.6)
    first.stop()
    second.stop()
    for thread in threads:
        thread.join(timeout=5)
    assert sum(by.values()) >= 8
    assert len(by) == 1  # one leader ticked throughout
    assert max(slots.values()) == 1


def test_a_standby_takes_over_when_the_leader_stops(redis: Redis) -> None:
    ticks: list[int] = []
    leader = Scheduler(lambda: ticks.append(1), every=0.2, redis=redis)
    standby = Scheduler(lambda: ticks.append(2), every=0.2, redis=redis)
    threads = [start_in_thread(leader)]
    time.sleep(0.5)
    threads.append(start_in_thread(standby))
    time.sleep(0.6)
    assert set(ticks) == {1}
    leader.stop()  # it releases the lease on the way out
    threads[0].join(timeout=5)
    time.sleep(0.8)
    standby.stop()
    threads[1].join(timeout=5)
    assert ticks[-1] == 2


def test_a_dead_leaders_lease_lapses(redis: Redis) -> None:
    dead = Lease(redis, seconds=1)
    assert dead.acquire()
    alive = Lease(redis, seconds=1)
    assert not alive.acquire()
    time.sleep(1.2)  # the holder died without releasing: its lease runs out
    assert alive.acquire()
    assert not dead.renew()  # a holder that comes back does not steal it back
    assert redis.get(LEADER_KEY) == alive.holder.encode()
