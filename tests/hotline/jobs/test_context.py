"""Where job functions find their services: bound by the worker, or per thread while the
in-process queue runs a job; never built behind the caller's back."""

from __future__ import annotations

import threading
from typing import cast

import pytest

from hotline.bootstrap import Services
from hotline.exceptions import JobsNotBound
from hotline.jobs import context

pytestmark = pytest.mark.unit


def _fake(name: str) -> Services:
    return cast(Services, name)  # only identity matters here


def test_a_process_that_bound_nothing_gets_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context, "_bound", None)
    with pytest.raises(JobsNotBound, match="hotline worker"):
        context.current()


def test_the_running_job_sees_its_own_services_over_the_bound_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(context, "_bound", None)
    worker = context.bind(_fake("worker"))
    assert context.current() is worker
    with context.running_on(_fake("job")) as job:
        assert context.current() is job
    assert context.current() is worker


def test_a_job_running_in_one_thread_is_not_seen_from_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(context, "_bound", None)
    inside, go_on = threading.Event(), threading.Event()
    seen: list[object] = []

    def job() -> None:
        with context.running_on(_fake("thread job")):
            inside.set()
            go_on.wait(5)
            seen.append(context.current())

    thread = threading.Thread(target=job)
    thread.start()
    assert inside.wait(5)
    with pytest.raises(JobsNotBound):
        context.current()
    go_on.set()
    thread.join(5)
    assert seen == ["thread job"]
