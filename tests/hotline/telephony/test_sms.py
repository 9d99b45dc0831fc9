"""The real twilio client against a stub of Twilio's REST API on 127.0.0.1.

Only Twilio's cloud is replaced: requests go over HTTP through twilio-python's own code,
and the SMS job, the outbox and the status webhook are ours, on the test database and,
when REDIS_URL is set, on rq.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioRestException

from hotline.app import create_app
from hotline.bootstrap import Services, bootstrap
from hotline.exceptions import SmsRejected
from hotline.jobs import context, tasks
from hotline.jobs.queue import RESULT_TTL, InProcessJobQueue, JobQueue, RqJobQueue
from hotline.settings import Settings
from hotline.simulator.caller import FlaskTransport, Simulator
from hotline.telephony.sms import SendResult, TwilioSmsSender, twilio_client
from tests.conftest import PUBLIC_BASE_URL, TEST_TOKEN, FixedClock
from tests.factories import CALLER, EN_STREET_LIGHT_IN_1101, queued_receipt
from tests.twilio_stub import INVALID_TO_NUMBER, StubRequest, TwilioStub
from ticketing.models.sms import SmsDirection, SmsMessage, SmsStatus
from ticketing.notices import outbox
from ticketing.notices.outbox import MAX_SEND_ATTEMPTS

pytestmark = pytest.mark.integration

ACCOUNT_SID = "AC" + "5e" * 16
# Twilio signs its webhooks with the same auth token the REST client logs in with.
AUTH_TOKEN = TEST_TOKEN
FROM_NUMBER = "+8637112345"
STATUS_CALLBACK = f"{PUBLIC_BASE_URL}/twilio/sms/status"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
RETRY_INTERVALS = [10, 60, 300]  # hotline.jobs.queue.RqJobQueue's Retry

needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")


@pytest.fixture
def stub() -> Iterator[TwilioStub]:
    with TwilioStub(ACCOUNT_SID, AUTH_TOKEN) as running:
        yield running


@pytest.fixture
def sender(stub: TwilioStub) -> TwilioSmsSender:
    return TwilioSmsSender(
        twilio_client(ACCOUNT_SID, AUTH_TOKEN, stub.base_url), FROM_NUMBER, STATUS_CALLBACK
    )


@pytest.fixture
def services(
    settings: Settings,
    db_engine: Engine,
    session_factory: sessionmaker[Session],
    job_queue: JobQueue,
    clock: FixedClock,
    sender: TwilioSmsSender,
) -> Iterator[Services]:
    """The conftest's services, sending through twilio's client to the stub; the jobs a
    test runs itself run on them."""
    built = bootstrap(
        settings,
        engine=db_engine,
        session_factory=session_factory,
        jobs=job_queue,
        sms=sender,
        clock=clock,
    )
    with context.running_on(built):
        yield built


def _simulator(services: Services) -> Simulator:
    return Simulator(
        FlaskTransport(create_app(services=services)),
        PUBLIC_BASE_URL,
        TEST_TOKEN,
        account_sid=ACCOUNT_SID,
        files=services.files,
    )


def _outbound(services: Services) -> dict[str, SmsMessage]:
    """The outbox rows by recipient (one each in these tests)."""
    with services.uow() as uow:
        rows = uow.session.scalars(
            select(SmsMessage).where(SmsMessage.direction == SmsDirection.OUTBOUND)
        ).all()
    return {row.to_number: row for row in rows}


def _by_recipient(requests: list[StubRequest]) -> dict[str, StubRequest]:
    return {r.form["To"]: r for r in requests}


def _status_callback(sid: str, status: str, to: str) -> dict[str, str]:
    """What Twilio posts to StatusCallback when a message changes state."""
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": ACCOUNT_SID,
        "From": FROM_NUMBER,
        "To": to,
        "ApiVersion": "2010-04-01",
    }


# The client and the sender on their own


def test_base_url_sends_the_real_clients_requests_to_the_stub(stub: TwilioStub) -> None:
    assert twilio_client(ACCOUNT_SID, AUTH_TOKEN, None).api.base_url == "https://api.twilio.com"
    client = twilio_client(ACCOUNT_SID, AUTH_TOKEN, stub.base_url + "/")
    assert client.api.base_url == stub.base_url

    message = client.messages.create(
        to=CALLER, from_=FROM_NUMBER, body="hello", status_callback=STATUS_CALLBACK
    )

    [request] = stub.requests
    assert request.method == "POST"
    assert request.path == MESSAGES_PATH
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.form == {
        "To": CALLER,
        "From": FROM_NUMBER,
        "Body": "hello",
        "StatusCallback": STATUS_CALLBACK,
    }
    assert message.sid == request.sid
    assert message.sid is not None
    assert message.sid.startswith("SM")
    assert len(message.sid) == 34
    assert (message.status, message.to, message.from_, message.body) == (
        "queued",
        CALLER,
        FROM_NUMBER,
        "hello",
    )
    assert message.account_sid == ACCOUNT_SID
    assert message.num_segments == "1"
    assert message.date_created is not None  # twilio parsed the RFC 2822 date


def test_wrong_credentials_get_twilios_401(stub: TwilioStub) -> None:
    client = twilio_client(ACCOUNT_SID, "not-the-token", stub.base_url)
    with pytest.raises(TwilioRestException) as refused:
        client.messages.create(to=CALLER, from_=FROM_NUMBER, body="hello")
    assert (refused.value.status, refused.value.code) == (401, 20003)
    assert stub.requests[0].auth == (ACCOUNT_SID, "not-the-token")
    assert stub.sids == []


@pytest.mark.parametrize("callback", [STATUS_CALLBACK, None])
def test_sender_returns_the_stubs_sid_as_sending(stub: TwilioStub, callback: str | None) -> None:
    sender = TwilioSmsSender(
        twilio_client(ACCOUNT_SID, AUTH_TOKEN, stub.base_url), FROM_NUMBER, callback
    )

    result = sender.send(CALLER, "您的工单已受理")

    [request] = stub.requests
    assert result == SendResult(provider_sid=request.sid, status=SmsStatus.SENDING)
    assert request.form.get("StatusCallback") == callback
    assert request.form["Body"] == "您的工单已受理"


def test_an_invalid_number_is_rejected_for_good_by_the_sender(
    stub: TwilioStub, sender: TwilioSmsSender
) -> None:
    stub.fail_next(1, status=400)

    with pytest.raises(SmsRejected, match=f"Twilio 400 error {INVALID_TO_NUMBER}") as refused:
        sender.send("+86123", "hello")

    cause = refused.value.__cause__
    assert isinstance(cause, TwilioRestException)
    assert "+86123" in cause.msg
    assert sender.send(CALLER, "hello").provider_sid == stub.sids[0]  # only the next one failed


# Through the webhooks, the SMS job and the outbox


def test_a_call_sends_both_sms_through_twilio_and_callbacks_move_them_forward(
    simulator: Simulator,
    services: Services,
    run_jobs: Callable[[], int],
    stub: TwilioStub,
    app: Flask,
) -> None:
    case = simulator.call(CALLER, EN_STREET_LIGHT_IN_1101).as_json()
    # On Redis the two SMS wait for the worker; in-process they were sent already.
    assert run_jobs() == (2 if isinstance(services.jobs, RqJobQueue) else 0)

    member = case["assignee_phone"]
    sent = _by_recipient(stub.requests)
    assert len(stub.requests) == 2
    assert set(sent) == {member, CALLER}
    for request in sent.values():
        assert (request.path, request.auth, request.status) == (
            MESSAGES_PATH,
            (ACCOUNT_SID, AUTH_TOKEN),
            201,
        )
        assert request.form["From"] == FROM_NUMBER
        assert request.form["StatusCallback"].startswith(f"{STATUS_CALLBACK}?ref=")
        assert case["case_number"] in request.form["Body"]
    rows = _outbound(services)
    assert set(rows) == {member, CALLER}
    assert rows[member].purpose == "assignment"
    assert rows[CALLER].purpose == "caller_receipt"
    for to, row in rows.items():
        assert row.status is SmsStatus.SENDING
        assert row.provider_sid == sent[to].sid
        assert (row.attempts, row.error) == (1, None)

    sid = sent[member].sid
    assert sid is not None
    simulator.post("/twilio/sms/status", _status_callback(sid, "delivered", member))
    assert _outbound(services)[member].status is SmsStatus.DELIVERED
    # A late "sent" arrives after "delivered": states only move forward.
    simulator.post("/twilio/sms/status", _status_callback(sid, "sent", member))
    assert _outbound(services)[member].status is SmsStatus.DELIVERED

    forged = app.test_client().post(
        "/twilio/sms/status", data=_status_callback(sent[CALLER].sid or "", "failed", CALLER)
    )
    assert forged.status_code == 403
    assert _outbound(services)[CALLER].status is SmsStatus.SENDING


def test_twilio_down_in_process_puts_the_sms_back_in_the_queue(
    settings: Settings,
    db_engine: Engine,
    session_factory: sessionmaker[Session],
    clock: FixedClock,
    sender: TwilioSmsSender,
    stub: TwilioStub,
) -> None:
    services = bootstrap(
        settings,
        engine=db_engine,
        session_factory=session_factory,
        jobs=InProcessJobQueue(),
        sms=sender,
        clock=clock,
    )
    context.bind(services)  # the drain below runs as a worker would, on these services
    stub.fail_next(2, status=500)

    # The sends fail inside the webhook: the call goes on (the simulator raises on non-2xx).
    case = _simulator(services).call(CALLER, EN_STREET_LIGHT_IN_1101).as_json()

    assert case["status"] == "assigned"
    assert [r.status for r in stub.requests] == [500, 500]
    rows = _outbound(services)
    assert set(rows) == {case["assignee_phone"], CALLER}
    for row in rows.values():
        assert (row.status, row.provider_sid, row.attempts) == (SmsStatus.QUEUED, None, 1)
        assert row.error is not None
        assert row.error.startswith("SmsUnavailable: Twilio 500 error")

    # The outbox drain is the in-process retry: Twilio is back a few minutes later.
    clock.now += timedelta(minutes=2)
    assert tasks.drain_outbox() == 2
    sent = _by_recipient(stub.requests[2:])
    for to, row in _outbound(services).items():
        assert (row.status, row.provider_sid, row.attempts) == (SmsStatus.SENDING, sent[to].sid, 2)


def _registries(services: Services) -> tuple[ScheduledJobRegistry, FailedJobRegistry]:
    """Where rq keeps the sms queue's retries waiting for their time, and its failures."""
    assert isinstance(services.jobs, RqJobQueue)
    queue = services.jobs.queue("sms")
    return queue.scheduled_job_registry, queue.failed_job_registry


