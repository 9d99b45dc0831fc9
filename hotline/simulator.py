"""A stand-in for Twilio's side of a phone call or an SMS, for demos, tests and benchmarks.

It speaks the same protocol Twilio does: form-encoded POSTs signed with Twilio's
algorithm (twilio's own RequestValidator computes the signature), TwiML followed verb by
verb, silence falling through to the next verb, the recording status callback after a
<Record>, and the call status callback when the call ends.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
import uuid
import wave
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from twilio.request_validator import RequestValidator

MAX_VERBS = 200  # a flow that never hangs up must not hang the simulator
WAIT = "wait"  # a --press value meaning "press nothing": the Gather times out


class SimulatorError(RuntimeError):
    """The server answered something Twilio itself would have given up on."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str


class Transport(Protocol):
    def request(
        self, method: str, path: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpAnswer: ...


class FlaskTransport:
    """Requests into an app in this process, through Flask's test client."""

    def __init__(self, app: Any) -> None:
        self._client = app.test_client()

    def request(
        self, method: str, path: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpAnswer:
        if method == "GET":
            answer = self._client.get(path, headers=dict(headers))
        else:
            answer = self._client.post(path, data=dict(params), headers=dict(headers))
        return HttpAnswer(answer.status_code, answer.get_data(as_text=True))


class HttpTransport:
    """Requests over real HTTP to a running server."""

    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = timeout  # Twilio's own limit for a webhook

    def request(
        self, method: str, path: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpAnswer:
        data = urllib.parse.urlencode(params).encode() if method == "POST" else None
        if not self._base.startswith(("http://", "https://")):
            raise SimulatorError(f"--url must be http(s), not {self._base!r}")
        req = urllib.request.Request(  # noqa: S310 - scheme checked above
            self._base + path,
            data=data,
            headers=dict(headers),
            method=method,
        )
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:  # noqa: S310
                return HttpAnswer(resp.status, resp.read().decode())
        except urllib.error.HTTPError as exc:
            return HttpAnswer(exc.code, exc.read().decode())


@dataclass
class CallResult:
    call_sid: str
    heard: list[str] = field(default_factory=list)
    conversation: list[str] = field(default_factory=list)
    case: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        case = self.case or {}
        return {
            "call_sid": self.call_sid,
            "case_number": case.get("number"),
            "category": case.get("category"),
            "grid": case.get("grid"),
            "community": case.get("community"),
            "assignee": case.get("assignee"),
            "assignee_phone": case.get("assignee_phone"),
            "department": case.get("department"),
            "needs_triage": case.get("needs_triage"),
            "status": case.get("status"),
            "heard": self.heard,
        }


def _sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


class Simulator:
    """Plays Twilio against our webhooks; `public_base_url` is what signatures cover."""

    def __init__(
        self,
        transport: Transport,
        public_base_url: str,
        auth_token: str,
        account_sid: str = "AC" + "0" * 32,
        hotline_number: str = "+8637112345",
        recordings_dir: Path | None = None,
    ) -> None:
        self._transport = transport
        self._base = public_base_url.rstrip("/")
        self._validator = RequestValidator(auth_token)
        self._account = account_sid
        self._to = hotline_number
        self._recordings = recordings_dir

    def send(self, method: str, path: str, params: Mapping[str, str]) -> HttpAnswer:
        """One signed request, whatever the answer (tests use it to see refusals)."""
        url = path if path.startswith("http") else self._base + path
        signature = self._validator.compute_signature(url, params if method == "POST" else {})
        local_path = urllib.parse.urlsplit(url)
        target = local_path.path + (f"?{local_path.query}" if local_path.query else "")
        return self._transport.request(method, target, params, {"X-Twilio-Signature": signature})

    def post(self, path: str, params: Mapping[str, str]) -> HttpAnswer:
        """A signed webhook POST; raises on anything but 2xx, as Twilio would log an error."""
        answer = self.send("POST", path, params)
        if not 200 <= answer.status < 300:
            raise SimulatorError(f"POST {path} answered {answer.status}: {answer.body[:300]}")
        return answer

    def get_json(self, path: str) -> dict[str, Any] | None:
        answer = self.send("GET", path, {})
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise SimulatorError(f"GET {path} answered {answer.status}: {answer.body[:300]}")
        data: dict[str, Any] = json.loads(answer.body)
        return data

    def call(
        self, from_number: str, presses: Iterable[str], recording: Path | None = None
    ) -> CallResult:
        """Place one call, pressing `presses` at successive prompts; return what happened."""
        result = CallResult(_sid("CA"))
        base = {
            "CallSid": result.call_sid,
            "AccountSid": self._account,
            "From": from_number,
            "To": self._to,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            "Caller": from_number,
            "Called": self._to,
        }
        keys = [p.strip() for p in presses]
        twiml: str | None = self.post(
            "/twilio/voice/incoming", {**base, "CallStatus": "ringing"}
        ).body
        verbs = 0
        while twiml is not None:
            twiml, used = self._follow(twiml, base, keys, recording, result)
            verbs += used
            if verbs > MAX_VERBS:
                raise SimulatorError("the call never ended")
        self.post("/twilio/voice/status", {**base, "CallStatus": "completed"})
        data = self.get_json(f"/api/calls/{result.call_sid}")
        result.case = (data or {}).get("case")
        return result

    def _follow(
        self,
        twiml: str,
        base: dict[str, str],
        keys: list[str],
        recording: Path | None,
        result: CallResult,
    ) -> tuple[str | None, int]:
        """Run one TwiML document; return the next document (None: hung up) and verb count."""
        root = ET.fromstring(twiml)  # noqa: S314 - TwiML from the server under test
        for count, verb in enumerate(root, start=1):
            if verb.tag in ("Say", "Play"):
                self._hear(verb, result)
            elif verb.tag == "Gather":
                for inner in verb:
                    self._hear(inner, result)
                if keys:
                    key = keys.pop(0)
                    digits = "" if key == WAIT else key.rstrip(verb.get("finishOnKey", "#"))
                    result.conversation.append(f"caller presses: {key}")
                    if digits or verb.get("actionOnEmptyResult") == "true":
                        return self._post_verb(verb, {**base, "Digits": digits}), count
                result.conversation.append("caller presses nothing")
            elif verb.tag == "Record":
                if recording is not None:
                    params = self._recorded(recording, base, result)
                    answer = self._post_verb(verb, {**base, **params})
                    callback = verb.get("recordingStatusCallback")
                    if callback:
                        self.post(callback, {**base, **params, "RecordingStatus": "completed"})
                    recording = None
                    return answer, count
                result.conversation.append("caller says nothing")
            elif verb.tag == "Redirect":
                return self.post(verb.text or "", {**base, "CallStatus": "in-progress"}).body, count
            elif verb.tag == "Hangup":
                result.conversation.append("call ends")
                return None, count
        result.conversation.append("call ends (end of TwiML)")
        return None, len(root)

    def _post_verb(self, verb: ET.Element, params: dict[str, str]) -> str:
        return self.post(verb.get("action") or "", {**params, "CallStatus": "in-progress"}).body

    def _hear(self, verb: ET.Element, result: CallResult) -> None:
        text = (verb.text or "").strip()
        if verb.tag == "Play":
            text = f"[audio {text}]"
        result.heard.append(text)
        result.conversation.append(f"caller hears: {text}")

    def _recorded(self, wav: Path, base: dict[str, str], result: CallResult) -> dict[str, str]:
        """Keep a copy of the caller's audio where the server can fetch it, as Twilio does."""
        sid = _sid("RE")
        with wave.open(str(wav), "rb") as audio:
            duration = max(1, round(audio.getnframes() / audio.getframerate()))
        url = wav.resolve().as_uri()
        if self._recordings is not None:
            self._recordings.mkdir(parents=True, exist_ok=True)
            copy = self._recordings / f"{sid}.wav"
            shutil.copyfile(wav, copy)
            url = copy.resolve().as_uri()
        result.conversation.append(f"caller speaks for {duration} s ({wav.name})")
        return {
            "RecordingSid": sid,
            "RecordingUrl": url,
            "RecordingDuration": str(duration),
            "AccountSid": base["AccountSid"],
        }

    def sms(self, from_number: str, body: str) -> str:
        """Send one SMS to the hotline; return the text of its reply (may be empty)."""
        params = {
            "MessageSid": _sid("SM"),
            "SmsSid": "",
            "AccountSid": self._account,
            "From": from_number,
            "To": self._to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
        }
        params["SmsSid"] = params["MessageSid"]
        answer = self.post("/twilio/sms/incoming", params)
        root = ET.fromstring(answer.body)  # noqa: S314 - TwiML from the server under test
        return " ".join((m.text or "").strip() for m in root.iter("Message"))
