"""The per-call token that binds a media stream to the call it claims to be.

Twilio signs the WebSocket upgrade over the stream URL alone, which is the same for every
call, so that signature proves only that Twilio (or whoever saw one) connects. The first
step's TwiML therefore passes a `<Parameter name="t">`: `<expiry>.<HMAC>`, the HMAC taken
under the webhook key over the CallSid and the expiry. Twilio hands it back in
`start.customParameters`, and the media server takes a stream's CallSid only when the
token is that call's, has not expired, and has not opened a stream before.

A token lives as long as a call can (`CALL_LIFETIME_SECONDS`, Twilio's default maximum
call length), and each is used once: the media server records it in `UsedTokens` (Redis,
shared by every media server process, or memory when embedded: one process then) until it
expires, so a copy of the TwiML or of the first `start` opens no second stream.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from typing import Protocol

from redis import Redis

PARAMETER = "t"
# Twilio ends a call after its time limit, 4 hours unless the account raises it.
CALL_LIFETIME_SECONDS = 4 * 60 * 60
PREFIX = "hotline:media:used-token"


def _mac(key: str, call_sid: str, expires_at: int) -> str:
    message = f"media-stream:{call_sid}:{expires_at}".encode()
    mac = hmac.new(key.encode(), message, hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode()


def stream_token(
    key: str, call_sid: str, *, now: float | None = None, expires_at: int | None = None
) -> str:
    """The token for `call_sid`'s stream, good until `expires_at` (Unix seconds; by default
    a call's lifetime from `now`)."""
    if expires_at is None:
        expires_at = int(time.time() if now is None else now) + CALL_LIFETIME_SECONDS
    return f"{expires_at}.{_mac(key, call_sid, expires_at)}"


def check_token(key: str, call_sid: str, token: str, now: float) -> int | None:
    """The whole seconds `token` is still good for `call_sid`, or None when it is not that
    call's, is malformed or has expired."""
    expires, dot, mac = token.partition(".")
    if not dot or not (expires.isascii() and expires.isdigit()) or len(expires) > 12:
        return None
    expires_at = int(expires)
    if not hmac.compare_digest(_mac(key, call_sid, expires_at).encode(), mac.encode()):
        return None
    remaining = expires_at - int(now)
    return remaining if remaining > 0 else None


class UsedTokens(Protocol):
    """Where the media server records each token that opened a stream."""

    def claim(self, token: str, ttl: int, now: float) -> bool:
        """Record `token` for `ttl` seconds; False when it was recorded already."""
        ...


class RedisUsedTokens:
    """Shared by every media server process: SET NX, kept until the token expires."""

    def __init__(self, redis: Redis, prefix: str = PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix

    def claim(self, token: str, ttl: int, now: float) -> bool:
        return bool(self.redis.set(f"{self.prefix}:{token}", b"1", nx=True, ex=max(ttl, 1)))


class MemoryUsedTokens:
    """One process's record (the embedded server); expired tokens are forgotten as new
    ones arrive, so it holds at most the calls of the last `CALL_LIFETIME_SECONDS`."""

    def __init__(self) -> None:
        self.expires: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, token: str, ttl: int, now: float) -> bool:
        with self._lock:
            for old in [t for t, until in self.expires.items() if until <= now]:
                del self.expires[old]
            if token in self.expires:
                return False
            self.expires[token] = now + ttl
            return True
