"""The hotline as a city deploys it: every process of deploy/Procfile, started with its
own command, on PostgreSQL and Redis, with Twilio's REST API played by a stub on loopback
(the real twilio client talks to it) and calls and SMS placed through the simulator.

The administrator shortens the general policy to a minute to accept on a 24x7 calendar
(`hotline sla set`, as a city would change it) and the scheduler ticks every 2 s, so the
first rungs of the ladder (75% and 100%) fire within the test; a resolved case nobody
rates closes itself at the next tick (HOTLINE_AUTO_CLOSE_DAYS=0). Two schedulers run, as
on two hosts. Everything is checked in the database at the end and the figures printed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from hotline.simulator.caller import HttpTransport, Simulator
from hotline.storage.files import FileStore
from tests.conftest import AUDIO, FIXTURES
from tests.deploy.conftest import SUMMARY
from tests.deploy.test_files import ROOT, procfile
from tests.twilio_stub import TwilioStub

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.redis]

BIN = Path(sys.executable).parent
# Its own database and its own Redis server, so two runs on one machine never meet.
DATABASE = f"hotline_deploy_{os.getpid()}"
ACCOUNT, TOKEN, FROM = "AC" + "d" * 32, "deploy-auth-token", "+8637112345"
CALLERS = [f"+86138123400{n:02d}" for n in range(8)]
MEMBER_1101 = "+8613903710001"
TICK = 2
ACCEPT, RESOLVE = "1m", "10m"  # the shortened general policy (24x7); a minute is the least
RUNGS = 2  # of the accept ladder that fire within 60 s: 75% (the assignee), 100% (backup)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    name: str
    command: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return f"--- {self.name}: {self.command}\n" + "\n".join(text[-lines:])


class Deployment:
    """The processes of one host, started as the Procfile says, stopped by PID."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[Process] = []

    def start(self, name: str, command: str) -> Process:
        log = self.logs / f"{name}-{len(self.processes)}.log"
        popen = subprocess.Popen(  # noqa: S602 - the Procfile's line, run as honcho would
            f"exec {command}",
            shell=True,
            cwd=ROOT,
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = Process(name, command, popen, log)
        self.processes.append(process)
        return process

    def check_alive(self) -> None:
        for process in self.processes:
            if process.popen.poll() is not None:
                raise AssertionError(f"{process.name} exited\n{process.tail()}")

    def stop(self) -> None:
        for process in self.processes:
            if process.popen.poll() is None:
                os.killpg(process.popen.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait(timeout=5)

    def logs_of(self, name: str) -> list[str]:
        return [p.log.read_text(errors="replace") for p in self.processes if p.name == name]


def wait_for(
    what: str,
    ready: Callable[[], bool],
    deployment: Deployment,
    seconds: float,
    state: Callable[[], object] = lambda: "",
) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        deployment.check_alive()
        if time.monotonic() > deadline:
            tails = "\n".join(p.tail() for p in deployment.processes)
            raise AssertionError(f"{what}: not within {seconds:.0f} s: {state()}\n{tails}")
        time.sleep(0.25)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback
            return bool(answer.status == 200)
    except OSError:
        return False


@pytest.fixture
def database(database_url: str) -> Iterator[Engine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the deployed form runs on PostgreSQL: set DATABASE_URL")
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DATABASE}"))
    url = make_url(database_url).set(database=DATABASE)
    engine = create_engine(url)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def redis_for_deploy(redis_url: str | None, tmp_path: Path) -> Iterator[str]:
    """A private redis-server on a free loopback port, stopped after the test."""
    if redis_url is None:
        pytest.skip("the deployed form runs on Redis: set REDIS_URL")
    port = _free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        from redis import Redis
        from redis.exceptions import RedisError

        client = Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except RedisError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "hotline"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def _scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def test_the_deployed_processes_run_the_whole_case_loop(
    database: Engine, redis_for_deploy: str, tmp_path: Path
) -> None:
    web_port, media_port = _free_port(), _free_port()
    web = f"http://127.0.0.1:{web_port}"
    var = tmp_path / "var"
    files = tmp_path / "files"  # the store every host would mount
    logs = tmp_path / "logs"
    logs.mkdir()
    files.mkdir()
    with TwilioStub(ACCOUNT, TOKEN, delivers=True) as twilio:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))},
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "DATABASE_URL": database.url.render_as_string(hide_password=False),
            "REDIS_URL": redis_for_deploy,
            "SECRET_KEY": "deploy-test-secret",
            "TWILIO_ACCOUNT_SID": ACCOUNT,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_FROM_NUMBER": FROM,
            "TWILIO_API_BASE_URL": twilio.base_url,
            "PUBLIC_BASE_URL": web,
            "HOTLINE_BIND": f"127.0.0.1:{web_port}",
            "HOTLINE_WEB_WORKERS": "2",
            "HOTLINE_WEB_THREADS": "4",
            "HOTLINE_MEDIA_PORT": str(media_port),
            "HOTLINE_MEDIA_URL": f"ws://127.0.0.1:{media_port}/twilio/media",
            "HOTLINE_VAR_DIR": str(var),
            "HOTLINE_FILES_DIR": str(files),
            "HOTLINE_TICK_SECONDS": str(TICK),
            "HOTLINE_AUTO_CLOSE_DAYS": "0",
            "HOTLINE_AGENT_HOURS": "00:00-23:59",
            "HOTLINE_LOG_FORMAT": "json",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        }
        (tmp_path / "metrics").mkdir()
        _run(env, "db", "upgrade")
        _run(env, "demo", "load")
        _run(
            env,
            "sla",
            "set",
            "general",
            "--accept",
            ACCEPT,
            "--resolve",
            RESOLVE,
            "--calendar",
            "24x7",
        )

        deployment = Deployment(env, logs)
        processes = procfile()
        try:
            for name, command in processes.items():
                deployment.start(name, command)
            deployment.start("sms", processes["sms"])  # a second SMS worker
            deployment.start("scheduler", processes["scheduler"])  # as on a second host
            wait_for("web /readyz", lambda: _http_ok(f"{web}/readyz"), deployment, 60)
            wait_for(
                "media /healthz",
                lambda: _http_ok(f"http://127.0.0.1:{media_port}/healthz"),
                deployment,
                60,
            )
            _exercise(env, deployment, database, twilio, web, files)
        finally:
            deployment.stop()


