"""The README's path as a new user walks it: the `hotline` command on a fresh SQLite file,
then the same calls through a running server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import AUDIO, FIXTURES

pytestmark = pytest.mark.functional

CALLER = "+8613812345678"
MEMBER_1101 = "+8613903710001"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The embedded defaults: no database, Redis or Twilio configured."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "TWILIO_", "PUBLIC_"))
    }
    return {**clean, "HOTLINE_VAR_DIR": str(tmp_path / "var")}


def hotline(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hotline.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_readme_walkthrough_in_process(env: dict[str, str]) -> None:
    hotline(env, "db", "upgrade")
    loaded = hotline(env, "demo", "load")
    assert "207 grids, 263 staff" in loaded
    assert f"grid 1101, primary member Wang Lei {MEMBER_1101}" in loaded
    assert loaded == hotline(env, "demo", "load"), "loading twice changes nothing"

    out = hotline(
        env,
        "simulate",
        "call",
        "--from",
        CALLER,
        "--press",
        "2 1 1 1 1101#",
        "--record",
        str(AUDIO / "street_light_en.wav"),
        "--json",
    )
    case = json.loads(out)
    assert (case["category"], case["grid"], case["status"]) == ("street_light", "1101", "assigned")
    assert case["assignee_phone"] == MEMBER_1101
    assert case["heard"][0].startswith("您好")
    number = case["case_number"]

    outbox = hotline(env, "outbox", "list", "--to", MEMBER_1101)
    assert f"New case {number}" in outbox
    assert "logged" in outbox

    assert "accepted" in hotline(env, "simulate", "sms", "--from", MEMBER_1101, f"A {number}")
    assert "resolved" in hotline(
        env, "simulate", "sms", "--from", MEMBER_1101, f"D {number} bulb replaced"
    )
    assert "has been resolved: bulb replaced" in hotline(env, "outbox", "list", "--to", CALLER)
    assert hotline(env, "sweep").startswith("fired 0 escalation(s)")
    month = f"20{number[:2]}-{number[2:4]}"
    table = hotline(env, "report", "assessment", "--period", month, "--level", "grid")
    assert "1101 Weilai Community grid 01" in table
    assert "general v1 on office_hours_cn" in hotline(env, "sla", "list")
    assert hotline(env, "flows", "check").startswith("ok: hotline.yaml (flow 'hotline'")
    assert "flowchart TD" in hotline(env, "flows", "graph", "hotline")
    script = FIXTURES / "calls" / "street_light_en.yaml"
    scripted = json.loads(hotline(env, "simulate", "script", str(script), "--json"))
    assert (scripted["category"], scripted["grid"]) == ("street_light", "1101")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hotline.cli.main",
            "run",
            "--port",
            str(port),
            "--media-port",
            str(_free_port()),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"server exited: {process.stderr.read() if process.stderr else ''}")
                time.sleep(0.2)
        else:
            pytest.fail("server did not come up in 60 s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_simulated_call_and_sms_against_a_running_server(env: dict[str, str], server: str) -> None:
    out = hotline(
        env,
        "simulate",
        "call",
        "--url",
        server,
        "--from",
        CALLER,
        "--press",
        "2",
        "--press",
        "1",
        "--press",
        "2",
        "--press",
        "1",
        "--press",
        "1203#",
        "--json",
    )
    case = json.loads(out)
    assert (case["category"], case["grid"]) == ("garbage", "1203")
    reply = hotline(
        env,
        "simulate",
        "sms",
        "--url",
        server,
        "--from",
        case["assignee_phone"],
        f"A {case['case_number']}",
    )
    assert case["case_number"] in reply


def test_a_report_by_voice_against_a_running_server(env: dict[str, str], server: str) -> None:
    """The README's voice script: every answer streamed to `hotline run`'s media server."""
    out = hotline(
        env,
        "simulate",
        "script",
        str(FIXTURES / "calls" / "street_light_voice_en.yaml"),
        "--url",
        server,
        "--json",
    )
    case = json.loads(out)
    assert (case["category"], case["grid"], case["status"]) == ("street_light", "1101", "assigned")
    confirm = "I heard: broken street light. If that is right, say yes or press 1."
    assert any(line.startswith(confirm) for line in case["heard"])


def test_a_missing_speech_model_stops_the_server_with_a_clear_error(
    env: dict[str, str],
) -> None:
    bad = {**env, "HOTLINE_SPEECH": "zh-CN=vosk:vosk-model-small-cn-0.22"}
    port, media = str(_free_port()), str(_free_port())
    done = subprocess.run(
        [sys.executable, "-m", "hotline.cli.main", "run", "--port", port, "--media-port", media],
        env=bad,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Error: speech model vosk-model-small-cn-0.22 is not installed" in done.stderr
    assert "hotline models fetch vosk-model-small-cn-0.22" in done.stderr
    assert "Traceback" not in done.stderr
