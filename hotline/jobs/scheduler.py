"""The clock in production: one scheduler, across every host, runs the minute tick.

`hotline scheduler` may run on every host (so losing one host loses no escalation), but
only the holder of a Redis lease ticks. The lease is short and renewed on a thread while
the holder lives, so a standby takes over at its first slot after the holder's lease lapses.
Each tick slot (the wall-clock minute) is also claimed with SET NX, so even the few
seconds in which an old holder has not yet noticed its lease expired cannot tick the
same minute twice; and the tick itself is safe to run twice (each rung fires once, each
SMS is claimed before it is sent).

The tick runs here, in the scheduler's own process, not on a worker: a long sweep then
never holds up an SMS or a transcription, and a slow tick shows as lag, not as a queue.
Without Redis (`hotline run`, embedded) there is one process and nothing to elect.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError

from hotline import metrics
from hotline.jobs.tasks import Tick

log = logging.getLogger(__name__)

LEADER_KEY = "hotline:scheduler:leader"
SLOT_KEY = "hotline:scheduler:slot:{}"
LEASE_SECONDS = 30

# Extend or release the lease only while we still hold it (compare-and-set in Redis).
_IF_OURS = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call({}) else return 0 end"
_RENEW = _IF_OURS.format("'pexpire', KEYS[1], ARGV[2]")
_RELEASE = _IF_OURS.format("'del', KEYS[1]")


@dataclass(frozen=True)
class TickRun:
    """One tick as the scheduler ran it: when it was due, how late it began, how long."""

    slot: datetime
    lag_seconds: float
    duration_seconds: float
    result: object


class Lease:
    """Leadership among schedulers: a Redis key holding this process's id, with a TTL."""

    def __init__(self, redis: Redis, seconds: int = LEASE_SECONDS, key: str = LEADER_KEY) -> None:
        self.redis = redis
        self.key = key
        self.millis = seconds * 1000
        self.holder = uuid.uuid4().hex

    def acquire(self) -> bool:
        """Take the lease if nobody holds it, or keep it if we do; False otherwise."""
        if self.redis.set(self.key, self.holder, nx=True, px=self.millis):
            return True
        return self.renew()

    def renew(self) -> bool:
        """Extend the lease if we still hold it; False if it lapsed to someone else."""
        return bool(self.redis.eval(_RENEW, 1, self.key, self.holder, self.millis))

    def release(self) -> None:
        self.redis.eval(_RELEASE, 1, self.key, self.holder)


class Scheduler:
    """Run `tick` once per `every` seconds of wall-clock time while we hold the lease."""

    def __init__(
        self,
        tick: Callable[[], object],
        every: float = 60.0,
        redis: Redis | None = None,
        on_tick: Callable[[TickRun], None] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.tick = tick
        self.every = every
        self.redis = redis
        self.lease = Lease(redis) if redis is not None else None  # renewed every 10 s
        self.on_tick = on_tick
        self.now = now
        self.stopping = threading.Event()
        self.last_slot: float | None = None

    def run(self) -> None:
        """Tick until `stop()`; a failed tick or a Redis outage is logged, never fatal."""
        renewer = self._start_renewer()
        try:
            while not self.stopping.is_set():
                self.step()
                self.stopping.wait(self._until_next_slot())
        finally:
            self.stopping.set()
            if renewer is not None:
                renewer.join(timeout=5)
            if self.lease is not None:
                with suppress(RedisError):  # a standby takes over at once, not after the TTL
                    self.lease.release()

    def step(self) -> bool:
        """Tick the current slot if it is ours and not yet ticked; True if we did."""
        slot = self._current_slot()
        if slot == self.last_slot or not self._may_tick(slot):
            return False
        self.last_slot = slot
        self._run_tick(slot)
        return True

    def stop(self) -> None:
        self.stopping.set()

    def _current_slot(self) -> float:
        now = self.now()
        return now - now % self.every

    def _until_next_slot(self) -> float:
        now = self.now()
        return max(0.05, self.every - now % self.every)

    def _may_tick(self, slot: float) -> bool:
        """Whether this process leads and no one has ticked this slot yet."""
        if self.redis is None or self.lease is None:
            return True
        try:
            if not self.lease.acquire():
                return False
            claimed = self.redis.set(
                SLOT_KEY.format(round(slot / self.every)),
                self.lease.holder,
                nx=True,
                ex=int(self.every * 3) + 1,
            )
        except RedisError:
            log.warning("Redis unreachable: no tick this slot; trying again next slot")
            return False
        return bool(claimed)

    def _run_tick(self, slot: float) -> None:
        started = self.now()
        try:
            result = self.tick()
        except Exception:
            log.exception("the tick failed; trying again next slot")
            return
        run = TickRun(
            slot=datetime.fromtimestamp(slot, UTC),
            lag_seconds=max(0.0, started - slot),
            duration_seconds=self.now() - started,
            result=result,
        )
        log.info(
            "tick %s: %s (late by %.2fs, took %.2fs)",
            run.slot.isoformat(timespec="seconds"),
            result,
            run.lag_seconds,
            run.duration_seconds,
        )
        fired = result.fired if isinstance(result, Tick) else 0
        metrics.record_tick(run.lag_seconds, run.duration_seconds, fired)
        if self.on_tick is not None:
            self.on_tick(run)

    def _start_renewer(self) -> threading.Thread | None:
        """Keep the lease alive while a long tick runs (the main loop is busy then)."""
        lease = self.lease
        if lease is None:
            return None

        def renew() -> None:
            while not self.stopping.wait(lease.millis / 3000):
                try:
                    lease.renew()
                except RedisError:
                    log.warning("Redis unreachable: could not renew the scheduler lease")

        thread = threading.Thread(target=renew, name="hotline-scheduler-lease", daemon=True)
        thread.start()
        return thread


def start_in_thread(scheduler: Scheduler) -> threading.Thread:
    """The embedded server's scheduler: the same loop, on a daemon thread."""
    thread = threading.Thread(target=scheduler.run, name="hotline-scheduler", daemon=True)
    thread.start()
    return thread
