"""The web process as the README starts it: gunicorn with deploy/gunicorn.conf.py, two
workers in multiprocess mode on 127.0.0.1, scraped as Prometheus would."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hotline.storage import schema
from tests.conftest import ROOT
from tests.hotline.metrics.conftest import Scrape

pytestmark = pytest.mark.integration

pytest.importorskip("gunicorn", reason="the server extra is not installed")

STARTUP = 90.0  # seconds; two workers each build the app on a loaded machine


@dataclass
class Gunicorn:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    metrics_dir: Path
    answered: int = 0  # /healthz requests that got their 200

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def workers(self) -> list[int]:
        booted = [str(line["message"]) for line in self.lines()]
        return [int(m.rsplit(" ", 1)[-1]) for m in booted if m.startswith("Booting worker")]

    def health(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=10) as answer:  # noqa: S310
                ok = bool(answer.status == 200)
        except OSError:
            return False
        self.answered += ok
        return ok


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Gunicorn]:
    database_url = f"sqlite:///{tmp_path / 'web.sqlite3'}"
    schema.upgrade(database_url)
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_4194400.db").write_bytes(b"")  # a stopped process's, long ago
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")},
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "HOTLINE_VAR_DIR": str(tmp_path),
        "SECRET_KEY": "x",
        "HOTLINE_BIND": f"127.0.0.1:{port}",
        "HOTLINE_WEB_WORKERS": "2",
        "HOTLINE_WEB_THREADS": "2",
        "HOTLINE_LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=sink,
        )
    server = Gunicorn(process, f"http://127.0.0.1:{port}", log, metrics_dir)
    try:
        assert _until(server.health, STARTUP), log.read_text()[-3000:]
        assert _until(lambda: len(server.workers()) == 2, STARTUP), log.read_text()[-3000:]
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_every_workers_requests_are_counted_in_one_scrape_even_after_it_exits(
    gunicorn: Gunicorn,
) -> None:
    assert not (gunicorn.metrics_dir / "counter_4194400.db").exists()  # pruned at start
    for _ in range(20):  # a connection each: the two workers share them out
        assert gunicorn.health()
    first, _ = gunicorn.workers()
    os.kill(first, signal.SIGTERM)  # a worker of the gunicorn this test started
    assert _until(lambda: len(gunicorn.workers()) == 3, STARTUP), "no worker replaced it"
    assert _until(gunicorn.health, STARTUP)

    with urllib.request.urlopen(f"{gunicorn.url}/metrics", timeout=10) as answer:  # noqa: S310
        scraped = Scrape(answer.read().decode())
    served = scraped.value(
        "hotline_http_request_duration_seconds_count", endpoint="api.health", status="2xx"
    )
    assert served == gunicorn.answered  # the exited worker's requests too
    assert scraped.has("hotline_outbox_backlog", status="queued")
    # gunicorn's own lines came out as JSON too, with the context fields
    assert all("request_id" in line for line in gunicorn.lines())