def _exercise(
    env: dict[str, str],
    deployment: Deployment,
    db: Engine,
    twilio: TwilioStub,
    web: str,
    files: Path,
) -> None:
    simulator = Simulator(HttpTransport(web), web, TOKEN, files=FileStore(files))
    started = time.monotonic()
    numbers = []
    for caller in CALLERS:  # a broken street light in grid 1101, by keypad, with a recording
        result = simulator.call(
            caller, ["2", "1", "1", "1", "1101#"], AUDIO / "street_light_en.wav"
        )
        numbers.append(result.as_json()["case_number"])
    voice = simulator.call_script(
        "+8613812349999", _script(FIXTURES / "calls" / "street_light_voice_en.yaml")
    ).as_json()
    assert (voice["category"], voice["grid"]) == ("street_light", "1101")
    numbers.append(voice["case_number"])
    assert all(numbers)

    accepted, resolved = numbers[0], numbers[1]
    for number in (accepted, resolved):
        assert "accepted" in simulator.sms(MEMBER_1101, f"A {number}")
    assert resolved in simulator.sms(MEMBER_1101, f"D {resolved} bulb replaced")

    # The ladder of every case nobody accepted runs through on the scheduler's ticks.
    unaccepted = len(numbers) - 2
    wait_for(
        "the accept ladders",
        lambda: (
            _scalar(db, "SELECT count(*) FROM escalations WHERE clock = 'accept'")
            >= unaccepted * RUNGS
        ),
        deployment,
        120,
    )
    wait_for(
        "the auto-close",
        lambda: _scalar(db, "SELECT status FROM tickets WHERE number = :n", n=resolved) == "closed",
        deployment,
        30,
    )
    wait_for(
        "the transcripts",
        lambda: (
            _scalar(db, "SELECT count(*) FROM ticket_events WHERE kind = 'transcribed'")
            >= len(CALLERS)
        ),
        deployment,
        60,
    )
    wait_for(
        "the outbox to empty",
        lambda: (
            _scalar(
                db,
                "SELECT count(*) FROM sms_messages WHERE direction = 'outbound' "
                "AND status IN ('queued', 'sending')",
            )
            == 0
        ),
        deployment,
        60,
        lambda: _rows(
            db,
            "SELECT id, status, purpose, to_number, attempts, error, created_at FROM sms_messages"
            " WHERE direction = 'outbound' AND status IN ('queued', 'sending')",
        ),
    )
    time.sleep(TICK * 2)  # two more ticks: nothing may fire or send again

    cases = _scalar(db, "SELECT count(*) FROM tickets")
    assert cases == len(numbers)
    fired = _rows(db, "SELECT ticket_id, clock, deadline_version, level FROM escalations")
    events = Counter(
        tuple(row)
        for row in _rows(
            db,
            "SELECT ticket_id, data->>'clock', data->>'level', data->>'due_at' FROM ticket_events "
            "WHERE kind = 'escalated'",
        )
    )
    assert sum(events.values()) == len(fired)
    assert max(events.values()) == 1  # each rung fired once
    outbound = _rows(
        db, "SELECT provider_sid, status FROM sms_messages WHERE direction = 'outbound'"
    )
    posts = [r for r in twilio.requests if r.sid is not None]
    assert len(posts) == len(outbound)  # each SMS POSTed to Twilio exactly once
    assert {sid for sid, _ in outbound} == {r.sid for r in posts}
    assert {status for _, status in outbound} == {"delivered"}  # Twilio's callbacks landed
    assert {code for *_, code in twilio.callbacks} == {204}, [
        c for c in twilio.callbacks if c[2] != 204
    ]
    closed = _scalar(
        db, "SELECT count(*) FROM ticket_events WHERE kind = 'closed' AND actor = 'system'"
    )
    assert closed == 1
    ticks = [len(_ticks(log)) for log in deployment.logs_of("scheduler")]
    assert sorted(ticks)[:1] == [0]  # one scheduler led throughout, the other stood by
    assert max(ticks) > 0
    moved = _metrics_moved(web)
    SUMMARY.append(
        f"deployment: {len(deployment.processes)} processes, "
        f"{time.monotonic() - started:.0f} s; {cases} cases from {len(numbers)} calls "
        f"(1 by voice through the media server); {len(outbound)} SMS, each POSTed once to "
        f"the stub Twilio; {len(fired)} escalations, each fired once, by one of 2 "
        f"schedulers ({max(ticks)} ticks); {closed} case auto-closed; /metrics: "
        + ", ".join(f"{name} {value:g}" for name, value in moved.items())
    )


