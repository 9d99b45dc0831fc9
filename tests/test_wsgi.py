"""`gunicorn wsgi:app` on a configuration the app refuses: the boot fails with the reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.functional


def test_gunicorn_stops_with_the_reason_when_the_secret_key_is_missing(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "TWILIO_", "PUBLIC_", "SECRET_", "HOTLINE_"))
    }
    env |= {
        "PYTHONPATH": str(ROOT),
        "HOTLINE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    }
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", "127.0.0.1:0", "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "SECRET_KEY is not set: on a shared database" in done.stderr
    assert "Worker failed to boot" in done.stderr
