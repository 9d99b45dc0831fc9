"""Configuration, read from environment variables only (documented in the README)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FLOWS_DIR = PROJECT_ROOT / "ivr_flows"


def _var_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOTLINE_VAR_DIR", str(PROJECT_ROOT / "var")))


def _local_secret(var_dir: Path) -> str:
    """A per-installation random secret kept under var/, so a demo needs no set-up."""
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _non_negative(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number of at least 0 from the environment; a clear error otherwise."""
    raw = env.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{name} must be a whole number of 0 or more, not {raw!r}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 10:
        raise ValueError(f"{name} must be a number of seconds from 0 to 10, not {raw!r}")
    return value


def _tick_seconds(env: Mapping[str, str]) -> int:
    """The scheduler's period: a minute in production; tests of the deployed processes
    shorten it so a ladder of a few seconds runs through in one test."""
    value = _non_negative(env, "HOTLINE_TICK_SECONDS", 60)
    if not 1 <= value <= 3600:
        raise ValueError(f"HOTLINE_TICK_SECONDS must be from 1 to 3600, not {value}")
    return value


def _hours(raw: str) -> str:
    """Staffed hours as HH:MM-HH:MM, checked at start-up: a typo must not close the line."""
    start, sep, end = raw.partition("-")
    try:
        if not sep:
            raise ValueError
        for part in (start, end):
            time.fromisoformat(part.strip())
    except ValueError:
        raise ValueError(f"HOTLINE_AGENT_HOURS must look like 08:00-20:00, not {raw!r}") from None
    return raw


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    twilio_from_number: str | None
    twilio_api_base_url: str | None
    public_base_url: str | None
    secret_key: str
    timezone: ZoneInfo
    var_dir: Path
    auto_close_days: int = 7
    link_days: int = 14  # how long the signed link of an assignment SMS opens the case
    speech: str = "en-US=pocketsphinx"
    flows_dir: Path = FLOWS_DIR
    # Media Streams: where Twilio sends the caller's audio (empty: speech is captured with
    # <Record> instead), and how long a step's webhook waits for the recognised answer.
    media_url: str | None = None
    speech_wait: float = 1.5
    agent_number: str | None = None  # the agents' line a caller is transferred to
    agent_hours: str = "08:00-20:00"  # staffed hours, local time; outside: a call back
    map_tiles: str = ""  # a {z}/{x}/{y} tile URL on the city's own server; "": outlines only
    tick_seconds: int = 60  # how often the scheduler sweeps, drains the outbox, auto-closes

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from_number)

    @property
    def webhook_token(self) -> str:
        """The key webhooks are signed with: Twilio's auth token, else our own secret.

        Without Twilio, only our simulator calls the webhooks; it signs with the same
        key, so the signature check is never switched off.
        """
        return self.twilio_auth_token or self.secret_key

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the environment (or a given mapping, for tests)."""
        env = os.environ if env is None else env
        var_dir = _var_dir(env)
        database_url = env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'hotline.sqlite3'}"
        if database_url.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
            database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
        return cls(
            database_url=database_url,
            redis_url=env.get("REDIS_URL") or None,
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID") or None,
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN") or None,
            twilio_from_number=env.get("TWILIO_FROM_NUMBER") or None,
            twilio_api_base_url=env.get("TWILIO_API_BASE_URL") or None,
            public_base_url=(env.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
            secret_key=env.get("SECRET_KEY") or _local_secret(var_dir),
            timezone=ZoneInfo(env.get("HOTLINE_TIMEZONE") or "Asia/Shanghai"),
            var_dir=var_dir,
            auto_close_days=_non_negative(env, "HOTLINE_AUTO_CLOSE_DAYS", 7),
            link_days=_non_negative(env, "HOTLINE_LINK_DAYS", 14),
            speech=env.get("HOTLINE_SPEECH") or "en-US=pocketsphinx",
            flows_dir=Path(env.get("HOTLINE_FLOWS_DIR") or FLOWS_DIR),
            media_url=env.get("HOTLINE_MEDIA_URL") or None,
            speech_wait=_seconds(env, "HOTLINE_SPEECH_WAIT", 1.5),
            agent_number=env.get("HOTLINE_AGENT_NUMBER") or None,
            agent_hours=_hours(env.get("HOTLINE_AGENT_HOURS") or "08:00-20:00"),
            map_tiles=env.get("HOTLINE_MAP_TILES") or "",
            tick_seconds=_tick_seconds(env),
        )
