"""Twilio's Media Streams messages, as documented, parsed; malformed ones refused clearly."""

from __future__ import annotations

import base64
import json

import pytest

from hotline.media import protocol
from hotline.media.protocol import Connected, Dtmf, Mark, Media, ProtocolError, Start, Stop

pytestmark = pytest.mark.unit

SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
CALL = "CA22222222222222222222222222222222"
ACCOUNT = "AC11111111111111111111111111111111"

TWILIO_START = json.dumps(
    {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": ACCOUNT,
            "streamSid": SID,
            "callSid": CALL,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"FirstName": "Jane", "step": "ask_category"},
        },
        "streamSid": SID,
    }
)


def test_connected() -> None:
    text = '{"event":"connected","protocol":"Call","version":"1.0.0"}'
    assert protocol.parse(text) == Connected("Call", "1.0.0")


def test_start_as_twilio_sends_it() -> None:
    start = protocol.parse(TWILIO_START)
    assert isinstance(start, Start)
    assert (start.sequence_number, start.stream_sid, start.call_sid) == (1, SID, CALL)
    assert start.account_sid == ACCOUNT
    assert start.custom_parameters == {"FirstName": "Jane", "step": "ask_category"}
    assert (start.encoding, start.sample_rate, start.channels) == ("audio/x-mulaw", 8000, 1)


def test_media_payload_is_decoded_and_numbers_read_from_strings() -> None:
    payload = bytes(range(160))
    text = json.dumps(
        {
            "event": "media",
            "sequenceNumber": "3",
            "media": {
                "track": "inbound",
                "chunk": "1",
                "timestamp": "5",
                "payload": base64.b64encode(payload).decode(),
            },
            "streamSid": SID,
        }
    )
    assert protocol.parse(text) == Media(3, SID, chunk=1, timestamp=5, payload=payload)


def test_dtmf_mark_and_stop() -> None:
    dtmf = {"event": "dtmf", "streamSid": SID, "sequenceNumber": "5",
            "dtmf": {"track": "inbound_track", "digit": "1"}}  # fmt: skip
    mark = {"event": "mark", "sequenceNumber": "4", "streamSid": SID, "mark": {"name": "m1"}}
    stop = {"event": "stop", "sequenceNumber": "5", "streamSid": SID,
            "stop": {"accountSid": ACCOUNT, "callSid": CALL}}  # fmt: skip
    assert protocol.parse(json.dumps(dtmf)) == Dtmf(5, SID, "1", "inbound_track")
    assert protocol.parse(json.dumps(mark)) == Mark(4, SID, "m1")
    assert protocol.parse(json.dumps(stop)) == Stop(5, SID, ACCOUNT, CALL)


@pytest.mark.parametrize(
    "message",
    [
        Connected(),
        Start(1, SID, ACCOUNT, CALL, custom_parameters={"lang": "en-US"}),
        Media(2, SID, chunk=1, timestamp=20, payload=b"\xff" * 160),
        Dtmf(3, SID, "#"),
        Mark(4, SID, "prompt-done"),
        Stop(5, SID, ACCOUNT, CALL),
    ],
)
def test_what_the_client_builds_parses_back(message: protocol.Message) -> None:
    text = protocol.encode(message)
    assert protocol.parse(text) == message
    data = json.loads(text)
    if not isinstance(message, Connected):
        assert data["sequenceNumber"] == str(message.sequence_number)  # strings, as Twilio's


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("not json", "not JSON"),
        ('{"event": "media", ', "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (b'{"event": "connected"}', "binary frame"),
        ('{"event": "dance"}', "unknown event 'dance'"),
        ('{"sequenceNumber": "1"}', "unknown event None"),
        ('{"event": "connected", "protocol": "Call"}', "connected: missing field 'version'"),
        ('{"event": "media", "streamSid": "MZ1", "media": {}}', "missing field 'sequenceNumber'"),
        ('{"event": "media", "sequenceNumber": "x", "streamSid": "MZ1"}', "is not a number"),
        ('{"event": "media", "sequenceNumber": "2", "media": {}}', "missing field 'streamSid'"),
        ('{"event": "media", "sequenceNumber": "2", "streamSid": "MZ1"}', "missing object 'media'"),
        (
            '{"event": "media", "sequenceNumber": "2", "streamSid": "MZ1",'
            ' "media": {"chunk": "1", "timestamp": "20", "payload": "@@not base64@@"}}',
            "payload is not base64",
        ),
        (
            '{"event": "start", "sequenceNumber": "1", "streamSid": "MZ1",'
            ' "start": {"accountSid": "AC1", "mediaFormat": {}}}',
            "missing field 'callSid'",
        ),
        (
            '{"event": "stop", "sequenceNumber": "1", "streamSid": "MZ1", "stop": []}',
            "missing object 'stop'",
        ),
    ],
)
def test_malformed_messages_say_what_is_wrong(frame: str | bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason.replace("(", r"\(")):
        protocol.parse(frame)
