"""The recorded description is fetched, kept and transcribed by a job; bad audio is
recorded on the case, which carries on."""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from hotline import logs
from hotline.bootstrap import Services
from hotline.simulator.caller import Simulator
from hotline.voice import recordings
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


class _Seen(BaseHTTPRequestHandler):
    """Answers every GET as the server's `answer` says, noting the Authorization sent."""

    def do_GET(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        server.authorizations.append(self.headers.get("Authorization"))
        status, headers, body = server.answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads what was sent, not the log."""


class _Server(ThreadingHTTPServer):
    def __init__(self, answer: tuple[int, dict[str, str], bytes]) -> None:
        super().__init__(("127.0.0.1", 0), _Seen)
        self.answer = answer
        self.authorizations: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def _serving(answer: tuple[int, dict[str, str], bytes]) -> Iterator[_Server]:
    server = _Server(answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_twilio_credentials_never_follow_a_redirect_to_another_host() -> None:
    with (
        _serving((200, {"Content-Type": "audio/x-wav"}, b"RIFF-audio")) as storage,
        _serving((302, {"Location": storage.url + "/signed.wav"}, b"")) as twilio,
    ):
        data = recordings.download(twilio.url + "/RE1.wav", ("AC1", "secret-token"))
    assert data == b"RIFF-audio"
    expected = "Basic " + base64.b64encode(b"AC1:secret-token").decode()
    assert twilio.authorizations == [expected]
    assert storage.authorizations == [None]
