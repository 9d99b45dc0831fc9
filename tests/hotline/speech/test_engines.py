"""Engines per language from configuration, loaded at start-up with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.speech.engines import (
    EngineChoice,
    default_engine,
    load_recognizer,
    load_recognizers,
    parse_config,
)
from hotline.speech.exceptions import ModelNotFound, SpeechError
from hotline.speech.model_paths import find_model

pytestmark = pytest.mark.unit


def test_parse_config() -> None:
    assert parse_config("en-US=pocketsphinx; zh-CN=vosk:vosk-model-small-cn-0.22;") == [
        EngineChoice("en-US", "pocketsphinx"),
        EngineChoice("zh-CN", "vosk", "vosk-model-small-cn-0.22"),
    ]
    with pytest.raises(SpeechError, match="bad speech setting 'en-US=whisper'"):
        parse_config("en-US=whisper")


def test_defaults() -> None:
    assert default_engine("en-GB") == "pocketsphinx"
    assert default_engine("zh-CN") == "vosk"


def test_a_missing_model_stops_start_up_naming_what_was_tried(tmp_path: Path) -> None:
    pytest.importorskip("vosk")
    absent = tmp_path / "absent"
    with pytest.raises(ModelNotFound, match=f"not found: no directory {absent}"):
        load_recognizers([EngineChoice("zh-CN", "vosk", str(absent))])
    with pytest.raises(ModelNotFound) as error:
        load_recognizers([EngineChoice("zh-CN", "vosk", "vosk-model-small-cn-0.22")])
    assert "run `hotline models fetch vosk-model-small-cn-0.22`" in str(error.value)


def test_a_downloaded_model_is_found_by_name(tmp_path: Path) -> None:
    model = tmp_path / "vosk-model-small-cn-0.22"
    for folder in ("am", "conf", "graph"):
        (model / folder).mkdir(parents=True)
    (model / "am" / "final.mdl").write_bytes(b"")
    (model / "conf" / "mfcc.conf").write_text("--sample-frequency=16000\n")
    assert find_model("vosk-model-small-cn-0.22", tmp_path) == model


def test_scripted_engine_and_unknown_engines() -> None:
    assert load_recognizer("scripted", "zh-CN").language == "zh-CN"
    with pytest.raises(SpeechError, match="unknown speech engine 'whisper'"):
        load_recognizer("whisper", "en-US")