def _fail_once_more(services: Services, run_jobs: Callable[[], int], interval: int) -> list[str]:
    """Run the queued jobs against a failing Twilio; check rq scheduled each retry."""
    assert isinstance(services.jobs, RqJobQueue)
    scheduled, failed = _registries(services)
    before = int(time.time())
    assert run_jobs() == 2
    after = int(time.time())
    ids = scheduled.get_job_ids()
    assert len(ids) == 2
    assert failed.get_job_ids() == []
    for job_id in ids:
        due = scheduled.get_scheduled_time(job_id).timestamp()
        assert before + interval <= due <= after + interval + 1
        job = Job.fetch(job_id, connection=services.jobs.redis, serializer=JSONSerializer)
        assert job.get_status() == JobStatus.SCHEDULED
    return ids


def _bring_retries_forward(services: Services, ids: list[str]) -> None:
    """Enqueue the scheduled retries now, as rq's scheduler does once they are due."""
    scheduled, _ = _registries(services)
    for job_id in ids:
        scheduled.requeue(job_id)


@needs_redis
@pytest.mark.redis
def test_twilio_down_on_rq_schedules_a_retry_then_sends(
    simulator: Simulator, services: Services, run_jobs: Callable[[], int], stub: TwilioStub
) -> None:
    stub.fail_next(2, status=500)
    case = simulator.call(CALLER, EN_STREET_LIGHT_IN_1101).as_json()
    assert stub.requests == []  # nothing is sent before the worker runs

    ids = _fail_once_more(services, run_jobs, RETRY_INTERVALS[0])

    assert isinstance(services.jobs, RqJobQueue)
    for job_id in ids:
        job = Job.fetch(job_id, connection=services.jobs.redis, serializer=JSONSerializer)
        assert job.retries_left == len(RETRY_INTERVALS) - 1
    for row in _outbound(services).values():
        assert (row.status, row.provider_sid, row.attempts) == (SmsStatus.QUEUED, None, 1)
        assert row.error is not None
        assert row.error.startswith("SmsUnavailable: Twilio 500 error")

    _bring_retries_forward(services, ids)
    assert run_jobs() == 2

    sent = _by_recipient(stub.requests[2:])
    assert set(sent) == {case["assignee_phone"], CALLER}
    for to, row in _outbound(services).items():
        assert (row.status, row.provider_sid, row.attempts) == (SmsStatus.SENDING, sent[to].sid, 2)
    for job_id in ids:
        job = Job.fetch(job_id, connection=services.jobs.redis, serializer=JSONSerializer)
        assert job.get_status() == JobStatus.FINISHED


