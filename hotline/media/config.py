"""The media server's settings, read from the environment like `hotline.settings`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from hotline.media.endpointing import SILENCE_MS, SPEECH_RMS
from hotline.settings import Settings

MEDIA_PATH = "/twilio/media"
DEFAULT_MAX_CALLS = 60
IDLE_SECONDS = 30.0


@dataclass(frozen=True)
class MediaSettings:
    """`public_url` is the wss:// URL Twilio connects to and signs; None means the URL
    the request arrived at (no proxy in front, as in tests and the simulator)."""

    token: str
    public_url: str | None
    max_calls: int = DEFAULT_MAX_CALLS
    idle_seconds: float = IDLE_SECONDS
    silence_ms: int = SILENCE_MS
    speech_rms: int = SPEECH_RMS

    @classmethod
    def from_env(cls, settings: Settings, env: Mapping[str, str] | None = None) -> MediaSettings:
        env = os.environ if env is None else env
        return cls(
            token=settings.webhook_token,
            public_url=public_media_url(settings, env),
            max_calls=_whole(env, "HOTLINE_MEDIA_MAX_CALLS", DEFAULT_MAX_CALLS, minimum=1),
            silence_ms=_whole(env, "HOTLINE_MEDIA_SILENCE_MS", SILENCE_MS, minimum=100),
            speech_rms=_whole(env, "HOTLINE_MEDIA_SPEECH_RMS", SPEECH_RMS, minimum=1),
        )


def public_media_url(settings: Settings, env: Mapping[str, str] | None = None) -> str | None:
    """The wss:// URL Twilio is told to stream to (`<Stream url>`) and signs: the setting
    `media_url` (HOTLINE_MEDIA_URL), the same one the webhook puts in its TwiML."""
    env = os.environ if env is None else env
    configured = getattr(settings, "media_url", None) or env.get("HOTLINE_MEDIA_URL") or ""
    return configured.strip() or None


def _whole(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ValueError(f"{name} must be a whole number of {minimum} or more, not {raw!r}")
    return value
