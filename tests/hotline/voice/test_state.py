"""Call state in Redis: a whole call runs on it, and a retried step replays its answer."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from redis import Redis
from sqlalchemy import select

from hotline.app import create_app
from hotline.bootstrap import Services
from hotline.simulator.caller import FlaskTransport, Simulator
from hotline.voice.state import RedisCallStates
from tests.conftest import PUBLIC_BASE_URL, TEST_TOKEN
from ticketing.unit_of_work import UnitOfWork

pytestmark = [pytest.mark.integration, pytest.mark.redis]


@pytest.fixture
def redis_states(services: Services, redis_url: str | None) -> RedisCallStates:
    if redis_url is None:
        pytest.skip("needs REDIS_URL")
    # A fresh prefix: keys of an earlier run (they live for hours) must not answer this one.
    states = RedisCallStates(Redis.from_url(redis_url), prefix=f"test:{uuid.uuid4().hex}")
    services.call_states = states
    return states


def test_a_call_runs_on_redis_state_and_retries_replay(
    services: Services, redis_states: RedisCallStates
) -> None:
    app = create_app(services=services)
    simulator = Simulator(FlaskTransport(app), PUBLIC_BASE_URL, TEST_TOKEN)
    base = {"CallSid": "CA" + "7" * 32, "From": "+8613812345678", "To": "+8637112345"}
    first = simulator.post("/twilio/voice/incoming", base).body
    assert simulator.post("/twilio/voice/incoming", base).body == first  # Twilio's retry
    answers = [simulator.post("/twilio/voice/step/2", {**base, "Digits": "2"}).body]
    answers.append(simulator.post("/twilio/voice/step/2", {**base, "Digits": "2"}).body)
    assert answers[0] == answers[1]
    with services.uow() as uow:
        from ticketing.models.calls import Call

        call = uow.session.scalars(select(Call).where(Call.call_sid == base["CallSid"])).one()
        assert "ivr" not in call.state  # the state lives in Redis, not on the row
        saved = redis_states.load(uow, call)
    assert saved is not None
    assert saved["step"] == 2
    assert saved["flow"]["node"] == "main_menu"
    assert saved["flow"]["vars"]["language"] == "en-US"


def test_a_step_whose_answer_was_never_kept_runs_again_on_the_retry(
    services: Services, redis_states: RedisCallStates
) -> None:
    """The process dies between the commit and the Redis write: Twilio's retry of that
    step must be answered (from the state before it), not refused as out of order."""
    app = create_app(services=services)
    simulator = Simulator(FlaskTransport(app), PUBLIC_BASE_URL, TEST_TOKEN)
    base = {"CallSid": "CA" + "8" * 32, "From": "+8613812345678", "To": "+8637112345"}
    simulator.post("/twilio/voice/incoming", base)
    settle = redis_states.settle

    def dies(*args: object) -> None:
        raise ConnectionError("Redis went away")

    redis_states.settle = dies  # type: ignore[method-assign,assignment]
    failed = simulator.send("POST", "/twilio/voice/step/2", {**base, "Digits": "2"})
    assert failed.status == 500
    redis_states.settle = settle  # type: ignore[method-assign]
    retried = simulator.post("/twilio/voice/step/2", {**base, "Digits": "2"}).body
    assert "To report a problem, say report or press 1." in retried
    reported = simulator.post("/twilio/voice/step/3", {**base, "Digits": "1"}).body
    assert "In a few words, what is the problem?" in reported


def test_a_retry_that_reads_between_the_originals_commit_and_its_answer_replays_it(
    services: Services, redis_states: RedisCallStates
) -> None:
    """Twilio retries a step while the original is in flight: the retry looked for a kept
    answer (none yet), the original then settled, and the retry found the call a step on
    and answered 400 "step 2 is out of order" (10 in 180 in the issue's probe)."""
    app = create_app(services=services)
    simulator = Simulator(FlaskTransport(app), PUBLIC_BASE_URL, TEST_TOKEN)
    base = {"CallSid": "CA" + "9" * 32, "From": "+8613812345678", "To": "+8637112345"}
    simulator.post("/twilio/voice/incoming", base)
    reply = redis_states.reply
    originals: list[str] = []

    def original_settles_meanwhile(uow: UnitOfWork, call_sid: str, step: int) -> str | None:
        if step == 2 and not originals:
            originals.append("")  # the retry's first look: nothing kept yet...
            # The original runs to the end meanwhile, as another request would: on a thread
            # of its own (its own log context), while this one waits.
            with ThreadPoolExecutor(max_workers=1) as pool:
                originals[0] = (
                    pool.submit(simulator.post, "/twilio/voice/step/2", {**base, "Digits": "2"})
                    .result(timeout=30)
                    .body
                )
            return None  # ...as it was when the retry looked
        return reply(uow, call_sid, step)

    redis_states.reply = original_settles_meanwhile  # type: ignore[method-assign]
    retried = simulator.send("POST", "/twilio/voice/step/2", {**base, "Digits": "2"})
    assert retried.status == 200, retried.body
    assert retried.body == originals[0]
