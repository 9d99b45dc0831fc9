"""Call state in Redis: a whole call runs on it, and a retried step replays its answer."""

from __future__ import annotations

import uuid

import pytest
from redis import Redis
from sqlalchemy import select

from hotline.app import create_app
from hotline.bootstrap import Services
from hotline.call_state import RedisCallStates
from hotline.simulator import FlaskTransport, Simulator
from tests.conftest import PUBLIC_BASE_URL, TEST_TOKEN

pytestmark = pytest.mark.redis


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
        from ticketing.models import Call

        call = uow.session.scalars(select(Call).where(Call.call_sid == base["CallSid"])).one()
        assert "flow_state" not in call.state  # the state lives in Redis, not on the row
        saved = redis_states.load(uow, call)
    assert saved is not None
    assert saved["node"] == "main_menu"
    assert saved["vars"]["language"] == "en-US"
