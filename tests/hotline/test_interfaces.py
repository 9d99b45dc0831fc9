"""Each outside system has a real and an embedded implementation: both honour one contract."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from hotline.jobs.queue import InProcessJobQueue, JobQueue, RqJobQueue
from hotline.telephony.sms import LogSmsSender, SmsSender, TwilioSmsSender, twilio_client
from tests.twilio_stub import TwilioStub
from ticketing.models.sms import SmsStatus

pytestmark = pytest.mark.integration

ACCOUNT, TOKEN = "AC" + "1" * 32, "token"
RAN: list[str] = []


def record_run(value: str) -> None:
    """A job for the queue contract: module-level, takes plain values."""
    RAN.append(value)


@pytest.fixture(params=["log", "twilio"])
def sender(request: pytest.FixtureRequest) -> Iterator[SmsSender]:
    if request.param == "log":
        yield LogSmsSender()
        return
    with TwilioStub(ACCOUNT, TOKEN) as stub:
        yield TwilioSmsSender(twilio_client(ACCOUNT, TOKEN, stub.base_url), "+8637112345", None)


def test_sms_senders_take_a_message_and_say_where_it_is(sender: SmsSender) -> None:
    result = sender.send("+8613812345678", "【热线】测试")
    assert result.status in {SmsStatus.SENDING, SmsStatus.LOGGED}
    assert result.status.rank > SmsStatus.QUEUED.rank
    assert (result.provider_sid is None) == (result.status is SmsStatus.LOGGED)


@pytest.fixture(params=["in-process", "rq"])
def queue_and_drain(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[JobQueue, Callable[[], None]]]:
    if request.param == "in-process":
        yield InProcessJobQueue(), lambda: None
        return
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs REDIS_URL")
    queue = RqJobQueue(Redis.from_url(url))
    queue.queue("default").empty()  # type: ignore[no-untyped-call]  # rq leaves it untyped

    def drain() -> None:
        SimpleWorker(
            [queue.queue("default")], connection=queue.redis, serializer=JSONSerializer
        ).work(burst=True)

    yield queue, drain
    queue.redis.close()


def test_job_queues_run_a_job_by_name_with_its_arguments(
    queue_and_drain: tuple[JobQueue, Callable[[], None]],
) -> None:
    queue, drain = queue_and_drain
    RAN.clear()
    queue.enqueue("default", f"{__name__}.record_run", "case 42")
    drain()
    assert RAN == ["case 42"]