@needs_redis
@pytest.mark.redis
def test_twilio_down_for_every_retry_lands_the_job_in_rqs_failed_registry(
    simulator: Simulator, services: Services, run_jobs: Callable[[], int], stub: TwilioStub
) -> None:
    stub.fail_next(2 * (1 + len(RETRY_INTERVALS)), status=503)
    simulator.call(CALLER, EN_STREET_LIGHT_IN_1101)

    for interval in RETRY_INTERVALS:
        ids = _fail_once_more(services, run_jobs, interval)
        _bring_retries_forward(services, ids)
    assert run_jobs() == 2

    assert isinstance(services.jobs, RqJobQueue)
    scheduled, failed = _registries(services)
    assert scheduled.get_job_ids() == []
    assert sorted(failed.get_job_ids()) == sorted(ids)
    for job_id in ids:
        job = Job.fetch(job_id, connection=services.jobs.redis, serializer=JSONSerializer)
        assert job.get_status() == JobStatus.FAILED
        result = job.latest_result()
        assert result is not None
        assert "SmsUnavailable" in (result.exc_string or "")
    assert len(stub.requests) == 2 * (1 + len(RETRY_INTERVALS))
    for row in _outbound(services).values():
        assert (row.status, row.provider_sid) == (SmsStatus.QUEUED, None)
        assert row.attempts == 1 + len(RETRY_INTERVALS)
        assert row.error is not None
        assert "Twilio 503 error" in row.error


