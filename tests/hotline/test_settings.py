"""Configuration comes from the environment only, with clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.settings import Settings

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
