"""Every request has an id, echoed to the caller, and a call's webhook lines say which
request, call and case they belong to."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask

from hotline import logs
from hotline.simulator.caller import Simulator
from tests.factories import CALLER, EN_STREET_LIGHT_IN_1101

pytestmark = pytest.mark.functional


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """What a production process would print, as JSON lines."""
    stream = io.StringIO()
    handler = logs.LogHandler("json", stream)
    root = logging.getLogger()
    root.addHandler(handler)
    with caplog.at_level(logging.INFO):
        yield stream
    root.removeHandler(handler)


def _parsed(stream: io.StringIO) -> list[dict[str, str | None]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_calls_lines_carry_its_request_callsid_and_case(
    simulator: Simulator, lines: io.StringIO
) -> None:
    case = simulator.call(CALLER, EN_STREET_LIGHT_IN_1101).as_json()
    (opened,) = [line for line in _parsed(lines) if "opened case" in str(line["message"])]
    assert opened["case_number"] == case["case_number"]
    call_sid = opened["call_sid"]
    assert call_sid
    assert call_sid.startswith("CA")
    assert call_sid in str(opened["message"])
    assert opened["request_id"]
    assert len(opened["request_id"]) == 32
    # and nothing stays bound once the requests are over
    assert logs.current() == {"request_id": None, "call_sid": None, "case_number": None}


def test_the_proxys_request_id_is_used_logged_and_echoed(app: Flask, lines: io.StringIO) -> None:
    client = app.test_client()
    given = client.get("/healthz", headers={"X-Request-Id": "lb-42"})
    assert given.headers["X-Request-Id"] == "lb-42"
    made = client.get("/healthz").headers["X-Request-Id"]
    assert len(made) == 32
    assert made != client.get("/healthz").headers["X-Request-Id"]
    forged = client.post(
        "/twilio/voice/incoming",
        data={"CallSid": "CA" + "f" * 32, "From": CALLER, "To": "+8637112345"},
        headers={"X-Request-Id": "lb-43", "X-Twilio-Signature": "forged"},
    )
    assert forged.status_code == 403
    assert forged.headers["X-Request-Id"] == "lb-43"
    (refusal,) = [line for line in _parsed(lines) if "refused" in str(line["message"])]
    assert refusal["request_id"] == "lb-43"
    assert refusal["call_sid"] is None  # not taken from a request whose signature failed
