"""/readyz: each dependency checked and named; 503 while one is missing. /healthz stays
the liveness check."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from hotline.app import create_app
from hotline.settings import Settings
from hotline.storage import schema

pytestmark = pytest.mark.functional


def test_ready_when_every_dependency_is(app: Flask) -> None:
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body is not None
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "migrations", "redis", "speech_models"}
    assert all(check["ok"] for check in body["checks"].values())


def test_not_ready_names_what_is_missing_while_alive(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "HOTLINE_VAR_DIR": str(tmp_path),
            "REDIS_URL": "redis://127.0.0.1:1/0",  # nothing listens there
            "HOTLINE_SPEECH": "en-US=pocketsphinx;zh-CN=vosk:vosk-model-small-cn-0.22",
        }
    )
    client = create_app(settings).test_client()  # an empty database: no migration run
    answer = client.get("/readyz")
    assert answer.status_code == 503
    checks = (answer.json or {})["checks"]
    assert checks["database"]["ok"]
    assert not checks["migrations"]["ok"]
    assert "run `hotline db upgrade`" in checks["migrations"]["detail"]
    assert not checks["redis"]["ok"]
    assert "unreachable" in checks["redis"]["detail"]
    assert not checks["speech_models"]["ok"]
    assert "zh-CN" in checks["speech_models"]["detail"]
    assert client.get("/healthz").status_code == 200  # alive all the same

    schema.upgrade(settings.database_url)
    checks = (client.get("/readyz").json or {})["checks"]
    assert checks["migrations"]["ok"]
