"""Whole calls replayed from YAML scripts: keys, silences and speech in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.simulator.caller import (
    Action,
    Press,
    Say,
    Silence,
    Simulator,
    SimulatorError,
    load_script,
)
from tests.conftest import AUDIO, FIXTURES

pytestmark = pytest.mark.functional

SCRIPTS = FIXTURES / "calls"


def test_the_committed_script_reports_a_street_light(simulator: Simulator) -> None:
    caller, actions = load_script(SCRIPTS / "street_light_en.yaml")
    assert caller == "+8613812345678"
    assert actions[:2] == [Silence(3.0), Press("2")]
    assert actions[-1] == Say((AUDIO / "street_light_en.wav").resolve())
    result = simulator.call_script(caller, actions)
    case = result.as_json()
    assert (case["category"], case["grid"], case["status"]) == ("street_light", "1101", "assigned")
    assert "caller presses nothing" in result.conversation  # the silence at the greeting
    assert any(line.startswith("caller speaks for") for line in result.conversation)


def test_speech_at_a_keys_only_prompt_is_heard_as_silence(simulator: Simulator) -> None:
    wav = (AUDIO / "street_light_en.wav").resolve()
    keys: list[Action] = [
        Press("2"),
        Press("1"),
        Press("1"),
        Say(wav),
        Press("1"),
        Press("0#"),
        Silence(),
    ]
    result = simulator.call_script("+8613812345678", keys)
    assert "caller speaks street_light_en.wav (heard as silence)" in result.conversation
    assert result.as_json()["category"] == "street_light"
    assert "caller says nothing" in result.conversation  # silence at the recording prompt


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("steps: 3", "needs a list of `steps`"),
        ("steps:\n  - dance: 1", "unknown action 'dance'"),
        ("steps:\n  - say: nowhere.wav", "no file"),
        ("steps:\n  - {press: '1', say: a.wav}", "must be one of press, say, silence"),
    ],
)
def test_bad_scripts_are_refused_with_the_step(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SimulatorError, match=error):
        load_script(path)
