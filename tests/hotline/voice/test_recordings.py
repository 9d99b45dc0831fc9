"""The recorded description is fetched, kept and transcribed by a job; bad audio is
recorded on the case, which carries on."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from hotline import logs
from hotline.bootstrap import Services
from hotline.simulator.caller import Simulator
from tests.conftest import AUDIO
from tests.factories import CALLER, EN_STREET_LIGHT_IN_1101
from tests.hotline.metrics.conftest import moved, scrape
from ticketing.models.cases import Ticket
from ticketing.vocabulary.lifecycle import TicketStatus

pytestmark = pytest.mark.functional

BASE = {"CallSid": "CA" + "c" * 32, "From": CALLER, "To": "+8637112345", "AccountSid": "AC1"}


def _call_with_recording(simulator: Simulator, url: str) -> None:
    simulator.post("/twilio/voice/incoming", BASE)
    for step, digits in [(2, "2"), (3, "1"), (4, "1"), (5, "1"), (6, "1101")]:
        simulator.post(f"/twilio/voice/step/{step}", {**BASE, "Digits": digits})
    recording = {**BASE, "RecordingUrl": url, "RecordingSid": "RE" + "d" * 32}
    simulator.post("/twilio/voice/step/7", recording)
    simulator.post("/twilio/voice/recording-status", {**recording, "RecordingStatus": "completed"})


def _ticket(services: Services) -> Ticket:
    with services.uow() as uow:
        ticket = uow.session.scalars(select(Ticket)).one()
        _ = ticket.events  # loaded before the session closes
        return ticket


def test_the_description_is_transcribed_and_kept_with_the_case(
    simulator: Simulator, services: Services, run_jobs: Callable[[], int], tmp_path: Path
) -> None:
    result = simulator.call(CALLER, EN_STREET_LIGHT_IN_1101, AUDIO / "street_light_en.wav")
    run_jobs()
    ticket = _ticket(services)
    (event,) = [e for e in ticket.events if e.kind == "transcribed"]
    assert event.note  # PocketSphinx heard words; their accuracy is the speech issue's
    assert event.data["engine"] == "pocketsphinx"
    assert ticket.description == event.note
    kept = tmp_path / "recordings" / "cases" / f"{result.as_json()['case_number']}.wav"
    assert kept.read_bytes() == (AUDIO / "street_light_en.wav").read_bytes()


def test_the_transcription_is_timed_and_its_log_lines_name_the_case_and_call(
    simulator: Simulator,
    services: Services,
    app: Flask,
    run_jobs: Callable[[], int],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = scrape(app)
    result = simulator.call(CALLER, EN_STREET_LIGHT_IN_1101, AUDIO / "street_light_en.wav")
    run_jobs()
    labels = {"source": "recording", "language": "en-US"}
    assert moved(before, scrape(app), "hotline_recognition_seconds_count", **labels) == 1

    junk = tmp_path / "recordings" / "junk.wav"
    junk.write_text("this is not audio")
    stream = io.StringIO()
    handler = logs.LogHandler("json", stream)
    logging.getLogger().addHandler(handler)
    try:
        with caplog.at_level(logging.INFO):
            _call_with_recording(simulator, junk.as_uri())
            run_jobs()
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (warning,) = [line for line in lines if "not transcribed" in line["message"]]
    assert warning["call_sid"] == BASE["CallSid"]
    assert warning["case_number"] != result.as_json()["case_number"]
    assert warning["case_number"] in warning["message"]


def test_unreadable_audio_is_noted_and_the_case_carries_on(
    simulator: Simulator, services: Services, run_jobs: Callable[[], int], tmp_path: Path
) -> None:
    junk = tmp_path / "recordings" / "junk.wav"
    junk.parent.mkdir(parents=True)
    junk.write_text("this is not audio")
    _call_with_recording(simulator, junk.as_uri())
    run_jobs()
    ticket = _ticket(services)
    failed = [e for e in ticket.events if e.kind == "transcription_failed"]
    assert len(failed) == 1
    assert "not a WAV" in failed[0].note
    assert ticket.status is TicketStatus.ASSIGNED


def test_a_file_outside_the_recordings_folder_is_never_read(
    simulator: Simulator, services: Services, run_jobs: Callable[[], int]
) -> None:
    _call_with_recording(simulator, Path("/etc/passwd").as_uri())
    run_jobs()
    (failed,) = [e for e in _ticket(services).events if e.kind == "transcription_failed"]
    assert "read only from" in failed.note
