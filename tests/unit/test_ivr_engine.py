"""The flow engine over the real hotline flow file, without Twilio or a database."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hotline.bootstrap import FLOW_ACTIONS, FLOW_CHECKS
from hotline.ivr import engine
from hotline.ivr.flows import Flow, FlowError, load_flow, mermaid
from hotline.settings import FLOWS_DIR


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(FLOWS_DIR / "hotline.yaml", FLOW_ACTIONS, FLOW_CHECKS)


def _known(code: str) -> Mapping[str, Any] | None:
    return {"grid_code": code} if code == "1101" else None


CHECKS = {"location": _known}


def _press(flow: Flow, *keys: str) -> engine.Step:
    step = engine.start(flow)
    for key in keys:
        event = engine.NoInput() if key == "" else engine.Digits(key)
        step = engine.receive(flow, step.state, event, CHECKS)
    return step


def test_first_prompt_speaks_both_languages_and_waits_for_one_key(flow: Flow) -> None:
    (gather,) = engine.start(flow).outputs
    assert isinstance(gather, engine.Gather)
    assert gather.max_digits == 1
    assert [p.language for p in gather.prompts] == ["zh-CN", "en-US"]


def test_keypad_path_sets_language_category_and_location(flow: Flow) -> None:
    step = _press(flow, "2", "1", "1", "1101")
    assert step.state.node == "describe"
    assert step.state.vars["language"] == "en-US"
    assert step.state.vars["category"] == "street_light"
    assert step.state.vars["location_code"] == "1101"
    assert isinstance(step.outputs[-1], engine.Record)


def test_unknown_code_is_asked_again_then_given_up(flow: Flow) -> None:
    once = _press(flow, "2", "1", "1", "9999")
    assert once.state.node == "location"
    assert once.outputs[0] == engine.Say("We could not find that code.", "en-US")
    twice = engine.receive(flow, once.state, engine.Digits("8888"), CHECKS)
    assert twice.state.node == "describe"
    assert twice.state.vars["location_unknown"] is True


def test_recording_then_action_then_read_back_and_hang_up(flow: Flow) -> None:
    step = _press(flow, "2", "1", "1", "0")
    step = engine.receive(flow, step.state, engine.Recorded("file:///r.wav", "RE1", 4))
    assert step.action == "create_case"
    assert step.state.vars["recording"] == {"url": "file:///r.wav", "sid": "RE1", "duration": 4}
    done = engine.receive(flow, step.state, engine.ActionDone({"case_number_spoken": "1 2"}))
    assert engine.Say("Your report is registered. Your case number is 1 2.", "en-US") in (
        done.outputs
    )
    assert done.outputs[-1] == engine.Hangup()
    assert done.state.done


def test_silence_retries_then_falls_back_to_chinese(flow: Flow) -> None:
    step = _press(flow, "", "", "")
    assert step.state.node == "category_group"
    assert step.state.vars["language"] == "zh-CN"


def test_state_survives_a_round_trip_through_json(flow: Flow) -> None:
    state = _press(flow, "2", "1").state
    assert engine.State.from_dict(state.to_dict()) == state


def test_broken_flow_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "name: broken\nstart: hello\nnodes:\n  hello:\n    type: say\n"
        "    say: {en-US: hi}\n    next: nowhere\n"
    )
    with pytest.raises(FlowError, match=r"broken.yaml:5: node 'hello': goes to undefined node"):
        load_flow(path, FLOW_ACTIONS, FLOW_CHECKS)


def test_unknown_action_and_node_type_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nstart: a\nnodes:\n  a: {type: action, action: launch, next: a}\n")
    with pytest.raises(FlowError, match="unknown action 'launch'"):
        load_flow(path, FLOW_ACTIONS, FLOW_CHECKS)
    path.write_text("name: bad\nstart: a\nnodes:\n  a: {type: dance}\n")
    with pytest.raises(FlowError, match="type must be one of"):
        load_flow(path, FLOW_ACTIONS, FLOW_CHECKS)


VOICES = "voices:\n  zh-CN: {voice: Polly.Zhiyu}\n  en-US: {voice: Polly.Joanna}\n"


def test_a_prompt_missing_a_language_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "half.yaml"
    path.write_text(
        f"name: half\nstart: hello\n{VOICES}nodes:\n  hello:\n    type: hangup\n"
        "    say: {zh-CN: 再见}\n"
    )
    with pytest.raises(FlowError, match=r"half.yaml:8: node 'hello': say has no prompt in en-US"):
        load_flow(path, FLOW_ACTIONS, FLOW_CHECKS)


def test_an_unreachable_node_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "island.yaml"
    path.write_text("name: island\nstart: a\nnodes:\n  a: {type: hangup}\n  b: {type: hangup}\n")
    with pytest.raises(FlowError, match=r"island.yaml:5: node 'b' cannot be reached from 'a'"):
        load_flow(path, FLOW_ACTIONS, FLOW_CHECKS)


def test_the_mermaid_graph_has_every_node_and_transition(flow: Flow) -> None:
    text = mermaid(flow)
    assert text.startswith("flowchart TD\n")
    for name in flow.nodes:
        assert f"    {name}" in text
    assert 'language -- "2" --> category_group' in text
    assert 'location -. "no input / no match" .-> describe' in text
