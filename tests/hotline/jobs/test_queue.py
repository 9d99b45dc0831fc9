"""Jobs are enqueued by names made from their own functions, so the name a worker imports
cannot drift from the code."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import hotline.jobs
import hotline.voice
from hotline.jobs import admin, tasks
from hotline.jobs.queue import JOBS, job_name
from hotline.voice import recordings

pytestmark = pytest.mark.unit


# Jobs live beside their concept: the queue's own in hotline.jobs, the transcription with
# the recordings it reads.
JOB_HOMES = (hotline.jobs, hotline.voice)


def _job_modules() -> list[ModuleType]:
    return [
        importlib.import_module(f"{home.__name__}.{info.name}")
        for home in JOB_HOMES
        for info in pkgutil.iter_modules(home.__path__)
    ]


def test_every_registered_job_name_imports_its_callable() -> None:
    _job_modules()
    assert JOBS
    for name, job in JOBS.items():
        module, _, attribute = name.rpartition(".")
        found = getattr(importlib.import_module(module), attribute)
        assert callable(found)
        assert found is job


def test_every_job_name_the_jobs_modules_define_is_registered() -> None:
    names = {
        value
        for module in _job_modules()
        for attribute, value in vars(module).items()
        if attribute.endswith("_JOB")
    }
    assert names == set(JOBS)
    assert tasks.SEND_SMS_JOB == "hotline.jobs.tasks.send_sms"
    assert recordings.TRANSCRIBE_JOB == "hotline.voice.recordings.transcribe_recording"
    assert admin.RECOMPUTE_JOB == "hotline.jobs.admin.recompute_deadlines"


def test_a_job_that_no_worker_could_import_is_refused() -> None:
    def nested(ticket_id: int) -> None: ...

    with pytest.raises(ValueError, match="not a module-level function"):
        job_name(nested)
    with pytest.raises(ValueError, match="not a module-level function"):
        job_name(lambda: None)
