"""`/metrics` scraped through the app after real events: a simulated call that opens a
case, its SMS sent through the real twilio client to the local stub, an escalation fired
by the sweep, and the series of several processes added up in multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hotline.app import create_app
from hotline.bootstrap import Services, bootstrap
from hotline.jobs import context, tasks
from hotline.jobs.queue import JobQueue, RqJobQueue
from hotline.settings import Settings
from hotline.simulator.caller import FlaskTransport, Simulator
from hotline.telephony.sms import TwilioSmsSender, twilio_client
from tests.conftest import PUBLIC_BASE_URL, ROOT, TEST_TOKEN, FixedClock
from tests.factories import CALLER, EN_STREET_LIGHT_IN_1101, register_case
from tests.hotline.metrics.conftest import Scrape, moved, scrape
from tests.twilio_stub import TwilioStub

pytestmark = pytest.mark.functional

DURATION = "hotline_http_request_duration_seconds_count"
ACCOUNT_SID = "AC" + "6f" * 16


def test_a_call_that_opens_a_case_moves_the_call_case_webhook_and_sms_series(
    app: Flask, simulator: Simulator, services: Services, run_jobs: Callable[[], int]
) -> None:
    before = scrape(app)
    simulator.call(CALLER, EN_STREET_LIGHT_IN_1101)
    waiting = scrape(app)
    run_jobs()
    after = scrape(app)

    def change(name: str, **labels: str) -> float:
        return moved(before, after, name, **labels)

    case = {"channel": "phone", "category": "street_light"}
    assert change("hotline_cases_created_total", **case) == 1
    assert change("hotline_case_events_total", kind="created") == 1
    assert change("hotline_case_events_total", kind="assigned") == 1
    assert change("hotline_calls_total", status="completed", outcome="case") == 1
    # by route, never by path: every step of the call is one series
    assert change(DURATION, endpoint="twilio.voice_incoming", status="2xx") == 1
    assert change(DURATION, endpoint="twilio.voice_step", status="2xx") >= 4
    assert change(DURATION, endpoint="twilio.call_status", status="2xx") == 1
    values = {value for _, labels in after.samples for _, value in labels}
    assert not any(value.startswith("/twilio/") for value in values)
    # the assignment and the caller's receipt: queued, claimed, written to the log
    for status in ("queued", "sending", "logged"):
        assert change("hotline_sms_total", status=status) == 2, status
    if isinstance(services.jobs, RqJobQueue):  # they waited for the worker
        assert moved(before, waiting, "hotline_outbox_backlog", status="queued") == 2
        assert waiting.value("hotline_queue_depth", queue="sms") == 2
        assert after.value("hotline_queue_depth", queue="sms") == 0
        assert after.has("hotline_queue_failed_jobs", queue="default")
    else:  # sent in-process at once; there is no queue to measure
        assert not waiting.has("hotline_queue_depth", queue="sms")
    assert moved(before, after, "hotline_outbox_backlog", status="queued") == 0


def test_a_caller_who_hangs_up_after_choosing_counts_as_a_case_on_hangup(
    app: Flask, simulator: Simulator
) -> None:
    before = scrape(app)
    base = {"CallSid": "CA" + "2" * 32, "From": CALLER, "To": "+8637112345", "AccountSid": "AC1"}
    simulator.post("/twilio/voice/incoming", base)
    for step, digits in [(2, "2"), (3, "1"), (4, "1"), (5, "1")]:
        simulator.post(f"/twilio/voice/step/{step}", {**base, "Digits": digits})
    simulator.post("/twilio/voice/status", {**base, "CallStatus": "completed"})
    simulator.post("/twilio/voice/status", {**base, "CallStatus": "completed"})  # a retry
    after = scrape(app)
    assert (
        moved(before, after, "hotline_calls_total", status="completed", outcome="case_on_hangup")
        == 1
    )
    assert (
        moved(
            before, after, "hotline_cases_created_total", channel="phone", category="street_light"
        )
        == 1
    )


def test_an_escalation_fired_by_the_sweep_counts_by_clock_and_level(
    app: Flask, services: Services, clock: FixedClock
) -> None:
    register_case(services, category="gas_smell")
    before = scrape(app)
    clock.now += timedelta(minutes=12)  # the accept reminder of an urgent case (75% of 15)
    assert tasks.sweep_sla() == 1
    after = scrape(app)
    assert moved(before, after, "hotline_escalations_total", clock="accept", level="reminder") == 1
    assert moved(before, after, "hotline_case_events_total", kind="escalated") == 1


@pytest.fixture
def stub() -> Iterator[TwilioStub]:
    with TwilioStub(ACCOUNT_SID, TEST_TOKEN) as running:
        yield running


def test_sms_sent_through_twilio_count_as_delivery_callbacks_arrive(
    settings: Settings,
    db_engine: Engine,
    session_factory: sessionmaker[Session],
    job_queue: JobQueue,
    clock: FixedClock,
    stub: TwilioStub,
    tmp_path: Path,
) -> None:
    sender = TwilioSmsSender(
        twilio_client(ACCOUNT_SID, TEST_TOKEN, stub.base_url), "+8637112345", None
    )
    services = bootstrap(
        settings,
        engine=db_engine,
        session_factory=session_factory,
        jobs=job_queue,
        sms=sender,
        clock=clock,
    )
    app = create_app(services=services)
    simulator = Simulator(FlaskTransport(app), PUBLIC_BASE_URL, TEST_TOKEN, account_sid=ACCOUNT_SID)
    with context.running_on(services):
        before = scrape(app)
        simulator.call(CALLER, EN_STREET_LIGHT_IN_1101)
        if isinstance(services.jobs, RqJobQueue):
            from rq import SimpleWorker
            from rq.serializers import JSONSerializer

            queues = [services.jobs.queue("sms")]
            SimpleWorker(queues, connection=services.jobs.redis, serializer=JSONSerializer).work(
                burst=True
            )
        first, second = (request.sid for request in stub.requests)
        for sid, status in [(first, "delivered"), (second, "undelivered")]:
            assert sid is not None
            simulator.post("/twilio/sms/status", {"MessageSid": sid, "MessageStatus": status})
        after = scrape(app)
    assert moved(before, after, "hotline_sms_total", status="sending") == 2
    assert moved(before, after, "hotline_sms_total", status="logged") == 0
    assert moved(before, after, "hotline_sms_total", status="delivered") == 1
    assert moved(before, after, "hotline_sms_total", status="undelivered") == 1


def test_metrics_are_refused_outside_the_allowed_networks_and_through_a_proxy(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = create_app(services=services).test_client()
    outside = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert outside.status_code == 403
    assert outside.is_json
    assert "hotline_" not in outside.get_data(as_text=True)
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert proxied.status_code == 403  # the proxy is on loopback; the caller is not
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200

    monkeypatch.setenv("HOTLINE_METRICS_ALLOW", "203.0.113.0/24")
    client = create_app(services=services).test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code == 200
    assert client.get("/metrics").status_code == 403  # the list replaces the default
    monkeypatch.setenv("HOTLINE_METRICS_ALLOW", "10.0.0.0/33")
    with pytest.raises(ValueError, match="HOTLINE_METRICS_ALLOW"):
        create_app(services=services)


# A process of the host (a gunicorn worker, the media server): it records, then waits
# until it is told to stop (or, as if it crashed, stops with its stream still open).
WRITER = textwrap.dedent(
    """
    import sys
    from hotline import metrics

    metrics.call_ended("completed", "case")
    metrics.streams_active(1)
    metrics.record_tick(lag_seconds=float(sys.argv[1]), duration_seconds=0.2, fired=1)
    print("ready", flush=True)
    if sys.argv[2] == "wait":
        sys.stdin.readline()
    """
)


def _writer(directory: Path, lag: float, then: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(lag), then],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def test_multiprocess_mode_adds_up_every_processs_files_in_one_scrape(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    running = _writer(directory, lag=1.0, then="wait")
    crashed = _writer(directory, lag=2.0, then="exit")
    try:
        assert crashed.wait(timeout=30) == 0
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
        app = create_app(services=services)
        both = scrape(app)
        assert both.value("hotline_calls_total", status="completed", outcome="case") == 2
        assert both.value("hotline_sweep_ticks_total") == 2
        assert both.value("hotline_sweep_fired_total") == 2
        assert both.value("hotline_sweep_tick_duration_seconds_count") == 2
        # the newest tick's lag; the open stream of the process that still runs only
        assert both.value("hotline_sweep_lag_seconds") == 2.0
        assert both.value("hotline_media_streams_active") == 1
        # the scrape-time gauges come from the scraping app, once
        assert both.text.count("# TYPE hotline_outbox_backlog gauge") == 1
    finally:
        assert running.stdin is not None
        running.stdin.close()
        running.wait(timeout=30)
    gone = scrape(app)
    assert gone.value("hotline_media_streams_active") == 0
    assert gone.value("hotline_calls_total", status="completed", outcome="case") == 2


def test_without_the_directory_this_processs_own_series_are_served(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    served: Scrape = scrape(app)
    assert served.has("hotline_sweep_ticks_total")
    assert "python_info{" in served.text  # the default registry's own collectors
