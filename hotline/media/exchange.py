"""The rendezvous between the IVR webhook and the Media Streams server, per call and step.

The webhook answers a step that listens for speech and says so here (`expect`); the media
server, which hears the caller's audio, reads what is expected, recognises the utterance
and `publish`es the result under the call and step; the webhook, called back by Twilio
when the step's `<Gather>` ends, `wait`s briefly for it. Results stay readable after a
wait (Twilio retries a webhook, and the retry must see the same answer) until `forget` at
hang-up or the TTL.

A step name must be unique within a call for each time a step listens (e.g. the node id
plus the attempt number): a retried question is a new step, or it would find the
previous attempt's answer.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from redis import Redis

from hotline.speech.recognizers import Recognition, Word

TTL_SECONDS = 3600  # longer than any call; stale keys of a crashed call expire by themselves
PREFIX = "hotline:speech"


@dataclass(frozen=True)
class Expectation:
    """A step of a call that listens for speech: which language and which step grammar.

    `grammar` is a `StepGrammars` name ("category", "yesno", "digits:10", "menu", "place",
    "language"); both sides build the grammar from it, so it travels as a name.
    """

    call_sid: str
    step: str
    language: str
    grammar: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Expectation:
        data = json.loads(text)
        return cls(
            call_sid=str(data["call_sid"]),
            step=str(data["step"]),
            language=str(data["language"]),
            grammar=str(data["grammar"]),
        )


def result_of(recognition: Recognition) -> dict[str, Any]:
    """A `Recognition` as the JSON-safe dict published for a step."""
    return {
        "text": recognition.text,
        "confidence": recognition.confidence,
        "value": recognition.value,
        "words": [asdict(w) for w in recognition.words],
    }


def recognition_of(result: dict[str, Any]) -> Recognition:
    """The inverse of `result_of`, for the webhook that wants the typed result back."""
    words = tuple(
        Word(str(w["text"]), float(w["start"]), float(w["end"]), float(w["confidence"]))
        for w in result.get("words", ())
    )
    value = result.get("value")
    return Recognition(
        text=str(result.get("text", "")),
        confidence=float(result.get("confidence", 0.0)),
        words=words,
        value=None if value is None else str(value),
    )


class SpeechExchange(Protocol):
    def expect(self, exp: Expectation) -> None:
        """The call now listens for `exp.step`; replaces the call's previous expectation."""

    def expectation(self, call_sid: str) -> Expectation | None:
        """What the call listens for now, or None."""

    def publish(self, call_sid: str, step: str, result: dict[str, Any]) -> None:
        """The result for a step; the first one published wins (a step is answered once)."""

    def wait(self, call_sid: str, step: str, timeout: float) -> dict[str, Any] | None:
        """The step's result, waiting at most `timeout` seconds; None if none came.

        Returns at once if already published, and the same result however often asked.
        """

    def forget(self, call_sid: str) -> None:
        """Drop everything about the call (at hang-up)."""


