"""A stand-in for Twilio's side of a phone call or an SMS, for demos, tests and benchmarks.

It speaks the same protocol Twilio does: form-encoded POSTs signed with Twilio's
algorithm (twilio's own RequestValidator computes the signature), TwiML followed verb by
verb, silence falling through to the next verb, the recording status callback after a
<Record>, and the call status callback when the call ends.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
import wave
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml
from twilio.request_validator import RequestValidator

from hotline.storage.files import FileStore

if TYPE_CHECKING:
    from hotline.simulator.media_client import MediaStreamClient

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


@dataclass(frozen=True)
class Press:
    digits: str


@dataclass(frozen=True)
class Silence:
    seconds: float = 5.0


@dataclass(frozen=True)
class Say:
    wav: Path


Action = Press | Silence | Say


@dataclass
class _Caller:
    """What the caller will do next, consumed prompt by prompt."""

    actions: list[Action]
    recordings: list[Path]

    def next_is_speech(self) -> bool:
        return bool(self.actions) and isinstance(self.actions[0], Say)

    def keys(self, result: CallResult) -> str | None:
        """At a keypad prompt: the keys pressed, or None for silence."""
        action = self.actions.pop(0) if self.actions else None
        if isinstance(action, Press):
            result.conversation.append(f"caller presses: {action.digits}")
            return action.digits
        if isinstance(action, Say):
            # Speech at a keys-only prompt: Twilio hears nothing.
            result.conversation.append(f"caller speaks {action.wav.name} (heard as silence)")
        else:
            result.conversation.append("caller presses nothing")
        return None

    def answer(self, result: CallResult) -> Path | None:
        """At a prompt that also listens: the audio spoken (consumed), else None."""
        if not self.next_is_speech():
            return None
        action = self.actions.pop(0)
        assert isinstance(action, Say)
        return action.wav

    def speech(self, result: CallResult) -> Path | None:
        """At a recording prompt: the audio spoken, or None for silence."""
        if self.recordings:
            return self.recordings.pop(0)
        if self.actions and isinstance(self.actions[0], Say | Silence):
            action = self.actions.pop(0)
            if isinstance(action, Say):
                return action.wav
        result.conversation.append("caller says nothing")
        return None


def load_script(path: Path) -> tuple[str | None, list[Action]]:
    """A call script (YAML): `from:` and `steps:` of `press: "123"`, `say: file.wav`
    (relative to the script) and `silence: 3`. Returns the caller ID and the actions."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise SimulatorError(f"{path}: a call script needs a list of `steps`")
    actions: list[Action] = []
    for n, step in enumerate(data["steps"], start=1):
        if not isinstance(step, dict) or len(step) != 1:
            raise SimulatorError(f"{path}: step {n} must be one of press, say, silence")
        ((kind, value),) = step.items()
        if kind == "press":
            actions.append(Press(str(value)))
        elif kind == "silence":
            actions.append(Silence(float(value)))
        elif kind == "say":
            wav = (path.parent / str(value)).resolve()
            if not wav.is_file():
                raise SimulatorError(f"{path}: step {n}: no file {wav}")
            actions.append(Say(wav))
        else:
            raise SimulatorError(f"{path}: step {n}: unknown action {kind!r}")
    caller = data.get("from")
    return (str(caller) if caller else None), actions


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


