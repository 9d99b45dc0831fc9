"""Whole calls by voice: the caller's WAV files stream over Media Streams to the real media
server (PocketSphinx, en-US), which recognises each step; the webhook takes the answers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask

from hotline.app import create_app
from hotline.bootstrap import Services
from hotline.media.server import start_media_server_thread
from hotline.simulator.caller import FlaskTransport, Press, Say, Simulator
from tests.conftest import AUDIO, PUBLIC_BASE_URL, TEST_TOKEN
from tests.factories import CALLER, EN_STREET_LIGHT_IN_1101, register_case

pytestmark = pytest.mark.functional

SPEECH = AUDIO / "speech"


@pytest.fixture
def voice(services: Services) -> Iterator[Simulator]:
    """The app with Media Streams on, its media server on a free local port."""
    handle = start_media_server_thread(services, "127.0.0.1", 0)
    services.settings = replace(services.settings, media_url=handle.url(), speech_wait=5.0)
    app: Flask = create_app(services=services)
    try:
        yield Simulator(FlaskTransport(app), PUBLIC_BASE_URL, TEST_TOKEN, files=services.files)
    finally:
        handle.stop()


def test_a_problem_reported_by_voice_end_to_end(voice: Simulator) -> None:
    result = voice.call_script(
        CALLER,
        [
            Say(SPEECH / "english_en_us.wav"),
            Say(SPEECH / "report_en_us.wav"),
            Say(SPEECH / "street_light_en_us.wav"),
            Say(SPEECH / "yes_en_us.wav"),
            Say(SPEECH / "grid_1101_en_us.wav"),
            Say(SPEECH / "yes_en_us.wav"),
            Say(AUDIO / "street_light_en.wav"),  # the recorded description
        ],
    )
    case = result.as_json()
    assert (case["category"], case["grid"], case["status"]) == ("street_light", "1101", "assigned")
    assert "I heard: broken street light. If that is right, say yes or press 1." in " ".join(
        result.heard
    ).replace("  ", " ")
    assert any("(media stream)" in line for line in result.conversation)


def test_the_same_report_with_the_keypad_only(voice: Simulator) -> None:
    case = voice.call(CALLER, EN_STREET_LIGHT_IN_1101).as_json()
    assert (case["category"], case["grid"]) == ("street_light", "1101")


def test_status_by_voice_for_the_callers_own_case(voice: Simulator, services: Services) -> None:
    number = register_case(services, category="noise", language="en-US").number
    assert number == "2611270001"  # the fixture says these digits
    result = voice.call_script(
        CALLER,
        [
            Press("2"),
            Say(SPEECH / "status_en_us.wav"),
            Say(SPEECH / "case_2611270001_en_us.wav"),
        ],
    )
    heard = " ".join(result.heard)
    assert "Welcome back. Your case 2 6 1 1 2 7 0 0 0 1" in heard
    assert "Case 2 6 1 1 2 7 0 0 0 1, noise, awaiting acceptance." in heard


def test_status_by_keypad_for_any_case(voice: Simulator, services: Services) -> None:
    number = register_case(services, category="noise", language="en-US").number
    result = voice.call("+8613700000000", ["2", "2", f"{number}#"])
    assert "Case 2 6 1 1 2 7 0 0 0 1, noise, awaiting acceptance." in result.heard


def test_an_emergency_said_at_the_report_step_opens_an_urgent_case(
    voice: Simulator, services: Services
) -> None:
    """Saying "I can smell gas in the stairwell" through the media server: the grammar's
    boosted emergency word is heard and confirmed, the caller is told to dial 119, and the
    case is urgent."""
    result = voice.call_script(
        CALLER,
        [
            Say(SPEECH / "english_en_us.wav"),
            Say(SPEECH / "report_en_us.wav"),
            Say(SPEECH / "emergency_gas_en_us.wav"),
            Say(SPEECH / "yes_en_us.wav"),  # "It sounds like an emergency... Is that right?"
        ],
    )
    assert "It sounds like an emergency" in " ".join(result.heard)
    assert "dial 119" in " ".join(result.heard)
    case = result.as_json()
    assert case["category"] == "gas_smell"
    from sqlalchemy import select

    from ticketing.models.cases import Ticket
    from ticketing.vocabulary.catalogue import Priority

    with services.session_factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == case["case_number"])).one()
        assert ticket.priority is Priority.URGENT