def _ticks(log: str) -> list[dict[str, Any]]:
    """The scheduler's tick lines, from its JSON log (HOTLINE_LOG_FORMAT=json)."""
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [
        line
        for line in lines
        if line["logger"] == "hotline.jobs.scheduler" and line["message"].startswith("tick ")
    ]


# Each series the issue names, and the sample that must have moved by the end of the run:
# summed over its label sets, from every process on the host (PROMETHEUS_MULTIPROC_DIR).
SERIES = {
    "hotline_calls_total": "calls by outcome",
    "hotline_http_request_duration_seconds_count": "webhook latency",
    "hotline_cases_created_total": "cases by channel and category",
    "hotline_sms_total": "SMS by status",
    "hotline_escalations_total": "escalations fired",
    "hotline_sweep_ticks_total": "sweep ticks",
    "hotline_media_streams_total": "media streams",
    "hotline_recognition_seconds_count": "recogniser latency",
}
GAUGES = ("hotline_outbox_backlog", "hotline_queue_depth", "hotline_sweep_lag_seconds")


def _metrics_moved(web: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{web}/metrics", timeout=10) as answer:  # noqa: S310
        text_format = answer.read().decode()
    totals: defaultdict[str, float] = defaultdict(float)
    present = set()
    for line in text_format.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        present.add(name)
        totals[name] += float(line.rsplit(" ", 1)[1])
    missing = [name for name in SERIES if totals[name] <= 0]
    assert not missing, f"series that did not move: {missing}"
    assert present.issuperset(GAUGES), sorted(present)
    return {name: totals[name] for name in SERIES}


def _script(path: Path) -> list[Any]:
    from hotline.simulator.caller import load_script

    return load_script(path)[1]