def _short_record_follows(root: ET.Element, count: int) -> bool:
    """With Media Streams off, a <Gather> that also listens is followed by a short
    <Record> (without a recording status callback) that takes a spoken answer."""
    following = root[count] if count < len(root) else None
    return (
        following is not None
        and following.tag == "Record"
        and following.get("recordingStatusCallback") is None
    )


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
        files: FileStore | None = None,
    ) -> None:
        self._transport = transport
        self._base = public_base_url.rstrip("/")
        self._validator = RequestValidator(auth_token)
        self._token = auth_token
        self._stream_url: str | None = None
        self._stream_params: dict[str, str] = {}
        self._media: MediaStreamClient | None = None
        self._account = account_sid
        self._to = hotline_number
        self._files = files  # where it keeps callers' audio, as Twilio keeps recordings

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
        """Place one call, pressing `presses` at successive prompts and speaking `recording`
        at the recording prompt; return what happened."""
        actions: list[Action] = [
            Silence() if key.strip() == WAIT else Press(key.strip()) for key in presses
        ]
        return self.call_script(from_number, actions, [recording] if recording else [])

    def call_script(
        self, from_number: str, actions: Iterable[Action], recordings: Iterable[Path] = ()
    ) -> CallResult:
        """Place one call playing a caller's script: keys, silences and speech, in order."""
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
        caller = _Caller(list(actions), list(recordings))
        self._stream_url, self._media = None, None
        twiml: str | None = self.post(
            "/twilio/voice/incoming", {**base, "CallStatus": "ringing"}
        ).body
        verbs = 0
        while twiml is not None:
            twiml, used = self._follow(twiml, base, caller, result)
            verbs += used
            if verbs > MAX_VERBS:
                raise SimulatorError("the call never ended")
        if self._media is not None:
            self._media.close()
            self._media = None
        self.post("/twilio/voice/status", {**base, "CallStatus": "completed"})
        data = self.get_json(f"/api/calls/{result.call_sid}")
        result.case = (data or {}).get("case")
        return result

    def _follow(
        self, twiml: str, base: dict[str, str], caller: _Caller, result: CallResult
    ) -> tuple[str | None, int]:
        """Run one TwiML document; return the next document (None: hung up) and verb count."""
        root = ET.fromstring(twiml)  # noqa: S314 - TwiML from the server under test
        spoken: Path | None = None  # an answer waiting for the short <Record> after a <Gather>
        for count, verb in enumerate(root, start=1):
            if verb.tag in ("Say", "Play"):
                self._hear(verb, result)
            elif verb.tag == "Start":
                stream = verb.find("Stream")
                if stream is not None and stream.get("url"):
                    self._stream_url = stream.get("url")
                    # Twilio hands the <Parameter>s back in the stream's start message.
                    self._stream_params = {
                        p.get("name", ""): p.get("value", "") for p in stream.iter("Parameter")
                    }
            elif verb.tag == "Gather":
                for inner in verb:
                    self._hear(inner, result)
                listens = verb.get("actionOnEmptyResult") == "true" or _short_record_follows(
                    root, count
                )
                if listens and caller.next_is_speech():
                    spoken = caller.answer(result)
                    if verb.get("actionOnEmptyResult") == "true":
                        assert spoken is not None
                        self._stream(spoken, base, result)
                        return self._post_verb(verb, {**base, "Digits": ""}), count
                    continue  # the tone: the short <Record> that follows takes the answer
                digits = caller.keys(result)
                if digits is not None:
                    digits = digits.rstrip(verb.get("finishOnKey", "#"))
                    if digits or verb.get("actionOnEmptyResult") == "true":
                        return self._post_verb(verb, {**base, "Digits": digits}), count
                elif verb.get("actionOnEmptyResult") == "true":
                    return self._post_verb(verb, {**base, "Digits": ""}), count
            elif verb.tag == "Record":
                short = count > 1 and root[count - 2].tag == "Gather"
                wav = spoken if short else caller.speech(result)
                if wav is not None:
                    params = self._recorded(wav, base, result)
                    answer = self._post_verb(verb, {**base, **params})
                    callback = verb.get("recordingStatusCallback")
                    if callback:
                        self.post(callback, {**base, **params, "RecordingStatus": "completed"})
                    return answer, count
            elif verb.tag == "Dial":
                result.conversation.append(f"call transferred to {(verb.text or '').strip()}")
            elif verb.tag == "Redirect":
                return self.post(verb.text or "", {**base, "CallStatus": "in-progress"}).body, count
            elif verb.tag == "Hangup":
                result.conversation.append("call ends")
                return None, count
        result.conversation.append("call ends (end of TwiML)")
        return None, len(root)

    def _stream(self, wav: Path, base: dict[str, str], result: CallResult) -> None:
        """Speak a WAV into the call's media stream, as the caller's voice reaches Twilio."""
        if self._stream_url is None:
            raise SimulatorError("the call has no media stream to speak into")
        if self._media is None:
            from hotline.simulator.media_client import MediaStreamClient

            self._media = MediaStreamClient(self._stream_url, self._token)
            self._media.open(base["CallSid"], self._stream_params)
        self._media.send_wav(wav)
        result.conversation.append(f"caller says {wav.name} (media stream)")

    def _post_verb(self, verb: ET.Element, params: dict[str, str]) -> str:
        return self.post(verb.get("action") or "", {**params, "CallStatus": "in-progress"}).body

    def _hear(self, verb: ET.Element, result: CallResult) -> None:
        text = (verb.text or "").strip()
        if verb.tag == "Play":
            text = f"[audio {text}]"
        result.heard.append(text)
        result.conversation.append(f"caller hears: {text}")

    def _recorded(self, wav: Path, base: dict[str, str], result: CallResult) -> dict[str, str]:
        """Keep a copy of the caller's audio where the server can fetch it, as Twilio does:
        in the file store's recordings area, which every host of the server mounts."""
        sid = _sid("RE")
        with wave.open(str(wav), "rb") as audio:
            duration = max(1, round(audio.getnframes() / audio.getframerate()))
        url = wav.resolve().as_uri()
        if self._files is not None:
            key = f"recordings/{sid}.wav"
            self._files.put(key, wav.read_bytes())
            url = self._files.path(key).resolve().as_uri()
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
