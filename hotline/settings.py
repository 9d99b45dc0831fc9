"""Configuration, read from environment variables only (documented in the README)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

import limits

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FLOWS_DIR = PROJECT_ROOT / "ivr_flows"
TWILIO_VARIABLES = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")


class ConfigurationError(ValueError):
    """A setting is missing or wrong, so the process must not start; the message names
    the variable and what to set. Commands turn it into one line, gunicorn into a failed
    boot."""


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


def _non_negative(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    """A whole number of at least `minimum` from the environment; a clear error otherwise."""
    raw = env.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigurationError(f"{name} must be a whole number of {minimum} or more, not {raw!r}")
    return value


def _seconds(
    env: Mapping[str, str], name: str, default: float, least: float = 0, most: float = 10
) -> float:
    raw = env.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        value = least - 1
    if not least <= value <= most:
        raise ConfigurationError(
            f"{name} must be a number of seconds from {least:g} to {most:g}, not {raw!r}"
        )
    return value


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    """A rate limit such as "20 per minute" or "10/minute;100/hour", checked at start-up."""
    raw = env.get(name) or default
    try:
        limits.parse_many(raw)
    except ValueError:
        raise ConfigurationError(
            f"{name} must be a rate such as '20 per minute' or '10/minute;100/hour', not {raw!r}"
        ) from None
    return raw


def _tick_seconds(env: Mapping[str, str]) -> int:
    """The scheduler's period: a minute in production; tests of the deployed processes
    shorten it so a ladder of a few seconds runs through in one test."""
    value = _non_negative(env, "HOTLINE_TICK_SECONDS", 60)
    if not 1 <= value <= 3600:
        raise ConfigurationError(f"HOTLINE_TICK_SECONDS must be from 1 to 3600, not {value}")
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
        raise ConfigurationError(
            f"HOTLINE_AGENT_HOURS must look like 08:00-20:00, not {raw!r}"
        ) from None
    return raw


@dataclass(frozen=True)
class DatabasePool:
    """The connections one process may hold: `size` kept open, `overflow` more at a busy
    moment, and how long a request waits for one. Every process has its own pool, so the
    sum over processes and hosts must stay under PostgreSQL's max_connections (README,
    "Running on several hosts"). The wait is under Twilio's 15 s: a webhook still waiting
    after that has lost its caller anyway."""

    size: int = 4
    overflow: int = 2
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DatabasePool:
        return cls(
            size=_non_negative(env, "HOTLINE_DB_POOL_SIZE", cls.size, minimum=1),
            overflow=_non_negative(env, "HOTLINE_DB_MAX_OVERFLOW", cls.overflow),
            timeout=_seconds(env, "HOTLINE_DB_POOL_TIMEOUT", cls.timeout, least=1, most=60),
        )


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
    # Recordings and photos (hotline.storage.files): a directory every host mounts.
    files_dir: Path
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
    db_pool: DatabasePool = DatabasePool()  # frozen, so one shared default is safe
    # How many proxies in front of us set X-Forwarded-For (0: the peer is the client).
    trusted_proxies: int = 0
    # Per client address, shared by every process through Redis (memory embedded).
    login_rate_limit: str = "20 per minute"
    phone_rate_limit: str = "120 per minute"

    @property
    def embedded(self) -> bool:
        """The embedded default: one process on a SQLite file, where a key or a file kept
        under var/ is shared by everything that runs. Any other database may be shared by
        several hosts, and `check_shared_deployment` holds it to stricter rules."""
        return self.database_url.startswith("sqlite")

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
        database_url = driver_url(env.get("DATABASE_URL") or "") or (
            f"sqlite:///{var_dir / 'hotline.sqlite3'}"
        )
        embedded = database_url.startswith("sqlite")  # as `Settings.embedded` will say
        secret_key = env.get("SECRET_KEY")
        if not secret_key and not embedded:
            raise ConfigurationError(
                "SECRET_KEY is not set: on a shared database every host must sign sessions "
                "and SMS links with the same key. Set SECRET_KEY to one long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))') on every host."
            )
        files_dir = _files_dir(env, var_dir, embedded=embedded)
        settings = cls(
            database_url=database_url,
            redis_url=env.get("REDIS_URL") or None,
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID") or None,
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN") or None,
            twilio_from_number=env.get("TWILIO_FROM_NUMBER") or None,
            twilio_api_base_url=env.get("TWILIO_API_BASE_URL") or None,
            public_base_url=(env.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
            secret_key=secret_key or _local_secret(var_dir),
            timezone=ZoneInfo(env.get("HOTLINE_TIMEZONE") or "Asia/Shanghai"),
            var_dir=var_dir,
            files_dir=files_dir,
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
            db_pool=DatabasePool.from_env(env),
            trusted_proxies=_non_negative(env, "HOTLINE_TRUSTED_PROXIES", 0),
            login_rate_limit=_rate(env, "HOTLINE_LOGIN_RATE_LIMIT", cls.login_rate_limit),
            phone_rate_limit=_rate(env, "HOTLINE_PHONE_RATE_LIMIT", cls.phone_rate_limit),
        )
        if not settings.embedded:
            check_shared_deployment(settings)
        return settings


def _files_dir(env: Mapping[str, str], var_dir: Path, *, embedded: bool) -> Path:
    """HOTLINE_FILES_DIR. Embedded it defaults to var/ itself, where recordings and photos
    always were; on a shared database there is no default, since any folder we picked
    would be on one host's disk, and the folder must already exist: one made here would
    be exactly that (a volume that failed to mount)."""
    raw = env.get("HOTLINE_FILES_DIR")
    if embedded:
        return Path(raw) if raw else var_dir
    if not raw:
        raise ConfigurationError(
            "HOTLINE_FILES_DIR is not set: on a shared database recordings and photos must "
            "go to one directory every host mounts (NFS or a cluster file system), or a file "
            "written on one host is missing on the next. Set it to that directory."
        )
    if not Path(raw).is_dir():
        raise ConfigurationError(
            f"HOTLINE_FILES_DIR {raw!r} is not a directory: mount the shared file store "
            "there (it is never created, so an unmounted volume cannot fill a local disk)."
        )
    return Path(raw)


def driver_url(url: str) -> str:
    """The SQLAlchemy URL of DATABASE_URL: psycopg 3 is the driver we ship, and a plain
    postgresql:// would ask for psycopg2."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def check_shared_deployment(settings: Settings, *, streaming: bool = False) -> None:
    """Refuse a configuration that breaks once a second host (or process) shares the
    database: each check names the variable to set. `streaming`: this process is the
    Media Streams server, which needs the URL Twilio signs even when nothing else does.

    The embedded default needs none of this and is never checked: one process there
    makes its own key and reaches itself over loopback.
    """
    given = {
        "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
        "TWILIO_FROM_NUMBER": settings.twilio_from_number,
    }
    if settings.twilio_account_sid or settings.twilio_from_number:
        missing = [name for name in TWILIO_VARIABLES if not given[name]]
        if missing:
            present = [name for name in TWILIO_VARIABLES if given[name]]
            raise ConfigurationError(
                f"Twilio is half configured: {' and '.join(present)} set but "
                f"{' and '.join(missing)} not. Set all three of {', '.join(TWILIO_VARIABLES)} "
                "(the auth token also checks every webhook's signature), or none."
            )
    if not settings.twilio_auth_token:
        return
    if not settings.public_base_url:
        raise ConfigurationError(
            "TWILIO_AUTH_TOKEN is set but PUBLIC_BASE_URL is not: Twilio signs the URL it "
            "called, which a host behind a load balancer cannot see. Set PUBLIC_BASE_URL to "
            "the address Twilio calls, e.g. https://hotline.example.gov."
        )
    if streaming or settings.media_url:
        check_media_url(settings.media_url)


def check_media_url(url: str | None) -> None:
    """Twilio streams only to wss:// and signs that URL, so the media server must know it;
    plain ws:// is for a server on this machine (tests, the embedded default)."""
    if not url:
        raise ConfigurationError(
            "HOTLINE_MEDIA_URL is not set: the media server checks Twilio's signature "
            "against the wss:// URL Twilio connects to, and a URL made from the Host header "
            "(ws://...) never matches. Set it, e.g. wss://hotline.example.gov/twilio/media."
        )
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "wss" and parts.hostname:
        return
    if parts.scheme == "ws" and _loopback(parts.hostname or ""):
        return
    raise ConfigurationError(
        f"HOTLINE_MEDIA_URL must be a wss:// URL (Twilio streams only over TLS), not {url!r}; "
        "ws:// is only for a media server on 127.0.0.1."
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