# The job on its own


def test_running_the_send_job_twice_sends_once(
    services: Services, session_factory: sessionmaker[Session], stub: TwilioStub
) -> None:
    now = services.clock()
    message_id = queued_receipt(session_factory, now)

    tasks.send_sms(message_id)
    tasks.send_sms(message_id)

    [request] = stub.requests
    assert request.form["To"] == CALLER
    row = _outbound(services)[CALLER]
    assert (row.status, row.provider_sid, row.attempts) == (SmsStatus.SENDING, request.sid, 1)
    with services.uow() as uow:
        assert outbox.claim_for_sending(uow, message_id, now) is None


def test_a_rejected_sms_is_marked_failed_and_never_retried(
    simulator: Simulator,
    services: Services,
    run_jobs: Callable[[], int],
    stub: TwilioStub,
    clock: FixedClock,
) -> None:
    stub.fail_next(1, status=400)  # the first send (the assignment) has a bad number
    simulator.call(CALLER, EN_STREET_LIGHT_IN_1101)
    run_jobs()
    rows = _outbound(services)
    failed = [row for row in rows.values() if row.status is SmsStatus.FAILED]
    assert len(failed) == 1
    assert failed[0].error is not None
    assert f"error {INVALID_TO_NUMBER}" in failed[0].error
    clock.now += timedelta(hours=1)
    assert tasks.drain_outbox() == 0
    assert len(stub.requests) == 2


def test_drain_resends_what_a_dead_worker_left_sending_and_gives_up_after_the_limit(
    services: Services, stub: TwilioStub, clock: FixedClock, run_jobs: Callable[[], int]
) -> None:
    with services.uow() as uow:
        stuck = SmsMessage(
            direction=SmsDirection.OUTBOUND,
            to_number=CALLER,
            from_number="",
            body="hi",
            status=SmsStatus.SENDING,
            purpose="test",
            attempts=1,
            created_at=clock.now,
            updated_at=clock.now,
        )
        tired = SmsMessage(
            direction=SmsDirection.OUTBOUND,
            to_number=CALLER,
            from_number="",
            body="bye",
            status=SmsStatus.QUEUED,
            purpose="test",
            attempts=MAX_SEND_ATTEMPTS - 1,
            created_at=clock.now,
            updated_at=clock.now,
        )
        uow.session.add_all([stuck, tired])
        uow.commit()
    clock.now += timedelta(minutes=1)
    stub.fail_next(1, status=503)
    assert tasks.drain_outbox(older_than_seconds=30) == 1  # the queued one; stuck is recent
    run_jobs()
    clock.now += timedelta(minutes=10)
    assert tasks.drain_outbox(older_than_seconds=30) == 1  # now stuck is stale: sent again
    run_jobs()
    with services.uow() as uow:
        given_up = uow.session.get(SmsMessage, tired.id)
        resent = uow.session.get(SmsMessage, stuck.id)
        assert given_up is not None
        assert resent is not None
        assert (given_up.status, given_up.attempts) == (SmsStatus.FAILED, MAX_SEND_ATTEMPTS)
        assert (resent.status, resent.attempts) == (SmsStatus.SENDING, 2)
        assert resent.provider_sid == stub.sids[-1]


