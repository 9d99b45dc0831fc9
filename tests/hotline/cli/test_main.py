"""The `hotline` command group: a refused configuration is one line, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hotline.cli.main import main

pytestmark = pytest.mark.functional

# Nothing listens on port 1: a command that got past its settings would fail differently.
SHARED = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}


def hotline(tmp_path: Path, env: dict[str, str], *args: str) -> Result:
    """Run a command with only `env` configured (and var/ in tmp_path)."""
    cleared: dict[str, str | None] = {
        k: None
        for k in os.environ
        if k.startswith(("DATABASE_", "REDIS_", "TWILIO_", "PUBLIC_", "SECRET_", "HOTLINE_"))
    }
    given = {**cleared, "HOTLINE_VAR_DIR": str(tmp_path), **env}
    return CliRunner().invoke(main, list(args), env=given, catch_exceptions=False)


def test_a_refused_configuration_is_one_line_and_exit_status_1(tmp_path: Path) -> None:
    done = hotline(tmp_path, SHARED, "db", "upgrade")
    assert done.exit_code == 1
    assert done.output.startswith("Error: SECRET_KEY is not set: on a shared database")
    assert done.output.count("\n") == 1
    assert "Traceback" not in done.output


def test_the_embedded_server_on_a_public_interface_is_refused_with_a_twilio_token(
    tmp_path: Path,
) -> None:
    env = {
        **SHARED,
        "SECRET_KEY": "k",
        "HOTLINE_FILES_DIR": str(tmp_path),
        "TWILIO_AUTH_TOKEN": "tok",
        "PUBLIC_BASE_URL": "https://hotline.example.gov",
    }
    done = hotline(tmp_path, env, "run", "--host", "0.0.0.0")  # noqa: S104 - refused, never bound
    assert done.exit_code == 1
    assert "HOTLINE_MEDIA_URL must be a wss:// URL" in done.output
    assert "'ws://0.0.0.0:5001/twilio/media'" in done.output
