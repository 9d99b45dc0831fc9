"""The administrator's background work: recomputing open cases' deadlines after a calendar
or SLA policy change (in batches, each its own short transaction)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hotline.jobs import context
from hotline.jobs.queue import job_name
from ticketing.sla.services import recompute_open_cases

if TYPE_CHECKING:
    from hotline.bootstrap import Services


def recompute_all(services: Services, batch: int = 500) -> int:
    """Re-choose policies and recompute deadlines of every open case; how many."""
    last, total = 0, 0
    while True:
        with services.uow() as uow:
            done, last = recompute_open_cases(uow, after_id=last, batch=batch)
        if not done:
            return total
        total += done


def recompute_deadlines() -> int:
    """The job the console enqueues after a change; safe to run twice."""
    return recompute_all(context.current())


RECOMPUTE_JOB = job_name(recompute_deadlines)