def test_region_variables_do_not_rewrite_a_stub_host(
    stub: TwilioStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    client = twilio_client(ACCOUNT_SID, AUTH_TOKEN, stub.base_url)
    client.messages.create(to=CALLER, from_=FROM_NUMBER, body="hi")
    assert len(stub.requests) == 1


def test_a_delivery_callback_that_beats_the_workers_commit_still_lands(
    services: Services, session_factory: sessionmaker[Session], stub: TwilioStub
) -> None:
    """Twilio may call back before the worker has stored the SID its POST answered; the
    callback URL names our message, so the status is not lost (it stayed `sending`)."""
    now = services.clock()
    message_id = queued_receipt(session_factory, now)
    with services.uow() as uow:
        outgoing = outbox.claim_for_sending(uow, message_id, now)
    assert outgoing is not None
    sent = services.sms.send(outgoing.to, outgoing.body, outgoing.id)
    [request] = stub.requests
    assert request.form["StatusCallback"] == f"{STATUS_CALLBACK}?ref={message_id}"
    assert sent.provider_sid is not None

    simulator = _simulator(services)
    simulator.post(
        f"/twilio/sms/status?ref={message_id}",
        _status_callback(sent.provider_sid, "delivered", CALLER),
    )
    with services.uow() as uow:
        outbox.mark_sent(uow, message_id, sent.provider_sid, sent.status, services.clock())
    row = _outbound(services)[CALLER]
    assert (row.status, row.provider_sid) == (SmsStatus.DELIVERED, sent.provider_sid)
    answer = simulator.send(
        "POST", "/twilio/sms/status?ref=x", _status_callback("SMx", "sent", CALLER)
    )
    assert answer.status == 400


# What every SMS costs the worker


def test_a_senders_messages_share_one_kept_alive_connection(
    stub: TwilioStub, sender: TwilioSmsSender
) -> None:
    for _ in range(3):
        sender.send(CALLER, "hello")
    ports = {request.client_port for request in stub.requests}
    assert len(stub.requests) == 3
    assert len(ports) == 1  # no new TCP (and, to api.twilio.com, TLS) handshake per SMS


def test_sending_writes_no_line_per_request_to_the_log(
    sender: TwilioSmsSender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sender.send(CALLER, "hello")
    twilio_lines = [r for r in caplog.records if "twilio_http" in r.name or "twilio" in r.name]
    assert twilio_lines == []


def test_the_stub_answers_after_its_latency() -> None:
    with TwilioStub(ACCOUNT_SID, AUTH_TOKEN, latency_s=0.2) as slow:
        client = twilio_client(ACCOUNT_SID, AUTH_TOKEN, slow.base_url)
        start = time.perf_counter()
        client.messages.create(to=CALLER, from_=FROM_NUMBER, body="hi")
        assert time.perf_counter() - start >= 0.2


def test_the_stub_runs_as_a_process_of_its_own() -> None:
    """As bench/intake.py runs it: the URL first, a summary on SIGTERM."""
    root = Path(__file__).resolve().parents[3]
    args = [f"--account-sid={ACCOUNT_SID}", f"--auth-token={AUTH_TOKEN}", "--latency-ms=1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.twilio_stub", *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = twilio_client(ACCOUNT_SID, AUTH_TOKEN, url)
        client.messages.create(to=CALLER, from_=FROM_NUMBER, body="您的工单已受理")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert out.strip() == "1 requests, 1 messages (1 segments), 1 connections"


@needs_redis
@pytest.mark.redis
def test_rq_keeps_a_sent_sms_job_a_minute_and_a_failed_one_a_week(
    simulator: Simulator, services: Services, run_jobs: Callable[[], int], stub: TwilioStub
) -> None:
    assert isinstance(services.jobs, RqJobQueue)
    redis = services.jobs.redis
    stub.fail_next(1, status=500)  # the first send fails and is retried
    simulator.call(CALLER, EN_STREET_LIGHT_IN_1101)
    queue = services.jobs.queue("sms")
    ids = queue.get_job_ids()
    assert len(ids) == 2

    run_jobs()

    by_status = {
        job_id: Job.fetch(job_id, connection=redis, serializer=JSONSerializer).get_status()
        for job_id in ids
    }
    [finished] = [i for i, s in by_status.items() if s == JobStatus.FINISHED]
    [retried] = [i for i, s in by_status.items() if s == JobStatus.SCHEDULED]
    assert RESULT_TTL["sms"] == 60
    assert 0 < redis.ttl(f"rq:job:{finished}") <= 60
    assert redis.ttl(f"rq:job:{retried}") == -1  # waiting for its retry: kept
    assert RESULT_TTL["speech"] is None  # rq's default for the others
