"""Where a call's flow state and its answered steps live between Twilio's requests.

Redis when REDIS_URL is set: the flow state and every step's TwiML are written on every
step of every call (hundreds at once at peak), which the case database need not carry;
the database keeps only the call row (who called, its case), locked while a step runs.
Without Redis (the embedded mode) the database keeps it on the call row and in
`webhook_replies`, committed with the step's case in one transaction.

Either way a step's answer is kept under (CallSid, step), so when Twilio retries a
request it gets the same TwiML back, and a per-call lock makes concurrent requests for
one call take turns.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from redis import Redis
from sqlalchemy import select

from ticketing.models.calls import Call, WebhookReply
from ticketing.unit_of_work import UnitOfWork

TTL_SECONDS = 6 * 3600  # longer than any call; a crashed call's keys expire by themselves
LOCK_SECONDS = 20  # longer than Twilio waits for a webhook (15 s)


class CallBusy(RuntimeError):
    """Another request of the same call holds the lock past the time Twilio would wait."""


class CallStates(Protocol):
    def lock(self, uow: UnitOfWork, call_sid: str) -> Any:
        """A context manager held while one request of the call runs."""

    def load(self, uow: UnitOfWork, call: Call) -> dict[str, Any] | None:
        """The kept document: {"flow": engine state, "step": the last step answered}."""

    def reply(self, uow: UnitOfWork, call_sid: str, step: int) -> str | None: ...

    def stage(
        self, uow: UnitOfWork, call: Call, state: dict[str, Any], step: int, body: str
    ) -> None:
        """Before the step commits: the database store keeps state and answer here."""

    def settle(self, call_sid: str, state: dict[str, Any], step: int, body: str) -> None:
        """After the step committed: the Redis store keeps state and answer here. A crash
        between the two re-runs the step, whose actions find the case already made (the
        call row remembers it)."""


class DatabaseCallStates:
    """The embedded mode: state on the call row, answers in `webhook_replies`."""

    @contextmanager
    def lock(self, uow: UnitOfWork, call_sid: str) -> Iterator[None]:
        # The row lock (SELECT ... FOR UPDATE) is taken when the call is loaded.
        yield

    def load(self, uow: UnitOfWork, call: Call) -> dict[str, Any] | None:
        return call.state.get("ivr")

    def reply(self, uow: UnitOfWork, call_sid: str, step: int) -> str | None:
        return uow.session.scalars(
            select(WebhookReply.body).where(
                WebhookReply.call_sid == call_sid, WebhookReply.step == step
            )
        ).one_or_none()

    def stage(
        self, uow: UnitOfWork, call: Call, state: dict[str, Any], step: int, body: str
    ) -> None:
        call.state = {**call.state, "ivr": state}
        uow.session.add(WebhookReply(call_sid=call.call_sid, step=step, body=body))

    def settle(self, call_sid: str, state: dict[str, Any], step: int, body: str) -> None:
        return None


class RedisCallStates:
    """State and answers in Redis hashes keyed by CallSid; a SET NX lock per call."""

    def __init__(self, redis: Redis, prefix: str = "hotline:call") -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, call_sid: str, part: str) -> str:
        return f"{self._prefix}:{call_sid}:{part}"

    @contextmanager
    def lock(self, uow: UnitOfWork, call_sid: str) -> Iterator[None]:
        key, token = self._key(call_sid, "lock"), secrets.token_hex(8)
        deadline = time.monotonic() + LOCK_SECONDS
        while not self._redis.set(key, token, nx=True, ex=LOCK_SECONDS):
            if time.monotonic() > deadline:
                raise CallBusy(f"call {call_sid} is busy")
            time.sleep(0.02)
        try:
            yield
        finally:
            # Release only our own lock: compare-and-delete in one step.
            self._redis.eval(
                "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
                "end return 0",
                1,
                key,
                token,
            )

    def load(self, uow: UnitOfWork, call: Call) -> dict[str, Any] | None:
        raw = self._redis.get(self._key(call.call_sid, "state"))
        return None if raw is None else dict(json.loads(raw))

    def reply(self, uow: UnitOfWork, call_sid: str, step: int) -> str | None:
        raw = self._redis.hget(self._key(call_sid, "replies"), str(step))
        return None if raw is None else bytes(raw).decode()  # type: ignore[arg-type]

    def stage(
        self, uow: UnitOfWork, call: Call, state: dict[str, Any], step: int, body: str
    ) -> None:
        return None

    def settle(self, call_sid: str, state: dict[str, Any], step: int, body: str) -> None:
        replies = self._key(call_sid, "replies")
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self._key(call_sid, "state"), json.dumps(state), ex=TTL_SECONDS)
        pipe.hset(replies, str(step), body)
        pipe.expire(replies, TTL_SECONDS)
        pipe.execute()
