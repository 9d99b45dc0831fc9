"""The services the job functions run on.

Jobs are called by name with ids only (rq serialises nothing else), so they cannot be
handed their services: they find them here. A worker process binds its services once
(`hotline worker`, a test's worker); the in-process queue runs each job inside
`running_on` its own services (per thread, so the embedded server's threads never see
each other's). Nothing here builds services: the composition root sits above the jobs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from hotline.exceptions import JobsNotBound

if TYPE_CHECKING:
    from hotline.bootstrap import Services

_running: ContextVar[Services | None] = ContextVar("hotline_job_services", default=None)
_bound: Services | None = None


def bind(services: Services) -> Services:
    """Run this process's jobs on `services` from now on."""
    global _bound
    _bound = services
    return services


@contextmanager
def running_on(services: Services) -> Iterator[Services]:
    """Jobs run inside the block, in this thread, use `services`."""
    token = _running.set(services)
    try:
        yield services
    finally:
        _running.reset(token)


def current() -> Services:
    """The services of the job being run, else the ones this process bound."""
    found = _running.get() or _bound
    if found is None:
        raise JobsNotBound("no services bound for jobs: run workers with `hotline worker`")
    return found
