"""The flow engine over the real hotline flow file, without Twilio or a database."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from hotline.bootstrap import Services
from hotline.settings import FLOWS_DIR
from hotline.speech.step_grammars import STEP_GRAMMARS, is_emergency
from hotline.voice import actions, engine
from hotline.voice.actions import FLOW_VOCABULARY
from hotline.voice.flows import Flow, FlowError, load_flow, mermaid
from ticketing.models.calls import Call
from ticketing.unit_of_work import UnitOfWork

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(FLOWS_DIR / "hotline.yaml", FLOW_VOCABULARY)


def _known(code: str) -> Mapping[str, Any] | None:
    return {"grid_code": code} if code == "1101" else None


def _place(place_id: str) -> Mapping[str, Any] | None:
    return {"location_code": "1101", "place_id": 7} if place_id == "7" else None


CHECKS = {"location": _known, "place": _place}


def _press(flow: Flow, *keys: str) -> engine.Step:
    step = engine.start(flow)
    for key in keys:
        event = engine.NoInput() if key == "" else engine.Digits(key)
        step = engine.receive(flow, step.state, event, CHECKS)
    return step


def _said(step: engine.Step) -> str:
    texts = [o.text for o in step.outputs if isinstance(o, engine.Say)]
    gathers = [o for o in step.outputs if isinstance(o, engine.Gather)]
    return " ".join(texts + [p.text for g in gathers for p in g.prompts])


def _speak(
    flow: Flow, step: engine.Step, value: str | None, text: str = "", label: str = ""
) -> engine.Step:
    event = engine.Speech(text or (value or ""), value, 0.9, label)
    return engine.receive(flow, step.state, event, CHECKS)


def test_first_prompt_speaks_both_languages_and_waits_for_one_key(flow: Flow) -> None:
    (gather,) = engine.start(flow).outputs
    assert isinstance(gather, engine.Gather)
    assert gather.max_digits == 1
    assert [p.language for p in gather.prompts] == ["zh-CN", "en-US"]


def test_keypad_path_sets_language_category_and_location(flow: Flow) -> None:
    step = _press(flow, "2", "1", "1", "1", "1101")
    assert step.state.node == "describe"
    assert step.state.vars["language"] == "en-US"
    assert step.state.vars["category"] == "street_light"
    assert step.state.vars["location_code"] == "1101"
    assert isinstance(step.outputs[-1], engine.Record)


def test_unknown_code_is_asked_again_then_given_up(flow: Flow) -> None:
    once = _press(flow, "2", "1", "1", "1", "9999")
    assert once.state.node == "location"
    assert once.outputs[0] == engine.Say("We could not find that place or code.", "en-US")
    twice = engine.receive(flow, once.state, engine.Digits("8888"), CHECKS)
    assert twice.state.node == "describe"
    assert twice.state.vars["location_unknown"] is True


def test_recording_then_action_then_read_back_and_hang_up(flow: Flow) -> None:
    step = _press(flow, "2", "1", "1", "1", "0")
    step = engine.receive(flow, step.state, engine.Recorded("file:///r.wav", "RE1", 4))
    assert step.action == "create_case"
    assert step.state.vars["recording"] == {"url": "file:///r.wav", "sid": "RE1", "duration": 4}
    done = engine.receive(flow, step.state, engine.ActionDone({"case_number_spoken": "1 2"}))
    assert engine.Say("Your report is registered. Your case number is 1 2.", "en-US") in (
        done.outputs
    )
    assert done.outputs[-1] == engine.Hangup()
    assert done.state.done


def test_silence_retries_then_falls_back_to_chinese_and_a_report(flow: Flow) -> None:
    step = _press(flow, "", "", "")
    assert step.state.node == "main_menu"
    assert step.state.vars["language"] == "zh-CN"
    step = _press(flow, "", "", "", "", "", "")
    assert step.state.node == "report"


def test_a_spoken_category_is_confirmed_before_it_counts(flow: Flow) -> None:
    step = _press(flow, "2", "1")
    gather = step.outputs[-1]
    assert isinstance(gather, engine.Gather)
    assert gather.listen == engine.Listen("category", "en-US")
    step = _speak(flow, step, "street_light", "the street light is out", "broken street light")
    assert step.state.node == "report"
    assert "I heard: broken street light." in _said(step)
    confirm = step.outputs[-1]
    assert isinstance(confirm, engine.Gather)
    assert (confirm.max_digits, confirm.listen) == (1, engine.Listen("yesno", "en-US"))
    confirmed = _speak(flow, step, "yes")
    assert confirmed.state.node == "location"
    assert confirmed.state.vars["category"] == "street_light"
    by_key = engine.receive(flow, step.state, engine.Digits("1"), CHECKS)
    assert by_key.state == confirmed.state


def test_two_misses_hand_over_to_the_keypad_menu(flow: Flow) -> None:
    step = _press(flow, "2", "1")
    step = _speak(flow, step, None, "mumble")
    assert "Sorry, I did not catch that." in _said(step)
    step = _speak(flow, step, "noise", label="noise")
    step = _speak(flow, step, "no")  # "I heard: noise" - no: the second miss
    assert step.state.node == "category_group"
    assert step.outputs[-1].listen is None  # type: ignore[union-attr]


def test_a_spoken_place_sets_the_grid_after_confirmation(flow: Flow) -> None:
    step = _press(flow, "2", "1", "1", "1")
    step = _speak(flow, step, "7", "near the central market", "central market")
    assert "I heard: central market." in _said(step)
    step = _speak(flow, step, "yes")
    assert step.state.node == "describe"
    assert (step.state.vars["location_code"], step.state.vars["place_id"]) == ("1101", 7)


def test_an_unknown_place_is_a_miss(flow: Flow) -> None:
    step = _press(flow, "2", "1", "1", "1")
    step = _speak(flow, step, "99", "somewhere")
    assert step.state.node == "location"
    assert "We could not find that place or code." in _said(step)


def test_emergency_words_at_any_speech_step_open_an_urgent_case_once_confirmed(
    flow: Flow,
) -> None:
    for keys in [("2",), ("2", "1"), ("2", "1", "1", "1")]:
        asked = _speak(flow, _press(flow, *keys), "emergency", "there is smoke everywhere")
        assert "It sounds like an emergency" in _said(asked)
        assert asked.outputs[-1].listen.grammar == "yesno"  # type: ignore[union-attr]
        step = engine.receive(flow, asked.state, engine.Digits("1"), CHECKS)
        assert "dial 119" in _said(step)
        assert step.action == "emergency_case"
        assert step.state.vars["emergency_words"] == "there is smoke everywhere"


def test_an_emergency_denied_goes_back_to_the_question_it_interrupted(flow: Flow) -> None:
    before = _press(flow, "2", "1")
    asked = _speak(flow, before, "emergency", "five")
    back = _speak(flow, asked, "no")
    assert back.state.node == "report"
    assert back.state.pending is None
    assert "In a few words, what is the problem?" in _said(back)
    assert "emergency_words" not in back.state.vars
    silent = engine.receive(flow, asked.state, engine.NoInput(), CHECKS)
    assert "It sounds like an emergency" in _said(silent)  # silence: asked again


def test_the_main_menu_by_voice(flow: Flow) -> None:
    step = _speak(flow, _press(flow, "2"), "status")
    assert step.state.node == "check_case"
    assert step.outputs[-1].listen == engine.Listen("case_number", "en-US")  # type: ignore[union-attr]
    step = _speak(flow, step, "2611280001")
    assert step.action == "look_up_status"
    found = engine.receive(
        flow,
        step.state,
        engine.ActionDone(
            {"case_status": "in progress", "case_category": "noise", "case_number_spoken": "2 6"}
        ),
    )
    assert "Case 2 6, noise, in progress." in _said(found)
    missing = engine.receive(
        flow, step.state, engine.ActionDone({"case_number_spoken": "2 6"}, failed=True)
    )
    assert "We could not find case 2 6." in _said(missing)


def test_an_agent_is_dialled_in_hours_and_a_call_back_noted_outside(flow: Flow) -> None:
    step = _press(flow, "2", "3")
    assert step.action == "transfer"
    dialled = engine.receive(flow, step.state, engine.ActionDone({"dial": "+86371000"}))
    assert engine.Dial("+86371000") in dialled.outputs
    closed = engine.receive(flow, step.state, engine.ActionDone({}, failed=True))
    assert closed.action == "request_callback"
    assert "call you back" in _said(closed)


def test_a_repeat_caller_hears_the_open_case_first(flow: Flow) -> None:
    known = {
        "language": "en-US",
        "open_case_number": "2611280001",
        "open_case_spoken": "2 6 1 1",
        "open_case_category": "broken street light",
        "open_case_status": "in progress",
    }
    step = engine.start(flow, known)
    assert step.state.node == "language"
    assert _said(step).startswith(
        "Welcome back. Your case 2 6 1 1, broken street light, in progress."
    )


def test_state_survives_a_round_trip_through_json(flow: Flow) -> None:
    state = _speak(flow, _press(flow, "2", "1"), "noise").state
    assert state.pending is not None
    assert engine.State.from_dict(state.to_dict()) == state


def test_broken_flow_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "name: broken\nstart: hello\nnodes:\n  hello:\n    type: say\n"
        "    say: {en-US: hi}\n    next: nowhere\n"
    )
    with pytest.raises(FlowError, match=r"broken.yaml:5: node 'hello': goes to undefined node"):
        load_flow(path, FLOW_VOCABULARY)


def test_unknown_action_and_node_type_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nstart: a\nnodes:\n  a: {type: action, action: launch, next: a}\n")
    with pytest.raises(FlowError, match="unknown action 'launch'"):
        load_flow(path, FLOW_VOCABULARY)
    path.write_text("name: bad\nstart: a\nnodes:\n  a: {type: dance}\n")
    with pytest.raises(FlowError, match="type must be one of"):
        load_flow(path, FLOW_VOCABULARY)


def test_the_flow_vocabulary_is_read_from_the_action_and_check_tables() -> None:
    assert FLOW_VOCABULARY.actions == set(actions.ACTIONS)
    assert FLOW_VOCABULARY.checks == set(actions.CHECKS)
    assert FLOW_VOCABULARY.grammars == set(STEP_GRAMMARS)


def test_an_unknown_action_or_check_is_refused_with_the_tables_names(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nstart: a\nnodes:\n  a: {type: action, action: launch, next: a}\n")
    known = f"unknown action 'launch'; known: {sorted(actions.ACTIONS)}"
    with pytest.raises(FlowError, match=re.escape(known)):
        load_flow(path, FLOW_VOCABULARY)
    path.write_text("name: bad\nstart: a\nnodes:\n  a: {type: ask, check: postcode, next: a}\n")
    known = f"unknown check 'postcode'; known: {sorted(actions.CHECKS)}"
    with pytest.raises(FlowError, match=re.escape(known)):
        load_flow(path, FLOW_VOCABULARY)


# perform and checks only pass these through to the table's functions.
CALL, UOW, SERVICES = cast(Call, object()), cast(UnitOfWork, object()), cast(Services, object())


@pytest.mark.parametrize("name", sorted(actions.ACTIONS))
def test_perform_runs_each_action_of_the_table(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(
        variables: Mapping[str, Any], call: Call, uow: UnitOfWork, services: Services
    ) -> engine.ActionDone:
        assert (call, uow, services) == (CALL, UOW, SERVICES)
        return engine.ActionDone({"ran": name, **variables})

    monkeypatch.setitem(actions.ACTIONS, name, handler)
    state = engine.State("a", {"language": "en-US"})
    done = actions.perform(name, state, CALL, UOW, SERVICES)
    assert done.result == {"ran": name, "language": "en-US"}
    with pytest.raises(ValueError, match="unknown flow action 'launch'"):
        actions.perform("launch", state, CALL, UOW, SERVICES)


def test_the_flows_checks_are_the_tables_bound_to_the_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def postcode(uow: UnitOfWork, value: str) -> Mapping[str, Any] | None:
        return {"postcode": value, "same_uow": uow is UOW}

    monkeypatch.setitem(actions.CHECKS, "postcode", postcode)
    bound = actions.checks(UOW)
    assert set(bound) == set(actions.CHECKS)
    assert bound["postcode"]("450000") == {"postcode": "450000", "same_uow": True}


VOICES = "voices:\n  zh-CN: {voice: Polly.Zhiyu}\n  en-US: {voice: Polly.Joanna}\n"


def test_a_prompt_missing_a_language_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "half.yaml"
    path.write_text(
        f"name: half\nstart: hello\n{VOICES}nodes:\n  hello:\n    type: hangup\n"
        "    say: {zh-CN: 再见}\n"
    )
    with pytest.raises(FlowError, match=r"half.yaml:8: node 'hello': say has no prompt in en-US"):
        load_flow(path, FLOW_VOCABULARY)


def test_an_unreachable_node_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "island.yaml"
    path.write_text("name: island\nstart: a\nnodes:\n  a: {type: hangup}\n  b: {type: hangup}\n")
    with pytest.raises(FlowError, match=r"island.yaml:5: node 'b' cannot be reached from 'a'"):
        load_flow(path, FLOW_VOCABULARY)


def test_the_mermaid_graph_has_every_node_and_transition(flow: Flow) -> None:
    text = mermaid(flow)
    assert text.startswith("flowchart TD\n")
    for name in flow.nodes:
        assert f"    {name}" in text
    assert 'language -- "2" --> main_menu' in text
    assert 'welcome -- "open_case_number" --> open_case_status' in text
    assert 'location -. "no input / no match" .-> describe' in text


@pytest.mark.parametrize(
    ("text", "language", "emergency"),
    [
        ("i can smell gas in the stairwell", "en-US", True),
        ("there is smoke", "en-US", True),
        ("the gasket is fine", "en-US", False),  # a word, not a substring
        ("broken street light", "en-US", False),
        ("楼道里有煤气味", "zh-CN", True),
        ("路灯坏了", "zh-CN", False),
    ],
)
def test_emergency_words_are_found_anywhere_in_what_was_heard(
    text: str, language: str, emergency: bool
) -> None:
    assert is_emergency(text, language) is emergency
