"""Both speech exchanges honour one interface: expect, publish, wait (again), forget."""

from __future__ import annotations

import threading
import time

import pytest

from hotline.media.exchange import Expectation, SpeechExchange, recognition_of, result_of
from hotline.speech.recognizers import Recognition, Word

pytestmark = pytest.mark.integration

CALL = "CA" + "1" * 32
YES = {"text": "yes", "confidence": 0.9, "value": "yes", "words": []}


def test_the_expectation_is_replaced_per_call(any_exchange: SpeechExchange) -> None:
    assert any_exchange.expectation(CALL) is None
    first = Expectation(CALL, "confirm#1", "en-US", "yesno")
    second = Expectation(CALL, "category#1", "zh-CN", "category")
    any_exchange.expect(first)
    any_exchange.expect(Expectation("CA-other", "menu#1", "en-US", "menu"))
    assert any_exchange.expectation(CALL) == first
    any_exchange.expect(second)
    assert any_exchange.expectation(CALL) == second


def test_a_published_result_is_returned_at_once_and_again(any_exchange: SpeechExchange) -> None:
    any_exchange.publish(CALL, "confirm#1", YES)
    started = time.monotonic()
    assert any_exchange.wait(CALL, "confirm#1", timeout=5) == YES
    assert any_exchange.wait(CALL, "confirm#1", timeout=5) == YES  # Twilio retried
    assert time.monotonic() - started < 1
    assert any_exchange.wait(CALL, "confirm#2", timeout=0) is None  # another step


def test_the_first_result_of_a_step_wins(any_exchange: SpeechExchange) -> None:
    any_exchange.publish(CALL, "s", YES)
    any_exchange.publish(CALL, "s", {**YES, "value": "no"})
    assert any_exchange.wait(CALL, "s", timeout=1) == YES


def test_a_waiter_wakes_when_the_result_arrives(any_exchange: SpeechExchange) -> None:
    got: list[tuple[dict[str, object] | None, float]] = []

    def webhook() -> None:
        started = time.monotonic()
        got.append((any_exchange.wait(CALL, "menu#1", timeout=5), time.monotonic() - started))

    waiters = [threading.Thread(target=webhook) for _ in range(2)]  # one is Twilio's retry
    for waiter in waiters:
        waiter.start()
    time.sleep(0.3)
    any_exchange.publish(CALL, "menu#1", YES)
    for waiter in waiters:
        waiter.join(10)
    assert [result for result, _ in got] == [YES, YES]
    assert all(0.25 < waited < 2 for _, waited in got)  # woken, not timed out


def test_waiting_for_nothing_times_out(any_exchange: SpeechExchange) -> None:
    started = time.monotonic()
    assert any_exchange.wait(CALL, "never", timeout=0.3) is None
    assert 0.25 < time.monotonic() - started < 2


def test_forget_drops_the_call_only(any_exchange: SpeechExchange) -> None:
    any_exchange.expect(Expectation(CALL, "s", "en-US", "yesno"))
    any_exchange.publish(CALL, "s", YES)
    any_exchange.publish("CA-other", "s", YES)
    any_exchange.forget(CALL)
    assert any_exchange.expectation(CALL) is None
    assert any_exchange.wait(CALL, "s", timeout=0) is None
    assert any_exchange.wait("CA-other", "s", timeout=0) == YES


def test_results_round_trip_through_json() -> None:
    recognition = Recognition("four two", 0.75, (Word("four", 0.1, 0.4, 0.8),), "42")
    assert recognition_of(result_of(recognition)) == recognition