class RedisSpeechExchange:
    """The exchange across processes: the web app and `hotline media-server` share Redis.

    Waiting blocks on a per-step signal list with BLPOP rather than polling: the waiter
    wakes the moment the result lands, costs Redis nothing while it waits, and needs no
    pub/sub subscription (whose message is lost if it fires between the waiter's first
    look and its subscribe). `publish` stores the result (SET NX: first wins) and pushes a
    token on the signal list in one transaction; a waiter that pops the token pushes it
    back, so a concurrent Twilio retry waiting on the same step wakes too. Because the
    token stays in the list, a publish that happens between the waiter's GET and its
    BLPOP is never missed. Every key has a TTL, so a call that never hangs up cleanly
    leaves nothing behind for long.
    """

    def __init__(self, redis: Redis, ttl: int = TTL_SECONDS, prefix: str = PREFIX) -> None:
        self.redis = redis
        self.ttl = ttl
        self.prefix = prefix

    def _expectation_key(self, call_sid: str) -> str:
        return f"{self.prefix}:exp:{call_sid}"

    def _result_key(self, call_sid: str, step: str) -> str:
        return f"{self.prefix}:res:{call_sid}:{step}"

    def _signal_key(self, call_sid: str, step: str) -> str:
        return f"{self.prefix}:sig:{call_sid}:{step}"

    def _steps_key(self, call_sid: str) -> str:
        return f"{self.prefix}:steps:{call_sid}"  # the steps with keys, for `forget`

    def expect(self, exp: Expectation) -> None:
        pipe = self.redis.pipeline()
        pipe.set(self._expectation_key(exp.call_sid), exp.to_json(), ex=self.ttl)
        pipe.sadd(self._steps_key(exp.call_sid), exp.step)
        pipe.expire(self._steps_key(exp.call_sid), self.ttl)
        pipe.execute()

    def expectation(self, call_sid: str) -> Expectation | None:
        raw = self.redis.get(self._expectation_key(call_sid))
        return Expectation.from_json(raw) if raw else None

    def publish(self, call_sid: str, step: str, result: dict[str, Any]) -> None:
        pipe = self.redis.pipeline()  # MULTI/EXEC: the result is set before the signal
        pipe.set(self._result_key(call_sid, step), json.dumps(result), ex=self.ttl, nx=True)
        pipe.rpush(self._signal_key(call_sid, step), b"1")
        pipe.expire(self._signal_key(call_sid, step), self.ttl)
        pipe.sadd(self._steps_key(call_sid), step)
        pipe.expire(self._steps_key(call_sid), self.ttl)
        pipe.execute()

    def wait(self, call_sid: str, step: str, timeout: float) -> dict[str, Any] | None:
        key = self._result_key(call_sid, step)
        raw = self.redis.get(key)
        if raw is None and timeout > 0:  # BLPOP with 0 would block for ever
            signal = self._signal_key(call_sid, step)
            popped = self.redis.blpop([signal], timeout=timeout)
            if popped is not None:
                pipe = self.redis.pipeline()
                pipe.lpush(signal, b"1")  # leave it for any other waiter
                pipe.expire(signal, self.ttl)
                pipe.execute()
                raw = self.redis.get(key)
        return json.loads(raw) if raw else None

    def forget(self, call_sid: str) -> None:
        steps_key = self._steps_key(call_sid)
        members: Any = self.redis.smembers(steps_key)
        steps = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
        keys = [self._expectation_key(call_sid), steps_key]
        for step in steps:
            keys += [self._result_key(call_sid, step), self._signal_key(call_sid, step)]
        self.redis.delete(*keys)


class MemorySpeechExchange:
    """The exchange inside one process (the embedded `hotline run`, where the media server
    is a thread of the web app): a dict guarded by a Condition that `publish` notifies.

    Entries of calls never forgotten are dropped after the TTL, checked on each `expect`.
    """

    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self.ttl = ttl
        self._cond = threading.Condition()
        self._expectations: dict[str, Expectation] = {}
        self._results: dict[tuple[str, str], dict[str, Any]] = {}
        self._touched: dict[str, float] = {}

    def expect(self, exp: Expectation) -> None:
        with self._cond:
            self._expire(time.monotonic())
            self._expectations[exp.call_sid] = exp
            self._touched[exp.call_sid] = time.monotonic()

    def expectation(self, call_sid: str) -> Expectation | None:
        with self._cond:
            return self._expectations.get(call_sid)

    def publish(self, call_sid: str, step: str, result: dict[str, Any]) -> None:
        with self._cond:
            self._results.setdefault((call_sid, step), result)
            self._touched[call_sid] = time.monotonic()
            self._cond.notify_all()

    def wait(self, call_sid: str, step: str, timeout: float) -> dict[str, Any] | None:
        key = (call_sid, step)
        with self._cond:
            self._cond.wait_for(lambda: key in self._results, timeout=max(timeout, 0.0))
            return self._results.get(key)

    def forget(self, call_sid: str) -> None:
        with self._cond:
            self._drop(call_sid)

    def _drop(self, call_sid: str) -> None:
        self._expectations.pop(call_sid, None)
        self._touched.pop(call_sid, None)
        for key in [k for k in self._results if k[0] == call_sid]:
            del self._results[key]

    def _expire(self, now: float) -> None:
        for call_sid in [c for c, t in self._touched.items() if now - t > self.ttl]:
            self._drop(call_sid)
