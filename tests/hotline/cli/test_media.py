"""`hotline media-server` refuses to start where Twilio's signature could never match."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from hotline.cli.main import main

pytestmark = pytest.mark.functional


def test_the_media_server_needs_the_wss_url_twilio_signs(tmp_path: Path) -> None:
    cleared: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("DATABASE_", "TWILIO_", "HOTLINE_"))
    }
    env = {
        **cleared,
        "HOTLINE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "SECRET_KEY": "k",
        "HOTLINE_FILES_DIR": str(tmp_path),
        "TWILIO_AUTH_TOKEN": "tok",
        "PUBLIC_BASE_URL": "https://hotline.example.gov",
    }
    done = CliRunner().invoke(main, ["media-server"], env=env, catch_exceptions=False)
    assert done.exit_code == 1
    assert done.output.startswith("Error: HOTLINE_MEDIA_URL is not set: the media server")
    assert "Traceback" not in done.output
