"""Running background jobs: on rq workers when Redis is configured, else in-process.

Jobs are module-level functions in `hotline.jobs` that take ids, so both runners call them
the same way and a job is safe to run twice. Each is enqueued by the name `job_name` makes
from the function itself, beside it, so the name rq imports cannot drift from the code.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from redis import Redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from hotline.jobs import context

if TYPE_CHECKING:
    from hotline.bootstrap import Services

log = logging.getLogger(__name__)

# A worker per queue in production, so an SMS never waits behind a transcription (seconds
# of CPU) or an administrator's recompute (minutes); a worker given several takes them in
# this order. The minute tick runs on no queue: `hotline scheduler` runs it itself.
QUEUE_NAMES = ("sms", "speech", "default")
# How long rq keeps a finished job and its result (None: rq's 500 s; failed jobs are kept
# by failure_ttl either way). A sent SMS is recorded in the outbox, so a minute is enough
# to look at one just finished: at 50 SMS a second rq keeps 3,000 jobs, not 25,000. Not 0:
# rq 3.0 then reads each job back before deleting it, 7 more Redis round trips a job
# (bench/sms_job.py).
RESULT_TTL: dict[str, int | None] = {"sms": 60, "speech": None, "default": None}
# Every job by the name it is enqueued under, as job_name registered it.
JOBS: dict[str, Callable[..., object]] = {}


def job_name(job: Callable[..., object]) -> str:
    """Register a job under the name workers import it by ("hotline.jobs.tasks.tick")."""
    if not job.__qualname__.isidentifier():  # a method, a lambda, a nested function
        raise ValueError(f"{job.__qualname__!r} is not a module-level function")
    name = f"{job.__module__}.{job.__qualname__}"
    JOBS[name] = job
    return name


class JobQueue(Protocol):
    def enqueue(self, queue: str, func: str, *args: Any) -> None:
        """Run the function named `module.function` with `args`, later (rq) or now."""
        ...


class InProcessJobQueue:
    """The embedded default: run the job at once; a failure is logged, the row stays queued."""

    def __init__(self) -> None:
        # The services its jobs run on: the bundle this queue belongs to (bootstrap sets it).
        self.services: Services | None = None

    def enqueue(self, queue: str, func: str, *args: Any) -> None:
        module, _, name = func.rpartition(".")
        try:
            job = getattr(importlib.import_module(module), name)
            if self.services is None:
                job(*args)
            else:
                with context.running_on(self.services):
                    job(*args)
        except Exception:
            log.exception("in-process job %s%r failed; the outbox drain will retry", func, args)


class RqJobQueue:
    """Jobs on Redis for `hotline worker`, retried with back-off, failures kept by rq."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._queues = {
            name: Queue(name, connection=redis, serializer=JSONSerializer) for name in QUEUE_NAMES
        }

    def enqueue(self, queue: str, func: str, *args: Any) -> None:
        self._queues[queue].enqueue(
            func,
            *args,
            retry=Retry(max=3, interval=[10, 60, 300]),
            failure_ttl=7 * 86400,
            result_ttl=RESULT_TTL[queue],
        )

    def queue(self, name: str) -> Queue:
        return self._queues[name]
