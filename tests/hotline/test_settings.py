"""Configuration comes from the environment only, with clear errors for bad values."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.pool import QueuePool

from hotline.bootstrap import make_engine
from hotline.settings import ConfigurationError, DatabasePool, Settings, check_shared_deployment

pytestmark = pytest.mark.unit


def test_defaults_are_the_embedded_ones(tmp_path: Path) -> None:
    settings = Settings.from_env({"HOTLINE_VAR_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'hotline.sqlite3'}"
    assert settings.redis_url is None
    assert not settings.twilio_configured
    assert settings.timezone.key == "Asia/Shanghai"
    assert settings.auto_close_days == 7
    assert settings.secret_key == (tmp_path / "secret_key").read_text()
    assert settings.webhook_token == settings.secret_key  # no Twilio: our own key signs


def test_postgres_urls_use_psycopg_3_and_twilio_token_signs_webhooks(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "HOTLINE_VAR_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://u@h/db",
            "SECRET_KEY": "one-key-for-every-host",
            "HOTLINE_FILES_DIR": str(tmp_path),
            "TWILIO_ACCOUNT_SID": "AC1",
            "TWILIO_AUTH_TOKEN": "tok",
            "TWILIO_FROM_NUMBER": "+1",
            "PUBLIC_BASE_URL": "https://hotline.example.gov/",
            "HOTLINE_AUTO_CLOSE_DAYS": "3",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.twilio_configured
    assert settings.webhook_token == "tok"
    assert settings.public_base_url == "https://hotline.example.gov"
    assert settings.auto_close_days == 3


@pytest.mark.parametrize("value", ["-1", "seven"])
def test_a_bad_auto_close_setting_is_refused_at_start(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError, match="HOTLINE_AUTO_CLOSE_DAYS must be a whole number"):
        Settings.from_env({"HOTLINE_VAR_DIR": str(tmp_path), "HOTLINE_AUTO_CLOSE_DAYS": value})


def test_the_voice_and_console_settings_are_read_and_checked(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "HOTLINE_VAR_DIR": str(tmp_path),
            "HOTLINE_MEDIA_URL": "wss://hotline.example.gov/twilio/media",
            "HOTLINE_SPEECH_WAIT": "2.5",
            "HOTLINE_AGENT_NUMBER": "+8637112345678",
            "HOTLINE_AGENT_HOURS": "22:00-06:00",
            "HOTLINE_MAP_TILES": "https://tiles.example.gov/{z}/{x}/{y}.png",
        }
    )
    assert settings.media_url == "wss://hotline.example.gov/twilio/media"
    assert (settings.speech_wait, settings.agent_hours) == (2.5, "22:00-06:00")
    assert settings.agent_number == "+8637112345678"
    assert settings.map_tiles == "https://tiles.example.gov/{z}/{x}/{y}.png"
    with pytest.raises(ValueError, match="HOTLINE_AGENT_HOURS must look like 08:00-20:00"):
        Settings.from_env({"HOTLINE_VAR_DIR": str(tmp_path), "HOTLINE_AGENT_HOURS": "8 to 8"})
    with pytest.raises(ValueError, match="HOTLINE_SPEECH_WAIT must be a number of seconds"):
        Settings.from_env({"HOTLINE_VAR_DIR": str(tmp_path), "HOTLINE_SPEECH_WAIT": "60"})


SHARED = {"DATABASE_URL": "postgresql://u@h/db", "SECRET_KEY": "one-key-for-every-host"}
TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC1",
    "TWILIO_AUTH_TOKEN": "tok",
    "TWILIO_FROM_NUMBER": "+1",
    "PUBLIC_BASE_URL": "https://hotline.example.gov",
}


def _shared(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        {"HOTLINE_VAR_DIR": str(tmp_path), "HOTLINE_FILES_DIR": str(tmp_path), **SHARED, **env}
    )


def test_a_shared_database_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set: on a shared database"):
        Settings.from_env({"HOTLINE_VAR_DIR": str(tmp_path), "DATABASE_URL": "postgresql://h/d"})
    assert not (tmp_path / "secret_key").exists()  # no host-local key made on the way


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_FROM_NUMBER": "+1"}, "TWILIO_AUTH_TOKEN not"),
        ({"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"}, "TWILIO_FROM_NUMBER not"),
        ({"TWILIO_FROM_NUMBER": "+1"}, "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN not"),
    ],
)
def test_half_a_twilio_configuration_is_refused(
    tmp_path: Path, given: dict[str, str], missing: str
) -> None:
    with pytest.raises(ConfigurationError, match=f"Twilio is half configured: .* {missing}"):
        _shared(tmp_path, PUBLIC_BASE_URL="https://h.example", **given)


def test_a_twilio_token_needs_the_public_address_twilio_signs(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="TWILIO_AUTH_TOKEN is set but PUBLIC_BASE_URL"):
        _shared(tmp_path, **{**TWILIO, "PUBLIC_BASE_URL": ""})
    assert _shared(tmp_path, **TWILIO).twilio_configured


@pytest.mark.parametrize(
    "url",
    ["ws://hotline.example.gov/twilio/media", "https://hotline.example.gov/twilio/media", "wss:"],
)
def test_a_streaming_url_twilio_cannot_sign_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigurationError, match="HOTLINE_MEDIA_URL must be a wss:// URL"):
        _shared(tmp_path, **TWILIO, HOTLINE_MEDIA_URL=url)


def test_the_media_server_needs_its_wss_url_and_loopback_may_use_ws(tmp_path: Path) -> None:
    settings = _shared(tmp_path, **TWILIO)  # no streaming: <Record> captures speech
    with pytest.raises(ConfigurationError, match="HOTLINE_MEDIA_URL is not set"):
        check_shared_deployment(settings, streaming=True)
    for url in ("wss://hotline.example.gov/twilio/media", "ws://127.0.0.1:5001/twilio/media"):
        check_shared_deployment(replace(settings, media_url=url), streaming=True)


def test_a_shared_database_needs_a_files_directory_that_exists(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="HOTLINE_FILES_DIR is not set: on a shared"):
        _shared(tmp_path, HOTLINE_FILES_DIR="")
    unmounted = tmp_path / "mnt" / "hotline-files"
    with pytest.raises(ConfigurationError, match="is not a directory: mount the shared"):
        _shared(tmp_path, HOTLINE_FILES_DIR=str(unmounted))
    assert not unmounted.exists()  # never made: it would be on this host's own disk
    assert _shared(tmp_path).files_dir == tmp_path


def test_the_embedded_default_needs_none_of_this(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "HOTLINE_VAR_DIR": str(tmp_path),
            "TWILIO_FROM_NUMBER": "+1",
            "TWILIO_AUTH_TOKEN": "tok",
            "HOTLINE_MEDIA_URL": "ws://0.0.0.0:5001/twilio/media",
        }
    )
    assert settings.embedded
    assert settings.secret_key == (tmp_path / "secret_key").read_text()
    assert settings.files_dir == tmp_path  # where attachments/ and recordings/ always were


def test_pool_sizes_are_settings_and_reach_the_engine(tmp_path: Path) -> None:
    settings = _shared(
        tmp_path,
        HOTLINE_DB_POOL_SIZE="3",
        HOTLINE_DB_MAX_OVERFLOW="0",
        HOTLINE_DB_POOL_TIMEOUT="2.5",
    )
    assert settings.db_pool == DatabasePool(size=3, overflow=0, timeout=2.5)
    pool = make_engine(settings.database_url, settings.db_pool).pool
    assert isinstance(pool, QueuePool)
    assert (pool.size(), pool.timeout()) == (3, 2.5)
    assert pool._max_overflow == 0  # QueuePool has no public reader of its overflow limit
    assert Settings.from_env({"HOTLINE_VAR_DIR": str(tmp_path)}).db_pool == DatabasePool(4, 2)
    with pytest.raises(ConfigurationError, match="HOTLINE_DB_POOL_SIZE must be a whole number"):
        _shared(tmp_path, HOTLINE_DB_POOL_SIZE="0")
    with pytest.raises(ConfigurationError, match="HOTLINE_DB_POOL_TIMEOUT must be a number"):
        _shared(tmp_path, HOTLINE_DB_POOL_TIMEOUT="0")


def test_rate_limits_and_trusted_proxies_are_read_and_checked(tmp_path: Path) -> None:
    base = {"HOTLINE_VAR_DIR": str(tmp_path)}
    defaults = Settings.from_env(base)
    assert (defaults.login_rate_limit, defaults.phone_rate_limit) == (
        "20 per minute",
        "120 per minute",
    )
    assert defaults.trusted_proxies == 0
    given = Settings.from_env(
        {
            **base,
            "HOTLINE_LOGIN_RATE_LIMIT": "10/minute;100/hour",
            "HOTLINE_PHONE_RATE_LIMIT": "30 per minute",
            "HOTLINE_TRUSTED_PROXIES": "2",
        }
    )
    assert (given.login_rate_limit, given.phone_rate_limit) == (
        "10/minute;100/hour",
        "30 per minute",
    )
    assert given.trusted_proxies == 2
    with pytest.raises(ConfigurationError, match="HOTLINE_LOGIN_RATE_LIMIT must be a rate"):
        Settings.from_env({**base, "HOTLINE_LOGIN_RATE_LIMIT": "lots"})
    with pytest.raises(ConfigurationError, match="HOTLINE_TRUSTED_PROXIES must be a whole"):
        Settings.from_env({**base, "HOTLINE_TRUSTED_PROXIES": "-1"})
