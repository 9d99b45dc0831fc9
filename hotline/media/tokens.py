"""The per-call token that binds a media stream to the call it claims to be.

Twilio signs the WebSocket upgrade over the stream URL alone, which is the same for every
call, so that signature proves only that Twilio (or whoever saw one) connects. The first
step's TwiML therefore passes a `<Parameter name="t">`: an HMAC of the CallSid under the
webhook key. Twilio hands it back in `start.customParameters`, and the media server takes
a stream's CallSid only when the token matches it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PARAMETER = "t"


def stream_token(key: str, call_sid: str) -> str:
    mac = hmac.new(key.encode(), b"media-stream:" + call_sid.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode()


def token_matches(key: str, call_sid: str, token: str) -> bool:
    return hmac.compare_digest(stream_token(key, call_sid), token)
