"""Twilio's Media Streams messages: parsed and checked for the server, built for the client.

Twilio sends JSON text frames (docs/TWILIO.md, Media Streams): numbers arrive as strings,
every message after `connected` carries `streamSid`, and media payloads are base64 mu-law
at 8 kHz, 20 ms (160 bytes) a frame. A malformed message raises `ProtocolError` naming what
is wrong, so the server can log it against the call and carry on with the next frame.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MULAW = "audio/x-mulaw"
RATE = 8000
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
FRAME_MS = 20


class ProtocolError(ValueError):
    """A message that is not valid Media Streams JSON."""


@dataclass(frozen=True)
class Connected:
    protocol: str = "Call"
    version: str = "1.0.0"


@dataclass(frozen=True)
class Start:
    sequence_number: int
    stream_sid: str
    account_sid: str
    call_sid: str
    tracks: tuple[str, ...] = ("inbound",)
    custom_parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = MULAW
    sample_rate: int = RATE
    channels: int = 1


@dataclass(frozen=True)
class Media:
    sequence_number: int
    stream_sid: str
    chunk: int
    timestamp: int  # ms since the stream started
    payload: bytes  # raw mu-law, decoded from base64
    track: str = "inbound"


@dataclass(frozen=True)
class Dtmf:
    sequence_number: int
    stream_sid: str
    digit: str
    track: str = "inbound_track"


@dataclass(frozen=True)
class Mark:
    sequence_number: int
    stream_sid: str
    name: str


@dataclass(frozen=True)
class Stop:
    sequence_number: int
    stream_sid: str
    account_sid: str
    call_sid: str


Message = Connected | Start | Media | Dtmf | Mark | Stop


def parse(frame: str | bytes) -> Message:
    """One WebSocket text frame as a message, or `ProtocolError` saying what is wrong."""
    if isinstance(frame, bytes):
        raise ProtocolError("binary frame: Media Streams sends JSON text frames")
    try:
        data = json.loads(frame)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(data, dict):
        raise ProtocolError("not a JSON object")
    event = data.get("event")
    if event == "connected":
        return Connected(_text(data, "protocol", "connected"), _text(data, "version", "connected"))
    parser = _PARSERS.get(event) if isinstance(event, str) else None
    if parser is None or not isinstance(event, str):
        raise ProtocolError(f"unknown event {event!r}")
    seq = _number(data, "sequenceNumber", event)
    sid = _text(data, "streamSid", event)
    return parser(data, seq, sid)


def _start(data: dict[str, Any], seq: int, sid: str) -> Start:
    body = _object(data, "start", "start")
    fmt = _object(body, "mediaFormat", "start.start")
    params = body.get("customParameters") or {}
    if not isinstance(params, dict):
        raise ProtocolError("start: customParameters is not an object")
    tracks = body.get("tracks", ["inbound"])
    if not isinstance(tracks, list):
        raise ProtocolError("start: tracks is not a list")
    return Start(
        sequence_number=seq,
        stream_sid=sid,
        account_sid=_text(body, "accountSid", "start.start"),
        call_sid=_text(body, "callSid", "start.start"),
        tracks=tuple(str(t) for t in tracks),
        custom_parameters={str(k): str(v) for k, v in params.items()},
        encoding=_text(fmt, "encoding", "start.mediaFormat"),
        sample_rate=_number(fmt, "sampleRate", "start.mediaFormat"),
        channels=_number(fmt, "channels", "start.mediaFormat"),
    )


def _media(data: dict[str, Any], seq: int, sid: str) -> Media:
    body = _object(data, "media", "media")
    encoded = _text(body, "payload", "media.media")
    try:
        payload = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("media: payload is not base64") from None
    return Media(
        sequence_number=seq,
        stream_sid=sid,
        chunk=_number(body, "chunk", "media.media"),
        timestamp=_number(body, "timestamp", "media.media"),
        payload=payload,
        track=str(body.get("track", "inbound")),
    )


def _dtmf(data: dict[str, Any], seq: int, sid: str) -> Dtmf:
    body = _object(data, "dtmf", "dtmf")
    return Dtmf(seq, sid, _text(body, "digit", "dtmf.dtmf"), str(body.get("track", "")))


def _mark(data: dict[str, Any], seq: int, sid: str) -> Mark:
    return Mark(seq, sid, _text(_object(data, "mark", "mark"), "name", "mark.mark"))


def _stop(data: dict[str, Any], seq: int, sid: str) -> Stop:
    body = _object(data, "stop", "stop")
    return Stop(
        seq, sid, _text(body, "accountSid", "stop.stop"), _text(body, "callSid", "stop.stop")
    )


_PARSERS: dict[str, Callable[[dict[str, Any], int, str], Message]] = {
    "start": _start,
    "media": _media,
    "dtmf": _dtmf,
    "mark": _mark,
    "stop": _stop,
}


def _object(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: missing object {name!r}")
    return value


def _text(data: dict[str, Any], name: str, where: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{where}: missing field {name!r}")
    return value


def _number(data: dict[str, Any], name: str, where: str) -> int:
    """Twilio sends numbers as strings ("3"); accept real numbers too."""
    value = data.get(name)
    if isinstance(value, bool) or value is None:
        raise ProtocolError(f"{where}: missing field {name!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ProtocolError(f"{where}: {name!r} is not a number: {value!r}") from None


def encode(message: Message) -> str:
    """The JSON text Twilio would send for a message (the client's side)."""
    if isinstance(message, Connected):
        return json.dumps(
            {"event": "connected", "protocol": message.protocol, "version": message.version}
        )
    head = {"sequenceNumber": str(message.sequence_number), "streamSid": message.stream_sid}
    body: dict[str, Any]
    if isinstance(message, Start):
        body = {
            "event": "start",
            "start": {
                "accountSid": message.account_sid,
                "streamSid": message.stream_sid,
                "callSid": message.call_sid,
                "tracks": list(message.tracks),
                "customParameters": message.custom_parameters,
                "mediaFormat": {
                    "encoding": message.encoding,
                    "sampleRate": message.sample_rate,
                    "channels": message.channels,
                },
            },
        }
    elif isinstance(message, Media):
        body = {
            "event": "media",
            "media": {
                "track": message.track,
                "chunk": str(message.chunk),
                "timestamp": str(message.timestamp),
                "payload": base64.b64encode(message.payload).decode("ascii"),
            },
        }
    elif isinstance(message, Dtmf):
        body = {"event": "dtmf", "dtmf": {"track": message.track, "digit": message.digit}}
    elif isinstance(message, Mark):
        body = {"event": "mark", "mark": {"name": message.name}}
    else:
        body = {
            "event": "stop",
            "stop": {"accountSid": message.account_sid, "callSid": message.call_sid},
        }
    return json.dumps({"event": body["event"], **head, **body})
